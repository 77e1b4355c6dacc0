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


def mapped_scores(gold: Sequence[Document], pred: Sequence[Document], mapping: dict[str, Sequence[str]]) -> dict:
    """Scores against a gold set annotated in other types than the model's (BC5CDR, NCBI-disease).

    For each gold type ``S`` that ``mapping`` sends to model labels ``L`` (types mapped to nothing
    are skipped), the predictions that count are those labelled in ``L``:

    - ``exact``: P/R/F1 of spans (start, end) between gold ``S`` mentions and predictions in ``L``;
    - ``overlap``: recall = share of gold ``S`` mentions that a prediction in ``L`` overlaps (shares a
      character with), precision = share of predictions in ``L`` that overlap a gold ``S`` mention;
    - ``overlap_any_label``: recall by overlap with a prediction of any label (was the span found at all?).

    With several types, ``all`` pools them (gold: every mapped mention; labels: the union). A
    prediction that overlaps no ``S`` mention but a mention of another type whose labels include its
    label (NCBI's four types all map to the disease labels) is left out of ``S``'s precision: it is
    that type's hit, not an error of ``S``. Precision is a lower bound when ``L`` holds more than
    ``S`` (T103 Chemical includes the proteins BC5CDR leaves out). Documents pair by position, so
    repeated ids (NCBI's PMID 8528200) are fine.
    """
    groups = {t: list(dict.fromkeys(ls)) for t, ls in mapping.items() if ls}
    if len(groups) > 1:
        groups["all"] = list(dict.fromkeys(l for ls in groups.values() for l in ls))
    out: dict[str, dict] = {}
    for typ, labels in groups.items():
        types = set(groups) - {"all"} if typ == "all" else {typ}
        wanted = set(labels)
        n_g = n_p = tp_over_g = tp_over_p = any_g = 0
        g_spans: Counter = Counter()
        p_spans: Counter = Counter()
        for k, (gd, pd) in enumerate(zip(gold, pred)):
            g = [e for e in gd.entities if e.label in types]
            others = [e for e in gd.entities if e.label in groups and e.label not in types and typ != "all"]
            p = [e for e in pd.entities if e.label in wanted
                 and not _explained_elsewhere(e, g, others, groups)]
            n_g += len(g)
            n_p += len(p)
            g_spans.update((k, e.start, e.end) for e in g)
            p_spans.update((k, e.start, e.end) for e in p)
            tp_over_g += sum(1 for e in g if any(_overlap(e, o) for o in p))
            tp_over_p += sum(1 for e in p if any(_overlap(e, o) for o in g))
            any_g += sum(1 for e in g if any(_overlap(e, o) for o in pd.entities))
        exact = prf(sum((g_spans & p_spans).values()), n_p, n_g)
        p_o = tp_over_p / n_p if n_p else 0.0
        r_o = tp_over_g / n_g if n_g else 0.0
        out[typ] = {
            "labels": labels,
            "support": n_g,
            "predicted": n_p,
            "exact": exact,
            "overlap": {"precision": p_o, "recall": r_o, "f1": 2 * p_o * r_o / (p_o + r_o) if p_o + r_o else 0.0,
                        "support": n_g},
            "overlap_any_label": {"recall": any_g / n_g if n_g else 0.0, "support": n_g},
        }
    return out


def _overlap(a: Entity, b: Entity) -> bool:
    return a.start < b.end and b.start < a.end


def _explained_elsewhere(p: Entity, same: Sequence[Entity], others: Sequence[Entity], groups: dict) -> bool:
    return not any(_overlap(p, g) for g in same) and any(
        _overlap(p, o) and p.label in groups[o.label] for o in others)
