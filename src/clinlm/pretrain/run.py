"""``clinlm.pretrain.pretrain``: continued masked-LM pretraining, from one CPU to many GPUs.

The loop: every optimizer step reads the effective batch's packed sequences (positions fixed by the
step, so resuming and any number of ranks read the same data), masks whole words with a generator
seeded by the sequence, and accumulates the summed loss of each micro-batch divided by the number
of predicted tokens in the whole effective batch. bf16 autocast where the hardware computes it,
fused attention for megatron-bert, AdamW with warmup and linear or cosine decay. Dropout is reseeded
from (seed, step, rank) at every step, so a resumed run repeats an uninterrupted one exactly.
"""
from __future__ import annotations

import functools
import json
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clinlm import manifest as manifest_io
from clinlm.errors import ConfigError, InputError
from clinlm.pretrain import checkpoints
from clinlm.pretrain.corpus import find_sources
from clinlm.pretrain.distributed import (
    World,
    all_sum,
    barrier,
    close,
    gather_rng,
    gradient_sync,
    init_world,
    restore_rng,
    wrap,
    write_checksum,
)
from clinlm.pretrain.masking import Masking, mask_sequence
from clinlm.pretrain.model import Start, from_scratch, load_checkpoint
from clinlm.pretrain.objective import MaskedLMObjective
from clinlm.pretrain.packing import chunk_count, chunks_at, micro_positions, sequence
from clinlm.pretrain.plan import Batch, Plan, lr_lambda, make_plan, resolve_batch
from clinlm.pretrain.tokens import (
    TokenCache,
    TokenStream,
    default_cache_dir,
    ensure_cache,
)
from clinlm.runtime.attention import fuse_attention
from clinlm.runtime.device import resolve_dtype
from clinlm.runtime.quiet import quiet_loading
from clinlm.runtime.threads import configure_torch_threads

LOG = "pretrain_log.jsonl"
SCHEDULES = ("linear", "cosine")
_ROBERTA_POSITIONS = {"roberta", "xlm-roberta", "camembert", "longformer"}  # two positions kept for padding


@dataclass
class PretrainArgs:
    """Every setting of a pretraining run (the command's options, one to one)."""

    model: str | None = None
    text: Sequence[str | Path] = ()
    output: str | Path = ""
    from_scratch: bool = False
    config: str | None = None
    tokenizer: str | None = None
    cased: bool | None = None
    text_field: str = "text"
    heldout_fraction: float = 0.01
    heldout_sequences: int = 256
    max_length: Sequence[int] = (128,)
    phase_steps: Sequence[int] = ()
    batch_size: int = 32
    grad_accum: int | None = None
    effective_batch: int | None = None
    max_steps: int | None = None
    tokens: int | None = None
    learning_rate: float = 5e-5
    schedule: str = "linear"
    warmup: float = 0.06
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    mask_rate: float = 0.15
    seed: int = 42
    precision: str = "auto"
    device: str = "auto"
    fsdp: bool = False
    save_every: int = 500
    eval_every: int | None = None
    log_every: int = 10
    keep_checkpoints: int = 1
    resume: bool = False
    stop_after_steps: int | None = None
    cache_dir: str | Path | None = None
    prepare_only: bool = False


def _check_args(a: PretrainArgs) -> None:
    if a.from_scratch:
        if not a.config or not a.tokenizer:
            raise ConfigError("--from-scratch needs --config (bert-mini, gatortron-base or a config.json) and --tokenizer DIR")
        if a.model:
            raise ConfigError("give --model (continue a checkpoint) or --from-scratch, not both")
    elif not a.model:
        raise ConfigError("give --model PATH_OR_HUB_ID, or --from-scratch --config ... --tokenizer DIR")
    if not str(a.output):
        raise ConfigError("give --output DIR")
    if not 0 <= a.heldout_fraction < 1:
        raise ConfigError("--heldout-fraction must be at least 0 and below 1")
    if a.schedule not in SCHEDULES:
        raise ConfigError(f"unknown schedule {a.schedule!r}; use {' or '.join(SCHEDULES)}")
    if not 0 < a.mask_rate < 1:
        raise ConfigError("--mask-rate must be between 0 and 1")
    if not 0 <= a.warmup < 1:
        raise ConfigError("--warmup is a share of all steps: at least 0 and below 1")
    for name in ("save_every", "log_every", "keep_checkpoints", "heldout_sequences"):
        if getattr(a, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")
    if a.tokens is not None and a.tokens < 1:
        raise ConfigError("--tokens must be at least 1")
    if a.stop_after_steps is not None and a.stop_after_steps < 1:
        raise ConfigError("--stop-after-steps must be at least 1")


def _position_limit(model) -> int | None:
    cfg = model.config
    limit = getattr(cfg, "max_position_embeddings", None)
    if limit and cfg.model_type in _ROBERTA_POSITIONS:
        limit -= 2
    return limit


def _step_seed(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1, np.uint64)[0] % (2**63 - 1))


