"""Scores of the pair and QA tasks: Pearson/Spearman (STS), accuracy and macro-F1 (NLI,
PubMedQA, multiple choice), and SQuAD's exact match and token F1 (extractive QA)."""
from __future__ import annotations

from collections import Counter
from typing import Sequence

from clinlm.metrics import prf


def correlation_scores(gold: Sequence[float], pred: Sequence[float]) -> dict[str, float]:
    """Pearson and Spearman (scipy.stats); 0.0 where one side is constant (undefined)."""
    from scipy.stats import pearsonr, spearmanr

    if len(gold) < 2 or len(set(gold)) < 2 or len(set(pred)) < 2:
        return {"pearson": 0.0, "spearman": 0.0, "n": len(gold)}
    return {"pearson": float(pearsonr(gold, pred)[0]), "spearman": float(spearmanr(gold, pred)[0]), "n": len(gold)}


def classification_scores(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str] | None = None) -> dict:
    """Accuracy, macro-F1 over ``labels`` (default: every label seen in gold or prediction;
    a class never predicted scores F1 0), per-class P/R/F1 and the predicted-label counts."""
    labels = sorted(set(gold) | set(pred)) if labels is None else list(labels)
    per_class = {}
    for lab in labels:
        tp = sum(1 for g, p in zip(gold, pred) if g == p == lab)
        per_class[lab] = prf(tp, sum(1 for p in pred if p == lab), sum(1 for g in gold if g == lab))
    n = len(gold)
    return {
        "accuracy": sum(g == p for g, p in zip(gold, pred)) / n if n else 0.0,
        "macro_f1": sum(m["f1"] for m in per_class.values()) / len(per_class) if per_class else 0.0,
        "per_class": per_class,
        "predicted": dict(Counter(pred)),
        "n": n,
    }
