"""Tiny randomly initialised encoders built in the test session (no hub, no downloads)."""
from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

WORDS = (
    "the patient denies chest pain and fever reports cough shortness of breath history "
    "diabetes hypertension aspirin metformin mg daily left right lung heart kidney mother "
    "father cancer pneumonia infection virus bacteria no with was is a an in on for to "
    "blood pressure sugar cells study research hospital doctor nurse protein gene "
    "covid influenza ecoli mouse rat pain chronic acute severe mild"
).split()


def make_vocab(path: Path, cased: bool = False, extra: int = 0) -> list[str]:
    chars = [chr(c) for c in range(33, 127)]
    if not cased:
        chars = [c for c in chars if not c.isupper()]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + ["##" + c for c in chars if c.isalnum()]
    words = WORDS + ([w.capitalize() for w in WORDS] if cased else [])
    vocab += sorted(set(words) - set(vocab))
    vocab += [f"##x{i}" for i in range(extra)]
    path.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return vocab


def build_tiny(path: Path, kind: str = "bert", cased: bool = False, tokenizer_config: bool = True) -> Path:
    """A 2-layer, 32-wide encoder and its WordPiece tokenizer saved as a HF checkpoint."""
    import torch
    from transformers import BertConfig, MegatronBertConfig

    path.mkdir(parents=True, exist_ok=True)
    vocab = make_vocab(path / "vocab.txt", cased=cased)
    torch.manual_seed(0)
    common = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                  max_position_embeddings=64)
    if kind == "megatron-bert":
        # GatorTron-like: embedding rows beyond the vocabulary, no tokenizer_config.json
        from transformers import MegatronBertModel

        config = MegatronBertConfig(vocab_size=len(vocab) + 75, **common)
        model = MegatronBertModel(config)
    else:
        from transformers import BertModel

        config = BertConfig(vocab_size=len(vocab), **common)
        model = BertModel(config)
    model.save_pretrained(path)
    if tokenizer_config:
        import json

        from transformers import AutoTokenizer

        cfg = {"tokenizer_class": "BertTokenizer", "do_lower_case": not cased, "model_max_length": 64}
        (path / "tokenizer_config.json").write_text(json.dumps(cfg))
        AutoTokenizer.from_pretrained(path).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    return build_tiny(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_megatron(tmp_path_factory) -> Path:
    return build_tiny(tmp_path_factory.mktemp("tiny-megatron"), kind="megatron-bert", cased=True, tokenizer_config=False)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared data not found at {SHARED} (only developers' machines and CI have it)")
    return SHARED


def build_biased_tagger(base: Path, out: Path, bias: tuple[float, float, float]) -> Path:
    """A token classifier on ``base`` whose classifier is only a bias over O, B-T033, I-T033: it tags
    the same way whatever the text (bias (0, 5, 0): every word an entity; (0, 4, 5): one long entity)."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    labels = ["O", "B-T033", "I-T033"]
    model = AutoModelForTokenClassification.from_pretrained(
        base, num_labels=3, id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor(bias))
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(base).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_tagger(tiny_bert, tmp_path_factory) -> Path:
    """Every word B-T033: entities, whatever the weights."""
    return build_biased_tagger(tiny_bert, tmp_path_factory.mktemp("tiny-tagger"), (0.0, 5.0, 0.0))


@pytest.fixture(scope="session")
def tiny_span_tagger(tiny_bert, tmp_path_factory) -> Path:
    """B-T033 then I-T033: a whole note is one entity."""
    return build_biased_tagger(tiny_bert, tmp_path_factory.mktemp("tiny-span-tagger"), (0.0, 4.0, 5.0))


TAGGER_LABELS = ["O", "B-T033", "I-T033", "B-T191", "I-T191"]


@pytest.fixture(scope="session")
def tagger(tiny_bert, tmp_path_factory) -> Path:
    """The tiny random BERT with a random token-classification head and a 16-subword window."""
    import json

    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    out = tmp_path_factory.mktemp("tagger")
    torch.manual_seed(3)
    model = AutoModelForTokenClassification.from_pretrained(
        tiny_bert, id2label=dict(enumerate(TAGGER_LABELS)), label2id={l: i for i, l in enumerate(TAGGER_LABELS)})
    with torch.no_grad():
        model.classifier.weight.mul_(40)  # confident, varied tags, so entity comparisons mean something
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(out)
    (out / "clinlm.json").write_text(json.dumps({"task": "ner", "max_length": 16, "stride": 5, "labels": TAGGER_LABELS}))
    return out


def require_system(what: str, found: bool) -> None:
    """Skip a test whose system package (Chromium, PostgreSQL, Java) is missing; under ``.ci/run``
    (``CLINLM_CI=1``, which installs them) fail instead, so a broken install step shows."""
    import os

    if found:
        return
    if os.environ.get("CLINLM_CI") == "1":
        pytest.fail(f"{what} is missing although .ci/run installs it")
    pytest.skip(f"{what} is not installed (Debian: see .ci/run)")


@pytest.fixture(scope="session")
def default_pipeline():
    """The shipped default model with context (``clinlm.load()``), loaded once for the session."""
    import clinlm

    return clinlm.load()


# -- decoding steps after Viterbi (consistency, lexicon, transitions) -----------------------
DECODE_LABELS = ["O", "B-T103", "I-T103", "B-T058", "I-T058"]


def word_logp(rows: list[dict], labels: list[str] = DECODE_LABELS):
    """Log-probabilities per word from ``{label: probability}`` rows (the rest spread over O)."""
    import numpy as np

    out = np.full((len(rows), len(labels)), 1e-6)
    for i, row in enumerate(rows):
        for label, p in row.items():
            out[i, labels.index(label)] = p
        out[i, 0] += max(0.0, 1 - out[i].sum())
    return np.log(out / out.sum(axis=1, keepdims=True))


def entity_at(text: str, w, first: int, last: int, label: str):
    """The entity over words ``first..last`` of ``w`` (``clinlm.text.words(text)``)."""
    from clinlm.document import Entity

    start, end = w.starts[first], w.ends[last]
    return Entity(start, end, label, text[start:end])


def chest_pain_jsonl(path: Path, n: int) -> Path:
    """``n`` one-line documents, each with a gold "chest pain" (T033), as JSONL at ``path``."""
    import json

    docs = []
    for i in range(n):
        text = f"the patient denies chest pain number {i} and fever ."
        s = text.index("chest pain")
        docs.append({"id": str(i), "text": text, "entities": [{"start": s, "end": s + 10, "text": "chest pain", "label": "T033"}]})
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return path


def mentions_doc(mentions):
    """A document of ``(term, label, p103, p058)`` mentions joined by " . ": its text, words,
    entities and word log-probabilities (each word of a term at ``p103/2``, ``p058/2`` for B-)."""
    from clinlm.text import words

    text = " . ".join(m[0] for m in mentions)
    w = words(text)
    rows, ents, k = [], [], 0
    for term, label, p103, p058 in mentions:
        n = len(term.split())
        rows += [{"B-T103": p103 / 2, "B-T058": p058 / 2}] * n + [{}]
        ents.append(entity_at(text, w, k, k + n - 1, label))
        k += n + 1
    return text, w, ents, word_logp(rows[: len(w.starts)])