@dataclass
class _Data:
    """What the loop needs to turn positions into masked tensors."""

    cls_id: int
    mask_id: int
    pad_id: int
    special: np.ndarray
    vocab: int
    masking: Masking
    seed: int

    def batch(self, stream: TokenStream, chunks: np.ndarray, epochs: np.ndarray, length: int, salt: tuple[int, ...],
              device: torch.device) -> tuple[dict[str, torch.Tensor], int, int]:
        """Masked tensors of the sequences ``chunks``; also the tokens they hold and how many are predicted."""
        rows, flat_pos, flat_lab = [], [], []
        for chunk, epoch in zip(chunks.tolist(), epochs.tolist()):
            ids, starts = sequence(stream, chunk, length, self.cls_id)
            rng = np.random.default_rng([self.seed, *salt, epoch, chunk])
            corrupted, pos, lab = mask_sequence(ids, starts, self.special, self.mask_id, self.vocab, rng, self.masking)
            rows.append(corrupted)
            flat_pos.append(pos)
            flat_lab.append(lab)
        width = max(len(r) for r in rows)
        input_ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            input_ids[i, : len(r)] = r
            mask[i, : len(r)] = 1
        positions = np.concatenate([p + i * width for i, p in enumerate(flat_pos)])
        labels = np.concatenate(flat_lab)
        full = bool(mask.all())
        tensors = {
            "input_ids": torch.from_numpy(input_ids).to(device),
            "attention_mask": None if full else torch.from_numpy(mask).to(device),  # packed: no mask needed
            "positions": torch.from_numpy(positions).to(device),
            "labels": torch.from_numpy(labels).to(device),
        }
        return tensors, int(mask.sum()), len(labels)


