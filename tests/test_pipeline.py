"""Annotation and training with tiny random encoders (BERT and GatorTron-like MegatronBERT)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinlm.decoding import allowed_transitions, viterbi
from clinlm.document import Document
from clinlm.errors import ModelError
from clinlm.tasks.ner.pipeline import NerPipeline
from clinlm.tasks.ner.task import NerTask, ner_scores
from clinlm.tasks.trainer import TrainArgs, train

NOTE = "The patient denies chest pain and fever. Mother had cancer. Blood pressure with aspirin daily."


def gold_docs(n=24):
    docs = []
    for i in range(n):
        d = Document(str(i), NOTE)
        d.add(19, 29, "T033")  # chest pain
        d.add(34, 39, "T033")  # fever
        d.add(52, 58, "T191")  # cancer
        d.add(60, 74, "T201")  # Blood pressure
        d.add(80, 87, "T103")  # aspirin
        docs.append(d)
    return docs


@pytest.fixture(scope="module")
def trained(tiny_megatron, tmp_path_factory):
    """A tiny GatorTron-like model trained briefly on repeated documents, with windows of 16."""
    out = tmp_path_factory.mktemp("trained")
    task = NerTask(max_length=16, stride=6)
    docs = gold_docs()
    model, tok = task.build(str(tiny_megatron), docs)
    summary = train(task, model, tok, docs, docs[:4], TrainArgs(epochs=40, learning_rate=3e-3, batch_size=8, seed=1), out)
    return out, summary


def test_learning_reproduces_training_labels_across_windows(trained):
    out, summary = trained
    assert summary["dev"]["strict"]["f1"] == 1.0
    pipe = NerPipeline.from_pretrained(out)
    assert pipe.max_length == 16  # windows of 14 subwords: the note needs several
    doc = pipe(NOTE)
    assert [(e.text, e.label) for e in doc.entities] == [
        ("chest pain", "T033"), ("fever", "T033"), ("cancer", "T191"), ("Blood pressure", "T201"), ("aspirin", "T103")]


def test_checkpoint_is_a_normal_hf_directory_with_manifest(trained):
    import json

    from transformers import AutoConfig

    out, _ = trained
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "clinlm.json", "tokenizer_config.json"} <= names
    config = AutoConfig.from_pretrained(out)
    assert config.model_type == "megatron-bert"
    assert set(config.id2label.values()) >= {"O", "B-T033", "I-T033"}
    man = json.loads((out / "clinlm.json").read_text())
    assert man["task"] == "ner" and man["max_length"] == 16 and man["cased"] is True
    assert man["training"]["dev"]["strict"]["f1"] == 1.0


def test_megatron_embeddings_are_not_resized_and_case_is_kept(tiny_megatron, trained):

    out, _ = trained
    pipe = NerPipeline.from_pretrained(out)
    rows = pipe.model.get_input_embeddings().weight.shape[0]
    assert rows == len(pipe.tokenizer) + 75
    assert pipe.tokenizer.tokenize("Mother") == ["Mother"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(st.sampled_from(list("ab \r\n\tchest pain fever\u00e9\u4e2d.,")), max_size=400))
def test_annotation_offsets_are_exact_on_any_text(trained, text):
    out, _ = trained
    pipe = _pipe(out)
    doc = pipe(text)
    assert doc.text == text
    for e in doc.entities:
        assert text[e.start : e.end] == e.text and e.text.strip() == e.text


_cache = {}


def _pipe(path):
    if path not in _cache:
        _cache[path] = NerPipeline.from_pretrained(path)
    return _cache[path]


def test_long_note_is_tagged_to_its_last_word(trained):
    out, _ = trained
    pipe = _pipe(out)
    text = "\r\n".join([NOTE] * 400)  # ~6,000 words, hundreds of windows
    doc = pipe(text)
    period = len(NOTE) + 2
    assert {e.start // period for e in doc.entities} == set(range(400))  # found in every repetition
    last = doc.entities[-1]
    assert (last.text, last.label) == ("aspirin", "T103") and last.end > len(text) - 20


def test_stream_keeps_order_and_handles_empty_texts(trained):
    out, _ = trained
    pipe = _pipe(out)
    texts = ["", "   \n\t ", NOTE, "fever"]
    docs = list(pipe.pipe(texts, batch_size=3))
    assert [d.text for d in docs] == texts
    assert docs[0].entities == [] and docs[1].entities == []
    assert len(docs[2].entities) == 5


def test_fp32_and_bf16_agree_on_the_trained_examples(trained):
    out, _ = trained
    a = NerPipeline.from_pretrained(out, precision="fp32")(NOTE)
    b = NerPipeline.from_pretrained(out, precision="bf16")(NOTE)
    assert [e.key() for e in a.entities] == [e.key() for e in b.entities]


def test_scores_on_perfect_and_empty_predictions():
    gold = gold_docs(2)
    perfect = ner_scores(gold, gold)
    assert perfect["strict"]["f1"] == perfect["default"]["f1"] == perfect["span_exact"]["f1"] == 1.0
    empty = ner_scores(gold, [d.with_entities([]) for d in gold])
    assert empty["strict"]["recall"] == 0.0 and empty["span_overlap"]["f1"] == 0.0
    half = [d.with_entities([e for e in d.entities if e.label == "T033"]) for d in gold]
    s = ner_scores(gold, half)
    assert s["strict"]["precision"] == 1.0 and s["strict"]["recall"] == pytest.approx(0.4)


def test_viterbi_never_starts_with_inside_tag():
    labels = ["O", "B-A", "I-A", "B-B", "I-B"]
    start, trans = allowed_transitions(labels)
    logp = np.log(np.array([[0.1, 0.1, 0.6, 0.1, 0.1], [0.1, 0.1, 0.1, 0.1, 0.6]]))
    path = [labels[i] for i in viterbi(logp, start, trans)]
    assert path[0] != "I-A" and not (path[1] == "I-B" and path[0] != "B-B")


LABEL_SETS = (["O", "B-A", "I-A", "B-B", "I-B"], ["O"] + [f"{p}-T{i}" for i in range(21) for p in "BI"])


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_viterbi_shortcuts_keep_the_full_programmes_path(data):
    """Cutting at words no best path can hold an I- tag, and keeping already valid pieces, gives the
    full dynamic programme's path: on random scores (no exact ties), peaked or flat, I-heavy or not."""
    from clinlm.decoding import _viterbi_dp

    labels = data.draw(st.sampled_from(LABEL_SETS))
    start, trans = allowed_transitions(labels)
    n = data.draw(st.integers(0, 40))
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    logp = np.log(rng.dirichlet(np.ones(len(labels)) * data.draw(st.sampled_from([0.05, 0.3, 2.0])), size=n) + 1e-30)
    inside = [i for i, t in enumerate(labels) if t.startswith("I-")]
    logp[:, inside] += data.draw(st.sampled_from([0.0, 1.0, 3.0]))  # from rare to dominant I- tags
    logp = logp.astype(np.float32).reshape(n, len(labels))
    assert viterbi(logp, start, trans).tolist() == _viterbi_dp(logp, start, trans).tolist()


