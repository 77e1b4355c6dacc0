"""The one trainer every task shares: AdamW, linear warmup/decay, bf16 autocast,
gradient accumulation, model selection on dev, a progress bar with loss and ETA."""
from __future__ import annotations

import copy
import math
import random
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from clinlm.runtime.attention import fuse_attention
from clinlm.runtime.device import resolve_device, resolve_dtype
from clinlm.tasks.base import Task


@dataclass
class TrainArgs:
    epochs: float = 3.0
    learning_rate: float = 5e-5
    batch_size: int = 16
    grad_accum: int = 1
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    label_smoothing: float = 0.0
    seed: int = 42
    precision: str = "auto"
    device: str = "auto"
    evals_per_epoch: int = 1
    layer_decay: float = 1.0
    average_last: int = 0


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def metric(result: dict[str, Any], dotted: str) -> float:
    for part in dotted.split("."):
        result = result[part]
    return float(result)  # type: ignore[arg-type]


def _depth(name: str, layers: int) -> int:
    """How far a parameter sits from the output: 0 for the head, ``layers + 1`` for the embeddings."""
    found = re.search(r"\.layers?\.(\d+)\.", name)
    if found:
        return layers - int(found.group(1))
    return layers + 1 if "embeddings" in name else 0


def param_groups(model, learning_rate: float, weight_decay: float, layer_decay: float = 1.0) -> list[dict]:
    """AdamW groups: no decay on biases and norms; with ``layer_decay`` < 1, each encoder layer's
    rate is the one above it times ``layer_decay`` (layer-wise decay: the lower layers, which hold
    the pretrained knowledge, move least)."""
    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")
    layers = getattr(model.config, "num_hidden_layers", 0)
    groups: dict[tuple[int, bool], dict] = {}
    for name, param in model.named_parameters():
        depth = _depth(name, layers) if layer_decay != 1.0 else 0
        plain = name.endswith(no_decay)
        group = groups.setdefault((depth, plain), {"params": [], "weight_decay": 0.0 if plain else weight_decay,
                                                   "lr": learning_rate * layer_decay ** depth})
        group["params"].append(param)
    return list(groups.values())


