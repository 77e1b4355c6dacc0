"""Honest scores: NER by seqeval (strict and default mode, per type) and character spans;
relations by exact match of both arguments and the label.

seqeval is always called as ``(y_true, y_pred)``: the seed model card's code had
them swapped, which swaps precision and recall.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

from seqeval.metrics import classification_report
from seqeval.scheme import IOB2

from .document import Document, Entity


def prf(tp: int, n_pred: int, n_gold: int) -> dict[str, float]:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f, "support": n_gold}


def seqeval_scores(y_true: list[list[str]], y_pred: list[list[str]], strict: bool) -> dict:
    """Micro P/R/F1 and per-type scores from seqeval, in strict IOB2 or default (conlleval) mode."""
    kwargs = {"mode": "strict", "scheme": IOB2} if strict else {}
    rep = classification_report(y_true, y_pred, output_dict=True, zero_division=0, **kwargs)
    micro = rep.get("micro avg", {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 0})
    per_type = {
        k: {"precision": v["precision"], "recall": v["recall"], "f1": v["f1-score"], "support": int(v["support"])}
        for k, v in rep.items()
        if not k.endswith(" avg")
    }
    return {
        "precision": micro["precision"],
        "recall": micro["recall"],
        "f1": micro["f1-score"],
        "support": int(micro["support"]),
        "per_type": per_type,
    }


def span_scores(gold: Sequence[Document], pred: Sequence[Document]) -> dict:
    """Character-span scores: exact (same start, end, label) and overlap (same label, any shared char)."""
    g_keys: Counter = Counter()
    p_keys: Counter = Counter()
    overlap_p = overlap_g = 0
    n_p = n_g = 0
    for gd, pd in zip(gold, pred):
        g_keys.update((gd.id,) + e.key() for e in gd.entities)
        p_keys.update((pd.id,) + e.key() for e in pd.entities)
        n_g += len(gd.entities)
        n_p += len(pd.entities)
        overlap_p += sum(1 for e in pd.entities if _overlaps_any(e, gd.entities))
        overlap_g += sum(1 for e in gd.entities if _overlaps_any(e, pd.entities))
    tp = sum((g_keys & p_keys).values())
    exact = prf(tp, n_p, n_g)
    p = overlap_p / n_p if n_p else 0.0
    r = overlap_g / n_g if n_g else 0.0
    overlap = {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "support": n_g}
    return {"exact": exact, "overlap": overlap}


def _overlaps_any(e: Entity, others: Iterable[Entity]) -> bool:
    return any(o.label == e.label and o.start < e.end and e.start < o.end for o in others)


def relation_scores(gold: Sequence[Document], pred: Sequence[Document]) -> dict:
    """Micro P/R/F1 over relation types and per type: a predicted relation is right when its
    document, head span and type, tail span and type and label all match a gold one. Pairs
    without a relation are not relations, so "no relation" never counts (as in BLURB, DDI 2013)."""
    g_keys: Counter = Counter()
    p_keys: Counter = Counter()
    for gd, pd in zip(gold, pred):
        g_keys.update((gd.id,) + r.key() for r in gd.relations)
        p_keys.update((pd.id,) + r.key() for r in pd.relations)
    hits = g_keys & p_keys
    labels = sorted({k[-1] for k in g_keys} | {k[-1] for k in p_keys})

    def count(keys: Counter, label: str | None = None) -> int:
        return sum(n for k, n in keys.items() if label is None or k[-1] == label)

    return {
        "micro": prf(count(hits), count(p_keys), count(g_keys)),
        "per_type": {lab: prf(count(hits, lab), count(p_keys, lab), count(g_keys, lab)) for lab in labels},
        "documents": len(gold),
    }
