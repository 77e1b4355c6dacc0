"""``clinlm pretrain`` end to end on tiny models: the checkpoint it writes, resuming, the one-line
errors, GatorTron's quirks, from-scratch models, and the tasks that start from its output."""
from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
import torch
from cli_runner import clinlm
from conftest import WORDS

from clinlm.errors import ConfigError, ModelError
from clinlm.pretrain import pretrain

SECRET = "Jane Roe MRN 1234567"
FAST = dict(max_length=(16,), batch_size=2, grad_accum=2, precision="fp32", heldout_fraction=0.2, heldout_sequences=8,
            log_every=1)


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """Two cores shared with other work: one torch thread each is faster than two fighting."""
    threads = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def notes(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("notes")
    rnd = random.Random(0)
    for i in range(30):
        words = [rnd.choice(WORDS) for _ in range(rnd.randint(10, 60))]
        if i == 3:
            words.insert(2, SECRET)
        (folder / f"note{i:02d}.txt").write_text(" ".join(words) + ".\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def pretrained(tiny_bert, notes, cache, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("pretrained") / "model"
    summary = pretrain(model=str(tiny_bert), text=[notes], output=out, max_steps=4, save_every=2, cache_dir=cache, **FAST)
    return out, summary


def test_output_is_a_masked_lm_checkpoint_with_manifest_and_curves(pretrained, tiny_bert):
    from transformers import AutoModelForMaskedLM

    out, summary = pretrained
    assert (out / "model.safetensors").is_file() and not (out / "pytorch_model.bin").exists()
    model, info = AutoModelForMaskedLM.from_pretrained(out, use_safetensors=True, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    man = json.loads((out / "clinlm.json").read_text())
    assert man == json.loads(json.dumps(summary)) | {"clinlm_version": man["clinlm_version"]}
    p = man["pretraining"]
    assert man["base_model"] == str(tiny_bert) and man["task"] == "masked-lm"
    assert p["corpus"]["fingerprint"].startswith("sha256:") and p["steps"] == 4
    assert p["effective_batch"] == {"sequences": 4, "per_device": 2, "grad_accum": 2, "world_size": 1, "tokens": [64]}
    assert p["tokens_seen"] == 4 * 4 * 16 and p["precision"] == "float32" and p["minutes"] >= 0
    assert [h["step"] for h in p["heldout_perplexity"]] == [0, 2, 4]
    assert all(h["perplexity"] > 1 for h in p["heldout_perplexity"])
    assert p["head"] == "new, tied to the input embeddings"
    rows = [json.loads(line) for line in (out / "pretrain_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 1, 2, 3, 4]
    assert {"loss", "lr", "tokens", "tokens_per_second"} <= set(rows[1]) and "heldout_ppl" in rows[2]
    assert (out / "checkpoints" / "step-00000004" / "optimizer.pt").is_file()
    assert len(list((out / "checkpoints").iterdir())) == 1  # the older checkpoint went once the newer was complete


def test_nothing_from_the_corpus_reaches_the_output_logs(pretrained):
    out, _ = pretrained
    for name in ("clinlm.json", "pretrain_log.jsonl", "checkpoints/step-00000004/state.json"):
        assert "Jane" not in (out / name).read_text()


def test_a_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one(tiny_bert, notes, cache, tmp_path):
    from safetensors.torch import load_file

    common = dict(model=str(tiny_bert), text=[notes], max_steps=5, save_every=2, cache_dir=cache, **(FAST | {"precision": "auto"}))
    pretrain(output=tmp_path / "straight", **common)
    stopped = pretrain(output=tmp_path / "resumed", stop_after_steps=3, **common)
    assert stopped["stopped"] and not (tmp_path / "resumed" / "model.safetensors").exists()
    assert [p.name for p in (tmp_path / "resumed" / "checkpoints").iterdir()] == ["step-00000003"]
    pretrain(output=tmp_path / "resumed", resume=True, **common)
    a = load_file(tmp_path / "straight" / "model.safetensors")
    b = load_file(tmp_path / "resumed" / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-6, atol=1e-7)
    logs = [(tmp_path / d / "pretrain_log.jsonl").read_text().splitlines() for d in ("straight", "resumed")]
    assert [json.loads(x)["step"] for x in logs[1]] == [json.loads(x)["step"] for x in logs[0]]  # no step twice


def test_resuming_with_other_settings_is_refused(tiny_bert, notes, cache, tmp_path):
    common = dict(model=str(tiny_bert), text=[notes], save_every=2, cache_dir=cache, **FAST)
    pretrain(output=tmp_path / "run", max_steps=4, stop_after_steps=2, **common)
    with pytest.raises(ConfigError, match="learning_rate: 5e-05 then, 0.001 now"):
        pretrain(output=tmp_path / "run", max_steps=4, resume=True, **(common | {"learning_rate": 1e-3}))


def test_cli_notes_the_new_head_in_one_line_and_refuses_to_overwrite(tiny_bert, notes, cache, tmp_path):
    args = ["pretrain", "--model", tiny_bert, "--text", notes, "--output", tmp_path / "o", "--max-steps", "1",
            "--max-length", "16", "--batch-size", "2", "--precision", "fp32", "--cache-dir", cache]
    r = clinlm(*args)
    assert r.returncode == 0, r.stderr.decode()
    err = r.stderr.decode()
    assert err.count("has no masked-LM head weights: added a new head tied to the input embeddings") == 1
    assert "LOAD REPORT" not in err and "Jane" not in err
    again = clinlm(*args)
    lines = again.stderr.decode().strip().splitlines()
    assert again.returncode == 2 and len(lines) == 1 and "already holds a pretraining run; pass --resume" in lines[0]


def _no_mask_tokenizer(tiny_bert: Path, tmp_path: Path) -> Path:
    """The tiny model with a fast tokenizer that has [CLS]/[SEP]/[PAD] but no mask token."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    d = tmp_path / "nomask"
    shutil.copytree(tiny_bert, d)
    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        (d / f).unlink(missing_ok=True)
    backend = Tokenizer.from_file(str(tiny_bert / "tokenizer.json"))
    PreTrainedTokenizerFast(tokenizer_object=backend, cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]",
                            unk_token="[UNK]").save_pretrained(d)
    return d


@pytest.mark.parametrize("case", ["empty corpus", "no mask token", "budget below one step", "missing text", "fsdp alone",
                                  "bad tokens", "scratch without tokenizer"])
def test_cli_errors_are_one_line_with_exit_status_2(case, tiny_bert, notes, cache, tmp_path):
    (tmp_path / "empty.txt").write_text("\n \n")
    model, text, extra = tiny_bert, notes, []
    expect = {
        "empty corpus": "the corpus holds no text",
        "no mask token": "the tokenizer has no mask token",
        "budget below one step": "--tokens 20 is smaller than one optimizer step: 2 sequences x 16 tokens = 32 tokens",
        "missing text": "no such file or directory",
        "fsdp alone": "--fsdp shards a model across processes: start it with torchrun",
        "bad tokens": "--tokens 'lots': give a number",
        "scratch without tokenizer": "--from-scratch needs --config",
    }[case]
    if case == "empty corpus":
        text = tmp_path / "empty.txt"
    elif case == "no mask token":
        model = _no_mask_tokenizer(tiny_bert, tmp_path)
    elif case == "budget below one step":
        extra = ["--tokens", "20"]
    elif case == "missing text":
        text = tmp_path / "nowhere"
    elif case == "fsdp alone":
        extra = ["--fsdp", "--max-steps", "1"]
    elif case == "bad tokens":
        extra = ["--tokens", "lots"]
    model_args = ["--model", model] if case != "scratch without tokenizer" else ["--from-scratch"]
    r = clinlm("pretrain", *model_args, "--text", text, "--output", tmp_path / "o", "--max-length", "16",
               "--batch-size", "2", "--cache-dir", cache, *extra)
    lines = r.stderr.decode().strip().splitlines()
    assert r.returncode == 2 and lines[-1].startswith("error: ") and expect in lines[-1], r.stderr.decode()
    assert not any(line.startswith(("Traceback", "error")) for line in lines[:-1])


def test_megatron_keeps_its_larger_embedding_matrix_and_cased_vocabulary(tiny_megatron, notes, cache, tmp_path):
    from transformers import AutoConfig

    from clinlm.runtime.loading import load_tokenizer

    rows = AutoConfig.from_pretrained(tiny_megatron).vocab_size
    out = tmp_path / "gt"
    pretrain(model=str(tiny_megatron), text=[notes], output=out, max_steps=2, cache_dir=cache, **FAST)
    assert AutoConfig.from_pretrained(out).vocab_size == rows > len(load_tokenizer(str(tiny_megatron)))
    tok = load_tokenizer(str(out))
    assert tok.tokenize("Mother") == load_tokenizer(str(tiny_megatron)).tokenize("Mother") == ["Mother"]


def test_from_scratch_builds_the_preset_around_the_tokenizer(tiny_bert, notes, cache, tmp_path):
    from transformers import AutoConfig

    out = tmp_path / "scratch"
    summary = pretrain(from_scratch=True, config="bert-mini", tokenizer=str(tiny_bert), text=[notes], output=out,
                       max_steps=1, cache_dir=cache, **FAST)
    cfg = AutoConfig.from_pretrained(out)
    assert (cfg.num_hidden_layers, cfg.hidden_size) == (4, 256) and summary["base_model"] == "scratch:bert-mini"
    assert summary["pretraining"]["head"] == "pretrained"
    (tmp_path / "cfg.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 16, "num_hidden_layers": 1,
                                                   "num_attention_heads": 2, "intermediate_size": 32, "vocab_size": 10}))
    with pytest.raises(ConfigError, match="vocab_size 10 is smaller than the tokenizer"):
        pretrain(from_scratch=True, config=str(tmp_path / "cfg.json"), tokenizer=str(tiny_bert), text=[notes],
                 output=tmp_path / "s2", max_steps=1, cache_dir=cache, **FAST)


def test_a_checkpoint_with_pickled_weights_only_is_refused(tiny_bert, notes, cache, tmp_path):
    d = tmp_path / "pickled"
    shutil.copytree(tiny_bert, d)
    (d / "model.safetensors").rename(d / "pytorch_model.bin")
    with pytest.raises(ModelError, match="loads safetensors weights only"):
        pretrain(model=str(d), text=[notes], output=tmp_path / "o", max_steps=1, cache_dir=cache, **FAST)


def test_evaluate_mc_reports_the_pretrained_head(pretrained, tiny_bert, tmp_path):
    (tmp_path / "q.csv").write_text("Which organ pumps blood?,heart,kidney,lung,mouse,A\n")
    base = json.loads(clinlm("evaluate", "mc", "--model", tiny_bert, "--data", tmp_path / "q.csv", "--json", "--allow-random-head").stdout)
    ours = json.loads(clinlm("evaluate", "mc", "--model", pretrained[0], "--data", tmp_path / "q.csv", "--json").stdout)
    assert base["mlm_head"].startswith("random") and ours["mlm_head"] == "pretrained"


def test_train_ner_starts_from_the_pretrained_checkpoint(pretrained, tmp_path):
    from clinlm.document import Document
    from clinlm.formats import write_documents

    note = "The patient denies chest pain and fever."
    docs = []
    for i in range(6):
        d = Document(f"n{i}", note)
        d.add(19, 29, "T184")
        docs.append(d)
    write_documents(docs, tmp_path / "train.jsonl", "jsonl")
    r = clinlm("train", "ner", "--model", pretrained[0], "--train", tmp_path / "train.jsonl", "--output", tmp_path / "ner",
               "--epochs", "1", "--batch-size", "4", "--max-length", "16", "--stride", "4", "--train-max-length", "16",
               "--train-stride", "4", "--precision", "fp32")
    assert r.returncode == 0, r.stderr.decode()
    man = json.loads((tmp_path / "ner" / "clinlm.json").read_text())
    assert man["task"] == "ner" and man["base_model"] == str(pretrained[0])
