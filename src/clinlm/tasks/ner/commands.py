"""``clinlm train ner``, ``clinlm evaluate ner`` and ``clinlm export onnx``."""
from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, List, Optional

import typer
from rich.table import Table

from clinlm.cli.app import evaluate_app, export_app, train_app
from clinlm.cli.console import err, esc, flag_hints, out, quiet_transformers
from clinlm.cli.options import (AsJson, BatchSize, Device, Discontinuous, DiscontinuousMode, Engine, Epochs, EvalsPerEpoch, LayerDecay, AverageLast, GradAccum,
                                LearningRate, NoteBatch, Precision, Seed, Warmup, WeightDecay, WindowLength,
                                WindowStride, train_args, train_manifest)
from clinlm.errors import ConfigError, InputError
from clinlm.tasks.ner.lexicon import ALPHAS, WEIGHTS
from clinlm.tasks.ner.transitions import SCALES

# -- train ------------------------------------------------------------------------------
class SourceSampling(str, Enum):
    """How windows of several training sources are mixed."""

    proportional = "proportional"
    equal = "equal"


@train_app.command("ner")
def train_ner(
    model: str = typer.Option(..., "--model", "-m", help="Base encoder: local directory or hub id (e.g. UFNLP/gatortron-base)."),
    train: Optional[List[str]] = typer.Option(
        None, "--train", metavar="PATH[:MAP]",
        help="Training documents (jsonl, conll, pubtator, brat, bioc); repeat for several sources. A fully annotated "
             "source is just PATH; PATH:bc5cdr or PATH:ncbi-disease reads a partially annotated corpus through its "
             "built-in map to ST21pv (marginal likelihood over the labels it does not annotate)."),
    sources: Optional[Path] = typer.Option(
        None, "--sources", help="JSON file of training sources: [{\"path\", \"map\", \"covers\", \"weight\", \"name\"}, ...] "
                                "or {\"train\": [...], \"report_dev\": [...]} (see README)."),
    source_sampling: SourceSampling = typer.Option(
        SourceSampling.proportional, help="Mix several sources as they come (proportional) or repeat the smaller "
                                          "ones' windows up to the largest's count (equal)."),
    dev: Optional[Path] = typer.Option(None, "--dev", help="Dev documents for model selection (strict F1)."),
    report_dev: Optional[List[str]] = typer.Option(
        None, "--report-dev", metavar="PATH[:MAP]",
        help="Extra dev set scored once at the end with the selected model, never used for selection; "
             "repeatable. With a map (e.g. :bc5cdr) it is scored per source type by overlap and exact span."),
    output: Path = typer.Option(..., "--output", "-o", help="Checkpoint directory to write."),
    epochs: Epochs = 3.0,
    learning_rate: LearningRate = 5e-5,
    batch_size: BatchSize = 16,
    grad_accum: GradAccum = 1,
    warmup: Warmup = 0.1,
    weight_decay: WeightDecay = 0.01,
    label_smoothing: float = typer.Option(0.0, help="Label smoothing of the cross-entropy loss (0: none)."),
    max_length: Optional[int] = typer.Option(None, min=1, help="Inference window length in subwords (dev scores, the saved model); default: the training window."),
    stride: Optional[int] = typer.Option(None, min=0, help="Overlap between inference windows in subwords; default: the training windows' overlap."),
    train_max_length: int = typer.Option(128, help="Training window length in subwords. Shorter windows mean more updates per epoch."),
    train_stride: int = typer.Option(32, help="Overlap between training windows in subwords (at most half a window)."),
    decode: str = typer.Option("viterbi", help="viterbi (valid BIO) or argmax."),
    labels: Optional[str] = typer.Option(None, help="st21pv for the 21 MedMentions types; default: types found in --train (and the labels its maps name)."),
    cased: Optional[bool] = typer.Option(None, "--cased/--uncased", help="Override case detection of the tokenizer."),
    seed: Seed = 42,
    evals_per_epoch: EvalsPerEpoch = 1,
    layer_decay: LayerDecay = 1.0,
    average_last: AverageLast = 0,
    discontinuous: Discontinuous = DiscontinuousMode.error,
    precision: Precision = "auto",
    device: Device = "auto",
) -> None:
    """Fine-tune a token-classification model on whole documents (windows, no truncation), from one
    or several training sources."""
    from clinlm import manifest as manifest_io
    from clinlm.labels import ST21PV_TYPES, bio_labels, types_of
    from clinlm.tasks.ner.sources import Sourced, files_of, model_types, parse_arg, read_spec_file
    from clinlm.tasks.ner.task import NerTask
    from clinlm.tasks.trainer import train as run_training

    quiet_transformers()
    if labels not in (None, "st21pv"):
        raise InputError(f"unknown label set {labels!r}; use st21pv or leave it out")
    srcs = [parse_arg(t, i) for i, t in enumerate(train or [], 1)]
    reports = [parse_arg(t, i) for i, t in enumerate(report_dev or [], 1)]
    if sources is not None:
        more_train, more_reports = read_spec_file(sources)
        srcs += more_train
        reports += more_reports
    if not srcs:
        raise ConfigError("no training data: give --train PATH[:MAP] (repeatable) or --sources FILE.json")
    task = NerTask(max_length=max_length, stride=stride, decode=decode, cased=cased,
                   train_max_length=train_max_length, train_stride=train_stride,
                   source_sampling=source_sampling.value, seed=seed)
    with flag_hints():
        per_source = [task.read(s.path, discontinuous.value) for s in srcs]
        dev_docs = task.read(dev, discontinuous.value) if dev else None
        report_docs = [task.read(s.path, discontinuous.value) for s in reports]
    for s, docs in zip(srcs + reports, per_source + report_docs):
        s.check_types(docs)
    single = len(srcs) == 1 and srcs[0].full and srcs[0].weight == 1.0
    if single:  # the plain path: Documents, cross-entropy, exactly as before
        train_docs: list = per_source[0]
        label_list = bio_labels(ST21PV_TYPES) if labels == "st21pv" else None
    else:
        train_docs = [Sourced(d, s) for s, docs in zip(srcs, per_source) for d in docs]
        types = set(ST21PV_TYPES) if labels == "st21pv" else model_types(train_docs)
        if not types:
            raise InputError("the training data has no entities, so there is nothing to learn")
        label_list = bio_labels(types)
        for s in srcs + reports:
            s.check_labels(types_of(label_list))
    net, tokenizer = task.build(model, train_docs, labels=label_list, seed=seed)
    args = train_args(epochs=epochs, learning_rate=learning_rate, batch_size=batch_size, grad_accum=grad_accum,
                      warmup_ratio=warmup, weight_decay=weight_decay, label_smoothing=label_smoothing, seed=seed,
                      precision=precision, device=device, evals_per_epoch=evals_per_epoch,
                      layer_decay=layer_decay, average_last=average_last)
    given = [s.path for s in srcs] + ([dev] if dev else [])
    man = train_manifest(model, given, [f for p in given for f in files_of(p)])
    if not single:
        man["sources"] = [s.describe(docs) for s, docs in zip(srcs, per_source)]
        man["source_sampling"] = source_sampling.value
        man["loss"] = "marginal likelihood over allowed tags (Greenberg et al. 2018, token level)"
    summary = run_training(task, net, tokenizer, train_docs, dev_docs, args, output, man, on_log=lambda m: err.print(esc(m)))
    if summary["dev"]:
        _metrics_table(summary["dev"], f"dev ({len(dev_docs)} documents), selected checkpoint")
        _choose_decoding(output, dev_docs, [d for src, docs in zip(srcs, per_source) if src.full for d in docs],
                         device, precision)
    if reports:
        recorded = []
        for s, docs in zip(reports, report_docs):
            mapping = s.score_map(docs)
            result = task.report(net, tokenizer, docs, mapping)
            title = f"report dev {esc(s.name)} ({len(docs)} documents), selected checkpoint"
            if mapping:
                _mapped_table(result["mapped"], title)
            else:
                _metrics_table(result, title)
            recorded.append(dict(s.describe(docs), scores=result))
        stored = manifest_io.read(output)
        stored["report_dev"] = recorded
        manifest_io.write(output, stored)
    err.print(f"saved to {esc(output)}  ({summary['seconds']} s, {summary['tokens_per_second']} tokens/s, {summary['precision']})",
              soft_wrap=True)


