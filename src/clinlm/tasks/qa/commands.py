"""``clinlm train|evaluate|predict qa``: extractive question answering over long contexts."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from clinlm.cli.app import evaluate_app, predict_app, train_app
from clinlm.cli.console import esc, quiet_transformers
from clinlm.cli.options import (AsJson, BatchSize, Device, Epochs, EvalsPerEpoch, LayerDecay, AverageLast, GradAccum, InferenceBatch, LearningRate,
                                Precision, Seed, Warmup, WeightDecay, train_args)
from clinlm.tasks.commands import check_kind, print_result, split_dev, train_and_report, write_jsonl

QA_MODEL_HELP = "A QA checkpoint (from `clinlm train qa`)."


# -- extractive QA ------------------------------------------------------------------------------
@train_app.command("qa")
def train_qa(
    model: str = typer.Option(..., "--model", "-m", help="Base encoder: local directory or hub id."),
    train: Path = typer.Option(..., "--train", help="SQuAD-layout JSON (as emrQA is distributed)."),
    dev: Optional[Path] = typer.Option(None, "--dev", help="SQuAD JSON for model selection (token F1)."),
    output: Path = typer.Option(..., "--output", "-o", help="Checkpoint directory to write."),
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
    layer_decay: LayerDecay = 1.0,
    average_last: AverageLast = 0,
    precision: Precision = "auto",
    device: Device = "auto",
    as_json: AsJson = False,
) -> None:
    """Fine-tune an encoder for extractive QA over long contexts (windows; answers as char offsets)."""
    from clinlm.tasks.qa.task import QaTask

    quiet_transformers()
    task = QaTask(max_length=max_length, stride=stride, max_answer_tokens=max_answer_tokens)
    train_ex, dev_ex = split_dev(task.read(train), task.read(dev) if dev else None, dev_fraction, seed)
    args = train_args(epochs=epochs, learning_rate=learning_rate, batch_size=batch_size, grad_accum=grad_accum,
                       warmup_ratio=warmup, weight_decay=weight_decay, seed=seed, precision=precision, device=device,
                       evals_per_epoch=evals_per_epoch,
                      layer_decay=layer_decay, average_last=average_last)
    train_and_report(task, model, train_ex, dev_ex, args, output, [train] + ([dev] if dev else []), as_json)


@evaluate_app.command("qa")
def evaluate_qa(
    model: str = typer.Option(..., "--model", "-m", help=QA_MODEL_HELP),
    data: Path = typer.Option(..., "--data", "-d", help="Gold SQuAD JSON."),
    batch_size: InferenceBatch = 32,
    device: Device = "auto",
    as_json: AsJson = False,
) -> None:
    """Exact match and token F1 (SQuAD normalisation), best over each question's gold answers."""
    from clinlm.tasks.predict import load_model

    quiet_transformers()
    predictor = load_model(model, device=device, batch_size=batch_size)
    check_kind(predictor, "qa", model)
    gold = predictor.task.read(data)
    print_result(dict(predictor.evaluate(gold), model=model, data=str(data)), f"qa: {esc(data)} ({len(gold)} questions)", as_json)


@predict_app.command("qa")
def predict_qa(
    model: str = typer.Option(..., "--model", "-m", help=QA_MODEL_HELP),
    data: Path = typer.Option(..., "--data", "-d", help="SQuAD JSON (answers, if present, are ignored)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="JSONL file (default: stdout)."),
    batch_size: InferenceBatch = 32,
    device: Device = "auto",
) -> None:
    """Answer each question with a span of its context: JSONL of id, answer, start, end, score."""
    from clinlm.tasks.predict import load_model

    quiet_transformers()
    predictor = load_model(model, device=device, batch_size=batch_size)
    check_kind(predictor, "qa", model)
    write_jsonl(predictor.predict(predictor.task.read(data, require_answers=False)), output)