def _optimizer(wrapped: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight", "ln.weight")
    named = list(wrapped.named_parameters())
    groups = [
        {"params": [p for n, p in named if not n.endswith(no_decay)], "weight_decay": weight_decay},
        {"params": [p for n, p in named if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr)


class _Run:
    """Gathering and restoring the model's and optimizer's state, the same way for one process,
    DDP and FSDP (whose shards every rank must help gather)."""

    def __init__(self, fsdp: bool, world: World):
        self.fsdp, self.world = fsdp, world

    def full_state_dict(self, wrapped: torch.nn.Module, objective: MaskedLMObjective) -> dict[str, torch.Tensor]:
        """The model's weights, whole, on the CPU of rank 0 (every rank must call this under FSDP)."""
        if self.fsdp:
            from torch.distributed.checkpoint.state_dict import (
                StateDictOptions,
                get_model_state_dict,
            )

            sd = get_model_state_dict(wrapped, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        else:
            sd = objective.state_dict() if self.world.main else {}
        model = objective.model
        keep = {n for n, _ in model.named_parameters()} | set(model.state_dict())  # tied weights once
        keep -= {n for n, _ in model.named_parameters(remove_duplicate=False)} - {n for n, _ in model.named_parameters()}
        sd = {k.removeprefix("model."): v for k, v in sd.items()}
        return {k: v.detach().cpu() for k, v in sd.items() if k in keep}

    def optimizer_state(self, wrapped, optim) -> dict[str, Any]:
        if self.fsdp:
            from torch.distributed.checkpoint.state_dict import (
                StateDictOptions,
                get_optimizer_state_dict,
            )

            return get_optimizer_state_dict(wrapped, optim, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        return optim.state_dict()

    def load_optimizer(self, wrapped, optim, state: dict[str, Any]) -> None:
        if self.fsdp:
            from torch.distributed.checkpoint.state_dict import (
                StateDictOptions,
                set_optimizer_state_dict,
            )

            set_optimizer_state_dict(wrapped, optim, state, options=StateDictOptions(full_state_dict=True))
        else:
            optim.load_state_dict(state)

    def save_model(self, folder: Path, model, tokenizer, state: dict[str, torch.Tensor]) -> None:
        with quiet_loading():  # no "Writing model shards" bar on the caller's terminal
            model.save_pretrained(folder, state_dict=state, safe_serialization=True)
        tokenizer.save_pretrained(folder)


def _evaluate(wrapped: torch.nn.Module, data: _Data, stream: TokenStream, length: int, limit: int, batch: int,
              world: World, dtype: torch.dtype) -> tuple[float, int]:
    """Summed masked-LM loss and predicted tokens on the first ``limit`` held-out sequences (fixed
    masks, every rank a stride of them, the same number of forward passes on every rank)."""
    n = min(limit, chunk_count(len(stream), length))
    mine = np.arange(world.rank, n, world.size, dtype=np.int64)
    per_rank = math.ceil(n / world.size)
    total, count = 0.0, 0
    wrapped.eval()
    with torch.no_grad(), torch.autocast(world.device.type, dtype=dtype, enabled=dtype != torch.float32):
        for s in range(0, per_rank, batch):
            chunks = mine[s : s + batch]
            dummy = len(chunks) == 0  # this rank has run out: run a throwaway batch to keep the ranks in step
            if dummy:
                chunks = np.zeros(1, dtype=np.int64)
            tensors, _, predicted = data.batch(stream, chunks, np.zeros_like(chunks), length, (7919,), world.device)
            loss = wrapped(**tensors)
            if not dummy:
                total += float(loss)
                count += predicted
    wrapped.train()
    total, count = all_sum([total, float(count)], world)
    return total, int(count)


def pretrain(model: str | None = None, text: Sequence[str | Path] = (), output: str | Path = "",
             on_log: Callable[[str], None] | None = None, **options: Any) -> dict[str, Any]:
    """Continue masked-LM pretraining of ``model`` on the documents in ``text``; write a masked-LM
    checkpoint and ``clinlm.json`` to ``output``. ``options`` are :class:`PretrainArgs` fields.
    Under torchrun every rank calls this; rank 0 writes. Returns what ``clinlm.json`` records."""
    unknown = set(options) - set(PretrainArgs.__dataclass_fields__)
    if unknown:
        raise ConfigError(f"unknown pretraining option(s): {', '.join(sorted(unknown))}")
    args = PretrainArgs(model=model, text=list(text), output=output, **options)
    _check_args(args)
    world = init_world(args.device)
    try:
        return _pretrain(args, world, on_log or (lambda message: None))
    finally:
        close(world)


def _pretrain(a: PretrainArgs, world: World, log: Callable[[str], None]) -> dict[str, Any]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    t_start = time.perf_counter()
    main = world.main
    say = log if main else (lambda message: None)
    configure_torch_threads()
    output = Path(a.output)
    ckpt = checkpoints.latest(output) if a.resume else None
    if not a.resume and not a.prepare_only and (checkpoints.latest(output) or (output / "model.safetensors").is_file()):
        raise ConfigError(f"{output} already holds a pretraining run; pass --resume to continue it, or choose another --output")
    if a.resume and ckpt is None:
        say(f"no checkpoint in {output}: starting from step 0")

    # -- corpus files (a missing one fails before the model loads), model, tokenizer, token cache -----
    sources = find_sources(a.text)
    if a.from_scratch:
        start: Start = from_scratch(a.config, a.tokenizer, a.seed, a.cased)
    else:
        torch.manual_seed(a.seed)  # a new head starts the same on every run and every rank
        start = load_checkpoint(a.model, a.cased)
    if start.head_note:
        say(start.head_note)
    tokenizer, model = start.tokenizer, start.model
    console = Console(stderr=True)
    bar_on = main and console.is_terminal
    cache_dir = Path(a.cache_dir) if a.cache_dir else default_cache_dir()
    with Progress(TextColumn("[bold]tokenizing"), TextColumn("{task.fields[docs]} documents"),
                  TextColumn("{task.fields[tokens]} tokens"), TimeElapsedColumn(), console=console, transient=True,
                  disable=not bar_on) as progress:
        task = progress.add_task("tokenize", total=None, docs=0, tokens=0)
        cache: TokenCache = ensure_cache(cache_dir, sources, tokenizer, a.text_field, a.heldout_fraction,
                                         builder=world.local_rank == 0,
                                         on_progress=lambda d, t: progress.update(task, docs=f"{d:,}", tokens=f"{t:,}"))
    meta = cache.meta
    say(f"corpus: {meta['documents']['train']:,} training and {meta['documents']['heldout']:,} held-out documents, "
        f"{meta['tokens']['train']:,} + {meta['tokens']['heldout']:,} tokens "
        f"({'tokenized into' if cache.built else 'cached in'} {cache.folder})")
    if a.prepare_only:
        return {"cache": str(cache.folder), **{k: meta[k] for k in ("corpus", "documents", "tokens")}}
    if len(cache.train) == 0:
        raise InputError(f"every document fell in the held-out slice ({meta['documents']['heldout']} document(s)); "
                         "lower --heldout-fraction or add text")

    batch: Batch = resolve_batch(a.batch_size, world.size, a.grad_accum, a.effective_batch)
    plan: Plan = make_plan(tuple(a.max_length), tuple(a.phase_steps), batch, len(cache.train), a.max_steps, a.tokens,
                           _position_limit(model))
    dtype = resolve_dtype(a.precision, world.device)
    settings = {
        "base": start.base, "corpus": meta["corpus"], "tokenizer": meta["tokenizer"], "text_field": a.text_field,
        "heldout_fraction": a.heldout_fraction, "max_length": list(plan.lengths), "phase_steps": list(plan.phase_steps),
        "effective_batch": batch.sequences, "total_steps": plan.total_steps, "learning_rate": a.learning_rate,
        "schedule": a.schedule, "warmup": a.warmup, "weight_decay": a.weight_decay, "max_grad_norm": a.max_grad_norm,
        "mask_rate": a.mask_rate, "seed": a.seed,
    }
    state: dict[str, Any] = {"step": 0, "tokens_seen": 0, "train_seconds": 0.0, "seconds": 0.0, "heldout": []}
    if ckpt is not None:
        saved = checkpoints.read_state(ckpt)
        changed = checkpoints.compatible(saved["settings"], settings)
        if changed:
            raise ConfigError(f"--resume: {ckpt} was made with other settings, so the result would differ: "
                              + "; ".join(changed))
        checkpoints.load_weights(ckpt, model)
        state.update({k: saved[k] for k in state})

    # -- model on the device ----------------------------------------------------------------------
    fuse_attention(model)
    model.train()
    objective = MaskedLMObjective(model)
    wrapped = wrap(objective, world, a.fsdp)
    optim = _optimizer(wrapped, a.learning_rate, a.weight_decay)
    warmup_steps = int(a.warmup * plan.total_steps)
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, functools.partial(lr_lambda, total=plan.total_steps, warmup=warmup_steps, schedule=a.schedule))
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 and world.device.type == "cuda" else None
    run = _Run(a.fsdp, world)
    if ckpt is not None:
        run.load_optimizer(wrapped, optim, checkpoints.load_tensors(ckpt, "optimizer"))
        sched.load_state_dict(checkpoints.load_tensors(ckpt, "scheduler"))
        if scaler is not None and (ckpt / "scaler.pt").is_file():
            scaler.load_state_dict(checkpoints.load_tensors(ckpt, "scaler"))
        restore_rng(checkpoints.load_tensors(ckpt, "rng") or {}, world)
        say(f"resumed from {ckpt} (step {state['step']} of {plan.total_steps})")

    data = _Data(cls_id=tokenizer.cls_token_id, mask_id=tokenizer.mask_token_id,
                 pad_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0,
                 special=np.asarray(meta["special_ids"], dtype=np.int64), vocab=len(tokenizer),
                 masking=Masking(rate=a.mask_rate), seed=a.seed)
    eval_every = a.eval_every or a.save_every
    autocast = dtype != torch.float32
    log_path = output / LOG
    if main:
        output.mkdir(parents=True, exist_ok=True)
        kept = []
        if ckpt is not None and log_path.is_file():
            kept = [ln for ln in log_path.read_text(encoding="utf-8").splitlines()
                    if ln.strip() and json.loads(ln).get("step", 0) <= state["step"]]
        log_path.write_text("".join(ln + "\n" for ln in kept), encoding="utf-8")

    def write_log(row: dict[str, Any]) -> None:
        if main:
            with open(log_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")

    def heldout_eval(step: int) -> float | None:
        length = plan.lengths[plan.phase_at(max(0, step - 1))[0]]
        total, count = _evaluate(wrapped, data, cache.heldout, length, a.heldout_sequences, batch.per_device, world, dtype)
        if count == 0:
            return None
        ppl = math.exp(min(total / count, 50.0))
        state["heldout"].append({"step": step, "perplexity": round(ppl, 4), "loss": round(total / count, 5),
                                 "max_length": length})
        return ppl

    def save_checkpoint(step: int) -> None:
        sd = run.full_state_dict(wrapped, objective)
        osd = run.optimizer_state(wrapped, optim)
        rng = gather_rng(world)
        if main:
            tensors = {"optimizer": osd, "scheduler": sched.state_dict(), "rng": rng}
            if scaler is not None:
                tensors["scaler"] = scaler.state_dict()
            record = dict(state, step=step, settings=settings, world_size=world.size, effective_batch=asdict(batch))
            checkpoints.write(output, step, lambda folder: run.save_model(folder, model, tokenizer, sd), tensors, record,
                              keep=a.keep_checkpoints)
        barrier(world)

    no_heldout = len(cache.heldout) == 0
    if no_heldout:
        say("no held-out documents (the corpus is small or --heldout-fraction is 0): perplexity is not measured")
    step = state["step"]
    if step == 0 and not no_heldout:
        ppl = heldout_eval(0)
        write_log({"step": 0, "tokens": 0, "heldout_ppl": ppl})
        if ppl is not None:
            say(f"held-out perplexity before pretraining: {ppl:.2f}")

    progress = Progress(
        TextColumn("[bold]pretrain"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
        TextColumn("{task.fields[rate]} tokens/s"), TextColumn("loss {task.fields[loss]}"),
        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
        console=console, transient=False, disable=not bar_on)
    stop_at = plan.total_steps if a.stop_after_steps is None else min(plan.total_steps, step + a.stop_after_steps)
    window_loss, window_count, window_tokens, window_time = 0.0, 0, 0, 0.0
    running: float | None = None
    with progress:
        bar = progress.add_task("pretrain", total=plan.total_steps, completed=step, rate="-", loss="-")
        while step < stop_at:
            t0 = time.perf_counter()
            phase, pstep = plan.phase_at(step)
            length = plan.lengths[phase]
            n_chunks = chunk_count(len(cache.train), length)
            torch.manual_seed(_step_seed(a.seed, step, world.rank))  # dropout: the same in a resumed run
            micro = []
            for m in range(batch.accum):
                positions = micro_positions(pstep, m, world.rank, world.size, batch.per_device, batch.accum)
                epochs, chunks = chunks_at(positions, n_chunks, a.seed, phase)
                micro.append(data.batch(cache.train, chunks, epochs, length, (phase,), world.device))
            local_tokens = sum(t for _, t, _ in micro)
            local_predicted = sum(p for _, _, p in micro)
            predicted, tokens = all_sum([float(local_predicted), float(local_tokens)], world)
            scale = world.size / max(predicted, 1.0)
            step_loss = 0.0
            for m, (tensors, _, _) in enumerate(micro):
                with gradient_sync(wrapped, m == batch.accum - 1):
                    with torch.autocast(world.device.type, dtype=dtype, enabled=autocast):
                        loss_sum = wrapped(**tensors)
                    loss = loss_sum * scale
                    (scaler.scale(loss) if scaler is not None else loss).backward()
                step_loss += float(loss_sum.detach())
            if scaler is not None:
                scaler.unscale_(optim)
            torch.nn.utils.clip_grad_norm_(wrapped.parameters(), a.max_grad_norm)
            if scaler is not None:
                scaler.step(optim)
                scaler.update()
            else:
                optim.step()
            lr = sched.get_last_lr()[0]
            sched.step()
            optim.zero_grad(set_to_none=True)
            step += 1
            state["step"] = step
            state["tokens_seen"] += int(tokens)
            elapsed = time.perf_counter() - t0
            state["train_seconds"] += elapsed
            window_loss += step_loss
            window_count += local_predicted
            window_tokens += int(tokens)
            window_time += elapsed
            value = step_loss / max(local_predicted, 1)
            running = value if running is None else 0.9 * running + 0.1 * value
            progress.update(bar, advance=1, loss=f"{running:.4f}", rate=f"{window_tokens / max(window_time, 1e-9):,.0f}")
            row: dict[str, Any] | None = None
            if step % a.log_every == 0 or step == plan.total_steps:
                total_loss, total_count = all_sum([window_loss, float(window_count)], world)
                rate = window_tokens / max(window_time, 1e-9)
                row = {"step": step, "loss": round(total_loss / max(total_count, 1), 5), "lr": lr,
                       "tokens": state["tokens_seen"], "tokens_per_second": round(rate, 1), "max_length": length}
                if not bar_on:
                    say(f"step {step}/{plan.total_steps}  loss {row['loss']:.4f}  lr {lr:.2e}  {rate:,.0f} tokens/s")
                window_loss, window_count, window_tokens, window_time = 0.0, 0, 0, 0.0
            if not no_heldout and (step % eval_every == 0 or step == plan.total_steps):
                ppl = heldout_eval(step)
                row = dict(row or {"step": step, "tokens": state["tokens_seen"]}, heldout_ppl=ppl)
                if ppl is not None and not bar_on:
                    say(f"step {step}  held-out perplexity {ppl:.2f}")
            if row is not None:
                write_log(row)
            if step % a.save_every == 0 or step == stop_at:
                state["seconds"] += time.perf_counter() - t_start
                t_start = time.perf_counter()
                save_checkpoint(step)

    # -- the result ---------------------------------------------------------------------------------
    state["seconds"] += time.perf_counter() - t_start
    summary = {
        "base_model": start.base,
        "task": "masked-lm",
        "pretraining": {
            "corpus": {"inputs": [str(t) for t in a.text], "fingerprint": meta["corpus"], "text_field": a.text_field,
                       "documents": meta["documents"], "tokens": meta["tokens"], "heldout_fraction": a.heldout_fraction},
            "steps": step, "total_steps": plan.total_steps, "tokens_seen": state["tokens_seen"],
            "heldout_perplexity": state["heldout"],
            "effective_batch": {"sequences": batch.sequences, "per_device": batch.per_device,
                                "grad_accum": batch.accum, "world_size": batch.world,
                                "tokens": [batch.sequences * n for n in plan.lengths]},
            "max_length": list(plan.lengths), "phase_steps": list(plan.phase_steps),
            "learning_rate": a.learning_rate, "schedule": a.schedule, "warmup_steps": warmup_steps,
            "weight_decay": a.weight_decay, "masking": {"whole_word": True, **asdict(data.masking)},
            "precision": str(dtype).replace("torch.", ""), "device": world.device.type,
            "parallelism": "fsdp" if a.fsdp else ("ddp" if world.distributed else "none"),
            "minutes": round(state["seconds"] / 60, 2),
            "tokens_per_second": round(state["tokens_seen"] / state["train_seconds"], 1) if state["train_seconds"] else None,
            "head": "pretrained" if start.head_note is None else "new, tied to the input embeddings",
            "seed": a.seed,
        },
    }
    write_checksum(wrapped, world, {"step": step, "effective_batch": summary["pretraining"]["effective_batch"]})
    if step < plan.total_steps:  # stopped early on purpose: the checkpoint is the result
        say(f"stopped at step {step} of {plan.total_steps}; continue with --resume")
        summary["stopped"] = True
        return summary
    sd = run.full_state_dict(wrapped, objective)
    if main:
        summary["clinlm_version"] = _version()
        _write_final(output, lambda folder: run.save_model(folder, model, tokenizer, sd), summary)
    barrier(world)
    return summary


def _version() -> str:
    """The installed clinlm's version (read from the package metadata: the public API sits a layer above)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("clinlm")
    except PackageNotFoundError:
        return "unknown"


def _write_final(output: Path, save: Callable[[Path], None], summary: dict[str, Any]) -> None:
    """The masked-LM checkpoint into ``output``: written beside, then moved in file by file, the
    manifest last (a reader that sees ``clinlm.json`` sees the whole model)."""
    output.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".final.tmp-", dir=output))
    try:
        save(tmp)
        for f in sorted(tmp.iterdir()):
            f.replace(output / f.name)
        manifest_io.write(output, summary)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

