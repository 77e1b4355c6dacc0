"""The lean runtime (clinlm's own BERT-family forward and tokenizer adapter) against transformers:
same logits, same subwords, same entities; and a default annotation that never imports transformers."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from clinlm.runtime import encoder as lean
from clinlm.runtime import tokenizer as lean_tok
from clinlm.tasks.ner.pipeline import DEFAULT_MODEL_DIR, NerPipeline, default_batch_tokens

LABELS = ["O", "B-T033", "I-T033", "B-T103", "I-T103"]


@pytest.fixture(scope="module", params=["bert", "megatron-bert"])
def tagger_dir(request, tiny_bert, tiny_megatron, tmp_path_factory):
    """A random token classifier of each architecture (Megatron: pre-LN, embedding rows beyond the vocabulary)."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    base = tiny_bert if request.param == "bert" else tiny_megatron
    out = tmp_path_factory.mktemp(f"lean-{request.param}")
    torch.manual_seed(7)
    model = AutoModelForTokenClassification.from_pretrained(
        base, id2label=dict(enumerate(LABELS)), label2id={l: i for i, l in enumerate(LABELS)})
    with torch.no_grad():
        for p in model.parameters():  # LayerNorm weights away from 1 and biases away from 0, so a swapped one shows
            p.add_(torch.randn_like(p) * 0.05)
        model.classifier.weight.mul_(30)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(base).save_pretrained(out)
    return out


def _hf(path):
    from transformers import AutoModelForTokenClassification

    return AutoModelForTokenClassification.from_pretrained(path).float().eval()


def test_logits_equal_transformers_fp32(tagger_dir):
    model = lean.load(tagger_dir)
    assert model is not None and model.layout == ("pre-ln" if "megatron" in tagger_dir.name else "post-ln")
    ids = torch.randint(5, 60, (3, 20))
    mask = torch.ones_like(ids)
    mask[1, 12:] = 0
    with torch.inference_mode():
        ours = model(input_ids=ids, attention_mask=mask).logits
        theirs = _hf(tagger_dir)(input_ids=ids, attention_mask=mask).logits
    real = mask.bool()
    assert torch.allclose(ours[real], theirs[real], atol=1e-4, rtol=1e-4)


def test_fused_gelu_linear_is_gelu_of_linear():
    if not lean._FUSED:
        pytest.skip("this torch has no oneDNN linear-pointwise op; the plain ops run")
    import torch.nn.functional as F

    torch.manual_seed(0)
    linear = torch.nn.Linear(16, 48).bfloat16()
    x = torch.randn(2, 5, 16).bfloat16()
    w, b = linear.weight.float(), linear.bias.float()
    for approximate in ("none", "tanh"):
        layer = type("L", (), {"approximate": approximate})()
        fused = lean.TokenClassifier._gelu_linear(layer, x, linear)
        exact = F.gelu(F.linear(x.float(), w, b), approximate=approximate)
        plain = F.gelu(linear(x), approximate=approximate).float()
        assert fused.dtype == torch.bfloat16 and fused.shape == plain.shape
        # one rounding to bf16 at the end instead of two: as close to the fp32 result as the plain ops
        assert (fused.float() - exact).abs().max() <= (plain - exact).abs().max() + 1e-2
    # fp32 (the AVX2 precision) takes the plain ops
    assert torch.equal(lean.TokenClassifier._gelu_linear(layer, x.float(), linear.float()),
                       F.gelu(linear(x.float()), approximate="tanh"))


def test_unknown_checkpoints_go_to_transformers(tagger_dir, tmp_path):
    config = json.loads((tagger_dir / "config.json").read_text())
    assert lean.supported(config)
    for change in ({"model_type": "roberta"}, {"position_embedding_type": "relative_key"}, {"hidden_act": "relu"},
                   {"architectures": ["BertModel"]}):
        assert not lean.supported({**config, **change})
    # a tensor the lean model would not read: transformers loads it instead (and reports what it thinks)
    from safetensors.torch import load_file, save_file

    (tmp_path / "config.json").write_text(json.dumps(config))
    tensors = load_file(tagger_dir / "model.safetensors")
    save_file({**tensors, "bert.pooler.dense.weight": torch.zeros(2, 2)}, tmp_path / "model.safetensors")
    assert lean.load(tmp_path) is None