def _choose_decoding(output: Path, dev_docs, full_docs, device, precision) -> None:
    """Let dev decide how the saved model decodes, and write each choice with its dev scores into its
    clinlm.json: one type per repeated term (:mod:`clinlm.tasks.ner.consistency`), then, decoding so,
    the weight (0: none) of a type lexicon counted from the fully annotated sources ``full_docs``
    (:mod:`clinlm.tasks.ner.lexicon`). The model runs over dev once."""
    from clinlm import manifest as manifest_io
    from clinlm.tasks.ner import consistency, lexicon
    from clinlm.tasks.ner.pipeline import load
    from clinlm.tasks.ner.task import ner_scores

    def f1(gold, pred):
        return ner_scores(gold, pred)["strict"]["f1"]

    pipe = load(str(output), device=device, precision=precision, context=False, consistent_types=False,
                type_lexicon=False)
    encoded = pipe.document_logprobs(dev_docs)
    on, scores = consistency.choose(pipe, dev_docs, f1, encoded=encoded)
    stored = manifest_io.read(output)
    stored["consistent_types"] = on
    stored["consistent_types_dev_strict_f1"] = {k: round(v, 4) for k, v in scores.items()}
    err.print(f"one type per repeated term: dev strict F1 {scores['off']:.4f} without, {scores['on']:.4f} with: "
              f"{'on' if on else 'off'}", soft_wrap=True)
    counts = lexicon.count_types(full_docs)
    if counts:
        pipe.consistent_types = on
        (weight, alpha), scores = lexicon.choose(pipe, dev_docs, counts, f1, encoded=encoded)
        stored["type_lexicon"] = lexicon.TypeLexicon(counts, weight, alpha).entry(
            trained_on="the fully annotated --train sources", chosen_on="--dev", dev_strict_f1=scores)
        err.print(f"type lexicon ({len(counts)} terms): dev strict F1 {scores[f'0/{max(ALPHAS):g}']:.4f} without, "
                  f"{max(scores.values()):.4f} at best: weight {weight:g}", soft_wrap=True)
    manifest_io.write(output, stored)


