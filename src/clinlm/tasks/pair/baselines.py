"""What a user gets with no fine-tuning, scored beside every pair-task figure.

A fine-tuned score below these means the fine-tuning failed, so ``clinlm evaluate`` prints them
next to the model's and flags the gap:

- **majority class** (NLI, PubMedQA): the most frequent *training* label, predicted for every pair;
- **zero-shot cosine** (STS): the untrained base encoder's mean-pooled cosine;
- **cosine threshold** (two-class NLI such as RQE): that cosine, with the one threshold that best
  separates the *training* pairs.

What a baseline learns from data (the majority label, the threshold) is fitted on the training
data at training time and kept in ``clinlm.json``; evaluation never looks at gold labels to fit it.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

from clinlm.tasks.pair.data import PairExample
from clinlm.tasks.pair.metrics import classification_scores, correlation_scores

MAJORITY = "majority class"
ZERO_SHOT = "zero-shot cosine"
THRESHOLD = "cosine threshold"


def zero_shot_cosines(base_model: str, examples: Sequence[PairExample], max_length: int = 128) -> list[float]:
    """The untrained base encoder's cosine of each pair (mean pooling)."""
    from clinlm.tasks.pair.biencoder import cosines, load_bi_encoder

    model, tokenizer = load_bi_encoder(base_model)
    return cosines(model, tokenizer, [(e.text_a, e.text_b) for e in examples], max_length)


def best_threshold(cosines: Sequence[float], positive: Sequence[bool]) -> tuple[float, float]:
    """``(threshold, accuracy)``: the cut between sorted cosines that classifies the most pairs
    right as ``cosine >= threshold`` ⇔ positive."""
    pairs = sorted(zip(cosines, positive))
    n, pos_total = len(pairs), sum(positive)
    best_acc, best_t = pos_total / n, pairs[0][0] - 1e-6  # everything positive
    neg_below = pos_below = 0
    for i, (c, is_pos) in enumerate(pairs):
        pos_below += is_pos
        neg_below += not is_pos
        if i + 1 < n and pairs[i + 1][0] == c:
            continue
        acc = (neg_below + pos_total - pos_below) / n
        if acc > best_acc:
            nxt = pairs[i + 1][0] if i + 1 < n else c + 1e-6
            mid = (c + nxt) / 2  # between neighbouring floats it rounds to one of them: then the upper one cuts
            best_acc, best_t = acc, mid if c < mid else nxt
    return best_t, best_acc


def fit(kind: str, base_model: str, train: Sequence[PairExample], max_length: int = 128) -> dict[str, Any]:
    """The baselines' parameters from the training data (kept in ``clinlm.json``)."""
    fitted: dict[str, Any] = {"base_model": base_model}
    if kind == "sts":
        return fitted
    counts = Counter(str(e.label) for e in train if e.label is not None)
    fitted["majority"] = {"label": counts.most_common(1)[0][0], "train_counts": dict(counts)}
    if kind == "nli" and len(counts) == 2:
        cos = zero_shot_cosines(base_model, train, max_length)
        labels = [str(e.label) for e in train]
        mean = {lab: sum(c for c, g in zip(cos, labels) if g == lab) / counts[lab] for lab in counts}
        positive = max(mean, key=mean.get)
        negative = min(mean, key=mean.get)
        t, acc = best_threshold(cos, [g == positive for g in labels])
        fitted["threshold"] = {"threshold": t, "positive": positive, "negative": negative, "train_accuracy": acc}
    return fitted


def score(kind: str, fitted: dict[str, Any], gold: Sequence[PairExample], max_length: int = 128) -> dict[str, Any]:
    """Each baseline's metrics on ``gold`` (same keys as the model's), or ``{"unavailable": why}``."""
    out: dict[str, Any] = {}
    labels = [e.label for e in gold]
    if "majority" in fitted:
        maj = fitted["majority"]["label"]
        out[MAJORITY] = dict(classification_scores([str(x) for x in labels], [maj] * len(gold),
                                                   sorted(fitted["majority"]["train_counts"])), label=maj)
    need_cosine = kind == "sts" or "threshold" in fitted
    if need_cosine:
        try:
            cos = zero_shot_cosines(fitted["base_model"], gold, max_length)
        except Exception as exc:  # the base model may be gone or offline: say so, never fail the evaluation
            reason = " ".join(str(exc).split())[:200]
            out[ZERO_SHOT if kind == "sts" else THRESHOLD] = {"unavailable": f"cannot load {fitted['base_model']}: {reason}"}
            return out
        if kind == "sts":
            out[ZERO_SHOT] = correlation_scores([float(x) for x in labels], cos)
        else:
            th = fitted["threshold"]
            pred = [th["positive"] if c >= th["threshold"] else th["negative"] for c in cos]
            out[THRESHOLD] = dict(classification_scores([str(x) for x in labels], pred, sorted({th["positive"], th["negative"]})),
                                  threshold=th["threshold"])
    return out

