"""``clinlm spark annotate``: notes (parquet, JSONL or CSV) → NOTE_NLP rows (parquet) on Spark."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer

from clinlm.cli.app import ClinlmTyper, app
from clinlm.cli.console import err, esc
from clinlm.errors import ConfigError, InputError

spark_app = ClinlmTyper(no_args_is_help=True, help="Spark for corpus scale: NOTE_NLP rows from notes in parquet.")
app.add_typer(spark_app, name="spark")


def read_notes(spark, path: str):
    """A DataFrame of notes: parquet (file or folder), ``.jsonl``/``.json`` (one object a line) or ``.csv`` (header)."""
    lower = path.lower()
    if lower.endswith((".jsonl", ".json")):
        return spark.read.json(path)
    if lower.endswith(".csv"):
        return spark.read.option("header", True).option("multiLine", True).option("escape", '"').csv(path)
    return spark.read.parquet(path)


@spark_app.command("annotate")
def annotate_command(
    notes: str = typer.Option(..., "--notes", help="Notes: parquet file or folder, .jsonl or .csv, with an id and a text column; or jdbc:postgresql://HOST:PORT/DB?user=U (the NOTE table)."),
    out: str = typer.Option(..., "--out", help="Output parquet folder of NOTE_NLP rows (must not exist), or jdbc:postgresql://... (NOTE_NLP, the notes' rows replaced)."),
    notes_table: str = typer.Option("note", "--notes-table", help="With JDBC notes: the NOTE table (schema.note)."),
    out_table: str = typer.Option("note_nlp", "--out-table", help="With JDBC output: the NOTE_NLP table (schema.note_nlp)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model directory, readable at the same path on every executor (default: the shipped model)."),
    master: Optional[str] = typer.Option(None, "--master", help="Spark master, e.g. local[2] (default: spark-submit's, else local[*])."),
    id_col: str = typer.Option("note_id", "--id-col", help="Column of note ids (whole numbers)."),
    text_col: str = typer.Option("note_text", "--text-col", help="Column of note text."),
    batch_notes: int = typer.Option(32, "--batch-notes", min=1, help="Notes per pipeline batch."),
    concepts: Optional[Path] = typer.Option(None, "--concepts", help="JSON concept map (as for clinlm omop run)."),
    context: bool = typer.Option(True, "--context/--no-context", help="Assertion and sections."),
) -> None:
    """Annotate notes on Spark (mapInPandas, the pipeline once per Python worker) into NOTE_NLP rows."""
    from clinlm.omop.mapping import ConceptMap

    from clinlm.spark.jdbc import is_jdbc, read_notes as read_jdbc, sqlalchemy_url, write_note_nlp

    concept_map = ConceptMap.read(concepts)
    remote = ("hdfs:", "s3a:", "s3:", "gs:", "abfs:", "jdbc:")
    if not notes.startswith(remote) and not Path(notes).exists():
        raise InputError("no such file or directory", notes)
    for location in (notes, out):
        if is_jdbc(location):
            sqlalchemy_url(location)  # only PostgreSQL: checked before Spark starts
    if not out.startswith(remote) and Path(out).exists():
        raise InputError("the output already exists (Spark writes a new folder)", out)
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError("pyspark is not installed: pip install 'clinlm[spark]'") from None
    from clinlm.spark.job import annotate

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    active = SparkSession.getActiveSession()
    builder = SparkSession.builder.appName("clinlm spark annotate")
    if master:
        builder = builder.master(master)
    elif active is None and "PYSPARK_GATEWAY_PORT" not in os.environ:  # not under spark-submit (its master wins)
        builder = builder.master("local[*]")
    spark = builder.getOrCreate()
    try:
        if is_jdbc(notes):
            df, id_col, text_col = read_jdbc(spark, notes, notes_table), "note_id", "note_text"
        else:
            df = read_notes(spark, notes)
        rows = annotate(df, id_col=id_col, text_col=text_col, model=model, batch_notes=batch_notes,
                        context=context, concepts=concept_map)
        if is_jdbc(out):
            n = write_note_nlp(rows, df, out, out_table, id_col)
        else:
            rows.write.parquet(out)
            n = spark.read.parquet(out).count()
    finally:
        if active is None:
            spark.stop()
    shown = out.split("?")[0] if is_jdbc(out) else out  # never the password
    err.print(f"wrote {n} NOTE_NLP rows to {esc(shown)}", soft_wrap=True)
