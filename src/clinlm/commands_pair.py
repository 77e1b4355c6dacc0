"""`clinlm train|evaluate|predict sts|nli|pubmedqa|qa` and `clinlm evaluate mc` (registered on cli's apps)."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from .cli import _quiet_transformers, err, evaluate_app, out, predict_app, train_app
from .cli_options import (AsJson, BatchSize, Device, Epochs, EvalsPerEpoch, GradAccum, LearningRate, Precision, Seed, Warmup,
                          WeightDecay, train_args, train_manifest)
from .errors import InputError

PAIR_HELP = {
    "sts": "semantic textual similarity (ClinicalSTS TSV, BIOSSES TSV): Pearson/Spearman",
    "nli": "natural language inference (MedNLI JSONL, RQE XML): accuracy/macro-F1",
    "pubmedqa": "PubMedQA yes/no/maybe (ori_pqal.json): accuracy/macro-F1",
}
DEFAULT_MAX_LENGTH = {"sts": 128, "nli": 128, "pubmedqa": 256}

IDS_HELP = "Keep only these example ids: a JSON object/list (PubMedQA test_ground_truth.json) or one id a line."
EXCLUDE_HELP = "Drop these example ids (e.g. the PubMedQA test questions from training)."


# -- shared helpers ---------------------------------------------------------------------------
def _select_ids(examples: list, ids: Optional[Path], exclude_ids: Optional[Path]) -> list:
    from .data.pairs import read_ids, select

    if ids is None and exclude_ids is None:
        return examples
    kept = select(examples, read_ids(ids) if ids else None, read_ids(exclude_ids) if exclude_ids else None)
    if not kept:
        raise InputError("no examples left after --ids/--exclude-ids")
    return kept


def _split_dev(train_examples: list, dev_examples: Optional[list], dev_fraction: float, seed: int):
    """``--dev`` as given, else a seeded ``--dev-fraction`` of the training data, else none."""
    if dev_examples is not None or not dev_fraction:
        return train_examples, dev_examples
    from .data.splits import holdout

    return holdout(train_examples, dev_fraction, seed)


def _print_result(result: dict, title: str, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in result.items():
        if isinstance(value, float):
            table.add_row(key, f"{value:.4f}")
        elif isinstance(value, (int, str)) and key not in ("model", "data"):
            table.add_row(key, str(value))
    out.print(table)
    per_class = result.get("per_class") or (result.get("pooled") or {}).get("per_class")
    if per_class:
        t2 = Table(title="per class", title_justify="left")
        for col in ("class", "precision", "recall", "F1", "support"):
            t2.add_column(col, justify="left" if col == "class" else "right")
        for lab, m in per_class.items():
            t2.add_row(lab, f"{m['precision']:.4f}", f"{m['recall']:.4f}", f"{m['f1']:.4f}", str(m["support"]))
        out.print(t2)


def _write_jsonl(rows: list[dict], output: Optional[Path]) -> None:
    from .formats import atomic_write_text

    lines = [json.dumps(r, ensure_ascii=False) + "\n" for r in rows]
    if output is None:
        sys.stdout.write("".join(lines))
    else:
        atomic_write_text(output, lines)
        err.print(f"wrote {len(rows)} prediction(s) to {output}")


def _train(task, model: str, train_examples: list, dev_examples: Optional[list], args, output: Path,
           files: list[Path], as_json: bool) -> None:
    from .training import train as run_training

    net, tokenizer = task.build(model, train_examples, seed=args.seed)
    summary = run_training(task, net, tokenizer, train_examples, dev_examples, args, output, train_manifest(model, files),
                           on_log=err.print)
    if summary["dev"]:
        _print_result(summary["dev"], f"dev ({len(dev_examples)} examples), selected checkpoint", as_json)
    elif as_json:
        sys.stdout.write(json.dumps({"dev": None, "seconds": summary["seconds"]}) + "\n")
    err.print(f"saved to {output}  ({summary['seconds']} s, {summary['tokens_per_second']} tokens/s, {summary['precision']})")


def _cross_validate(task, model: str, examples: list, folds: int, args, output: Path, as_json: bool) -> None:
    from .crossval import cross_validate
    from .formats import atomic_write_text

    result = cross_validate(task, model, examples, folds, args, on_log=err.print)
    output.mkdir(parents=True, exist_ok=True)
    atomic_write_text(output / "cv.json", [json.dumps(dict(result, base_model=model), indent=2) + "\n"])
    summary = {k: v for k, v in result.items() if k not in ("predictions", "per_fold", "pooled")}
    summary.update({f"pooled_{k}": v for k, v in result["pooled"].items() if isinstance(v, (int, float))})
    _print_result(summary if not as_json else result, f"{folds}-fold cross-validation ({len(examples)} examples)", as_json)
    err.print(f"wrote {output / 'cv.json'} (per-fold scores and out-of-fold predictions; no checkpoint is kept)")


# -- sts / nli / pubmedqa ---------------------------------------------------------------------
def _register_pair(kind: str) -> None:
    def train_cmd(
        model: str = typer.Option(..., "--model", "-m", help="Base encoder: local directory or hub id."),
        train: Path = typer.Option(..., "--train", help="Training pairs."),
        dev: Optional[Path] = typer.Option(None, "--dev", help="Dev pairs for model selection."),
        output: Path = typer.Option(..., "--output", "-o", help="Checkpoint directory (with --folds: where cv.json goes)."),
        folds: int = typer.Option(0, help="k-fold cross-validation instead of one model (BIOSSES: 10)."),
        dev_fraction: float = typer.Option(0.0, help="Without --dev: hold out this seeded share of --train for model selection."),
        ids: Optional[Path] = typer.Option(None, "--ids", help=IDS_HELP),
        exclude_ids: Optional[Path] = typer.Option(None, "--exclude-ids", help=EXCLUDE_HELP),
        epochs: Epochs = 3.0,
        learning_rate: LearningRate = 5e-5,
        batch_size: BatchSize = 16,
        grad_accum: GradAccum = 1,
        warmup: Warmup = 0.1,
        weight_decay: WeightDecay = 0.01,
        max_length: int = typer.Option(DEFAULT_MAX_LENGTH[kind], help="Subwords per pair (longer pairs are truncated)."),
        balance: Optional[bool] = typer.Option(None, "--balance/--no-balance", help="Class-weighted loss (default: on for pubmedqa)."),
        seed: Seed = 42,
        evals_per_epoch: EvalsPerEpoch = 1,
        precision: Precision = "auto",
        device: Device = "auto",
        as_json: AsJson = False,
    ) -> None:
        from .tasks import get_task

        _quiet_transformers()
        task = get_task(kind, max_length=max_length, balance=balance)
        train_ex = _select_ids(task.read(train), ids, exclude_ids)
        dev_ex = task.read(dev) if dev else None
        args = train_args(epochs=epochs, learning_rate=learning_rate, batch_size=batch_size, grad_accum=grad_accum,
                           warmup_ratio=warmup, weight_decay=weight_decay, seed=seed, precision=precision, device=device,
                           evals_per_epoch=evals_per_epoch)
        if folds:
            if dev is not None or dev_fraction:
                raise InputError("--folds trains on all but the held-out fold: leave out --dev and --dev-fraction")
            return _cross_validate(task, model, train_ex, folds, args, output, as_json)
        train_ex, dev_ex = _split_dev(train_ex, dev_ex, dev_fraction, seed)
        _train(task, model, train_ex, dev_ex, args, output, [train] + ([dev] if dev else []), as_json)

    def evaluate_cmd(
        model: str = typer.Option(..., "--model", "-m", help="A checkpoint trained by clinlm."),
        data: Path = typer.Option(..., "--data", "-d", help="Gold pairs."),
        ids: Optional[Path] = typer.Option(None, "--ids", help=IDS_HELP),
        exclude_ids: Optional[Path] = typer.Option(None, "--exclude-ids", help=EXCLUDE_HELP),
        batch_size: BatchSize = 64,
        device: Device = "auto",
        as_json: AsJson = False,
    ) -> None:
        from .predict import load_model

        _quiet_transformers()
        predictor = load_model(model, device=device, batch_size=batch_size)
        _check_kind(predictor, kind, model)
        gold = _select_ids(predictor.task.read(data), ids, exclude_ids)
        result = dict(predictor.evaluate(gold), model=model, data=str(data))
        _print_result(result, f"{kind}: {data} ({len(gold)} examples)", as_json)

    def predict_cmd(
        model: str = typer.Option(..., "--model", "-m", help="A checkpoint trained by clinlm."),
        data: Path = typer.Option(..., "--data", "-d", help="Pairs (labels, if present, are ignored)."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="JSONL file (default: stdout)."),
        ids: Optional[Path] = typer.Option(None, "--ids", help=IDS_HELP),
        batch_size: BatchSize = 64,
        device: Device = "auto",
    ) -> None:
        from .predict import load_model

        _quiet_transformers()
        predictor = load_model(model, device=device, batch_size=batch_size)
        _check_kind(predictor, kind, model)
        examples = _select_ids(predictor.task.read(data, require_label=False), ids, None)
        _write_jsonl(predictor.predict(examples), output)

    train_cmd.__doc__ = f"Fine-tune an encoder for {PAIR_HELP[kind]}."
    evaluate_cmd.__doc__ = f"Score a {kind} checkpoint on gold pairs ({PAIR_HELP[kind].split(': ')[-1]})."
    predict_cmd.__doc__ = f"Predict {kind} for new pairs, as JSONL."
    train_app.command(kind)(train_cmd)
    evaluate_app.command(kind)(evaluate_cmd)
    predict_app.command(kind)(predict_cmd)


def _check_kind(predictor, kind: str, model: str) -> None:
    if predictor.task.name != kind:
        raise InputError(f"{model} is a {predictor.task.name} model; use `clinlm ... {predictor.task.name}`")


for _kind in PAIR_HELP:
    _register_pair(_kind)


# -- extractive QA ------------------------------------------------------------------------------
@train_app.command("qa")
def train_qa(
    model: str = typer.Option(..., "--model", "-m", help="Base encoder: local directory or hub id."),
    train: Path = typer.Option(..., "--train", help="SQuAD-layout JSON (as emrQA is distributed)."),
    dev: Optional[Path] = typer.Option(None, "--dev", help="SQuAD JSON for model selection (token F1)."),
    output: Path = typer.Option(..., "--output", "-o"),
    dev_fraction: float = typer.Option(0.0, help="Without --dev: hold out this seeded share of --train."),
    epochs: Epochs = 2.0,
    learning_rate: LearningRate = 5e-5,
    batch_size: BatchSize = 16,
    grad_accum: GradAccum = 1,
    warmup: Warmup = 0.1,
    weight_decay: WeightDecay = 0.01,
    max_length: int = typer.Option(384, help="Window length in subwords (question + context)."),
    stride: int = typer.Option(128, help="Subwords shared by consecutive windows of a long context."),
    max_answer_tokens: int = typer.Option(30, help="Longest answer span, in subwords."),
    seed: Seed = 42,
    evals_per_epoch: EvalsPerEpoch = 1,
    precision: Precision = "auto",
    device: Device = "auto",
    as_json: AsJson = False,
) -> None:
    """Fine-tune an encoder for extractive QA over long contexts (windows; answers as char offsets)."""
    from .tasks.qa import QaTask

    _quiet_transformers()
    task = QaTask(max_length=max_length, stride=stride, max_answer_tokens=max_answer_tokens)
    train_ex, dev_ex = _split_dev(task.read(train), task.read(dev) if dev else None, dev_fraction, seed)
    args = train_args(epochs=epochs, learning_rate=learning_rate, batch_size=batch_size, grad_accum=grad_accum,
                       warmup_ratio=warmup, weight_decay=weight_decay, seed=seed, precision=precision, device=device,
                       evals_per_epoch=evals_per_epoch)
    _train(task, model, train_ex, dev_ex, args, output, [train] + ([dev] if dev else []), as_json)


@evaluate_app.command("qa")
def evaluate_qa(
    model: str = typer.Option(..., "--model", "-m"),
    data: Path = typer.Option(..., "--data", "-d", help="Gold SQuAD JSON."),
    batch_size: int = typer.Option(32),
    device: Device = "auto",
    as_json: AsJson = False,
) -> None:
    """Exact match and token F1 (SQuAD normalisation), best over each question's gold answers."""
    from .predict import load_model

    _quiet_transformers()
    predictor = load_model(model, device=device, batch_size=batch_size)
    _check_kind(predictor, "qa", model)
    gold = predictor.task.read(data)
    _print_result(dict(predictor.evaluate(gold), model=model, data=str(data)), f"qa: {data} ({len(gold)} questions)", as_json)


