"""``clinlm pretrain``: continued masked-LM pretraining on your own text (one process, or each rank under torchrun)."""
from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import List, Optional

import typer

from clinlm.cli.app import app
from clinlm.cli.console import err, esc, quiet_transformers
from clinlm.cli.options import (
    BatchSize,
    Device,
    LearningRate,
    Precision,
    Seed,
    WeightDecay,
)
from clinlm.errors import ConfigError

_SIZE = re.compile(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([kKmMgGbBtT]?)\s*\Z")
_FACTOR = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "b": 10**9, "t": 10**12}


def parse_count(value: Optional[str], flag: str) -> Optional[int]:
    """``2000000``, ``2e6``, ``2M``, ``1.5B`` -> an integer (``None`` stays None)."""
    if value is None:
        return None
    m = _SIZE.match(value)
    if not m:
        raise ConfigError(f"{flag} {value!r}: give a number such as 2000000, 2e6, 500M or 2B")
    return int(float(m.group(1)) * _FACTOR[m.group(2).lower()])


@app.command("pretrain")
def pretrain_command(
    more: Optional[List[Path]] = typer.Argument(None, help="More corpus files or directories (same as --text)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Checkpoint to continue: directory or hub id (BERT, RoBERTa, megatron-bert/GatorTron)."),
    text: Optional[List[Path]] = typer.Option(None, "--text", "-t", help="Corpus: text files (one document each), JSONL (one per line), .gz, .tar/.tgz/.zip, or directories of them. Repeat for more."),
    output: Path = typer.Option(..., "--output", "-o", help="Directory for the masked-LM checkpoint, clinlm.json, the curves and the resumable checkpoints."),
    from_scratch: bool = typer.Option(False, "--from-scratch", help="Start from random weights (needs --config and --tokenizer)."),
    config: Optional[str] = typer.Option(None, "--config", help="With --from-scratch: bert-mini, gatortron-base or a config.json."),
    tokenizer: Optional[str] = typer.Option(None, "--tokenizer", help="With --from-scratch: a directory holding a fast tokenizer."),
    cased: Optional[bool] = typer.Option(None, "--cased/--uncased", help="Override case detection of the tokenizer."),
    text_field: str = typer.Option("text", "--text-field", help="JSONL field that holds the text (clinlm Document JSONL: text)."),
    heldout_fraction: float = typer.Option(0.01, "--heldout-fraction", help="Share of documents held out (by document hash) to measure perplexity."),
    heldout_sequences: int = typer.Option(256, "--heldout-sequences", help="Held-out sequences scored per measurement."),
    max_length: List[int] = typer.Option([128], "--max-length", help="Sequence length in subwords; repeat for phases (e.g. --max-length 128 --max-length 512 --phase-steps 9000)."),
    phase_steps: List[int] = typer.Option([], "--phase-steps", help="Steps of each --max-length phase but the last (which takes the rest)."),
    batch_size: BatchSize = 32,
    grad_accum: Optional[int] = typer.Option(None, "--grad-accum", help="Micro-batches per optimizer step (default 1, or what --effective-batch needs)."),
    effective_batch: Optional[int] = typer.Option(None, "--effective-batch", help="Sequences per optimizer step over all processes: --batch-size x --grad-accum x processes."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Optimizer steps to train (or give --tokens; default: one pass over the corpus)."),
    tokens: Optional[str] = typer.Option(None, "--tokens", help="Token budget instead of --max-steps, e.g. 500M or 2e9."),
    learning_rate: LearningRate = 5e-5,
    schedule: str = typer.Option("linear", "--schedule", help="Decay after warmup: linear or cosine."),
    warmup: float = typer.Option(0.06, "--warmup", help="Warmup as a share of all steps."),
    weight_decay: WeightDecay = 0.01,
    max_grad_norm: float = typer.Option(1.0, "--max-grad-norm", help="Gradient clipping norm."),
    mask_rate: float = typer.Option(0.15, "--mask-rate", help="Share of tokens predicted (whole words; 80% [MASK], 10% random, 10% kept)."),
    seed: Seed = 42,
    precision: Precision = "auto",
    device: Device = "auto",
    fsdp: bool = typer.Option(False, "--fsdp", help="Shard the model across processes (torch FSDP) instead of a copy per process (DDP)."),
    save_every: int = typer.Option(500, "--save-every", help="Steps between resumable checkpoints."),
    eval_every: Optional[int] = typer.Option(None, "--eval-every", help="Steps between held-out perplexity measurements (default: --save-every)."),
    log_every: int = typer.Option(10, "--log-every", help="Steps between lines of OUTPUT/pretrain_log.jsonl (step, loss, lr, tokens, tokens/s, held-out perplexity)."),
    keep_checkpoints: int = typer.Option(1, "--keep-checkpoints", help="Resumable checkpoints to keep (the newest)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint in --output (same settings: same result)."),
    stop_after_steps: Optional[int] = typer.Option(None, "--stop-after-steps", help="Stop with a checkpoint after this many steps of this run (for time-limited jobs; continue with --resume)."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Where the tokenized corpus is cached (default: $CLINLM_CACHE_DIR or ~/.cache/clinlm/pretrain). It holds the corpus: keep it where the notes may be."),
    prepare_only: bool = typer.Option(False, "--prepare-only", help="Tokenize the corpus into the cache and stop."),
    as_json: bool = typer.Option(False, "--json", help="Print what clinlm.json records as JSON."),
) -> None:
    """Continue masked-LM pretraining (whole-word masking, packed sequences) on your own text.

    Run with torchrun for several GPUs or machines: torchrun --nproc-per-node N -m clinlm pretrain ...
    """
    from clinlm.pretrain.run import pretrain

    quiet_transformers()
    main = os.environ.get("RANK", "0") == "0"
    corpus = list(text or []) + list(more or [])
    summary = pretrain(
        model=model, text=corpus, output=output, on_log=lambda m: err.print(esc(m), soft_wrap=True, highlight=False),
        from_scratch=from_scratch, config=config, tokenizer=tokenizer, cased=cased, text_field=text_field,
        heldout_fraction=heldout_fraction, heldout_sequences=heldout_sequences, max_length=tuple(max_length),
        phase_steps=tuple(phase_steps), batch_size=batch_size, grad_accum=grad_accum, effective_batch=effective_batch,
        max_steps=max_steps, tokens=parse_count(tokens, "--tokens"), learning_rate=learning_rate, schedule=schedule,
        warmup=warmup, weight_decay=weight_decay, max_grad_norm=max_grad_norm, mask_rate=mask_rate, seed=seed,
        precision=precision, device=device, fsdp=fsdp, save_every=save_every, eval_every=eval_every,
        log_every=log_every, keep_checkpoints=keep_checkpoints, resume=resume, stop_after_steps=stop_after_steps,
        cache_dir=cache_dir, prepare_only=prepare_only,
    )
    if not main:
        return
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    p = summary.get("pretraining")
    if p is None or summary.get("stopped"):
        return
    ppl = [h["perplexity"] for h in p["heldout_perplexity"]]
    trend = f", held-out perplexity {ppl[0]:.2f} -> {ppl[-1]:.2f}" if len(ppl) > 1 else ""
    err.print(f"saved to {esc(output)}  ({p['steps']} steps, {p['tokens_seen']:,} tokens, {p['tokens_per_second']} tokens/s, "
              f"{p['precision']}{trend})", soft_wrap=True, highlight=False)
