"""``clinlm evaluate|predict mc``: zero-shot multiple choice with a masked or causal LM."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from clinlm.cli.app import evaluate_app, predict_app
from clinlm.cli.console import err, esc, quiet_transformers
from clinlm.cli.options import AsJson, Device, Seed
from clinlm.tasks.commands import print_result, write_jsonl

# -- zero-shot multiple choice -------------------------------------------------------------------
@evaluate_app.command("mc")
def evaluate_mc(
    model: str = typer.Option(..., "--model", "-m", help="An encoder (masked LM) or causal LM: directory or hub id."),
    data: List[Path] = typer.Option(..., "--data", "-d", help="MMLU or MedConceptsQA CSV files, or directories of them."),
    scoring: str = typer.Option("auto", help="auto, pll (masked-LM pseudo-log-likelihood) or causal (log-likelihood)."),
    limit: Optional[int] = typer.Option(None, help="Score a seeded sample of this many questions."),
    seed: Seed = 42,
    max_length: int = typer.Option(128, help="Subwords of prompt + option (the prompt is cut from the left)."),
    device: Device = "auto",
    as_json: AsJson = False,
) -> None:
    """Zero-shot multiple choice: accuracy with chance beside it."""
    from rich.progress import Progress

    from clinlm.tasks.mc.data import read_mc
    from clinlm.tasks.mc.scoring import evaluate_mc as run, load_scorer, sample

    quiet_transformers()
    questions = sample([q for d in data for q in read_mc(d)], limit, seed)
    scorer = load_scorer(model, scoring=scoring, device=device, max_length=max_length)
    with Progress(console=err, transient=True, disable=not err.is_terminal) as progress:
        bar = progress.add_task("scoring options", total=len(questions))
        result = run(scorer, questions, on_progress=lambda: progress.advance(bar))
    result.update(model=model, data=[str(d) for d in data])
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    print_result({k: v for k, v in result.items() if k != "predictions"}, f"zero-shot multiple choice ({len(questions)} questions)", False)
    _warn_head(scorer)


@predict_app.command("mc")
def predict_mc(
    model: str = typer.Option(..., "--model", "-m", help="An encoder (masked LM) or causal LM: directory or hub id."),
    data: List[Path] = typer.Option(..., "--data", "-d", help="MMLU or MedConceptsQA CSV files (answers optional), or directories of them."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="JSONL file (default: stdout)."),
    scoring: str = typer.Option("auto", help="auto, pll (masked-LM pseudo-log-likelihood) or causal (log-likelihood)."),
    max_length: int = typer.Option(128, help="Subwords of prompt + option (the prompt is cut from the left)."),
    device: Device = "auto",
) -> None:
    """Zero-shot multiple choice: the option each question's model scores highest, as JSONL."""
    from rich.progress import Progress

    from clinlm.tasks.mc.data import read_mc
    from clinlm.tasks.mc.scoring import load_scorer
    from clinlm.tasks.mc.scoring import predict_mc as run

    quiet_transformers()
    questions = [q for d in data for q in read_mc(d, require_answer=False)]
    scorer = load_scorer(model, scoring=scoring, device=device, max_length=max_length)
    with Progress(console=err, transient=True, disable=not err.is_terminal) as progress:
        bar = progress.add_task("scoring options", total=len(questions))
        preds = run(scorer, questions, on_progress=lambda: progress.advance(bar))
    write_jsonl(preds, output)
    _warn_head(scorer)


def _warn_head(scorer) -> None:
    if scorer.scoring == "pll" and scorer.mlm_head != "pretrained":
        err.print(f"[yellow]note:[/] masked-LM head {esc(scorer.mlm_head)}: expect chance-level accuracy", soft_wrap=True)
