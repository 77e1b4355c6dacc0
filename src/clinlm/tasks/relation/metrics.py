"""Relation scores: exact match of both arguments and the label, micro and per type."""
from __future__ import annotations

from collections import Counter
from typing import Sequence

from clinlm.document import Document
from clinlm.metrics import prf

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