def test_missing_and_wrong_model_directories(tmp_path, tiny_bert):
    with pytest.raises(ModelError, match="not found"):
        NerPipeline.from_pretrained(tmp_path / "nope")
    with pytest.raises(ModelError, match="no config.json"):
        NerPipeline.from_pretrained(tmp_path)
    with pytest.raises(ModelError, match="not a token-classification"):
        NerPipeline.from_pretrained(tiny_bert)


@pytest.mark.slow
def test_a_one_megabyte_note_works(trained):
    out, _ = trained
    pipe = _pipe(out)
    text = ((NOTE + "\r\n\t") * 12000)[: 1 << 20]
    doc = pipe(text)
    assert len(doc.text) == 1 << 20
    assert all(text[e.start : e.end] == e.text for e in doc.entities)
    assert doc.entities[-1].end > len(text) - 200


def test_short_training_windows_cover_every_word_and_inference_keeps_wide_windows(tiny_bert, tmp_path):
    """--train-max-length cuts training windows only: each fits, every word is labelled in some
    window, and the saved model still annotates with its full window length."""
    docs = gold_docs(2)
    task = NerTask(max_length=48, stride=8, train_max_length=12, train_stride=4)
    model, tok = task.build(str(tiny_bert), docs)
    feats = task.features(docs, model, tok)
    wide = NerTask(max_length=48, stride=8).features(docs, model, tok)
    assert len(feats) > len(wide)
    assert max(len(f["input_ids"]) for f in feats) <= 12
    from collections import Counter

    def labelled(fs):  # (token, label) pairs that carry a label, with multiplicity
        return Counter((t, l) for f in fs for t, l in zip(f["input_ids"], f["labels"]) if l != -100)

    # overlapping short windows repeat some words but drop none
    assert not labelled(wide) - labelled(feats)
    train(task, model, tok, docs, None, TrainArgs(epochs=1, batch_size=4), tmp_path / "m")
    pipe = NerPipeline.from_pretrained(tmp_path / "m")
    assert pipe.max_length == 48


@pytest.mark.parametrize("kwargs, window", [
    ({}, (128, 32)),  # read back the way training read: dev scores and the saved model
    ({"train_max_length": 64, "train_stride": 16}, (64, 16)),
    ({"train_max_length": None}, (512, 128)),
    ({"max_length": 64}, (64, 16)),
    ({"max_length": 48, "stride": 8}, (48, 8)),
])
def test_inference_windows_default_to_the_training_windows(kwargs, window):
    task = NerTask(**kwargs)
    assert (task.max_length, task.stride) == window