def test_pipeline_entities_equal_across_engines(tagger_dir):
    text = ("the patient denies chest pain and fever . mother with diabetes , aspirin 81 mg daily . " * 6).strip()
    kw = {"precision": "fp32", "context": False, "max_length": 16, "stride": 5}
    auto = NerPipeline.from_pretrained(tagger_dir, **kw)
    hf = NerPipeline.from_pretrained(tagger_dir, engine="transformers", **kw)
    assert isinstance(auto.model, lean.TokenClassifier) and not isinstance(hf.model, lean.TokenClassifier)
    a, b = auto(text), hf(text)
    assert a.entities and [e.key() for e in a.entities] == [e.key() for e in b.entities]


def test_bf16_weights_close_to_fp32(tagger_dir):
    text = "the patient denies chest pain and fever . mother with diabetes , aspirin 81 mg daily ."
    kw = {"context": False, "max_length": 16, "stride": 5}
    fp32 = NerPipeline.from_pretrained(tagger_dir, precision="fp32", **kw)
    bf16 = NerPipeline.from_pretrained(tagger_dir, precision="bf16-weights", **kw)
    assert bf16.precision.mode == "bf16-weights" and bf16.model.layers[0].qkv.weight.dtype == torch.bfloat16
    assert bf16.model.ln.weight.dtype == torch.float32  # LayerNorm kept in fp32
    from clinlm.windows import encode

    encs = encode(fp32.tokenizer, [text])
    a, b = fp32.word_logprobs(encs)[0], bf16.word_logprobs(encs)[0]
    assert np.abs(a - b).max() < 0.5 and (a.argmax(1) == b.argmax(1)).mean() > 0.9


def test_lean_save_pretrained_round_trips(tagger_dir, tmp_path):
    pipe = NerPipeline.from_pretrained(tagger_dir, precision="bf16-weights", context=False, max_length=16, stride=5)
    pipe.save_pretrained(tmp_path)  # the checkpoint as read, not the bf16 copy in memory
    again = NerPipeline.from_pretrained(tmp_path, precision="fp32", context=False)
    ref = NerPipeline.from_pretrained(tagger_dir, precision="fp32", context=False)
    text = "mother with diabetes , aspirin 81 mg daily"
    assert [e.key() for e in again(text).entities] == [e.key() for e in ref(text).entities]


def test_engine_is_checked(tagger_dir):
    from clinlm.errors import ConfigError

    with pytest.raises(ConfigError, match="engine"):
        NerPipeline.from_pretrained(tagger_dir, engine="fast")


WORDS = st.lists(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
                 .filter(lambda w: w.strip() == w and w), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(batch=st.lists(WORDS, min_size=1, max_size=3))
def test_tokenizer_adapter_matches_autotokenizer(batch):
    from transformers import AutoTokenizer

    ours = lean_tok.load(DEFAULT_MODEL_DIR)
    theirs = AutoTokenizer.from_pretrained(DEFAULT_MODEL_DIR)
    a = ours(batch, is_split_into_words=True, add_special_tokens=False)
    b = theirs(batch, is_split_into_words=True, add_special_tokens=False, truncation=False, verbose=False)
    assert a["input_ids"] == b["input_ids"]
    assert all(a.word_ids(i) == b.word_ids(i) for i in range(len(batch)))
    assert ours("x y")["input_ids"] == theirs("x y")["input_ids"] and ours.pad_token_id == theirs.pad_token_id


def test_tokenizer_adapter_declines_what_it_cannot_honour(tiny_bert, tiny_megatron, tmp_path):
    assert lean_tok.load(tiny_bert) is not None
    assert lean_tok.load(tiny_bert, cased=True) is None  # a lowercasing tokenizer.json asked to keep case
    assert lean_tok.load(tiny_megatron) is None  # GatorTron-style: no tokenizer_config.json, case detected by transformers
    config = json.loads((tiny_bert / "tokenizer_config.json").read_text())
    for name in ("tokenizer.json", "vocab.txt"):
        (tmp_path / name).write_bytes((tiny_bert / name).read_bytes())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({**config, "do_lower_case": False}))
    assert lean_tok.load(tmp_path) is None  # the config and tokenizer.json disagree: transformers decides