def _mapped_table(result: dict, title: str) -> None:
    table = Table(title=title, title_justify="left",
                  caption="P/R against predictions of the mapped labels; found: recall by overlap with a prediction "
                          "of any label", caption_justify="left")
    for col in ("type → labels", "exact P", "exact R", "overlap P", "overlap R", "found", "gold"):
        table.add_column(col, justify="left" if col.startswith("type") else "right", overflow="fold")
    for typ, m in result.items():
        table.add_row(esc(f"{typ} → {','.join(m['labels'])}"), f"{m['exact']['precision']:.4f}",
                      f"{m['exact']['recall']:.4f}", f"{m['overlap']['precision']:.4f}", f"{m['overlap']['recall']:.4f}",
                      f"{m['overlap_any_label']['recall']:.4f}", str(m["support"]))
    out.print(table)


# -- decoding fitted on training data, chosen on dev ---------------------------------------
def _grid(text: str, flag: str, what: str) -> list[float]:
    """A comma-separated list of candidate numbers, none negative."""
    try:
        grid = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"{flag} takes numbers separated by commas, not {text!r}") from None
    if not grid or any(x < 0 for x in grid):
        raise ConfigError(f"{flag} needs at least one {what}, none negative")
    return grid


def _decoding_target(model: str, output: Optional[Path]) -> Path:
    """Where a decoding choice is written: ``output``, else ``model``'s own clinlm.json (never the shipped one's)."""
    from clinlm.tasks.ner.pipeline import DEFAULT_MODEL_DIR

    target = output or Path(model)
    if not Path(model).is_dir():
        raise ConfigError(f"--model must be a local checkpoint folder (its clinlm.json is written): {model}")
    if target.resolve() == DEFAULT_MODEL_DIR.resolve():
        raise ConfigError("the shipped default model is part of the installed package: pass --output DIR for a copy")
    return target


