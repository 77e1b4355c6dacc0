"""Spark on local[2]: NOTE_NLP rows equal to what ``clinlm annotate`` finds, entity for entity."""
from __future__ import annotations

import json
import os
import shutil

import pytest
from cli_runner import clinlm
from conftest import require_system

pytestmark = pytest.mark.slow  # Spark and its two Python workers start in tens of seconds on a small machine

TEXTS = ["HPI: patient denies fever and cough.", "", "mother had cancer", "chronic pain " * 40,
         "Family history: diabetes in father.\nreports nausea", "the patient reports severe headache"] * 2


@pytest.fixture(scope="module")
def spark():
    require_system("a Java runtime (java)", shutil.which("java") is not None)
    pyspark = pytest.importorskip("pyspark")
    import os
    import sys

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = pyspark.sql.SparkSession.builder
    if jdbc_jar() is not None:
        builder = builder.config("spark.jars", jdbc_jar())
    session = (builder.master("local[2]").appName("clinlm-test")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
               .config("spark.driver.bindAddress", "127.0.0.1").config("spark.driver.host", "127.0.0.1").config("spark.sql.execution.arrow.maxRecordsPerBatch", "4")
               .getOrCreate())
    yield session
    session.stop()


def jdbc_jar() -> str | None:
    """The PostgreSQL JDBC driver: Debian's libpostgresql-jdbc-java, else a Maven cache's."""
    import glob

    found = glob.glob("/usr/share/java/postgresql.jar") + sorted(
        glob.glob(os.path.expanduser("~/.m2/repository/org/postgresql/postgresql/*/postgresql-*.jar")))
    return found[0] if found else None


@pytest.fixture(scope="module")
def postgres():
    from omop_helpers import PostgresServer, postgres_bin

    require_system("PostgreSQL (initdb, pg_ctl)", postgres_bin() is not None)
    pytest.importorskip("psycopg")
    server = PostgresServer(postgres_bin())
    yield server
    server.stop()


def expected_entities(tmp_path, model) -> list[tuple]:
    from clinlm.formats import read_documents

    src = tmp_path / "notes.jsonl"
    src.write_text("".join(json.dumps({"id": str(i + 1), "text": t}) + "\n" for i, t in enumerate(TEXTS)), encoding="utf-8")
    result = clinlm("annotate", "--model", model, "--format", "jsonl", "-o", tmp_path / "cli.jsonl", src)
    assert result.returncode == 0, result.stderr
    return sorted((int(d.id), str(e.start), e.text) for d in read_documents(tmp_path / "cli.jsonl") for e in d.entities)


def test_spark_annotate_equals_the_cli(spark, tmp_path, tiny_tagger):
    import clinlm.spark

    df = spark.createDataFrame([(i + 1, t) for i, t in enumerate(TEXTS)], "note_id long, note_text string").repartition(2)
    rows = clinlm.spark.annotate(df, model=str(tiny_tagger)).collect()
    got = sorted((r.note_id, r.offset, r.lexical_variant) for r in rows)
    assert got == expected_entities(tmp_path, tiny_tagger) and got
    r = rows[0]
    assert r.note_nlp_id is None and r.nlp_system.startswith(f"clinlm 0.1.0 {tiny_tagger.name}@")
    assert r.term_exists in ("Y", "N") and "end=" in r.term_modifiers and len(r.snippet) <= 250


def test_spark_command_parquet_in_and_out(spark, tmp_path, tiny_tagger):
    import pandas as pd

    src = tmp_path / "notes.parquet"
    pd.DataFrame({"id": list(range(1, len(TEXTS) + 1)), "text": TEXTS}).to_parquet(src)
    out = tmp_path / "nlp"
    result = clinlm("spark", "annotate", "--notes", src, "--out", out, "--model", tiny_tagger, "--id-col", "id",
                    "--text-col", "text", "--master", "local[2]")
    assert result.returncode == 0, result.stderr
    table = pd.read_parquet(out)
    assert sorted(zip(table.note_id, table.offset, table.lexical_variant)) == expected_entities(tmp_path, tiny_tagger)
    again = clinlm("spark", "annotate", "--notes", src, "--out", out, "--model", tiny_tagger)
    assert again.returncode == 2 and b"already exists" in again.stderr


def test_spark_jdbc_note_in_note_nlp_out(spark, postgres, tmp_path, tiny_tagger):
    """NOTE read over JDBC in note_id ranges, NOTE_NLP written back: the notes' old rows of this
    system replaced, other systems' kept, ids from clinlm's sequence."""
    require_system("the PostgreSQL JDBC driver (Debian libpostgresql-jdbc-java)", jdbc_jar() is not None)
    import datetime

    import sqlalchemy as sa

    from clinlm.document import Document
    from clinlm.omop.notes import load_notes
    from clinlm.omop.schema import create, engine_for, tables
    from clinlm.spark.job import nlp_system

    url = postgres.new_database()
    engine = engine_for(url)
    create(engine)
    load_notes(engine, [Document(str(i + 1), t) for i, t in enumerate(TEXTS)])
    system = nlp_system(str(tiny_tagger))
    t = tables()
    with engine.begin() as conn:
        conn.execute(t.note_nlp.insert(), [
            {"note_nlp_id": 1, "note_id": 1, "lexical_variant": "stale", "nlp_system": system, "nlp_date": datetime.date(2024, 1, 1)},
            {"note_nlp_id": 2, "note_id": 1, "lexical_variant": "kept", "nlp_system": "other", "nlp_date": datetime.date(2024, 1, 1)}])
    jdbc = f"jdbc:postgresql://127.0.0.1:{postgres.port}/{url.rsplit('/', 1)[1]}?user=clinlm"
    result = clinlm("spark", "annotate", "--notes", jdbc, "--out", jdbc, "--model", tiny_tagger)
    assert result.returncode == 0, result.stderr
    assert b"user=" not in result.stderr
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.note_nlp.c.note_nlp_id, t.note_nlp.c.note_id, t.note_nlp.c["offset"],
                                      t.note_nlp.c.lexical_variant, t.note_nlp.c.nlp_system)).all()
        left = conn.execute(sa.text("SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'clinlm_%stage'")).scalar_one()
    mine = sorted((r.note_id, r.offset, r.lexical_variant) for r in rows if r.nlp_system == system)
    assert mine == expected_entities(tmp_path, tiny_tagger)
    assert [r.lexical_variant for r in rows if r.nlp_system == "other"] == ["kept"]
    assert len({r.note_nlp_id for r in rows}) == len(rows) and min(r.note_nlp_id for r in rows if r.nlp_system == system) > 2
    assert left == 0
