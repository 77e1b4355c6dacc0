"""NOTE in and NOTE_NLP out over JDBC (PostgreSQL), for ``clinlm spark annotate``.

* Reading: ``NOTE``'s ``note_id`` and ``note_text``, partitioned on ``note_id`` between its
  minimum and maximum (``spark.read.jdbc``'s ``partitionColumn``), so executors read in parallel.
* Writing: the rows go to a staging table (``clinlm_note_nlp_stage``, beside the target), the
  notes annotated to ``clinlm_note_stage``; then one transaction on the driver replaces those
  notes' rows of this ``nlp_system`` in ``NOTE_NLP``, taking ``note_nlp_id`` from clinlm's
  sequence (as ``clinlm omop run`` does), and drops the staging tables. A failed run leaves
  ``NOTE_NLP`` as it was.

The PostgreSQL JDBC driver must be on Spark's classpath: ``--jars /usr/share/java/postgresql.jar``
(Debian ``libpostgresql-jdbc-java``) or ``--packages org.postgresql:postgresql:42.7.4``.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from clinlm.errors import ConfigError

DRIVER = "org.postgresql.Driver"
COLUMNS = ("note_id", "section_concept_id", "snippet", "offset", "lexical_variant", "note_nlp_concept_id",
           "note_nlp_source_concept_id", "nlp_system", "nlp_date", "nlp_datetime", "term_exists", "term_temporal",
           "term_modifiers")


def is_jdbc(location: str) -> bool:
    return location.startswith("jdbc:")


def sqlalchemy_url(jdbc: str) -> str:
    """``jdbc:postgresql://host:port/db?user=u&password=p`` → ``postgresql+psycopg://u:p@host:port/db``."""
    if not jdbc.startswith("jdbc:postgresql://"):
        raise ConfigError("JDBC: only PostgreSQL (jdbc:postgresql://host:port/db?user=...) is supported")
    parts = urlsplit(jdbc[len("jdbc:"):])
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    user = query.get("user", "")
    auth = quote(user, safe="") + (":" + quote(query["password"], safe="") if "password" in query else "")
    return f"postgresql+psycopg://{auth + '@' if auth else ''}{parts.netloc}{parts.path}"


def _split(table: str) -> tuple[str | None, str]:
    schema, _, name = table.rpartition(".")
    return (schema or None), name


def read_notes(spark: Any, url: str, table: str = "note", partitions: int | None = None):
    """NOTE's note_id and note_text over JDBC, in ``partitions`` ranges of note_id."""
    bounds = (spark.read.format("jdbc").option("url", url).option("driver", DRIVER)
              .option("query", f"SELECT min(note_id) AS lo, max(note_id) AS hi FROM {table}").load().first())
    reader = (spark.read.format("jdbc").option("url", url).option("driver", DRIVER)
              .option("dbtable", f"(SELECT note_id, note_text FROM {table}) AS notes"))
    if bounds is not None and bounds["lo"] is not None:
        n = partitions or spark.sparkContext.defaultParallelism * 4
        reader = (reader.option("partitionColumn", "note_id").option("lowerBound", int(bounds["lo"]))
                  .option("upperBound", int(bounds["hi"]) + 1).option("numPartitions", max(1, n)))
    return reader.load()


def write_note_nlp(rows: Any, notes: Any, url: str, table: str = "note_nlp", id_col: str = "note_id") -> int:
    """Replace the annotated notes' rows of each nlp_system in ``table`` by ``rows`` (see module doc);
    returns the rows written."""
    import sqlalchemy as sa

    from clinlm.omop.schema import engine_for, require_tables, tables

    schema, name = _split(table)
    if name != "note_nlp":
        raise ConfigError(f"--out-table {table!r}: the CDM table is note_nlp (optionally schema.note_nlp)")
    engine = engine_for(sqlalchemy_url(url))
    t = tables(schema)
    require_tables(engine, t)  # NOTE_NLP there; clinlm's sequence created and above the ids already there
    prefix = f"{schema}." if schema else ""
    stage, stage_notes = f"{prefix}clinlm_note_nlp_stage", f"{prefix}clinlm_note_stage"
    rows.drop("note_nlp_id").write.format("jdbc").option("url", url).option("driver", DRIVER) \
        .option("dbtable", stage).mode("overwrite").save()
    notes.select(notes[id_col].cast("long").alias("note_id")).write.format("jdbc").option("url", url) \
        .option("driver", DRIVER).option("dbtable", stage_notes).mode("overwrite").save()
    prep = engine.dialect.identifier_preparer
    cols = ", ".join(prep.quote(c) for c in COLUMNS)
    seq = t.sequence
    with engine.begin() as conn:
        systems = [r[0] for r in conn.execute(sa.text(f"SELECT DISTINCT nlp_system FROM {stage}"))]
        target = prep.format_table(t.note_nlp)
        if systems:
            conn.execute(sa.text(f"DELETE FROM {target} WHERE nlp_system = ANY(:systems) AND note_id IN "
                                 f"(SELECT note_id FROM {stage_notes})"), {"systems": systems})
        n = conn.execute(sa.text(
            f"INSERT INTO {target} (note_nlp_id, {cols}) SELECT nextval(CAST(:seq AS regclass)), {cols} FROM {stage} "
            "ORDER BY note_id, \"offset\""), {"seq": (prep.quote_schema(seq.schema) + "." if seq.schema else "")
                                              + prep.quote(seq.name)}).rowcount
        conn.execute(sa.text(f"DROP TABLE {stage}"))
        conn.execute(sa.text(f"DROP TABLE {stage_notes}"))
    engine.dispose()
    return n
