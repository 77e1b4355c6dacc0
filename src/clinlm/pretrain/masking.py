"""Whole-word masking: the masked-LM objective's corruption of a packed sequence.

Whole words are chosen until about 15% of the maskable tokens are covered (a word is all of its
subwords or none of them; word boundaries come from the fast tokenizer's pre-tokenizer, stored in
the token cache as word-start flags). Of the chosen tokens 80% become ``[MASK]``, 10% a random
token and 10% stay; all of them are predicted. Special tokens ([CLS], [SEP], [PAD] ...) are never
chosen. The randomness comes from a generator the caller seeds per sequence, so a sequence is
masked the same way on any rank, in any run, resumed or not.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Masking:
    """The corruption's shares: chosen tokens, and among them [MASK] and random replacements."""

    rate: float = 0.15
    mask_share: float = 0.8
    random_share: float = 0.1


def word_index(ids: np.ndarray, starts: np.ndarray, special: np.ndarray) -> np.ndarray:
    """The word each token belongs to (0, 1, ...), -1 for special tokens. A word starts at a
    word-start flag or after a special token (a chunk's first token starts one too)."""
    is_special = np.isin(ids, special)
    begin = starts.astype(bool).copy()
    begin[1:] |= is_special[:-1]
    if len(begin):
        begin[0] = True
    begin &= ~is_special
    words = np.cumsum(begin) - 1
    words[is_special] = -1
    return words


def choose_words(words: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean per token: the tokens of words drawn in random order until their count comes nearest
    to ``rate`` of the maskable tokens (at least one word when there is one)."""
    n_words = int(words.max()) + 1 if len(words) else 0
    chosen = np.zeros(len(words), dtype=bool)
    if n_words == 0:
        return chosen
    lengths = np.bincount(words[words >= 0], minlength=n_words)
    target = rate * lengths.sum()
    order = rng.permutation(n_words)
    covered = np.cumsum(lengths[order])
    k = int(np.argmin(np.abs(covered - target))) + 1  # take the first k words of the order
    picked = np.zeros(n_words, dtype=bool)
    picked[order[:k]] = True
    chosen[words >= 0] = picked[words[words >= 0]]
    return chosen


def mask_sequence(ids: np.ndarray, starts: np.ndarray, special: np.ndarray, mask_id: int, vocab_size: int,
                  rng: np.random.Generator, masking: Masking = Masking()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(corrupted ids, positions predicted, their original ids)`` of one sequence."""
    chosen = choose_words(word_index(ids, starts, special), masking.rate, rng)
    positions = np.flatnonzero(chosen)
    labels = ids[positions].copy()
    corrupted = ids.copy()
    u = rng.random(len(positions))
    replace = u < masking.mask_share
    randomise = (u >= masking.mask_share) & (u < masking.mask_share + masking.random_share)
    corrupted[positions[replace]] = mask_id
    corrupted[positions[randomise]] = rng.integers(0, vocab_size, size=int(randomise.sum()))
    return corrupted, positions, labels
