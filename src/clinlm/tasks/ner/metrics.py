"""NER scores: seqeval micro and per-type P/R/F1 (strict IOB2 and default mode) and character-span F1.

seqeval is always called as ``(y_true, y_pred)``: the seed model card's code had them swapped,
which swaps precision and recall.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

from seqeval.metrics import classification_report
from seqeval.scheme import IOB2

from clinlm.document import Document, Entity
from clinlm.metrics import prf

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
