"""Turning per-word label log-probabilities into a valid IOB2 tag sequence."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from clinlm.labels import split_tag


def allowed_transitions(labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Masks of IOB2-valid moves: ``start[j]`` may open a sequence, ``trans[i, j]`` may follow."""
    parts = [split_tag(t) for t in labels]
    start = np.array([p != "I" for p, _ in parts])
    trans = np.ones((len(labels), len(labels)), dtype=bool)
    for j, (pj, tj) in enumerate(parts):
        if pj == "I":
            for i, (pi, ti) in enumerate(parts):
                trans[i, j] = pi in ("B", "I") and ti == tj
    return start, trans


def viterbi(logprobs: np.ndarray, start: np.ndarray, trans: np.ndarray) -> np.ndarray:
    """Best label path under the IOB2 constraints (no ``I-X`` without a preceding ``X``)."""
    n, n_labels = logprobs.shape
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    neg = np.float32(-1e9)
    penalty = np.where(trans, np.float32(0), neg).astype(np.float32)
    score = np.where(start, logprobs[0], neg).astype(np.float32)
    back = np.zeros((n, n_labels), dtype=np.int32)
    for t in range(1, n):
        cand = score[:, None] + penalty
        back[t] = cand.argmax(axis=0)
        score = cand[back[t], np.arange(n_labels)] + logprobs[t]
    path = np.empty(n, dtype=np.int64)
    path[-1] = int(score.argmax())
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