def _read_decoding_data(train: List[Path], dev: Path, discontinuous) -> tuple[list, list]:
    from clinlm.tasks.ner.task import NerTask

    with flag_hints():
        train_docs = [d for path in train for d in NerTask().read(path, discontinuous.value)]
        dev_docs = NerTask().read(dev, discontinuous.value)
    return train_docs, dev_docs


def _check_known_types(docs, labels, path: Path) -> None:
    unknown = {e.label for d in docs for e in d.entities} - {t.split("-", 1)[-1] for t in labels}
    if unknown:
        raise InputError(f"--train has types the model does not tag: {', '.join(sorted(unknown))}", str(path))


def _report_choice(result: dict, as_json: bool, title: str, column: str, scores: dict[str, float], chosen: str,
                   what: str, target: Path) -> None:
    """A dev choice as JSON, or as a table of each candidate's dev score with the chosen one marked."""
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        return
    table = Table(title=title)
    table.add_column(column, justify="right")
    table.add_column("strict F1", justify="right")
    for k, v in scores.items():
        table.add_row(k + (" (chosen)" if k == chosen else ""), f"{v:.4f}")
    out.print(table)
    err.print(f"wrote {what} to {esc(target / 'clinlm.json')}", soft_wrap=True)


BlockBreaks = Annotated[bool, typer.Option(
    "--block-breaks/--no-block-breaks", help="Show the model a sentence end where a line ends a block without "
    "punctuation (a list item, a header without a colon), as the pipeline reads by default.")]


