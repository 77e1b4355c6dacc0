"""`clinlm train|evaluate|predict re`: relation extraction commands (registered on cli's apps)."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Iterator, List, Optional

import typer
from rich.table import Table

from clinlm.cli.console import check_output, esc, quiet_transformers, write_stdout, err, out
from clinlm.cli.app import evaluate_app, predict_app, train_app
from clinlm.cli.options import (BatchSize, Device, Epochs, EvalsPerEpoch, LayerDecay, AverageLast, GradAccum, LearningRate, Precision, Seed, Warmup, WeightDecay, train_args, train_manifest)
from clinlm.document import Document
from clinlm.errors import InputError

FORMAT_HELP = "chemprot, ddi, jsonl, brat or bioc (default: guessed from the path)."
# options that evaluate and predict share
WindowChars = Annotated[Optional[int], typer.Option(help="Override the model's candidate window (characters).")]
WindowSentences = Annotated[Optional[int], typer.Option(help="Override the model's candidate window (sentences).")]
PairBatch = Annotated[int, typer.Option(min=1, help="Pairs per forward pass.")]


@train_app.command("re")
def train_re(
    model: str = typer.Option(..., "--model", "-m", help="Base encoder (local directory or hub id, e.g. UFNLP/gatortron-base) or a relation checkpoint to train further."),
    train: Path = typer.Option(..., "--train", help="Training data: ChemProt JSONL, a DDI 2013 XML folder, clinlm JSONL or brat (T and R lines) with relations."),
    dev: Optional[Path] = typer.Option(None, "--dev", help="Dev data for model selection (micro F1)."),
    output: Path = typer.Option(..., "--output", "-o", help="Checkpoint directory to write."),
    format: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP),
    cpr_groups: bool = typer.Option(False, "--cpr-groups", help="ChemProt: score the CPR groups (CPR:3,4,5,6,9, as BLURB) instead of the fine labels."),
    markers: str = typer.Option("typed", help="typed ([E1:Drug] ... [/E1:Drug]) or plain ([E1] ... [/E1]) entity markers."),
    pooling: str = typer.Option("cls", help="cls (measured best on ChemProt dev) or markers (the two opening-marker states)."),
    max_length: int = typer.Option(128, help="Subwords per pair (the text is cropped around the two mentions)."),
    window_chars: Optional[int] = typer.Option(None, help="Candidate pairs: at most this many characters between the mentions."),
    window_sentences: Optional[int] = typer.Option(None, help="Candidate pairs: at most this many sentence boundaries between the mentions (0: same sentence)."),
    type_filter: bool = typer.Option(True, "--type-filter/--no-type-filter", help="Only pair entity types that some training relation links."),
    negatives_per_positive: Optional[float] = typer.Option(None, help="Keep at most this many no-relation pairs per relation in training (e.g. 2)."),
    class_weight: Optional[str] = typer.Option(None, help="balanced: weigh the loss by inverse class frequency."),
    epochs: Epochs = 3.0,
    learning_rate: LearningRate = 5e-5,
    batch_size: BatchSize = 16,
    grad_accum: GradAccum = 1,
    warmup: Warmup = 0.1,
    weight_decay: WeightDecay = 0.01,
    seed: Seed = 42,
    evals_per_epoch: EvalsPerEpoch = 1,
    layer_decay: LayerDecay = 1.0,
    average_last: AverageLast = 0,
    cased: Optional[bool] = typer.Option(None, "--cased/--uncased", help="Override case detection of the tokenizer."),
    precision: Precision = "auto",
    device: Device = "auto",
) -> None:
    """Fine-tune a relation classifier on entity pairs marked in their text."""
    from clinlm.tasks.relation.task import RelationTask
    from clinlm.tasks.trainer import train as run_training

    quiet_transformers()
    task = RelationTask(markers=markers, pooling=pooling, max_length=max_length, window_chars=window_chars,
                        window_sentences=window_sentences, type_filter=type_filter,
                        negatives_per_positive=negatives_per_positive, class_weight=class_weight,
                        cpr_groups=cpr_groups, format=format, cased=cased, seed=seed)
    train_docs = task.read(train)
    dev_docs = task.read(dev) if dev else None
    if not any(d.relations for d in train_docs):
        raise InputError("the training data holds no relations", str(train))
    net, tokenizer = task.build(model, train_docs)
    args = train_args(epochs=epochs, learning_rate=learning_rate, batch_size=batch_size, grad_accum=grad_accum,
                      warmup_ratio=warmup, weight_decay=weight_decay, seed=seed, precision=precision, device=device,
                      evals_per_epoch=evals_per_epoch,
                      layer_decay=layer_decay, average_last=average_last)
    files = [p for f in [train] + ([dev] if dev else []) for p in _data_files(f)]
    man = train_manifest(model, [train] + ([dev] if dev else []), files)
    summary = run_training(task, net, tokenizer, train_docs, dev_docs, args, output, man, on_log=lambda m: err.print(esc(m)))
    if summary["dev"]:
        _scores_table(summary["dev"], f"dev ({len(dev_docs)} documents), selected checkpoint")
    err.print(f"saved to {esc(output)}  ({summary['seconds']} s, {summary['train_features']} pairs, {summary['precision']})",
              soft_wrap=True)


def _data_files(path: Path) -> list[Path]:
    return sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path]


@evaluate_app.command("re")
def evaluate_re(
    data: Path = typer.Option(..., "--data", "-d", help="Gold data with entities and relations."),
    model: str = typer.Option(..., "--model", "-m", help="Relation checkpoint (from `clinlm train re`)."),
    format: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP),
    cpr_groups: bool = typer.Option(False, "--cpr-groups", help="ChemProt: map fine labels to CPR groups (as the model was trained)."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable results."),
    window_chars: WindowChars = None,
    window_sentences: WindowSentences = None,
    batch_size: PairBatch = 64,
    device: Device = "auto",
    precision: Precision = "auto",
) -> None:
    """Micro P/R/F1 over relation types (no-relation pairs excluded) and per type, on gold entities."""
    from clinlm.tasks.relation.metrics import relation_scores
    from clinlm.tasks.relation.task import read_relation_documents

    quiet_transformers()
    gold = read_relation_documents(data, format, cpr_groups)  # read and validated before the model loads
    pipe = _load(model, window_chars, window_sentences, batch_size, device, precision)
    predictions = list(pipe.pipe((d.with_relations([]) for d in gold), batch_size=256))
    result = relation_scores(gold, predictions)
    result.update(model=model, data=str(data))
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        _scores_table(result, f"{esc(data)} ({len(gold)} documents)")


def _load(model: str, window_chars: int | None, window_sentences: int | None, batch_size: int, device: str, precision: str):
    """The relation pipeline of a checkpoint, with the window overrides given on the command line."""
    from clinlm.tasks.relation.pipeline import load_relations

    options = {k: v for k, v in {"window_chars": window_chars, "window_sentences": window_sentences}.items() if v is not None}
    return load_relations(model, device=device, precision=precision, batch_size=batch_size, **options)


def _scores_table(result: dict, title: str) -> None:
    table = Table(title=title, title_justify="left")
    for col in ("relation type", "precision", "recall", "F1", "support"):
        table.add_column(col, justify="left" if col == "relation type" else "right")
    rows = [("micro (all types)", result["micro"])] + sorted(result["per_type"].items())
    for name, m in rows:
        table.add_row(esc(name), f"{m['precision']:.4f}", f"{m['recall']:.4f}", f"{m['f1']:.4f}", str(m["support"]))
    out.print(table)


def _documents(paths: List[str]) -> Iterator[Document]:
    """Texts (files, folders of .txt, ``-``) without entities; document files keep their entities
    (gold or predicted ones: relations are then predicted between them) and lose their relations."""
    from clinlm.cli.console import DOC_SUFFIXES, read_inputs
    from clinlm.formats import read_documents

    for p in paths:
        path = Path(p)
        if p != "-" and path.is_file() and path.suffix.lower() in DOC_SUFFIXES:
            yield from (d.with_relations([]) for d in read_documents(path))
        else:
            yield from read_inputs([p])


def _relations_table(docs: Iterator[Document]) -> None:
    for doc in docs:
        table = Table(title=f"{esc(doc.id)}: {len(doc.entities)} entities, {len(doc.relations)} relations", title_justify="left")
        for col in ("relation", "head", "tail", "score"):
            table.add_column(col, justify="right" if col == "score" else "left")
        for r in doc.relations:
            score = "" if r.score is None else f"{r.score:.2f}"
            table.add_row(esc(r.label), *(esc(f"{e.text.replace(chr(10), ' ')} ({e.label} {e.start}-{e.end})") for e in (r.head, r.tail)),
                          score)
        out.print(table)


@predict_app.command("re")
def predict_re(
    inputs: List[str] = typer.Argument(..., help="Text files, folders of .txt, - for stdin, or document files (.jsonl, .ann, ...) whose entities to relate."),
    model: str = typer.Option(..., "--model", "-m", help="Relation checkpoint (from `clinlm train re`)."),
    ner_model: Optional[str] = typer.Option(None, "--ner-model", help="NER model that finds the entities of texts (default: the model shipped with clinlm)."),
    format: str = typer.Option("table", "--format", "-f", help="table, jsonl or brat (T and R lines)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write here instead of stdout (a directory for brat)."),
    window_chars: WindowChars = None,
    window_sentences: WindowSentences = None,
    batch_size: PairBatch = 64,
    device: Device = "auto",
    precision: Precision = "auto",
) -> None:
    """Find relations between the entities of notes: NER first where a text has no entities, then every candidate pair."""
    from clinlm.formats import write_documents
    from clinlm.tasks.ner.pipeline import load

    quiet_transformers()
    if format not in ("table", "jsonl", "brat"):
        raise InputError(f"unknown output format {format!r}; use table, jsonl or brat")
    if format == "table" and output is not None:
        raise InputError("--output needs a file format (--format jsonl or brat); the table is printed")
    if format == "brat" and output is None:
        raise InputError("brat output needs --output DIR")
    check_output(output, format)
    docs = list(_documents(inputs))  # every input read (and validated) before any model loads
    pipe = _load(model, window_chars, window_sentences, batch_size, device, precision)
    if any(not d.entities for d in docs):
        pipe.ner = load(ner_model, device=device, precision=precision, context=False)
    found = list(pipe.pipe(docs))
    if format == "table":
        _relations_table(iter(found))
    elif output is None:
        write_stdout(iter(found), format)
    else:
        write_documents(found, output, format)
        err.print(f"wrote {len(found)} document(s) to {esc(output)}", soft_wrap=True)
