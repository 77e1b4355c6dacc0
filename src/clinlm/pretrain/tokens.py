"""The token cache: the corpus tokenized once into numpy shards on disk, reused by every later run.

Tokenizing a large corpus takes longer than many training runs, and holding it in memory is out of
the question, so the text is streamed through the fast tokenizer once and written as shards of
token ids (``uint16`` when the vocabulary fits, else ``uint32``) with a parallel ``uint8`` shard of
word-start flags (for whole-word masking). Documents follow each other separated by the
tokenizer's ``[SEP]``; held-out documents (see :func:`clinlm.pretrain.corpus.heldout`) go to a
stream of their own. Training reads the shards as memory maps.

The cache folder is named by a key over the corpus fingerprint, the tokenizer and the settings
that change the tokens, so a second run with the same inputs opens it at once, and any change makes
a new one. It is built in a temporary folder and renamed into place when complete.
The cache **is the corpus** (token ids turn back into text): it is created readable by its owner only.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clinlm.errors import InputError
from clinlm.pretrain.corpus import ReadStats, Source, blocks, fingerprint, heldout

CACHE_VERSION = 1
#: Tokens per shard file (64 Mi tokens: 128 MiB of uint16 ids).
SHARD_TOKENS = 1 << 26
SPLITS = ("train", "heldout")
META = "meta.json"
#: Blocks of text handed to the tokenizer at once (it tokenizes a batch in parallel).
BATCH_CHARS = 4 << 20


def default_cache_dir() -> Path:
    """``$CLINLM_CACHE_DIR``, else ``$XDG_CACHE_HOME/clinlm/pretrain``, else ``~/.cache/clinlm/pretrain``."""
    if os.environ.get("CLINLM_CACHE_DIR"):
        return Path(os.environ["CLINLM_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "clinlm" / "pretrain"


def plain_backend(tokenizer):
    """The fast tokenizer's Rust tokenizer without truncation or padding (a saved ``tokenizer.json``
    may carry either, e.g. sentence-transformers' 128-token truncation, which would cut documents)."""
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.no_truncation()
    backend.no_padding()
    return backend


def tokenizer_fingerprint(tokenizer) -> str:
    """sha256 of the tokenizer's definition (vocabulary, normalizer incl. case, pre-tokenizer)."""
    return "sha256:" + hashlib.sha256(plain_backend(tokenizer).to_str().encode()).hexdigest()


def cache_key(corpus_fp: str, tokenizer_fp: str, text_field: str, heldout_fraction: float) -> str:
    settings = json.dumps([CACHE_VERSION, corpus_fp, tokenizer_fp, text_field, float(heldout_fraction)])
    return hashlib.sha256(settings.encode()).hexdigest()[:32]


def special_ids(tokenizer) -> list[int]:
    """Ids never masked: the tokenizer's special tokens ([CLS], [SEP], [PAD], [MASK], [UNK] ...)."""
    return sorted({i for i in tokenizer.all_special_ids if i is not None})


