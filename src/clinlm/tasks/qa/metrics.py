"""Extractive QA scores: SQuAD v1.1's exact match and token F1 after its answer normalisation."""
from __future__ import annotations

import re
import string
from collections import Counter
from typing import Sequence

def normalize_answer(text: str) -> str:
    """SQuAD v1.1 normalisation: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def token_f1(pred: str, gold: str) -> float:
    p, g = normalize_answer(pred).split(), normalize_answer(gold).split()
    common = sum((Counter(p) & Counter(g)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def squad_scores(golds: Sequence[Sequence[str]], preds: Sequence[str]) -> dict[str, float]:
    """Exact match and token F1 in percent, each the max over a question's gold answers."""
    em = f1 = 0.0
    for answers, pred in zip(golds, preds):
        em += max(float(normalize_answer(pred) == normalize_answer(a)) for a in answers)
        f1 += max(token_f1(pred, a) for a in answers)
    n = len(preds)
    return {"exact_match": 100 * em / n if n else 0.0, "f1": 100 * f1 / n if n else 0.0, "n": n}
