"""Precision, recall and F1 from counts: the one formula every task's scores use.

Each task keeps its own scores beside it (``tasks/ner/metrics.py``, ``tasks/relation/metrics.py``,
``tasks/pair/metrics.py``, ``tasks/qa/metrics.py``).
"""
from __future__ import annotations


def prf(tp: int, n_pred: int, n_gold: int) -> dict[str, float]:
    """Precision, recall, F1 and support (the gold count); 0.0 where a ratio is undefined."""
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f, "support": n_gold}
