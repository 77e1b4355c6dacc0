"""The ``clinlm`` command: a thin shell over the pipeline, the tasks and the trainer."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Iterator, List, Optional

import typer
from rich.console import Console
from rich.table import Table

from .cli_options import (BatchSize, Device, Epochs, EvalsPerEpoch, GradAccum, LearningRate, Precision, Seed, Warmup,
                          WeightDecay, train_args, train_manifest)
from .document import Document
from .errors import ClinlmError, InputError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Clinical language models: fine-tune, evaluate and annotate whole clinical notes.")
train_app = typer.Typer(no_args_is_help=True, help="Fine-tune an encoder on a task.")
evaluate_app = typer.Typer(no_args_is_help=True, help="Score a fine-tuned model on gold data.")
predict_app = typer.Typer(no_args_is_help=True, help="Run a fine-tuned model on new data (NER: see `annotate`).")
data_app = typer.Typer(no_args_is_help=True, help="Build ready-to-train data sets.")
export_app = typer.Typer(no_args_is_help=True, help="Export a model for another runtime.")
app.add_typer(train_app, name="train")
app.add_typer(evaluate_app, name="evaluate")
app.add_typer(predict_app, name="predict")
app.add_typer(data_app, name="data")
app.add_typer(export_app, name="export")

out = Console()
err = Console(stderr=True)

DOC_SUFFIXES = {".jsonl", ".pubtator", ".conll", ".bio", ".iob", ".ann", ".xml", ".gz"}


def _quiet_transformers() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


# -- annotate ---------------------------------------------------------------------------
def _inputs(paths: List[str]) -> Iterator[Document]:
    """Documents from files, directories (every .txt inside) and ``-`` (stdin), lazily."""
    from .formats import decode_utf8, read_documents, read_text_file

    for p in paths:
        if p == "-":
            yield Document("stdin", decode_utf8(sys.stdin.buffer.read(), "<stdin>"))
            continue
        path = Path(p)
        if path.is_dir():
            files = sorted(f for f in path.rglob("*.txt") if f.is_file())
            if not files:
                raise InputError("no .txt files in this directory", str(path))
            for f in files:
                yield Document(str(f.relative_to(path).with_suffix("")), read_text_file(f))
        elif not path.exists():
            raise InputError("no such file or directory", str(path))
        elif path.suffix.lower() in DOC_SUFFIXES:
            for d in read_documents(path):
                yield d.with_entities([])
        else:
            yield Document(path.stem, read_text_file(path))


def _table(docs: Iterator[Document]) -> None:
    from .labels import type_name

    for doc in docs:
        table = Table(title=f"{doc.id}: {len(doc.entities)} entities", title_justify="left")
        for col in ("start", "end", "type", "name", "text", "score", "section", "assertion"):
            table.add_column(col, justify="right" if col in ("start", "end", "score") else "left")
        for e in doc.entities:
            score = "" if e.score is None else f"{e.score:.2f}"
            section = e.attributes.get("section") or ""
            assertion = e.attributes.get("assertion") or ""
            if e.attributes.get("historical") is True:
                assertion = f"{assertion}, historical" if assertion else "historical"
            table.add_row(str(e.start), str(e.end), e.label, type_name(e.label), e.text.replace("\n", " "), score,
                          section, assertion)
        out.print(table)


@app.command()
def annotate(
    inputs: List[str] = typer.Argument(..., help="Text files, directories of .txt files, document files (.jsonl, .pubtator, .conll, .ann, .xml) or - for stdin."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model directory or hub id (default: the model shipped with clinlm)."),
    format: str = typer.Option("table", "--format", "-f", help="table, jsonl, brat, pubtator, conll, bioc or html (a displaCy page)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write here instead of stdout (a directory for brat)."),
    context: bool = typer.Option(True, "--context/--no-context", help="Add assertion (negated, uncertain, historical, hypothetical, family, conditional), an i2b2 assertion label and the section to every concept."),
    context_rules: Optional[Path] = typer.Option(None, "--context-rules", help="medspaCy ConText rules (JSON) to add to the defaults."),
    section_rules: Optional[Path] = typer.Option(None, "--section-rules", help="medspaCy section rules (JSON) to add to the defaults."),
    replace_rules: bool = typer.Option(False, "--replace-rules", help="The rule files given replace the default rules of their kind."),
    batch_size: int = typer.Option(32, help="Notes per batch."),
    max_length: Optional[int] = typer.Option(None, help="Window length in subwords (default: the model's)."),
    stride: Optional[int] = typer.Option(None, help="Overlap between windows in subwords."),
    device: str = typer.Option("auto", help="auto, cpu or cuda[:N]."),
    precision: str = typer.Option("auto", help="auto (bf16 where the hardware has it), bf16, fp16 or fp32."),
) -> None:
    """Tag clinical concepts in whole notes, with exact character offsets."""
    from rich.progress import Progress

    from .formats import WRITERS, write_documents
    from .pipeline import load, make_context

    _quiet_transformers()
    if format != "table" and format not in WRITERS:
        raise InputError(f"unknown output format {format!r}; use table or one of {', '.join(WRITERS)}")
    options = {k: v for k, v in {"max_length": max_length, "stride": stride}.items() if v is not None}
    annotator = make_context(context, context_rules, section_rules, replace_rules)  # checks the rule files
    docs = list(_inputs(inputs))  # read (and validate) every input before loading or writing anything
    if annotator is not None and (context_rules or section_rules):
        annotator.nlp  # noqa: B018  (built now, so a bad pattern in a rule file fails before the model loads)
    pipe = load(model, device=device, precision=precision, context=annotator if annotator is not None else False, **options)
    with Progress(console=err, transient=True, disable=len(docs) < 2) as progress:
        bar = progress.add_task("annotating", total=len(docs))

        def stream() -> Iterator[Document]:
            for d in pipe.pipe(docs, batch_size=batch_size):
                progress.advance(bar)
                yield d

        if format == "table":
            _table(stream())
        elif output is None:
            _write_stdout(stream(), format)
        else:
            write_documents(stream(), output, format)
    if output is not None:
        err.print(f"wrote {len(docs)} document(s) to {output}")


def _write_stdout(docs: Iterator[Document], format: str) -> None:
    if format == "brat":
        raise InputError("brat output needs --output DIR")
    import importlib

    module = importlib.import_module(f".formats.{'bioc_xml' if format == 'bioc' else format}", __package__)
    sys.stdout.write(module.dumps(list(docs)))


# -- train ------------------------------------------------------------------------------
@train_app.command("ner")
def train_ner(
    model: str = typer.Option(..., "--model", "-m", help="Base encoder: local directory or hub id (e.g. UFNLP/gatortron-base)."),
    train: Path = typer.Option(..., "--train", help="Training documents (jsonl, conll, pubtator, brat, bioc)."),
    dev: Optional[Path] = typer.Option(None, "--dev", help="Dev documents for model selection (strict F1)."),
    output: Path = typer.Option(..., "--output", "-o", help="Checkpoint directory to write."),
    epochs: Epochs = 3.0,
    learning_rate: LearningRate = 5e-5,
    batch_size: BatchSize = 16,
    grad_accum: GradAccum = 1,
    warmup: Warmup = 0.1,
    weight_decay: WeightDecay = 0.01,
    label_smoothing: float = typer.Option(0.0),
    max_length: int = typer.Option(512, help="Window length in subwords."),
    stride: int = typer.Option(128, help="Overlap between windows in subwords."),
    train_max_length: int = typer.Option(128, help="Training window length in subwords; inference uses --max-length. Shorter windows mean more updates per epoch."),
    train_stride: int = typer.Option(32, help="Overlap between training windows in subwords (at most half a window)."),
    decode: str = typer.Option("viterbi", help="viterbi (valid BIO) or argmax."),
    labels: Optional[str] = typer.Option(None, help="st21pv for the 21 MedMentions types; default: types found in --train."),
    cased: Optional[bool] = typer.Option(None, "--cased/--uncased", help="Override case detection of the tokenizer."),
    seed: Seed = 42,
    evals_per_epoch: EvalsPerEpoch = 1,
    precision: Precision = "auto",
    device: Device = "auto",
) -> None:
    """Fine-tune a token-classification model on whole documents (windows, no truncation)."""
    from .labels import ST21PV_TYPES, bio_labels
    from .tasks.ner import NerTask
    from .training import train as run_training

    _quiet_transformers()
    task = NerTask(max_length=max_length, stride=stride, decode=decode, cased=cased,
                   train_max_length=train_max_length, train_stride=train_stride)
    train_docs = task.read(train)
    dev_docs = task.read(dev) if dev else None
    label_list = bio_labels(ST21PV_TYPES) if labels == "st21pv" else None
    if labels not in (None, "st21pv"):
        raise InputError(f"unknown label set {labels!r}; use st21pv or leave it out")
    net, tokenizer = task.build(model, train_docs, labels=label_list, seed=seed)
    args = train_args(epochs=epochs, learning_rate=learning_rate, batch_size=batch_size, grad_accum=grad_accum,
                      warmup_ratio=warmup, weight_decay=weight_decay, label_smoothing=label_smoothing, seed=seed,
                      precision=precision, device=device, evals_per_epoch=evals_per_epoch)
    man = train_manifest(model, [train] + ([dev] if dev else []))
    summary = run_training(task, net, tokenizer, train_docs, dev_docs, args, output, man, on_log=err.print)
    if summary["dev"]:
        _metrics_table(summary["dev"], f"dev ({len(dev_docs)} documents), selected checkpoint")
    err.print(f"saved to {output}  ({summary['seconds']} s, {summary['tokens_per_second']} tokens/s, {summary['precision']})")


# -- evaluate ---------------------------------------------------------------------------
@evaluate_app.command("ner")
def evaluate_ner(
    data: Path = typer.Option(..., "--data", "-d", help="Gold documents."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Checkpoint (default: the shipped model)."),
    protocol: str = typer.Option("clinlm", help="clinlm (whole documents) or model-card (the seed card's set-up: truncated at 512 subwords, seqeval default mode)."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable results."),
    record: Optional[str] = typer.Option(None, "--record", help="Also store the results in the model's clinlm.json under metrics.NAME (e.g. test)."),
    data_name: Optional[str] = typer.Option(None, "--data-name", help="Name of the data set/protocol to store with --record (e.g. MM-ST21pv-r)."),
    max_length: Optional[int] = typer.Option(None),
    stride: Optional[int] = typer.Option(None),
    decode: Optional[str] = typer.Option(None, help="viterbi or argmax (default: the model's)."),
    batch_size: int = typer.Option(32),
    device: str = typer.Option("auto"),
    precision: str = typer.Option("auto"),
) -> None:
    """seqeval micro P/R/F1 (strict and default mode), per type, and character-span F1."""
    from .pipeline import load
    from .tasks.ner import PROTOCOLS, NerTask, model_card_scores, ner_scores

    _quiet_transformers()
    if protocol not in PROTOCOLS:
        raise InputError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}")
    options = {k: v for k, v in {"max_length": max_length, "stride": stride, "decode": decode}.items() if v is not None}
    pipe = load(model, device=device, precision=precision, context=False, **options)  # scores need no assertion
    gold = NerTask().read(data)
    if protocol == "model-card":
        result = model_card_scores(pipe, gold)
    else:
        result = ner_scores(gold, list(pipe.pipe(gold, batch_size=batch_size)))
    result["protocol"] = protocol
    result["model"] = model or "default"
    result["data"] = str(data)
    if record:
        from . import manifest as manifest_io

        if model is None and not os.access(pipe.manifest_dir, os.W_OK):
            raise InputError("cannot --record into the installed default model (read-only)")
        man = manifest_io.read(pipe.manifest_dir)
        slim = dict(result, protocol=data_name or protocol, scoring=protocol)
        man.setdefault("metrics", {})[record] = slim
        manifest_io.write(pipe.manifest_dir, man)
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        _metrics_table(result, f"{data} ({len(gold)} documents), protocol {protocol}")


def _metrics_table(result: dict, title: str) -> None:
    from .labels import type_name

    table = Table(title=title, title_justify="left")
    for col in ("metric", "precision", "recall", "F1", "support"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    names = {"strict": "seqeval strict (IOB2), micro", "default": "seqeval default (conlleval), micro",
             "span_exact": "char span exact", "span_overlap": "char span overlap"}
    for key, name in names.items():
        if key in result:
            m = result[key]
            table.add_row(name, f"{m['precision']:.4f}", f"{m['recall']:.4f}", f"{m['f1']:.4f}", str(m["support"]))
    out.print(table)
    per_type = (result.get("strict") or result.get("default") or {}).get("per_type", {})
    if per_type:
        t2 = Table(title="per type (" + ("strict" if "strict" in result else "default") + ")", title_justify="left")
        for col in ("type", "name", "precision", "recall", "F1", "support"):
            t2.add_column(col, justify="right" if col in ("precision", "recall", "F1", "support") else "left")
        for typ, m in sorted(per_type.items()):
            t2.add_row(typ, type_name(typ), f"{m['precision']:.4f}", f"{m['recall']:.4f}", f"{m['f1']:.4f}", str(m["support"]))
        out.print(t2)
    if "words_dropped_by_truncation" in result:
        out.print(f"words dropped by truncation (gold and prediction): {result['words_dropped_by_truncation']}")


# -- export -----------------------------------------------------------------------------
@export_app.command("onnx")
def export_onnx(
    output: Path = typer.Option(..., "--output", "-o", help="Directory to write (model.onnx, config, tokenizer, clinlm.json)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="NER checkpoint (default: the shipped model)."),
    int8: bool = typer.Option(False, "--int8", help="Quantize weights to int8 (faster on CPU; changes some predictions)."),
    optimize: bool = typer.Option(True, "--optimize/--no-optimize", help="Fuse attention, LayerNorm and GELU with onnxruntime's transformer optimizer."),
) -> None:
    """Export an NER model to ONNX; `clinlm annotate --model DIR` then runs it with ONNX Runtime."""
    from .onnx_backend import export

    _quiet_transformers()
    export(model, output, int8=int8, optimize=optimize)
    err.print(f"wrote {output / 'model.onnx'} ({'int8' if int8 else 'fp32'})")


# -- data -------------------------------------------------------------------------------
@data_app.command("medmentions")
def data_medmentions(
    output: Path = typer.Option(..., "--output", "-o", help="Directory for train/dev/test JSONL."),
    shared: Optional[Path] = typer.Option(None, "--shared", help="Folder with full-dev.conll, full-test.conll and st21pv_ancestor.tsv (MM-ST21pv-r)."),
    pubtator: Optional[Path] = typer.Option(None, "--pubtator", help="Official corpus_pubtator.txt.gz (ST21pv)."),
    splits: Optional[Path] = typer.Option(None, "--splits", help="Folder with the official PMID split files (with --pubtator)."),
    seed: int = typer.Option(13, help="Seed of the 10% dev holdout (MM-ST21pv-r)."),
) -> None:
    """Build MedMentions ST21pv train/dev/test files: official splits from the PubTator file, or MM-ST21pv-r."""
    from .data.medmentions import build_official, build_reconstructed

    if pubtator is not None:
        if splits is None:
            raise InputError("--pubtator needs --splits DIR with the official PMID lists")
        summary = build_official(pubtator, splits, output)
    else:
        if shared is None:
            default = Path("../shared/data/medmentions")
            if not default.is_dir():
                raise InputError("give --shared DIR (MM-ST21pv-r) or --pubtator FILE --splits DIR (official)")
            shared = default
        summary = build_reconstructed(shared, output, seed=seed)
    table = Table(title=f"{summary.get('protocol', 'MedMentions')} -> {output}", title_justify="left")
    for col in ("split", "documents", "mentions"):
        table.add_column(col, justify="left" if col == "split" else "right")
    for split, counts in summary["splits"].items():
        table.add_row(split, str(counts["docs"]), str(counts["mentions"]))
    out.print(table)


# The other tasks' commands live in their own modules and register on the apps above.
from . import commands_pair, commands_relation  # noqa: E402,F401


def main() -> None:
    try:
        app()
    except ClinlmError as exc:
        from rich.markup import escape

        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)


if __name__ == "__main__":
    # `python -m clinlm.cli`: the task command modules registered on clinlm.cli's apps, not on __main__'s
    from clinlm.cli import main as _main

    _main()
