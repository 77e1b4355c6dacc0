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
    """Best label path under the IOB2 constraints (no ``I-X`` without a preceding ``X``).

    The dynamic programme runs only where it can change something. Most words settle themselves:
    at a word where every constrained label (``I-X``) scores below a label that may stand in for it
    (``B-X``: it may follow anything and precede whatever ``I-X`` may), no best path puts a
    constrained label there, so the note splits into independent pieces at that word; and in a
    piece whose per-word best labels already follow the constraints, those labels are its best
    path. The programme then runs on the few pieces left (about one word in ten in whole notes;
    a step costs numpy's call overhead, so this is where decoding spent its time). The path is
    the full programme's (tested), up to exact ties between paths."""
    n, n_labels = logprobs.shape
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    free = trans.all(axis=0)  # labels any label may precede
    best = logprobs.argmax(axis=1)
    cuts = _cuts(logprobs, free, trans)
    cuts[0] = True
    bad = np.zeros(n, dtype=bool)
    bad[1:] = ~trans[best[:-1], best[1:]]
    bad[0] = not start[best[0]]
    if not bad.any():
        return best.astype(np.int64)
    piece = np.cumsum(cuts) - 1  # the piece of every word
    starts = np.flatnonzero(cuts)
    ends = np.append(starts[1:], n)
    path = best.astype(np.int64)
    for k in np.unique(piece[bad]):
        a, b = int(starts[k]), int(ends[k])
        path[a:b] = _viterbi_dp(logprobs[a:b], start if a == 0 else free, trans)
    return path


def _cuts(logprobs: np.ndarray, free: np.ndarray, trans: np.ndarray) -> np.ndarray:
    """Words where no best path has a constrained label: for each constrained label ``j``, some
    free label ``k`` that may precede everything ``j`` may precede scores strictly higher there."""
    n = len(logprobs)
    ok = np.ones(n, dtype=bool)
    for j in np.flatnonzero(~free):
        subs = np.flatnonzero(free & (trans >= trans[j]).all(axis=1))
        if not len(subs):
            return np.zeros(n, dtype=bool)
        ok &= logprobs[:, subs].max(axis=1) > logprobs[:, j]
    return ok


def _viterbi_dp(logprobs: np.ndarray, start: np.ndarray, trans: np.ndarray) -> np.ndarray:
    """The whole dynamic programme over ``logprobs``."""
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
