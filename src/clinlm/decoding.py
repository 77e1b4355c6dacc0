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


def viterbi(logprobs: np.ndarray, start: np.ndarray, trans: np.ndarray, scores: np.ndarray | None = None) -> np.ndarray:
    """Best label path under the IOB2 constraints (no ``I-X`` without a preceding ``X``), plus,
    when given, soft transition ``scores[i, j]`` for each allowed move (learned transitions:
    :mod:`clinlm.tasks.ner.transitions`; the programme then runs between anchor words,
    :func:`_soft_viterbi`).

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
    if scores is not None:
        return _soft_viterbi(logprobs, start, trans, scores)
    free = _free(trans)
    best = logprobs.argmax(axis=1)
    cuts = _cuts(logprobs, trans)
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


def _cuts(logprobs: np.ndarray, trans: np.ndarray) -> np.ndarray:
    """Words where no best path has a constrained label: for each constrained label ``j``, one of
    its stand-ins scores strictly higher there."""
    n = len(logprobs)
    ok = np.ones(n, dtype=bool)
    for j, subs in _stand_ins(trans).items():
        if not len(subs):
            return np.zeros(n, dtype=bool)
        ok &= logprobs[:, subs].max(axis=1) > logprobs[:, j]
    return ok


#: per constraint matrix, each constrained label's stand-ins (the same for every note a pipeline decodes)
_STAND_INS: dict[bytes, dict[int, np.ndarray]] = {}


def _stand_ins(trans: np.ndarray) -> dict[int, np.ndarray]:
    """For each constrained label ``j`` (one not every label may precede, ``I-X``), the labels that
    may stand in for it: any label may precede them and they may precede everything ``j`` may
    (``B-X``)."""
    key = trans.tobytes() + bytes(str(trans.shape), "ascii")
    if key not in _STAND_INS:
        free = _free(trans)
        _STAND_INS[key] = {int(j): np.flatnonzero(free & (trans >= trans[j]).all(axis=1)) for j in np.flatnonzero(~free)}
    return _STAND_INS[key]


def _soft_viterbi(logprobs: np.ndarray, start: np.ndarray, trans: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """:func:`viterbi` with soft transition scores: the programme runs between *anchors*, words
    whose label every best path shares. A word is an anchor for its best label ``k`` (one any
    label may follow) when swapping any other label there for ``k`` (and an ``I-Y`` after it for
    its ``B-Y``) gains more than the transition scores can take back: a lower bound from the
    word's margin, the next word's ``B-Y`` against ``I-Y`` and the scores' worst differences."""
    n, n_labels = logprobs.shape
    key = (trans.tobytes(), np.ascontiguousarray(scores, dtype=np.float32).tobytes())
    if key not in _BOUNDS:
        if len(_BOUNDS) > 8:
            _BOUNDS.clear()
        _BOUNDS[key] = _anchor_bounds(trans, scores)
    bound = _BOUNDS[key]
    if bound is None:
        return _viterbi_dp(logprobs, start, trans, scores)
    first, after, sub, step = bound
    best = logprobs.argmax(axis=1)
    top = logprobs[np.arange(n), best]
    second = np.partition(logprobs, -2, axis=1)[:, -2] if n_labels > 1 else np.full(n, -np.inf)
    gain = (top - second).astype(np.float64)
    gain[1:] += first[best[1:]]  # what the move into the anchor may lose (no move into word 0)
    nxt = np.zeros(n)
    bound_labels = np.flatnonzero(sub >= 0)
    if n > 1:
        follow = after[best[:-1]]  # [n-1]: worst loss on the move out of the anchor, next label kept
        if len(bound_labels):
            turned = (logprobs[1:, sub[bound_labels]] - logprobs[1:, bound_labels]) + step[best[:-1]][:, bound_labels]
            follow = np.minimum(follow, turned.min(axis=1))
        nxt[:-1] = follow
    ok = (gain + nxt > 1e-4) & _free(trans)[best]
    ok[0] &= bool(start[best[0]])
    anchors = np.flatnonzero(ok)
    if not len(anchors):
        return _viterbi_dp(logprobs, start, trans, scores)
    path = np.full(n, -1, dtype=np.int64)
    path[anchors] = best[anchors]
    one = np.eye(n_labels, dtype=bool)
    if anchors[0] > 0:  # before the first anchor
        path[: anchors[0] + 1] = _viterbi_dp(logprobs[: anchors[0] + 1], start, trans, scores, one[best[anchors[0]]])
    if anchors[-1] < n - 1:  # after the last one
        path[anchors[-1] :] = _viterbi_dp(logprobs[anchors[-1] :], one[best[anchors[-1]]], trans, scores)
    gaps = np.flatnonzero(np.diff(anchors) > 1)
    _between(logprobs, best, anchors[gaps], anchors[gaps + 1], trans, scores, path)
    return path


