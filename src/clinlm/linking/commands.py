"""``clinlm link build`` and ``clinlm evaluate link``."""
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
    from clinlm.formats import read_documents
    from clinlm.linking.evaluate import annotated_names
    from clinlm.linking.index import LinkIndex
    from clinlm.linking.vocab import read_vocabulary

    if output.exists() and not output.is_dir():
        raise InputError("the index goes into a folder, but a file is there", str(output))
    t0 = time.perf_counter()
    voc = read_vocabulary(vocab, format, name=name, types_path=types,
                          sources=[s.strip() for s in sources.split(",")] if sources else None)
    pairs: list[tuple[str, str]] = []
    for path in names_from or []:
        pairs += annotated_names(read_documents(path), _labels(label))
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


@evaluate_app.command("link")
def evaluate_link(
    index: Path = typer.Option(..., "--index", help="Index folder (clinlm link build)."),
    data: Path = typer.Option(..., "--data", "-d", help="Gold mentions with ids (PubTator: NCBI-disease, BC5CDR)."),
    label: Optional[str] = typer.Option(None, "--label", help="Score only mentions of these labels (comma-separated, e.g. Chemical)."),
    type_map: Optional[Path] = typer.Option(None, "--type-map", help="TSV 'vocabulary type<TAB>entity label' for the type filter."),
    errors: int = typer.Option(0, "--errors", min=0, help="Also print this many wrong top-1 links (the mention text is printed: not for notes)."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable results."),
) -> None:
    """Accuracy@1 and @5 of linking gold mentions; composite mentions, mentions without an id and ids
    the vocabulary lacks are counted apart (coverage bounds accuracy)."""
    from clinlm.formats import read_gold
    from clinlm.linking.evaluate import evaluate_linking
    from clinlm.linking.linker import Linker, read_type_map

    tmap = read_type_map(type_map) if type_map else None
    gold = read_gold(data)
    linker = Linker.load(index, type_map=tmap)
    t0 = time.perf_counter()
    result = evaluate_linking(linker, gold, labels=_labels(label))
    result["seconds"] = round(time.perf_counter() - t0, 2)
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
    table.add_column("value", justify="right")
    for key in ("mentions", "composite", "no_id", "missing", "covered"):
        table.add_row(key, f"{result[key]:,}")
    table.add_row("coverage (covered / single-id)", f"{result['coverage']:.4f}")
    table.add_row("acc@1 (covered)", f"{result['acc@1']:.4f}")
    table.add_row("acc@5 (covered)", f"{result['acc@5']:.4f}")
    table.add_row("acc@1 (all single-id)", f"{result['acc@1_all']:.4f}")
    table.add_row("seconds", f"{result['seconds']:.2f}")
    out.print(table)
    for e in result.get("errors", []):
        err.print(f"{esc(e['mention'])!s} -> {esc(e['predicted'])} {esc(e['predicted_name'])} (gold {esc(e['gold'])})",
                  highlight=False, soft_wrap=True)
