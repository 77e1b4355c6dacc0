"""``torchrun -m clinlm pretrain`` on CPU with gloo: two ranks stay in step, and together they train
exactly what one process does with the same effective batch (DDP and FSDP)."""
from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import WORDS

from clinlm.pretrain import pretrain

pytestmark = pytest.mark.slow  # two processes that each import torch and transformers: ~10 s a run

COMMON = ["--max-steps", "4", "--max-length", "16", "--precision", "fp32", "--heldout-fraction", "0.2",
          "--heldout-sequences", "6", "--save-every", "2", "--log-every", "1"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def setup(tiny_bert, tmp_path_factory) -> dict[str, Path]:
    """The tiny model without dropout (dropout draws differ per rank by design), notes, a token cache."""
    root = tmp_path_factory.mktemp("ddp")
    model = root / "model"
    shutil.copytree(tiny_bert, model)
    cfg = json.loads((model / "config.json").read_text())
    cfg.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (model / "config.json").write_text(json.dumps(cfg))
    notes = root / "notes"
    notes.mkdir()
    rnd = random.Random(3)
    for i in range(30):
        (notes / f"n{i}.txt").write_text(" ".join(rnd.choice(WORDS) for _ in range(rnd.randint(10, 50))) + ".\n")
    single = root / "single"
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        pretrain(model=str(model), text=[notes], output=single, cache_dir=root / "cache", batch_size=2, grad_accum=2,
                 max_steps=4, max_length=(16,), precision="fp32", heldout_fraction=0.2, heldout_sequences=6,
                 save_every=2, log_every=1)
    finally:
        torch.set_num_threads(threads)
    return {"root": root, "model": model, "notes": notes, "single": single, "cache": root / "cache"}


def torchrun(setup: dict[str, Path], output: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, CLINLM_PRETRAIN_CHECKSUMS=str(output.parent / f"{output.name}-sums"), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(free_port()),
           "-m", "clinlm", "pretrain", "--model", str(setup["model"]), "--text", str(setup["notes"]), "--output", str(output),
           "--cache-dir", str(setup["cache"]), "--batch-size", "1", "--effective-batch", "4", *COMMON, *extra]
    return subprocess.run(cmd, capture_output=True, env=env, timeout=300)


def weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(folder / "model.safetensors")


@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_two_gloo_ranks_train_what_one_process_trains_with_the_same_effective_batch(setup, mode):
    out = setup["root"] / mode
    r = torchrun(setup, out, *(["--fsdp"] if mode == "fsdp" else []))
    assert r.returncode == 0, r.stderr.decode()[-3000:]
    err = r.stderr.decode()
    assert err.count("saved to") == 1 and err.count("held-out perplexity before pretraining") == 1  # rank 0 speaks
    p = json.loads((out / "clinlm.json").read_text())["pretraining"]
    assert p["effective_batch"] == {"sequences": 4, "per_device": 1, "grad_accum": 2, "world_size": 2, "tokens": [64]}
    assert p["parallelism"] == mode and p["tokens_seen"] == 4 * 4 * 16
    single = json.loads((setup["single"] / "clinlm.json").read_text())["pretraining"]
    assert single["effective_batch"]["sequences"] == 4
    a, b = weights(setup["single"]), weights(out)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    for x, y in zip(single["heldout_perplexity"], p["heldout_perplexity"]):
        assert x["step"] == y["step"] and x["perplexity"] == pytest.approx(y["perplexity"], rel=1e-4)
    sums = [json.loads((out.parent / f"{mode}-sums" / f"rank-{r}.json").read_text()) for r in (0, 1)]
    assert [s["rank"] for s in sums] == [0, 1] and all(s["step"] == 4 and s["world_size"] == 2 for s in sums)
    if mode == "ddp":
        assert sums[0]["sha256"] == sums[1]["sha256"]  # every rank holds the same weights


def test_a_ddp_run_resumes_to_the_same_weights(setup):
    out = setup["root"] / "ddp-resumed"
    first = torchrun(setup, out, "--stop-after-steps", "2")
    assert first.returncode == 0, first.stderr.decode()[-3000:]
    second = torchrun(setup, out, "--resume")
    assert second.returncode == 0, second.stderr.decode()[-3000:]
    a, b = weights(setup["single"]), weights(out)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