def _between(logprobs: np.ndarray, best: np.ndarray, lefts: np.ndarray, rights: np.ndarray, trans: np.ndarray,
             scores: np.ndarray, path: np.ndarray) -> None:
    """The programme between pairs of anchors, all pieces of one length at once (the same
    operations, in the same order, as :func:`_viterbi_dp` on each piece with both ends fixed)."""
    neg = np.float32(-1e9)
    penalty = np.where(trans, scores, neg).astype(np.float32)
    lengths = rights - lefts - 1
    for m in np.unique(lengths):
        pick = lengths == m
        a, b = lefts[pick], rights[pick]
        g = len(a)
        x = logprobs[a[:, None] + 1 + np.arange(m)]  # [pieces, m, labels]
        ka, kb = best[a], best[b]
        score = (logprobs[a, ka][:, None] + penalty[ka]) + x[:, 0]
        back = np.zeros((g, m, len(penalty)), dtype=np.int64)
        for t in range(1, m):
            cand = score[:, :, None] + penalty
            back[:, t] = cand.argmax(axis=1)
            score = np.take_along_axis(cand, back[:, t][:, None, :], axis=1)[:, 0] + x[:, t]
        cur = (score + penalty[:, kb].T).argmax(axis=1)
        rows = np.arange(g)
        labels = np.empty((g, m), dtype=np.int64)
        labels[:, m - 1] = cur
        for t in range(m - 1, 0, -1):
            cur = back[rows, t, cur]
            labels[:, t - 1] = cur
        path[a[:, None] + 1 + np.arange(m)] = labels


#: the anchor bounds of a (constraints, scores) pair: a pipeline decodes every note with the same pair
_BOUNDS: dict = {}


def _free(trans: np.ndarray) -> np.ndarray:
    return trans.all(axis=0)


def _anchor_bounds(trans: np.ndarray, scores: np.ndarray):
    """Per anchor label ``k``: ``first[k]``, the worst ``S(i, k) - S(i, j)`` over allowed moves
    ``i -> j`` (j != k); ``after[k]``, the worst ``S(k, m) - S(j, m)`` over labels ``m`` both may
    precede; and, for a label ``m`` the anchor may not precede (``I-Y``), its stand-in ``sub[m]``
    (``B-Y``; -1 where none is needed) and ``step[k, m]``, the worst change of the scores around
    the word when ``m`` turns into ``sub[m]``. ``None`` where some label has no stand-in."""
    n = len(trans)
    free = _free(trans)
    big = np.float64(1e18)
    s = scores.astype(np.float64)
    sub = np.full(n, -1, dtype=np.int64)
    for m, cands in _stand_ins(trans).items():
        if len(cands) != 1:  # the bound below assumes one stand-in per label
            return None
        sub[m] = cands[0]
    first = np.zeros(n)
    after = np.zeros(n)
    step = np.zeros((n, n))
    for k in range(n):
        if not free[k]:
            continue
        # moves i -> j with j != k: S(i, k) - S(i, j)
        diff = np.where(trans, s[:, [k]] - s, big)
        diff[:, k] = big
        first[k] = diff.min()
        # m after both k and j (j != k): S(k, m) - S(j, m)
        both = trans & trans[k][None, :]
        d2 = np.where(both, s[[k], :] - s, big)
        d2[k, :] = big
        after[k] = min(d2.min(), 0.0) if np.isfinite(d2.min()) else 0.0
        for m in np.flatnonzero(~trans[k]):
            b = sub[m]
            preds = trans[:, m].copy()
            preds[k] = False
            into = s[k, b] - (s[preds, m].max() if preds.any() else 0.0)
            succ = trans[m]
            out = (s[b, succ] - s[m, succ]).min() if succ.any() else 0.0
            step[k, m] = into + min(out, 0.0)
    first = np.minimum(first, 0.0)
    return first, after, sub, step


def _viterbi_dp(logprobs: np.ndarray, start: np.ndarray, trans: np.ndarray, scores: np.ndarray | None = None,
                end: np.ndarray | None = None) -> np.ndarray:
    """The whole dynamic programme over ``logprobs`` (``scores``: soft transition scores, or none;
    ``end``: the labels the last word may take, or any)."""
    n, n_labels = logprobs.shape
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    neg = np.float32(-1e9)
    penalty = np.where(trans, np.float32(0) if scores is None else scores, neg).astype(np.float32)
    score = np.where(start, logprobs[0], neg).astype(np.float32)
    back = np.zeros((n, n_labels), dtype=np.int32)
    for t in range(1, n):
        cand = score[:, None] + penalty
        back[t] = cand.argmax(axis=0)
        score = cand[back[t], np.arange(n_labels)] + logprobs[t]
    path = np.empty(n, dtype=np.int64)
    path[-1] = int(np.where(end, score, -np.inf).argmax() if end is not None else score.argmax())
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path
