"""Seeded splits: k-fold cross-validation (BIOSSES has no split) and a dev hold-out."""
from __future__ import annotations

import random
from typing import Sequence, TypeVar

from clinlm.errors import ConfigError

T = TypeVar("T")


def kfold(n: int, k: int, seed: int = 42) -> list[tuple[list[int], list[int]]]:
    """``k`` (train, test) index lists: a seeded shuffle cut into k folds whose sizes differ by
    at most one; every index is tested exactly once and never trained on in its own fold."""
    if k < 2 or k > n:
        raise ConfigError(f"--folds must be between 2 and the number of examples ({n}), not {k}")
    order = list(range(n))
    random.Random(seed).shuffle(order)
    folds = [sorted(order[i::k]) for i in range(k)]
    return [(sorted(set(order) - set(test)), test) for test in folds]


def holdout(items: Sequence[T], fraction: float, seed: int = 42) -> tuple[list[T], list[T]]:
    """``(rest, held_out)``: a seeded ``fraction`` of the items held out (at least one)."""
    if not 0 < fraction < 1:
        raise ConfigError(f"a hold-out fraction must be between 0 and 1, not {fraction}")
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    n_out = max(1, round(fraction * len(items)))
    out = set(order[:n_out])
    return [x for i, x in enumerate(items) if i not in out], [x for i, x in enumerate(items) if i in out]
