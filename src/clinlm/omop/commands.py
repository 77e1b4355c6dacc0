"""``clinlm omop init|load-notes|run``: OMOP CDM NOTE → NOTE_NLP in a database (SQLite, PostgreSQL)."""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Optional

import typer
from rich.table import Table

from clinlm.cli.app import ClinlmTyper, app
from clinlm.cli.console import err, esc, out, quiet_transformers, read_inputs
from clinlm.cli.options import AsJson, Device, Precision
from clinlm.errors import ConfigError

omop_app = ClinlmTyper(no_args_is_help=True, help="OMOP CDM: create NOTE/NOTE_NLP, load notes, fill NOTE_NLP (resumable).")
app.add_typer(omop_app, name="omop")

DEFAULT_DB = "sqlite:///omop.db"
Db = typer.Option(DEFAULT_DB, "--db", help="SQLAlchemy database URL (sqlite:///omop.db, postgresql+psycopg://user@host/cdm) or a SQLite file path.")
Schema = typer.Option(None, "--schema", help="Database schema of the CDM tables (PostgreSQL; default: the connection's).")


@contextmanager
def _database_errors(url: str) -> Iterator[None]:
    """A database that cannot be reached or a statement it refuses: one line, no traceback (and no
    password: the URL is shown as SQLAlchemy hides it)."""
    import sqlalchemy as sa

    try:
        yield
    except sa.exc.DBAPIError as exc:
        shown = sa.engine.make_url(url).render_as_string(hide_password=True) if "://" in url else url
        first = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc).splitlines()[0]
        raise ConfigError(f"database {shown}: {first}") from None


def _engine(db: str):
    from clinlm.omop.schema import engine_for

    return engine_for(db)


@omop_app.command("init")
def init(db: str = Db, schema: Optional[str] = Schema) -> None:
    """Create the OMOP CDM v5.4 NOTE and NOTE_NLP tables (and clinlm's bookkeeping) where missing."""
    from clinlm.omop.schema import create

    engine = _engine(db)
    with _database_errors(db):
        made = create(engine, schema)
    err.print(f"created {', '.join(made)}" if made else "all tables were there already", soft_wrap=True)


@omop_app.command("load-notes")
def load_notes_command(
    inputs: List[str] = typer.Argument(..., help="Text files, directories of .txt files or document files (.jsonl: metadata person_id, note_date, note_title... fill NOTE's columns)."),
    db: str = Db,
    schema: Optional[str] = Schema,
) -> None:
    """Load notes into NOTE (an example loader): numeric ids are note_ids, others go to note_source_value."""
    from clinlm.omop.notes import load_notes

    docs = list(read_inputs(inputs))  # every input read and checked before the database is touched
    engine = _engine(db)
    with _database_errors(db):
        report = load_notes(engine, docs, schema)
    err.print(f"NOTE: {report.inserted} inserted, {report.updated} updated, {report.unchanged} unchanged", soft_wrap=True)


@omop_app.command("run")
def run(
    db: str = Db,
    schema: Optional[str] = Schema,
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model directory or hub id (default: the model shipped with clinlm)."),
    where: Optional[str] = typer.Option(None, "--where", help="SQL condition on NOTE's columns selecting the notes, e.g. \"note_id BETWEEN 1 AND 5000\"."),
    batch_notes: int = typer.Option(32, "--batch-notes", min=1, help="Notes per batch: annotated together and written in one transaction."),
    concepts: Optional[Path] = typer.Option(None, "--concepts", help="JSON concept map: {\"concepts\": {label or linked id: concept_id}, \"source_concepts\": {...}, \"sections\": {section: concept_id}}."),
    context: bool = typer.Option(True, "--context/--no-context", help="Assertion and sections (term_exists, term_temporal, term_modifiers, section_concept_id)."),
    device: Device = "auto",
    precision: Precision = "auto",
    as_json: AsJson = False,
) -> None:
    """Annotate NOTE into NOTE_NLP: resumable (a killed run loses nothing), idempotent (done notes are
    skipped, changed notes re-annotated with their old rows replaced)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from clinlm import __version__
    from clinlm.omop.job import NoteNlpJob, nlp_system_of
    from clinlm.omop.mapping import ConceptMap
    from clinlm.omop.schema import check_schema
    from clinlm.tasks.ner.pipeline import load

    quiet_transformers()
    concept_map = ConceptMap.read(concepts)  # checked before the model loads
    engine = _engine(db)
    check_schema(engine, schema)
    with _database_errors(db):
        from clinlm.omop.schema import require_tables, tables

        require_tables(engine, tables(schema))  # before the model loads: a missing NOTE table fails fast
        pipe = load(model, device=device, precision=precision, context=context)
        job = NoteNlpJob(engine, pipe, nlp_system_of(pipe, __version__, model), schema=schema, where=where,
                         batch_notes=batch_notes, concepts=concept_map)
        total = job.count()
        columns = [TextColumn("notes"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]} notes/s"),
                   TimeRemainingColumn()]
        with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as progress:
            bar = progress.add_task("notes", total=total, rate="-")

            def on_progress(report, n: int) -> None:
                elapsed = progress.tasks[0].elapsed or 0.0
                rate = f"{report.annotated / elapsed:.1f}" if elapsed > 0 and report.annotated else "-"
                progress.update(bar, advance=n, rate=rate)

            report = job.run(on_progress)
    if as_json:
        out.print_json(json.dumps(report.to_dict()))
        return
    table = Table(title=f"NOTE_NLP by {esc(report.nlp_system)}", title_justify="left", show_header=False)
    cut = ", ".join(f"{k} {v}" for k, v in sorted(report.cuts.items())) or "none"
    failed = f"{len(report.failed)}" + (f" (note_id {', '.join(map(str, report.failed[:20]))}"
                                         f"{', ...' if len(report.failed) > 20 else ''})" if report.failed else "")
    for name, value in (("notes read", report.notes_read), ("annotated", report.annotated),
                        ("of which changed", report.changed), ("skipped (done)", report.skipped), ("failed", failed),
                        ("rows written", report.rows_written), ("old rows replaced", report.rows_replaced),
                        ("truncated", cut), ("notes/s", f"{report.annotated / report.seconds:.1f}" if report.seconds else "-")):
        table.add_row(name, str(value))
    out.print(table)
