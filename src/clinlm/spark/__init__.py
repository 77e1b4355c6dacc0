"""Spark for corpus scale (layer 5, a shell over the public API like the CLI): notes in a DataFrame,
NOTE_NLP-shaped rows out, the one pipeline loaded once per Python worker (:mod:`clinlm.spark.job`;
pyspark is the ``clinlm[spark]`` extra, imported only when used)."""
from __future__ import annotations

from typing import Any


def annotate(df: Any, id_col: str = "note_id", text_col: str = "note_text", model: str | None = None, **options: Any):
    """``clinlm.spark.annotate(df, id_col="note_id", text_col="note_text", model=DIR)``: see
    :func:`clinlm.spark.job.annotate`."""
    from clinlm.spark.job import annotate as run

    return run(df, id_col=id_col, text_col=text_col, model=model, **options)


__all__ = ["annotate"]