@predict_app.command("qa")
def predict_qa(
    model: str = typer.Option(..., "--model", "-m"),
    data: Path = typer.Option(..., "--data", "-d", help="SQuAD JSON (answers, if present, are ignored)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="JSONL file (default: stdout)."),
    batch_size: int = typer.Option(32),
    device: Device = "auto",
) -> None:
    """Answer each question with a span of its context: JSONL of id, answer, start, end, score."""
    from .predict import load_model

    _quiet_transformers()
    predictor = load_model(model, device=device, batch_size=batch_size)
    _check_kind(predictor, "qa", model)
    _write_jsonl(predictor.predict(predictor.task.read(data, require_answers=False)), output)


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

    from .data.mc import read_mc
    from .zeroshot import evaluate_mc as run, load_scorer, sample

    _quiet_transformers()
    questions = sample([q for d in data for q in read_mc(d)], limit, seed)
    scorer = load_scorer(model, scoring=scoring, device=device, max_length=max_length)
    with Progress(console=err, transient=True, disable=not err.is_terminal) as progress:
        bar = progress.add_task("scoring options", total=len(questions))
        result = run(scorer, questions, on_progress=lambda: progress.advance(bar))
    result.update(model=model, data=[str(d) for d in data])
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    _print_result({k: v for k, v in result.items() if k != "predictions"}, f"zero-shot multiple choice ({len(questions)} questions)", False)
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

    from .data.mc import read_mc
    from .zeroshot import load_scorer
    from .zeroshot import predict_mc as run

    _quiet_transformers()
    questions = [q for d in data for q in read_mc(d, require_answer=False)]
    scorer = load_scorer(model, scoring=scoring, device=device, max_length=max_length)
    with Progress(console=err, transient=True, disable=not err.is_terminal) as progress:
        bar = progress.add_task("scoring options", total=len(questions))
        preds = run(scorer, questions, on_progress=lambda: progress.advance(bar))
    _write_jsonl(preds, output)
    _warn_head(scorer)


def _warn_head(scorer) -> None:
    if scorer.scoring == "pll" and scorer.mlm_head != "pretrained":
        err.print(f"[yellow]note:[/] masked-LM head {scorer.mlm_head}: expect chance-level accuracy")