def _mean_state(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The element-wise mean of checkpoints (floating tensors; others from the last)."""
    out = {}
    for key, last in states[-1].items():
        out[key] = torch.stack([s[key] for s in states]).mean(0).to(last.dtype) if last.is_floating_point() else last
    return out


def _batches(features: list[dict], batch_size: int, rng: random.Random) -> list[list[dict]]:
    """Shuffled batches of similar length (sorted inside pools of 50 batches) to keep padding small."""
    order = features[:]
    rng.shuffle(order)
    pool = batch_size * 50
    batches = []
    for i in range(0, len(order), pool):
        chunk = sorted(order[i : i + pool], key=lambda f: len(f["input_ids"]))
        batches += [chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def train(
    task: Task,
    model,
    tokenizer,
    train_examples: Sequence[Any],
    dev_examples: Sequence[Any] | None,
    args: TrainArgs,
    output_dir: str | Path,
    manifest: dict[str, Any] | None = None,
    on_log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Fine-tune ``model`` on the task; save the best checkpoint (by dev ``task.selection_metric``)
    to ``output_dir``. Returns the training history and the selected dev metrics."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from transformers import get_linear_schedule_with_warmup

    log = on_log or (lambda msg: None)
    set_seed(args.seed)
    rng = random.Random(args.seed)
    device = resolve_device(args.device)
    dtype = resolve_dtype(args.precision, device)
    fuse_attention(model)
    model.to(device).train()
    features = task.features(train_examples, model, tokenizer)
    if not features:
        from clinlm.errors import InputError

        raise InputError("the training data holds no examples")
    steps_per_epoch = math.ceil(len(features) / args.batch_size / args.grad_accum)
    total_steps = max(1, math.ceil(steps_per_epoch * args.epochs))
    optim = torch.optim.AdamW(param_groups(model, args.learning_rate, args.weight_decay, args.layer_decay),
                              lr=args.learning_rate)
    sched = get_linear_schedule_with_warmup(optim, int(args.warmup_ratio * total_steps), total_steps)
    autocast = dtype != torch.float32
    pad_id = tokenizer.pad_token_id or 0
    eval_every = max(1, steps_per_epoch // max(1, args.evals_per_epoch))

    history: list[dict[str, Any]] = []
    best_score, best_state, best_metrics = -math.inf, None, None
    recent: list[dict[str, torch.Tensor]] = []  # the last ``average_last`` evaluated states
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    step, tokens, t0 = 0, 0, time.perf_counter()
    running = None

    eval_seconds = 0.0

    def evaluate_and_select(averaged: int = 0) -> None:
        """Score the model on dev and keep it if best. ``averaged``: it is the mean of that many
        checkpoints (``average_last``), not a training step's weights."""
        nonlocal best_score, best_state, best_metrics, eval_seconds
        t_eval = time.perf_counter()
        entry: dict[str, Any] = {"step": step, "epoch": round(step / steps_per_epoch, 3), "loss": running}
        if averaged:
            entry["averaged"] = averaged
        elif args.average_last > 1:
            recent.append({k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
            del recent[: -args.average_last]
        if dev_examples:
            m = task.evaluate(model, tokenizer, dev_examples)
            score = metric(m, task.selection_metric)
            entry["dev"] = score
            if score > best_score:
                best_score, best_metrics = score, m
                best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
                # saved at once, so an interrupted run still leaves its best checkpoint
                task.save(model, tokenizer, output_dir, dict(manifest or {}, training={"history": history + [entry], "dev": m}))
            what = f"mean of the last {averaged} checkpoints" if averaged else f"epoch {entry['epoch']:.2f}  loss {running:.4f}"
            log(f"step {step}  {what}  dev {task.selection_metric} {score:.4f}")
        history.append(entry)
        eval_seconds += time.perf_counter() - t_eval

    console = Console(stderr=True)
    progress = Progress(
        TextColumn("[bold]train {task.fields[name]}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps"),
        TextColumn("loss {task.fields[loss]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    )
    with progress:
        bar = progress.add_task("train", total=total_steps, name=task.name, loss="-")
        while step < total_steps:
            for k, batch in enumerate(_batches(features, args.batch_size, rng)):
                tensors = {key: v.to(device) for key, v in task.collate(batch, pad_id).items()}
                tokens += int(tensors["attention_mask"].sum())
                with torch.autocast(device.type, dtype=dtype, enabled=autocast):
                    loss = task.loss(model, tensors, args.label_smoothing) / args.grad_accum
                loss.backward()
                if (k + 1) % args.grad_accum:
                    continue
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                optim.step()
                sched.step()
                optim.zero_grad(set_to_none=True)
                step += 1
                value = loss.item() * args.grad_accum
                running = value if running is None else 0.95 * running + 0.05 * value
                progress.update(bar, advance=1, loss=f"{running:.4f}")
                if not console.is_terminal and step % max(1, steps_per_epoch // 10) == 0:
                    rate = tokens / (time.perf_counter() - t0 - eval_seconds)
                    log(f"step {step}/{total_steps}  loss {running:.4f}  {rate:.0f} tokens/s")
                # the last step is evaluated too, unless an evaluation just happened (1269 and 1271 of 1271)
                just_evaluated = history and step - history[-1]["step"] <= eval_every // 10
                if step % eval_every == 0 or (step == total_steps and not just_evaluated):
                    evaluate_and_select()
                if step >= total_steps:
                    break
    if len(recent) > 1 and dev_examples:  # checkpoint averaging: kept only if dev says so
        model.load_state_dict(_mean_state(recent))
        evaluate_and_select(averaged=len(recent))
    elapsed = time.perf_counter() - t0
    if best_state is not None:
        model.load_state_dict(best_state)
    summary = {
        "args": asdict(args),
        "history": history,
        "train_examples": len(train_examples),
        "train_features": len(features),
        "seconds": round(elapsed, 1),
        "train_seconds": round(elapsed - eval_seconds, 1),
        "seconds_per_epoch": round((elapsed - eval_seconds) * steps_per_epoch / max(step, 1), 1),
        "tokens_per_second": round(tokens / (elapsed - eval_seconds), 1) if elapsed > eval_seconds else None,
        "precision": str(dtype).replace("torch.", ""),
        "dev": best_metrics,
    }
    task.save(model, tokenizer, output_dir, dict(manifest or {}, training=summary))
    return summary
