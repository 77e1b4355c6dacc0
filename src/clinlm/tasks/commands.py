"""What every task's commands share: a dev split, training with a report, result tables and JSONL output."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from rich.table import Table

from clinlm.cli.app import train_app
from clinlm.cli.console import err, esc, out
from clinlm.cli.options import train_manifest
from clinlm.errors import ConfigError, InputError

def split_dev(train_examples: list, dev_examples: Optional[list], dev_fraction: float, seed: int):
    """``--dev`` as given, else a seeded ``--dev-fraction`` of the training data, else none."""
    if dev_examples is not None or not dev_fraction:
        return train_examples, dev_examples
    from clinlm.data.splits import holdout

    return holdout(train_examples, dev_fraction, seed)


def print_result(result: dict, title: str, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in result.items():
        if isinstance(value, float):
            table.add_row(esc(key), f"{value:.4f}")
        elif isinstance(value, (int, str)) and key not in ("model", "data"):
            table.add_row(esc(key), esc(value))
    out.print(table)
    per_class = result.get("per_class") or (result.get("pooled") or {}).get("per_class")
    if per_class:
        t2 = Table(title="per class", title_justify="left")
        for col in ("class", "precision", "recall", "F1", "support"):
            t2.add_column(col, justify="left" if col == "class" else "right")
        for lab, m in per_class.items():
            t2.add_row(esc(lab), f"{m['precision']:.4f}", f"{m['recall']:.4f}", f"{m['f1']:.4f}", str(m["support"]))
        out.print(t2)


def add_baselines(result: dict, task, fitted: Optional[dict], gold: list) -> dict:
    """``result`` with ``baselines`` (each baseline's metrics on the same gold data) and
    ``below_baselines`` (those whose selection metric beats the model's)."""
    if not fitted:
        return result
    baselines = task.baselines(fitted, gold)
    key = task.selection_metric
    below = [n for n, b in baselines.items() if key in b and float(b[key]) > float(result.get(key, float("-inf")))]
    return dict(result, baselines=baselines, below_baselines=below)


def print_baselines(result: dict, selection: str) -> None:
    """The model's figures beside each baseline's; a model below one is flagged, never silent."""
    baselines = result.get("baselines")
    if not baselines:
        return
    metrics = [m for m in ("pearson", "spearman", "accuracy", "macro_f1") if m in result]
    table = Table(title="against baselines (no fine-tuning)", title_justify="left")
    table.add_column("")
    for m in metrics:
        table.add_column(m, justify="right")
    table.add_row("this model", *(f"{result[m]:.4f}" for m in metrics))
    for name, b in baselines.items():
        if "unavailable" in b:
            table.add_row(esc(name), *(["-"] * len(metrics)))
            err.print(f"baseline {esc(name)} unavailable: {esc(b['unavailable'])}", soft_wrap=True)
            continue
        table.add_row(esc(name), *(f"{b[m]:.4f}" if m in b else "-" for m in metrics))
    out.print(table)
    for name in result.get("below_baselines", []):
        err.print(f"[bold red]warning:[/] this model's {selection} is below the {esc(name)} baseline "
                  f"({result[selection]:.4f} < {result['baselines'][name][selection]:.4f}): the fine-tuning did not pay off",
                  soft_wrap=True)


def write_jsonl(rows: list[dict], output: Optional[Path]) -> None:
    from clinlm.formats import atomic_write_text

    lines = [json.dumps(r, ensure_ascii=False) + "\n" for r in rows]
    if output is None:
        sys.stdout.write("".join(lines))
    else:
        atomic_write_text(output, lines)
        err.print(f"wrote {len(rows)} prediction(s) to {esc(output)}", soft_wrap=True)


def train_and_report(task, model: str, train_examples: list, dev_examples: Optional[list], args, output: Path,
           files: list[Path], as_json: bool) -> None:
    from clinlm.tasks.trainer import train as run_training

    net, tokenizer = task.build(model, train_examples, seed=args.seed)
    manifest = train_manifest(model, files)
    if fitted := task.fit_baselines(model, train_examples):
        manifest["baselines"] = fitted
    summary = run_training(task, net, tokenizer, train_examples, dev_examples, args, output, manifest,
                           on_log=lambda m: err.print(esc(m)))
    if summary["dev"]:
        print_result(summary["dev"], f"dev ({len(dev_examples)} examples), selected checkpoint", as_json)
    elif as_json:
        sys.stdout.write(json.dumps({"dev": None, "seconds": summary["seconds"]}) + "\n")
    err.print(f"saved to {esc(output)}  ({summary['seconds']} s, {summary['tokens_per_second']} tokens/s, {summary['precision']})",
              soft_wrap=True)


def check_kind(predictor, kind: str, model: str) -> None:
    if predictor.task.name != kind:
        raise InputError(f"{model} is a {predictor.task.name} model; use `clinlm ... {predictor.task.name}`")


@train_app.command("average")
def train_average(
    models: List[Path] = typer.Argument(..., help="Two or more fine-tuned checkpoint folders of one architecture and label set."),
    output: Path = typer.Option(..., "--output", "-o", help="A new folder for the averaged checkpoint."),
    weights: Optional[str] = typer.Option(None, help="One weight per checkpoint, comma-separated (default: equal)."),
) -> None:
    """Average fine-tuned checkpoints' weights into one model (a model soup): score it on dev before use."""
    from clinlm.tasks.averaging import average_checkpoints

    shares = None
    if weights is not None:
        try:
            shares = [float(x) for x in weights.split(",")]
        except ValueError:
            raise ConfigError(f"--weights takes numbers separated by commas, not {weights!r}") from None
    entry = average_checkpoints(models, output, shares)
    parts = ", ".join(f"{w:g} x {esc(m)}" for m, w in zip(entry["models"], entry["weights"]))
    err.print(f"wrote the mean of {parts} to {esc(output)}", soft_wrap=True)