@train_app.command("ner-transitions")
def train_ner_transitions(
    model: str = typer.Option(..., "--model", "-m", help="A token-classification checkpoint (local directory)."),
    train: Path = typer.Option(..., "--train", help="Fully annotated training documents: the tag bigrams to count."),
    dev: Path = typer.Option(..., "--dev", help="Dev documents: choose the scale by strict F1."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write a copy of the model here (default: "
                                          "update --model's clinlm.json in place)."),
    scales: str = typer.Option(",".join(map(str, SCALES)), help="Candidate scales, comma-separated (0: plain Viterbi)."),
    block_breaks: BlockBreaks = True,
    discontinuous: Discontinuous = DiscontinuousMode.error,
    device: Device = "auto",
    precision: Precision = "auto",
    as_json: AsJson = False,
) -> None:
    """Learned transitions for Viterbi decoding: tag-bigram PMI from --train, scale chosen on --dev."""
    from clinlm import manifest as manifest_io
    from clinlm.tasks.ner.pipeline import load
    from clinlm.tasks.ner.task import ner_scores
    from clinlm.tasks.ner.transitions import choose_scale, document_tags, entry, pmi_scores

    quiet_transformers()
    grid = _grid(scales, "--scales", "scale")
    target = _decoding_target(model, output)
    train_docs, dev_docs = _read_decoding_data([train], dev, discontinuous)
    pipe = load(model, device=device, precision=precision, context=False, transitions=False, block_breaks=block_breaks)
    _check_known_types(train_docs, pipe.labels, train)
    scores = pmi_scores(document_tags(train_docs), pipe.labels)
    best, by_scale = choose_scale(pipe, dev_docs, scores, lambda g, p: ner_scores(g, p)["strict"]["f1"], grid)
    if output is not None:
        pipe.save_pretrained(output)
    man = manifest_io.read(target)
    man["transitions"] = entry(scores, pipe.labels, best, trained_on=str(train), chosen_on=str(dev),
                               dev_strict_f1={str(k): round(v, 4) for k, v in by_scale.items()})
    manifest_io.write(target, man)
    _report_choice({"scale": best, "dev_strict_f1": by_scale, "written": str(target / "clinlm.json")}, as_json,
                   f"dev strict F1 by transition scale ({len(dev_docs)} documents)", "scale",
                   {f"{k:g}": v for k, v in by_scale.items()}, f"{best:g}", "the transitions", target)


@train_app.command("ner-lexicon")
def train_ner_lexicon(
    model: str = typer.Option(..., "--model", "-m", help="A token-classification checkpoint (local directory)."),
    train: List[Path] = typer.Option(..., "--train", help="Fully annotated training documents: the terms and types "
                                                          "to count (repeatable)."),
    dev: Path = typer.Option(..., "--dev", help="Dev documents: choose the weight by strict F1."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write a copy of the model here (default: "
                                          "update --model's clinlm.json in place)."),
    weights: str = typer.Option(",".join(map(str, WEIGHTS)), help="Candidate weights, comma-separated (0: no lexicon)."),
    consistent_types: Optional[bool] = typer.Option(None, "--consistent-types/--no-consistent-types",
                                                    help="Choose with one type per repeated term on or off, and "
                                                         "decode so (default: as the model's clinlm.json says)."),
    long_forms: bool = typer.Option(True, "--long-forms/--no-long-forms",
                                    help="Choose with abbreviations following their long form's type (with one type "
                                         "per term), as the pipeline decodes by default."),
    block_breaks: BlockBreaks = True,
    discontinuous: Discontinuous = DiscontinuousMode.error,
    device: Device = "auto",
    precision: Precision = "auto",
    as_json: AsJson = False,
) -> None:
    """A type lexicon: the types --train gives each term, a prior on an entity's type, weight chosen on --dev."""
    from clinlm import manifest as manifest_io
    from clinlm.tasks.ner.lexicon import TypeLexicon, choose, count_types
    from clinlm.tasks.ner.pipeline import load
    from clinlm.tasks.ner.task import ner_scores

    quiet_transformers()
    grid = _grid(weights, "--weights", "weight")
    target = _decoding_target(model, output)
    train_docs, dev_docs = _read_decoding_data(train, dev, discontinuous)
    pipe = load(model, device=device, precision=precision, context=False, type_lexicon=False,
                consistent_types=consistent_types, long_forms=long_forms, block_breaks=block_breaks)
    _check_known_types(train_docs, pipe.labels, train[0])
    counts = count_types(train_docs)
    if not counts:
        raise InputError("--train has no entities, so there are no terms to count", str(train[0]))
    (weight, alpha), by_choice = choose(pipe, dev_docs, counts, lambda g, p: ner_scores(g, p)["strict"]["f1"], grid)
    if output is not None:
        pipe.save_pretrained(output)
    man = manifest_io.read(target)
    man["type_lexicon"] = TypeLexicon(counts, weight, alpha).entry(
        trained_on=[str(p) for p in train], chosen_on=str(dev), dev_strict_f1=by_choice)
    man["consistent_types"] = pipe.consistent_types  # the weight was chosen decoding so
    manifest_io.write(target, man)
    _report_choice({"weight": weight, "alpha": alpha, "terms": len(counts), "dev_strict_f1": by_choice,
                    "written": str(target / "clinlm.json")}, as_json,
                   f"dev strict F1 by lexicon weight/alpha ({len(dev_docs)} documents, {len(counts)} terms)",
                   "weight/alpha", by_choice, f"{weight:g}/{alpha:g}", "the type lexicon", target)


# -- evaluate ---------------------------------------------------------------------------
@evaluate_app.command("ner")
def evaluate_ner(
    data: str = typer.Option(..., "--data", "-d", metavar="PATH[:MAP]",
                             help="Gold documents. PATH:bc5cdr or PATH:ncbi-disease scores a corpus annotated in "
                                  "other types through its built-in map (per source type, by overlap and exact span)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Checkpoint (default: the shipped model)."),
    protocol: str = typer.Option("clinlm", help="clinlm (whole documents) or model-card (the seed card's set-up: truncated at 512 subwords, seqeval default mode)."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable results."),
    record: Optional[str] = typer.Option(None, "--record", help="Also store the results in the model's clinlm.json under metrics.NAME (e.g. test)."),
    data_name: Optional[str] = typer.Option(None, "--data-name", help="Name of the data set/protocol to store with --record (e.g. MM-ST21pv-r)."),
    max_length: WindowLength = None,
    stride: WindowStride = None,
    decode: Optional[str] = typer.Option(None, help="viterbi or argmax (default: the model's)."),
    batch_size: NoteBatch = 32,
    discontinuous: Discontinuous = DiscontinuousMode.error,
    device: Device = "auto",
    precision: Precision = "auto",
    engine: Engine = "auto",
    compile: bool = typer.Option(False, "--compile", help="Score the torch.compile path (as annotate --compile runs it)."),
    consistent_types: Optional[bool] = typer.Option(None, "--consistent-types/--no-consistent-types",
                                                    help="One type per term repeated in a document (default: as the "
                                                         "model's clinlm.json says)."),
    type_lexicon: bool = typer.Option(True, "--type-lexicon/--no-type-lexicon",
                                      help="Add the type lexicon's prior where the model's clinlm.json has one."),
    long_forms: bool = typer.Option(True, "--long-forms/--no-long-forms",
                                    help="With one type per term: an abbreviation a document defines takes its long "
                                         "form's type."),
    block_breaks: BlockBreaks = True,
) -> None:
    """seqeval micro P/R/F1 (strict and default mode), per type, and character-span F1."""
    from clinlm.tasks.ner.metrics import mapped_scores
    from clinlm.tasks.ner.pipeline import DEFAULT_MODEL_DIR, load
    from clinlm.tasks.ner.sources import parse_arg
    from clinlm.tasks.ner.task import PROTOCOLS, NerTask, model_card_scores, ner_scores

    quiet_transformers()
    if protocol not in PROTOCOLS:
        raise InputError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}")
    if record and (model is None or Path(model).resolve() == DEFAULT_MODEL_DIR.resolve()):
        # os.access is no guard: an editable install or root can write into the package
        raise ConfigError("--record writes into the model's clinlm.json, and the shipped default model is part of "
                          "the installed package: copy it to a folder of your own and pass --model DIR")
    source = parse_arg(data)
    if not source.full and protocol != "clinlm":
        raise ConfigError(f"--protocol {protocol} scores the model's own labels; a mapped corpus ({data}) is scored "
                          "with the clinlm protocol only")
    with flag_hints():
        gold = NerTask().read(source.path, discontinuous.value)  # read and validated before the model loads
    source.check_types(gold)
    mapping = source.score_map(gold)
    options = {k: v for k, v in {"max_length": max_length, "stride": stride, "decode": decode,
                                 "consistent_types": consistent_types, "type_lexicon": type_lexicon,
                                 "long_forms": long_forms, "block_breaks": block_breaks}.items()
               if v is not None}
    pipe = load(model, device=device, precision=precision, context=False, compile=compile, engine=engine,
                **options)  # scores need no assertion
    if mapping:
        result = {"mapped": mapped_scores(gold, list(pipe.pipe(gold, batch_size=batch_size)), mapping),
                  "documents": len(gold)}
    elif protocol == "model-card":
        result = model_card_scores(pipe, gold)
    else:
        result = ner_scores(gold, list(pipe.pipe(gold, batch_size=batch_size)))
    result["protocol"] = protocol
    result["model"] = model or "default"
    result["data"] = data
    if record:
        from clinlm import manifest as manifest_io

        man = manifest_io.read(pipe.manifest_dir)
        slim = dict(result, protocol=data_name or protocol, scoring=protocol)
        man.setdefault("metrics", {})[record] = slim
        manifest_io.write(pipe.manifest_dir, man)
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    elif mapping:
        _mapped_table(result["mapped"], f"{esc(data)} ({len(gold)} documents)")
    else:
        _metrics_table(result, f"{esc(data)} ({len(gold)} documents), protocol {esc(protocol)}")


def _metrics_table(result: dict, title: str) -> None:
    from clinlm.labels import type_name

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
            t2.add_row(esc(typ), esc(type_name(typ)), f"{m['precision']:.4f}", f"{m['recall']:.4f}", f"{m['f1']:.4f}", str(m["support"]))
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
    from clinlm.tasks.ner.export import export

    quiet_transformers()
    export(model, output, int8=int8, optimize=optimize)
    err.print(f"wrote {esc(output / 'model.onnx')} ({'int8' if int8 else 'fp32'})", soft_wrap=True)
