"""``clinlm evaluate|predict mc``: zero-shot multiple choice with a masked or causal LM."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, List, Optional

import typer

from clinlm.cli.app import evaluate_app, predict_app
from clinlm.cli.console import err, esc, quiet_transformers
from clinlm.cli.options import AsJson, Device, Seed
from clinlm.errors import ModelError
from clinlm.tasks.commands import print_result, write_jsonl

Normalize = Annotated[str, typer.Option(
    "--normalize", help="How options compare: mean (log-probability per token; the default, since a sum adds one "
    "negative term per token and so favours options of fewer tokens), sum (summed log-probability) or pmi "
    "(summed log-probability after the question minus after a bare 'Answer:': which option the question makes "
    "more likely; scores each option twice). Mean and sum are reported either way.")]
AllowRandomHead = Annotated[bool, typer.Option(
    "--allow-random-head", help="Score with an encoder saved without masked-LM head weights, through a random "
    "head (seeded by --seed): expect chance. Without it such a model is refused (give it a head with `clinlm pretrain`).")]

# -- zero-shot multiple choice -------------------------------------------------------------------
@evaluate_app.command("mc")
def evaluate_mc(
    model: str = typer.Option(..., "--model", "-m", help="An encoder (masked LM) or causal LM: directory or hub id."),
    data: List[Path] = typer.Option(..., "--data", "-d", help="MMLU or MedConceptsQA CSV files, or directories of them."),
    scoring: str = typer.Option("auto", help="auto, pll (masked-LM pseudo-log-likelihood) or causal (log-likelihood)."),
    limit: Optional[int] = typer.Option(None, help="Score a seeded sample of this many questions."),
    seed: Seed = 42,
    max_length: int = typer.Option(128, help="Subwords of prompt + option (the prompt is cut from the left)."),
    normalize: Normalize = "mean",
    allow_random_head: AllowRandomHead = False,
    device: Device = "auto",
    as_json: AsJson = False,
) -> None:
    """Zero-shot multiple choice: accuracy with chance beside it."""
    from rich.progress import Progress

    from clinlm.tasks.mc.data import read_mc
    from clinlm.tasks.mc.scoring import check_normalize, evaluate_mc as run, load_scorer, sample

    quiet_transformers()
    check_normalize(normalize)
    questions = sample([q for d in data for q in read_mc(d)], limit, seed)
    scorer = load_scorer(model, scoring=scoring, device=device, max_length=max_length, seed=seed)
    _check_head(scorer, model, allow_random_head)
    with Progress(console=err, transient=True, disable=not err.is_terminal) as progress:
        bar = progress.add_task("scoring options", total=len(questions))
        result = run(scorer, questions, on_progress=lambda: progress.advance(bar), normalize=normalize)
    result.update(model=model, data=[str(d) for d in data])
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    print_result({k: v for k, v in result.items() if k != "predictions"}, f"zero-shot multiple choice ({len(questions)} questions)", False)


@predict_app.command("mc")
def predict_mc(
    model: str = typer.Option(..., "--model", "-m", help="An encoder (masked LM) or causal LM: directory or hub id."),
    data: List[Path] = typer.Option(..., "--data", "-d", help="MMLU or MedConceptsQA CSV files (answers optional), or directories of them."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="JSONL file (default: stdout)."),
    scoring: str = typer.Option("auto", help="auto, pll (masked-LM pseudo-log-likelihood) or causal (log-likelihood)."),
    max_length: int = typer.Option(128, help="Subwords of prompt + option (the prompt is cut from the left)."),
    normalize: Normalize = "mean",
    allow_random_head: AllowRandomHead = False,
    seed: Seed = 42,
    device: Device = "auto",
) -> None:
    """Zero-shot multiple choice: the option each question's model scores highest, as JSONL."""
    from rich.progress import Progress

    from clinlm.tasks.mc.data import read_mc
    from clinlm.tasks.mc.scoring import check_normalize, load_scorer
    from clinlm.tasks.mc.scoring import predict_mc as run

    quiet_transformers()
    check_normalize(normalize)
    questions = [q for d in data for q in read_mc(d, require_answer=False)]
    scorer = load_scorer(model, scoring=scoring, device=device, max_length=max_length, seed=seed)
    _check_head(scorer, model, allow_random_head)
    with Progress(console=err, transient=True, disable=not err.is_terminal) as progress:
        bar = progress.add_task("scoring options", total=len(questions))
        preds = run(scorer, questions, on_progress=lambda: progress.advance(bar), normalize=normalize)
    write_jsonl(preds, output)


def _check_head(scorer, model: str, allow: bool) -> None:
    """Refuse a randomly initialised masked-LM head (its scores are noise) unless allowed; when
    allowed, say so on stderr before scoring (whatever goes to stdout, --json included)."""
    if scorer.scoring != "pll" or scorer.mlm_head == "pretrained":
        return
    if not allow:
        raise ModelError(f"{model} has no masked-LM head (its weights are not in the checkpoint), so pseudo-log-likelihood "
                         f"would score options with a random head at chance; give it one with `clinlm pretrain --model {model} "
                         "--text CORPUS --output DIR` and score DIR, use --scoring causal for a causal LM, or pass "
                         "--allow-random-head to score anyway")
    err.print(f"[yellow]warning:[/] masked-LM head {esc(scorer.mlm_head)}: expect chance-level accuracy", soft_wrap=True)