class TokenStream:
    """One split's tokens as memory maps: ``read(a, b)`` gives ids and word-start flags of ``[a, b)``."""

    def __init__(self, folder: Path, split: str, sizes: Sequence[int], dtype: str):
        self.sizes = list(sizes)
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes, dtype=np.int64)]).astype(np.int64)
        self._ids = [np.memmap(folder / f"{split}-{i:05d}.ids", dtype=dtype, mode="r") if n else np.zeros(0, dtype)
                     for i, n in enumerate(self.sizes)]
        self._starts = [np.memmap(folder / f"{split}-{i:05d}.starts", dtype=np.uint8, mode="r") if n else np.zeros(0, np.uint8)
                        for i, n in enumerate(self.sizes)]

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def read(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Token ids (int64) and word-start flags (bool) of tokens ``start`` up to ``stop``."""
        ids, starts = [], []
        shard = int(np.searchsorted(self.offsets, start, side="right")) - 1
        while start < stop and shard < len(self.sizes):
            lo = start - int(self.offsets[shard])
            hi = min(stop, int(self.offsets[shard + 1])) - int(self.offsets[shard])
            if hi > lo:
                ids.append(np.asarray(self._ids[shard][lo:hi], dtype=np.int64))
                starts.append(np.asarray(self._starts[shard][lo:hi], dtype=bool))
                start += hi - lo
            shard += 1
        if not ids:
            return np.zeros(0, np.int64), np.zeros(0, bool)
        return np.concatenate(ids), np.concatenate(starts)


@dataclass
class TokenCache:
    """An opened cache: its folder, its record (``meta.json``) and the two streams."""

    folder: Path
    meta: dict[str, Any]
    train: TokenStream
    heldout: TokenStream
    built: bool = False  # True when this run tokenized the corpus, False when it reused the cache


def open_cache(folder: Path, built: bool = False) -> TokenCache:
    meta = json.loads((folder / META).read_text(encoding="utf-8"))
    streams = {s: TokenStream(folder, s, meta["shards"][s], meta["dtype"]) for s in SPLITS}
    return TokenCache(folder, meta, streams["train"], streams["heldout"], built)


class _SplitWriter:
    """Appends ids and flags to a split's shard files, starting a new shard every :data:`SHARD_TOKENS`."""

    def __init__(self, folder: Path, split: str, dtype: np.dtype):
        self.folder, self.split, self.dtype = folder, split, dtype
        self.sizes: list[int] = []
        self.documents = 0
        self._ids = self._starts = None

    def _open_shard(self) -> None:
        self.close()
        i = len(self.sizes)
        self._ids = open(self.folder / f"{self.split}-{i:05d}.ids", "wb")
        self._starts = open(self.folder / f"{self.split}-{i:05d}.starts", "wb")
        self.sizes.append(0)

    def write(self, ids: np.ndarray, starts: np.ndarray) -> None:
        while len(ids):
            if self._ids is None or self.sizes[-1] >= SHARD_TOKENS:
                self._open_shard()
            room = SHARD_TOKENS - self.sizes[-1]
            self._ids.write(ids[:room].astype(self.dtype).tobytes())
            self._starts.write(starts[:room].astype(np.uint8).tobytes())
            self.sizes[-1] += len(ids[:room])
            ids, starts = ids[room:], starts[room:]

    def close(self) -> None:
        for f in (self._ids, self._starts):
            if f is not None:
                f.flush()
                os.fsync(f.fileno())
                f.close()
        self._ids = self._starts = None


def _encode(backend, texts: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Ids and word-start flags of each text (no special tokens). A token starts a word when its
    word index (from the fast tokenizer's pre-tokenizer: whitespace and punctuation) changes."""
    out = []
    for enc in backend.encode_batch(texts, add_special_tokens=False):
        ids = np.asarray(enc.ids, dtype=np.int64)
        words = np.asarray([-1 if w is None else w for w in enc.word_ids], dtype=np.int64)
        starts = np.ones(len(ids), dtype=bool)
        if len(ids) > 1:
            starts[1:] = (words[1:] != words[:-1]) | (words[1:] < 0)
        out.append((ids, starts))
    return out


def build_cache(folder: Path, sources: Sequence[Source], tokenizer, text_field: str, heldout_fraction: float,
                on_progress: Callable[[int, int], None] | None = None) -> None:
    """Tokenize the corpus into ``folder`` (made here, atomically): ``on_progress(documents, tokens)``."""
    sep = tokenizer.sep_token_id
    if sep is None:
        raise InputError("the tokenizer has no [SEP] token to separate documents with")
    vocab = max(len(tokenizer), max(tokenizer.get_vocab().values()) + 1)
    dtype = np.dtype(np.uint16 if vocab <= 1 << 16 else np.uint32)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))  # mode 0700
    backend = plain_backend(tokenizer)
    try:
        writers = {s: _SplitWriter(tmp, s, dtype) for s in SPLITS}
        stats = ReadStats()
        documents = tokens = 0
        batch: list = []
        size = 0

        def flush() -> None:
            nonlocal documents, tokens, size
            for block, (ids, starts) in zip(batch, _encode(backend, [b.text for b in batch])):
                if block.last:
                    ids, starts = np.append(ids, sep), np.append(starts, True)
                w = writers["heldout" if heldout(block.doc_key, heldout_fraction) else "train"]
                w.write(ids, starts)
                tokens += len(ids)
                if block.last:
                    w.documents += 1
                    documents += 1
            batch.clear()
            size = 0
            if on_progress:
                on_progress(documents, tokens)

        for block in blocks(sources, text_field, stats):
            batch.append(block)
            size += len(block.text)
            if size >= BATCH_CHARS or len(batch) >= 4096:
                flush()
        flush()
        for w in writers.values():
            w.close()
        if documents == 0 or tokens == 0:
            more = (f"; {stats.skipped_members} archive member(s) of other kinds (e.g. XML, JSON) were skipped: "
                    "extract their text first (see the README)") if stats.skipped_members else ""
            raise InputError(f"the corpus holds no text ({len(sources)} file(s) read){more}")
        meta = {
            "version": CACHE_VERSION, "dtype": dtype.name, "corpus": fingerprint(sources),
            "tokenizer": tokenizer_fingerprint(tokenizer), "text_field": text_field,
            "heldout_fraction": heldout_fraction, "special_ids": special_ids(tokenizer), "sep_id": sep,
            "files": len(sources), "skipped_members": stats.skipped_members,
            "documents": {s: writers[s].documents for s in SPLITS},
            "tokens": {s: sum(writers[s].sizes) for s in SPLITS},
            "shards": {s: writers[s].sizes for s in SPLITS},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        (tmp / META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        try:
            os.rename(tmp, folder)
        except OSError:
            if not (folder / META).is_file():  # not a finished cache another process renamed first
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def ensure_cache(cache_dir: Path, sources: Sequence[Source], tokenizer, text_field: str, heldout_fraction: float,
                 builder: bool = True, on_progress: Callable[[int, int], None] | None = None) -> TokenCache:
    """The cache for this corpus and tokenizer: opened when it exists; else built (``builder``) or
    waited for (another process on this machine builds it: every rank but each node's first)."""
    key = cache_key(fingerprint(sources), tokenizer_fingerprint(tokenizer), text_field, heldout_fraction)
    folder = Path(cache_dir) / key
    if (folder / META).is_file():
        return open_cache(folder)
    if not builder:
        while not (folder / META).is_file():
            time.sleep(0.5)  # the builder's failure ends the whole job (torchrun stops every rank)
        return open_cache(folder)
    Path(cache_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
    build_cache(folder, sources, tokenizer, text_field, heldout_fraction, on_progress)
    return open_cache(folder, built=True)
