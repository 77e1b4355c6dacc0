"""Packed sequences and the order they are read in.

The token stream (documents separated by ``[SEP]``) is cut into chunks of ``L - 1`` tokens and each
chunk gets a ``[CLS]`` in front: every sequence is ``L`` tokens long, documents run on across
sequence boundaries, nothing is padded, and every token of every document is in exactly one chunk
per epoch (the epoch's last chunk is the only one that may be shorter).

The order is a seeded permutation of the chunks per epoch, computed on the fly (a Feistel network with
cycle walking), so it needs no memory however large the corpus and depends only on the position:
a resumed run reads exactly what an uninterrupted one would, and so does any number of ranks.
Within an optimizer step the ``E`` positions of the effective batch are dealt out by stride: rank ``r``
of ``W`` takes every ``W``-th sequence of each micro-batch.
"""
from __future__ import annotations

import math

import numpy as np

from clinlm.pretrain.tokens import TokenStream

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def chunk_count(n_tokens: int, length: int) -> int:
    """Sequences of ``length`` (``[CLS]`` + ``length - 1`` tokens) that cover ``n_tokens``."""
    return math.ceil(n_tokens / (length - 1)) if n_tokens else 0


def chunk_span(chunk: int, n_tokens: int, length: int) -> tuple[int, int]:
    """The stream positions ``[start, stop)`` of chunk ``chunk``."""
    start = chunk * (length - 1)
    return start, min(n_tokens, start + length - 1)


def sequence(stream: TokenStream, chunk: int, length: int, cls_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and word-start flags of one packed sequence: ``[CLS]`` and its chunk of the stream."""
    ids, starts = stream.read(*chunk_span(chunk, len(stream), length))
    return np.concatenate([[cls_id], ids]).astype(np.int64), np.concatenate([[True], starts])


class Permutation:
    """A pseudo-random permutation of ``range(n)`` without a table: a 4-round Feistel network on the
    smallest even number of bits that holds ``n``, walked until the value falls below ``n``."""

    def __init__(self, n: int, key: tuple[int, ...]):
        self.n = n
        bits = max(2, math.ceil(math.log2(max(n, 2))))
        bits += bits % 2
        self.half = bits // 2
        self.mask = np.uint64((1 << self.half) - 1)
        self.keys = np.random.default_rng(list(key)).integers(0, 2**63, size=4, dtype=np.uint64)

    def _round(self, x: np.ndarray) -> np.ndarray:
        left, right = x >> np.uint64(self.half), x & self.mask
        for k in self.keys:
            f = (right ^ k) * _GOLDEN
            f ^= f >> np.uint64(29)
            left, right = right, (left ^ f) & self.mask
        return (left << np.uint64(self.half)) | right

    def __call__(self, index: np.ndarray | int) -> np.ndarray:
        x = self._round(np.asarray(index, dtype=np.uint64).reshape(-1))
        n = np.uint64(self.n)
        while True:
            out = x >= n
            if not out.any():
                return x.astype(np.int64)
            x[out] = self._round(x[out])


def chunks_at(positions: np.ndarray, n_chunks: int, seed: int, phase: int) -> tuple[np.ndarray, np.ndarray]:
    """Epoch and chunk of each global position (``position // n_chunks`` is the epoch; within an
    epoch, the permutation seeded by ``(seed, phase, epoch)``)."""
    positions = np.asarray(positions, dtype=np.int64)
    epochs, index = positions // n_chunks, positions % n_chunks
    chunks = np.empty_like(positions)
    for epoch in np.unique(epochs):
        sel = epochs == epoch
        chunks[sel] = Permutation(n_chunks, (seed, phase, int(epoch)))(index[sel])
    return epochs, chunks


def micro_positions(step: int, micro: int, rank: int, world: int, batch: int, accum: int) -> np.ndarray:
    """Global positions that rank ``rank`` reads for micro-batch ``micro`` of optimizer step ``step``
    (``step`` counted from the start of the phase): disjoint across ranks and micro-batches, and
    together the step's ``batch * accum * world`` positions."""
    effective = batch * accum * world
    base = step * effective + micro * batch * world
    return base + np.arange(batch, dtype=np.int64) * world + rank


def step_positions(step: int, effective: int) -> np.ndarray:
    """All positions of optimizer step ``step``: what every rank together reads."""
    return step * effective + np.arange(effective, dtype=np.int64)
