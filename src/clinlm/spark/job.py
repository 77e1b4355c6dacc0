"""NOTE → NOTE_NLP on Spark: ``mapInPandas`` over Arrow batches of notes.

* The pipeline (:func:`clinlm.load`) is loaded once per Python worker (a module-level cache; Spark
  reuses its Python workers across tasks) with torch's threads set to the task's CPUs
  (``spark.task.cpus``).
* Within each Arrow batch the notes are sorted by length, so a pipeline batch holds notes of
  similar length (less padding); rows come back per note, order does not matter to a DataFrame.
* The rows are the columns of the CDM v5.4 ``NOTE_NLP`` table, made by the same mapping as the
  database job (:func:`clinlm.omop.mapping.note_nlp_rows`); ``note_nlp_id`` is left null: the
  table that receives the rows allocates ids (``clinlm omop run`` does that for a database).
* The model directory must be readable at the same path on every executor (a shared file system,
  or ``spark-submit --archives model.zip#model`` and ``model="model"``).
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Iterator

from clinlm.errors import ConfigError
from clinlm.omop.mapping import ConceptMap, Cuts, note_nlp_rows

#: NOTE_NLP's columns, in the CDM's order.
COLUMNS = ("note_nlp_id", "note_id", "section_concept_id", "snippet", "offset", "lexical_variant", "note_nlp_concept_id",
           "note_nlp_source_concept_id", "nlp_system", "nlp_date", "nlp_datetime", "term_exists", "term_temporal",
           "term_modifiers")

_PIPES: dict[tuple, Any] = {}  # per Python worker: (model, context, clean) -> pipeline


def note_nlp_schema():
    from pyspark.sql.types import DateType, IntegerType, LongType, StringType, StructField, StructType, TimestampType

    types = {"note_nlp_id": LongType(), "note_id": LongType(), "nlp_date": DateType(), "nlp_datetime": TimestampType()}
    for c in ("section_concept_id", "note_nlp_concept_id", "note_nlp_source_concept_id"):
        types[c] = IntegerType()
    return StructType([StructField(c, types.get(c, StringType()), c not in ("note_id", "lexical_variant", "nlp_date"))
                       for c in COLUMNS])


def model_location(model: str | None) -> str:
    """The model directory the workers load (the shipped default when ``None``)."""
    if model is None:
        from clinlm.tasks.ner.pipeline import DEFAULT_MODEL_DIR

        return str(DEFAULT_MODEL_DIR)
    return str(Path(model).resolve()) if Path(model).is_dir() else model


def nlp_system(model: str | None) -> str:
    from clinlm import __version__
    from clinlm.omop.job import nlp_system_for

    return nlp_system_for(model_location(model), __version__)


def _pipeline(model: str, context: bool, clean: bool, threads: int):
    key = (model, context, clean)
    if key not in _PIPES:
        import torch

        from clinlm import load

        torch.set_num_threads(max(1, threads))
        _PIPES[key] = load(model, device="cpu", context=context, clean=clean)
    return _PIPES[key]


def annotate(df: Any, id_col: str = "note_id", text_col: str = "note_text", model: str | None = None, *,
             batch_notes: int = 32, context: bool = True, clean: bool = True, concepts: ConceptMap | None = None,
             threads: int | None = None):
    """A DataFrame of NOTE_NLP rows for the notes of ``df`` (columns ``id_col``: whole numbers,
    ``text_col``: text). ``threads``: torch threads per task (default: ``spark.task.cpus``)."""
    missing = [c for c in (id_col, text_col) if c not in df.columns]
    if missing:
        raise ConfigError(f"the notes have no column {', '.join(map(repr, missing))} (columns: {', '.join(df.columns)})")
    if batch_notes < 1:
        raise ConfigError(f"batch_notes must be at least 1, not {batch_notes}")
    where = model_location(model)
    system = nlp_system(model)
    cmap = concepts or ConceptMap()

    def fn(batches: Iterator[Any]) -> Iterator[Any]:
        import pandas as pd
        from pyspark import TaskContext

        from clinlm.document import Document

        task = TaskContext.get()
        cpus = threads or (int(task.cpus()) if task is not None else 1)
        pipe = _pipeline(where, context, clean, cpus)
        today = dt.date.today()
        for pdf in batches:
            ids = [int(i) for i in pdf[id_col].tolist()]
            texts = ["" if t is None else str(t) for t in pdf[text_col].tolist()]
            order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
            now = dt.datetime.now().replace(microsecond=0)
            rows: list[dict] = []
            cuts = Cuts()
            docs = pipe.pipe((Document(str(ids[i]), texts[i]) for i in order), batch_size=batch_notes)
            for i, doc in zip(order, docs):
                rows += note_nlp_rows(ids[i], texts[i], doc.entities, system, cmap, cuts, today, now)
            out = pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "note_nlp_id"])
            out.insert(0, "note_nlp_id", pd.array([None] * len(out), dtype="Int64"))
            yield out

    return df.select(id_col, text_col).mapInPandas(fn, note_nlp_schema())
