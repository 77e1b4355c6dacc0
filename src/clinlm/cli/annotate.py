"""``clinlm annotate``: concepts, assertion and sections in whole notes, in any output format."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, List, Optional

import typer
from rich.table import Table

from clinlm.cli.app import app
from clinlm.cli.console import (check_format_fits, check_output, err, esc, out, quiet_transformers, read_inputs,
                                write_stdout)
from clinlm.cli.options import Device, Discontinuous, DiscontinuousMode, Engine, NoteBatch, Precision, WindowLength, WindowStride
from clinlm.document import Document
from clinlm.errors import InputError

def _table(docs: Iterator[Document]) -> None:
    from clinlm.labels import type_name

    for doc in docs:
        table = Table(title=f"{esc(doc.id)}: {len(doc.entities)} entities", title_justify="left")
        linked = any("concepts" in e.attributes for e in doc.entities)
        for col in ("start", "end", "type", "name", "text", "score", "section", "assertion") + (("concept",) if linked else ()):
            table.add_column(col, justify="right" if col in ("start", "end", "score") else "left")
        for e in doc.entities:
            score = "" if e.score is None else f"{e.score:.2f}"
            section = e.attributes.get("section") or ""
            assertion = e.attributes.get("assertion") or ""
            if e.attributes.get("historical") is True:
                assertion = f"{assertion}, historical" if assertion else "historical"
            cells = [str(e.start), str(e.end), esc(e.label), esc(type_name(e.label)), esc(e.text.replace("\n", " ")),
                     score, esc(section), esc(assertion)]
            if linked:
                best = (e.attributes.get("concepts") or [None])[0]
                cells.append(esc(f"{best['vocab']}:{best['id']} {best['name']} ({best['score']:.2f})") if best else "")
            table.add_row(*cells)
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
    clean: bool = typer.Option(True, "--clean/--no-clean", help="With context: drop what is not a concept (words of headers and sub-headers, names of people, cue words such as 'denies', 'no', 'history') and split concepts at list items and headers."),
    link: Optional[List[str]] = typer.Option(None, "--link", metavar="DIR[=LABEL,...]", help="Link concepts to a vocabulary: an index folder from `clinlm link build`; DIR=T103,T121 links only entities of those labels. Repeat for several vocabularies."),
    link_k: int = typer.Option(5, "--link-k", min=1, help="With --link: concepts kept per entity, best first."),
    link_threshold: float = typer.Option(0.6, "--link-threshold", min=0.0, max=1.0, help="With --link: lowest score of a linked concept (below it: no link)."),
    type_map: Optional[Path] = typer.Option(None, "--type-map", help="With --link: TSV 'vocabulary type<TAB>entity label' for the type filter (e.g. MedMentions' st21pv_ancestor.tsv)."),
    batch_size: NoteBatch = 32,
    max_length: WindowLength = None,
    stride: WindowStride = None,
    discontinuous: Discontinuous = DiscontinuousMode.error,
    device: Device = "auto",
    precision: Precision = "auto",
    engine: Engine = "auto",
    compile: bool = typer.Option(False, "--compile", help="Run the model through torch.compile (kernels cached in ~/.cache/clinlm/inductor): minutes once per machine and window width, then faster forwards; worth it for many notes."),
) -> None:
    """Tag clinical concepts in whole notes, with exact character offsets."""
    from rich.progress import Progress

    from clinlm.formats import WRITERS, write_documents
    from clinlm.tasks.ner.pipeline import load, make_context

    quiet_transformers()
    if format != "table" and format not in WRITERS:
        raise InputError(f"unknown output format {format!r}; use table or one of {', '.join(WRITERS)}")
    if format == "table" and output is not None:
        raise InputError("--output needs a file format (e.g. --format jsonl); the table is printed")
    if format == "brat" and output is None:
        raise InputError("brat output needs --output DIR")
    check_output(output, format)  # before any work: a directory where a file goes, a missing folder
    options = {k: v for k, v in {"max_length": max_length, "stride": stride}.items() if v is not None}
    annotator = make_context(context, context_rules, section_rules, replace_rules)  # checks the rule files
    linkers = []
    if link:
        from clinlm.linking import Linker, read_type_map

        tmap = read_type_map(type_map) if type_map else None
        for spec in link:
            folder, labels = spec, None
            if "=" in spec and not Path(spec).exists():
                folder, _, names = spec.rpartition("=")
                labels = [x.strip() for x in names.split(",") if x.strip()]
            linkers.append(Linker.load(folder, k=link_k, threshold=link_threshold, type_map=tmap, labels=labels))
    elif type_map is not None:
        raise InputError("--type-map filters linked concepts: give --link DIR too")
    docs = list(read_inputs(inputs, discontinuous.value))  # read (and validate) every input before loading or writing anything
    check_format_fits(docs, format)
    if annotator is not None and (context_rules or section_rules):
        annotator.nlp  # noqa: B018  (built now, so a bad pattern in a rule file fails before the model loads)
    pipe = load(model, device=device, precision=precision, context=annotator if annotator is not None else False,
                clean=clean, linker=linkers or None, compile=compile, engine=engine, **options)
    with Progress(console=err, transient=True, disable=not err.is_terminal) as progress:
        notes = progress.add_task("notes", total=len(docs))
        windows = progress.add_task("windows", total=None)  # a long note moves this one

        def on_progress(done: int, planned: int) -> None:
            progress.update(windows, completed=done, total=planned)

        def stream() -> Iterator[Document]:
            for d in pipe.pipe(docs, batch_size=batch_size, on_progress=on_progress):
                progress.advance(notes)
                yield d

        if format == "table":
            _table(stream())
        elif output is None:
            write_stdout(stream(), format)
        else:
            write_documents(stream(), output, format)
    if output is not None:
        err.print(f"wrote {len(docs)} document(s) to {esc(output)}", soft_wrap=True)
