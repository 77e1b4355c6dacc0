"""Subword encoding of whole documents and the overlapping windows that cover them.

Everything here is derived from a text and a tokenizer: words (``clinlm.text``),
their subwords, and windows of at most ``max_length`` tokens. Windows overlap
by ``stride`` subwords and together cover every subword, so no word is ever
dropped; each word is later read from the window where it has most context.
"""
from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from clinlm.errors import ConfigError
from clinlm.text import Words, words


@dataclass
class Encoded:
    """One document as subwords: ``word_ids[k]`` is the word of subword ``k``."""

    words: Words
    input_ids: np.ndarray  # int64 [n_subwords], no special tokens
    word_ids: np.ndarray  # int64 [n_subwords]
    first_subword: np.ndarray  # int64 [n_words], -1 for a word the tokenizer drops


#: what the model reads at a block break that no punctuation marks (see :func:`encode`)
SEPARATOR = "."


def encode(tokenizer, texts: Sequence[str], breaks: Sequence[Sequence[int]] | None = None) -> list[Encoded]:
    """Pre-tokenize texts into words and align them to subwords in one batched call.

    ``breaks[i]``: character offsets in ``texts[i]`` where the model should read the end of a
    sentence although the text has no punctuation there (a list item on its own line, a header
    without a colon): a :data:`SEPARATOR` token goes before the first word at or after each. It is
    context only: it belongs to no word (its ``word_ids`` entry is -1), so offsets, words and
    labels are untouched."""
    ws = [words(t) for t in texts]
    out: list[Encoded] = []
    nonempty = [i for i, w in enumerate(ws) if len(w)]
    strings, real = {}, {}  # per text: the words the tokenizer reads, and each one's word index (-1: a separator)
    for i in nonempty:
        before = sorted({bisect_left(ws[i].starts, b) for b in (breaks[i] if breaks else ())} - {0, len(ws[i])})
        strings[i], real[i] = ws[i].strings(), np.arange(len(ws[i]), dtype=np.int64)
        if before:
            for k in reversed(before):
                strings[i].insert(k, SEPARATOR)
            real[i] = np.insert(real[i], np.asarray(before, dtype=np.int64), -1)
    batch = (
        tokenizer(
            [strings[i] for i in nonempty],
            is_split_into_words=True,
            add_special_tokens=False,
            truncation=False,
            verbose=False,
        )
        if nonempty
        else None
    )
    pos = {i: k for k, i in enumerate(nonempty)}
    for i, w in enumerate(ws):
        if i not in pos:
            empty = np.zeros(0, dtype=np.int64)
            out.append(Encoded(w, empty, empty, empty))
            continue
        k = pos[i]
        ids = np.asarray(batch["input_ids"][k], dtype=np.int64)
        wid = np.asarray([-1 if x is None else real[i][x] for x in batch.word_ids(k)], dtype=np.int64)
        first = np.full(len(w), -1, dtype=np.int64)
        # reversed assignment leaves the smallest subword index per word
        idx = np.arange(len(wid) - 1, -1, -1)
        idx = idx[wid[idx] >= 0]
        first[wid[idx]] = idx
        out.append(Encoded(w, ids, wid, first))
    return out


def plan(n_subwords: int, content_length: int, stride: int) -> list[tuple[int, int]]:
    """Window ranges over ``n_subwords``: each at most ``content_length`` long,
    consecutive windows overlapping by ``stride``, the last one full-length."""
    if content_length < 1:
        raise ConfigError("max length leaves no room for text after the special tokens")
    if not 0 <= stride < content_length:
        raise ConfigError(f"stride must be between 0 and {content_length - 1} (the window's text length), got {stride}")
    if n_subwords <= content_length:
        return [(0, n_subwords)] if n_subwords else []
    step = content_length - stride
    spans = []
    start = 0
    while True:
        end = start + content_length
        if end >= n_subwords:
            spans.append((n_subwords - content_length, n_subwords))
            break
        spans.append((start, end))
        start += step
    return spans


def special_parts(tokenizer) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Token ids a model expects before and after a sequence (``[CLS]``/``[SEP]``, ``<s>``/``</s>``)."""
    plain = tokenizer("x", add_special_tokens=False)["input_ids"]
    full = tokenizer("x", add_special_tokens=True)["input_ids"]
    for i in range(len(full) - len(plain) + 1):
        if full[i : i + len(plain)] == plain:
            return tuple(full[:i]), tuple(full[i + len(plain) :])
    return (), ()


def content_length(tokenizer, max_length: int) -> int:
    pre, post = special_parts(tokenizer)
    return max_length - len(pre) - len(post)


def owners(enc: Encoded, spans: Sequence[tuple[int, int]]) -> np.ndarray:
    """For each word, the window (index into ``spans``) where its first subword has most context; -1 if none.

    Window starts and ends both increase, so the windows holding a position form a contiguous
    run ``[first, last]``; runs are short (about length / (length - stride)), so this is O(words).
    """
    f = enc.first_subword
    best = np.full(len(f), -1, dtype=np.int64)
    if not spans or not len(f):
        return best
    starts = np.array([s for s, _ in spans], dtype=np.int64)
    ends = np.array([e for _, e in spans], dtype=np.int64)
    first = np.searchsorted(ends, f, side="right")  # first window ending after f
    last = np.searchsorted(starts, f, side="right") - 1  # last window starting at or before f
    best_ctx = np.full(len(f), -1, dtype=np.int64)
    for k in range(int((last - first).max(initial=0)) + 1):
        j = first + k
        ok = (f >= 0) & (j <= last)
        jj = np.where(ok, j, 0)
        ctx = np.where(ok, np.minimum(f - starts[jj], ends[jj] - 1 - f), -1)
        better = ctx > best_ctx
        best[better] = jj[better]
        best_ctx[better] = ctx[better]
    return best