def test_default_batch_keeps_activations_reusable():
    cfg = type("C", (), {"intermediate_size": 1536, "hidden_size": 384})()
    cpu = torch.device("cpu")
    assert default_batch_tokens(cfg, cpu, torch.bfloat16) == 8192
    assert default_batch_tokens(cfg, cpu, torch.float32) == 4096
    big = type("C", (), {"intermediate_size": 4096, "hidden_size": 1024})()
    assert default_batch_tokens(big, cpu, torch.bfloat16) == 4096
    assert default_batch_tokens(cfg, torch.device("cuda"), torch.bfloat16) == 16384


def test_default_annotation_never_imports_transformers(tmp_path):
    """The CLI's one-note start-up: transformers' import alone costs ~2.5 s of it."""
    note = tmp_path / "note.txt"
    note.write_text("Patient denies chest pain. Takes aspirin 81 mg daily.\n")
    code = ("import sys; from clinlm.cli.main import main; sys.argv = ['clinlm', 'annotate', sys.argv[1], '--format', "
            "'jsonl']\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('TRANSFORMERS' if 'transformers' in sys.modules else 'CLEAN', file=sys.stderr)")
    run = subprocess.run([sys.executable, "-c", code, str(note)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stderr.strip().endswith("CLEAN"), run.stderr
    doc = json.loads(run.stdout.splitlines()[0])
    assert {e["text"] for e in doc["entities"]} >= {"chest pain", "aspirin"}


def test_cli_engine_option_is_recorded_and_checked(tagger_dir, tmp_path):
    from cli_runner import clinlm

    note = tmp_path / "note.txt"
    note.write_text("the patient denies chest pain . mother with diabetes , aspirin 81 mg daily .\n")
    engines = {}
    for engine in ("auto", "transformers"):
        r = clinlm("annotate", note, "--model", tagger_dir, "--format", "jsonl", "--no-context", "--precision", "fp32",
                   "--engine", engine)
        assert r.returncode == 0, r.stderr.decode()
        doc = json.loads(r.stdout.decode().splitlines()[0])
        engines[doc["metadata"]["clinlm"]["engine"]] = [(e["start"], e["end"], e["label"]) for e in doc["entities"]]
    assert set(engines) == {"lean", "transformers"} and engines["lean"] == engines["transformers"]
    r = clinlm("annotate", note, "--model", tagger_dir, "--engine", "fast")
    assert r.returncode == 2 and r.stderr.decode().strip().endswith("unknown engine 'fast'; use one of auto, transformers")


def test_fused_linear_add_is_residual_plus_linear():
    if not lean._FUSED_ADD:
        pytest.skip("this torch has no oneDNN linear-pointwise binary op; the plain ops run")
    import torch.nn.functional as F

    torch.manual_seed(0)
    linear = torch.nn.Linear(48, 16).bfloat16()
    x, residual = torch.randn(2, 5, 48).bfloat16(), torch.randn(2, 5, 16).bfloat16()
    fused = lean.TokenClassifier._linear_add(x, linear, residual)
    exact = residual.float() + F.linear(x.float(), linear.weight.float(), linear.bias.float())
    plain = (residual + linear(x)).float()
    assert fused.dtype == torch.bfloat16 and fused.shape == residual.shape
    assert (fused.float() - exact).abs().max() <= (plain - exact).abs().max() + 1e-2
    # fp32 takes the plain ops
    assert torch.equal(lean.TokenClassifier._linear_add(x.float(), linear.float(), residual.float()),
                       residual.float() + linear.float()(x.float()))
