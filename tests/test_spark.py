"""Spark on local[2]: NOTE_NLP rows equal to what ``clinlm annotate`` finds, entity for entity."""
from __future__ import annotations

import json
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
    session = (pyspark.sql.SparkSession.builder.master("local[2]").appName("clinlm-test")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
               .config("spark.driver.bindAddress", "127.0.0.1").config("spark.sql.execution.arrow.maxRecordsPerBatch", "4")
               .getOrCreate())
    yield session
    session.stop()


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
