"""The candidate index: every name of a vocabulary, normalized, as character n-gram TF-IDF vectors,
and the exact lookups beside them.

Vectors: scikit-learn's ``HashingVectorizer`` (``char_wb`` n-grams of the normalized name, hashed
into ``2**20`` columns: nothing to store for the n-gram vocabulary, and a name never seen at build
time is still vectorized the same way), weighted by the idf scikit-learn's ``TfidfTransformer``
fits over the names (sublinear tf), rows L2-normalized. Nearest names are an exact sparse dot
product: the query's few n-grams select their rows of the inverted matrix (n-grams x names, CSR),
so the work is the length of those posting lists, not the size of the vocabulary; the top k of
the resulting cosines are taken with ``argpartition``.

On disk (``LinkIndex.save``; no pickle anywhere): ``index.json`` (settings, counts), ``concepts.json``
(ids, preferred names, types, alternative ids), ``names.json`` (the normalized names),
``name_ptr.npy``/``name_concepts.npy``/``name_rank.npy`` (which concepts each name belongs to,
CSR-style), ``idf.npy`` and ``inverted_{data,indices,indptr}.npy``, the matrix, which
:meth:`LinkIndex.load` memory-maps (only the posting lists a query touches are read from disk).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import scipy.sparse as sp

from clinlm.errors import InputError
from clinlm.formats.files import PathLike, remove_stale_temps, removed_on_sigterm, temp_prefix, umask
from clinlm.linking.normalize import bag_key, normalize
from clinlm.linking.vocab import Vocabulary

INDEX_VERSION = 1
N_FEATURES = 2 ** 20
NGRAMS = (3, 3)
_CHUNK = 200_000


def _vectorizer(ngrams: tuple[int, int], n_features: int):
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(analyzer="char_wb", ngram_range=tuple(ngrams), n_features=n_features,
                             alternate_sign=False, norm=None, lowercase=False, dtype=np.float32)


def _weigh(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    """Sublinear tf times idf, rows L2-normalized (what ``TfidfTransformer`` does, applied with a stored idf)."""
    from sklearn.preprocessing import normalize as l2

    x = counts.tocsr().astype(np.float32)
    np.log(x.data, out=x.data)
    x.data += 1.0
    x.data *= idf[x.indices]
    return l2(x, norm="l2", copy=False)


class LinkIndex:
    """Names of one vocabulary, searchable by exact key, word bag and TF-IDF cosine."""

    def __init__(self, *, vocab: str, ids: list[str], names: list[str], types: list[list[str]] | None,
                 alt_ids: list[list[str]], keys: list[str], name_ptr: np.ndarray, name_concepts: np.ndarray,
                 name_rank: np.ndarray, idf: np.ndarray, inverted: sp.csr_matrix,
                 ngrams: tuple[int, int] = NGRAMS, n_features: int = N_FEATURES):
        self.vocab = vocab
        self.ids, self.names, self.types, self.alt_ids = ids, names, types, alt_ids
        self.keys = keys
        self.name_ptr, self.name_concepts, self.name_rank = name_ptr, name_concepts, name_rank
        self.idf = idf
        self.inverted = inverted
        self.ngrams = tuple(ngrams)
        self.n_features = n_features
        self._hv = _vectorizer(self.ngrams, n_features)
        self._exact: dict[str, int] | None = None
        self._bags: dict[str, list[int]] | None = None

    # -- build --------------------------------------------------------------------------------
    @classmethod
    def build(cls, vocab: Vocabulary, *, annotations: Iterable[tuple[str, str]] = (),
              ngrams: tuple[int, int] = NGRAMS, n_features: int = N_FEATURES) -> "LinkIndex":
        """Index every name of ``vocab``. ``annotations``: ``(mention text, concept id)`` pairs from
        annotated training documents; each mention becomes a name of the concept it was most often
        linked to (an alternative id counts for its concept; ids the vocabulary lacks are skipped),
        and wins ties against the vocabulary's own names."""
        from sklearn.feature_extraction.text import TfidfTransformer

        key_row: dict[str, int] = {}
        pairs: list[tuple[int, int, int]] = []  # (name row, concept, 2 annotated / 1 preferred / 0 synonym)
        for ci, c in enumerate(vocab.concepts):
            for j, name in enumerate(c.names()):
                k = normalize(name)
                if not k:
                    continue
                row = key_row.setdefault(k, len(key_row))
                pairs.append((row, ci, int(j == 0)))
        of_id: dict[str, int] = {}
        for ci, c in enumerate(vocab.concepts):
            for a in c.alt_ids:
                of_id.setdefault(a, ci)
        for ci, c in enumerate(vocab.concepts):
            of_id[c.id] = ci
        votes: dict[str, Counter] = {}
        for text, cid in annotations:
            k = normalize(text)
            if k and cid in of_id:
                votes.setdefault(k, Counter())[of_id[cid]] += 1
        for k, counter in votes.items():
            row = key_row.setdefault(k, len(key_row))
            pairs.append((row, counter.most_common(1)[0][0], 2))
        keys = list(key_row)
        del key_row
        arr = np.array(pairs, dtype=np.int64).reshape(-1, 3)
        del pairs
        arr = arr[np.lexsort((-arr[:, 2], arr[:, 1], arr[:, 0]))]
        # a concept listed twice under one name keeps one entry (its highest rank)
        keep = np.ones(len(arr), dtype=bool)
        keep[1:] = (arr[1:, 0] != arr[:-1, 0]) | (arr[1:, 1] != arr[:-1, 1])
        arr = arr[keep]
        name_ptr = np.zeros(len(keys) + 1, dtype=np.int64)
        np.add.at(name_ptr, arr[:, 0] + 1, 1)
        name_ptr = np.cumsum(name_ptr)
        hv = _vectorizer(ngrams, n_features)
        counts = sp.vstack([hv.transform(keys[i: i + _CHUNK]) for i in range(0, len(keys), _CHUNK)], format="csr")
        idf = TfidfTransformer(sublinear_tf=True).fit(counts).idf_.astype(np.float32)
        x = _weigh(counts, idf)
        del counts
        inverted = x.T.tocsr()
        del x
        small = inverted.nnz < 2 ** 31  # one index dtype for both arrays, so loading never converts (copies) them
        inverted.indices = inverted.indices.astype(np.int32 if small else np.int64, copy=False)
        inverted.indptr = inverted.indptr.astype(np.int32 if small else np.int64, copy=False)
        types = [list(c.types) for c in vocab.concepts] if vocab.has_types else None
        return cls(vocab=vocab.name, ids=[c.id for c in vocab.concepts], names=[c.name for c in vocab.concepts],
                   types=types, alt_ids=[list(c.alt_ids) for c in vocab.concepts], keys=keys, name_ptr=name_ptr,
                   name_concepts=arr[:, 1].astype(np.int32), name_rank=arr[:, 2].astype(np.int8), idf=idf,
                   inverted=inverted, ngrams=ngrams, n_features=n_features)

    # -- disk ---------------------------------------------------------------------------------
    def save(self, path: PathLike) -> None:
        """Write the index folder atomically: into a temporary folder beside ``path``, then renamed
        (an index already at ``path`` is replaced; any other non-empty folder is refused)."""
        out = Path(path)
        if out.exists() and not (out.is_dir() and (not any(out.iterdir()) or (out / "index.json").is_file())):
            raise InputError("not an index folder (and not empty): refusing to replace it", str(out))
        parent = out.parent if str(out.parent) else Path(".")
        if not parent.is_dir():
            raise InputError("cannot write: the folder does not exist", str(parent))
        remove_stale_temps(parent)
        with removed_on_sigterm():
            tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(out.name), suffix=".tmp", dir=parent))
            try:
                meta = {"format": "clinlm-link-index", "version": INDEX_VERSION, "vocab": self.vocab,
                        "concepts": len(self.ids), "names": len(self.keys), "ngrams": list(self.ngrams),
                        "n_features": self.n_features, "has_types": self.types is not None,
                        "vectorizer": "sklearn HashingVectorizer(char_wb) + TF-IDF (sublinear tf), L2 rows"}
                _dump_json(tmp / "index.json", meta)
                _dump_json(tmp / "concepts.json", {"ids": self.ids, "names": self.names, "types": self.types,
                                                   "alt_ids": self.alt_ids})
                _dump_json(tmp / "names.json", self.keys)
                for name, arr in (("name_ptr", self.name_ptr), ("name_concepts", self.name_concepts),
                                  ("name_rank", self.name_rank), ("idf", self.idf),
                                  ("inverted_data", self.inverted.data), ("inverted_indices", self.inverted.indices),
                                  ("inverted_indptr", self.inverted.indptr)):
                    np.save(tmp / f"{name}.npy", np.asarray(arr), allow_pickle=False)
                os.chmod(tmp, 0o777 & ~umask())
                if out.exists():
                    old = Path(tempfile.mkdtemp(prefix=temp_prefix(out.name), suffix=".tmp", dir=parent))
                    os.replace(out, old / "old")
                    os.replace(tmp, out)
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    os.replace(tmp, out)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise

    @classmethod
    def load(cls, path: PathLike, *, mmap: bool = True) -> "LinkIndex":
        p = Path(path)
        if not (p / "index.json").is_file():
            raise InputError("not a clinlm link index (no index.json); build one with `clinlm link build`", str(p))
        meta = _load_json(p / "index.json")
        if meta.get("format") != "clinlm-link-index" or meta.get("version") != INDEX_VERSION:
            raise InputError(f"index format {meta.get('format')!r} version {meta.get('version')!r} is not "
                             f"clinlm-link-index version {INDEX_VERSION}; rebuild it", str(p / "index.json"))
        concepts = _load_json(p / "concepts.json")
        keys = _load_json(p / "names.json")
        mode = "r" if mmap else None

        def arr(name: str) -> np.ndarray:
            f = p / f"{name}.npy"
            try:
                return np.load(f, mmap_mode=mode, allow_pickle=False)
            except (OSError, ValueError) as e:
                raise InputError(f"cannot read the index array: {e}", str(f)) from None

        n = len(keys)
        inverted = sp.csr_matrix((arr("inverted_data"), arr("inverted_indices"), arr("inverted_indptr")),
                                 shape=(int(meta["n_features"]), n), copy=False)
        return cls(vocab=meta["vocab"], ids=concepts["ids"], names=concepts["names"], types=concepts["types"],
                   alt_ids=concepts["alt_ids"], keys=keys, name_ptr=arr("name_ptr"),
                   name_concepts=arr("name_concepts"), name_rank=arr("name_rank"), idf=np.asarray(arr("idf")),
                   inverted=inverted, ngrams=tuple(meta["ngrams"]), n_features=int(meta["n_features"]))

    # -- search -------------------------------------------------------------------------------
    @property
    def exact(self) -> dict[str, int]:
        if self._exact is None:
            self._exact = {k: i for i, k in enumerate(self.keys)}
        return self._exact

    @property
    def bags(self) -> dict[str, list[int]]:
        if self._bags is None:
            bags: dict[str, list[int]] = {}
            for i, k in enumerate(self.keys):
                bags.setdefault(bag_key(k), []).append(i)
            self._bags = bags
        return self._bags

    def concepts_of(self, row: int) -> list[tuple[int, int]]:
        """The concepts name ``row`` belongs to, with its rank there (2 annotated, 1 preferred, 0 synonym)."""
        a, b = int(self.name_ptr[row]), int(self.name_ptr[row + 1])
        return [(int(c), int(f)) for c, f in zip(self.name_concepts[a:b], self.name_rank[a:b])]

    def vectors(self, keys: Sequence[str]) -> sp.csr_matrix:
        return _weigh(self._hv.transform(list(keys)), self.idf)

    def nearest_names(self, keys: Sequence[str], k: int) -> list[list[tuple[int, float]]]:
        """For each normalized key, the ``k`` names with the highest TF-IDF cosine: ``[(name row, cosine)]``."""
        if not keys:
            return []
        scores = (self.vectors(keys) @ self.inverted).tocsr()
        out = []
        for i in range(len(keys)):
            a, b = scores.indptr[i], scores.indptr[i + 1]
            data, cols = scores.data[a:b], scores.indices[a:b]
            if len(data) > k:
                top = np.argpartition(-data, k - 1)[:k]
                data, cols = data[top], cols[top]
            order = np.argsort(-data, kind="stable")
            out.append([(int(cols[j]), float(min(data[j], 1.0))) for j in order])
        return out


def _dump_json(path: Path, obj: object) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))


def _load_json(path: Path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise InputError("file of the index missing; rebuild it", str(path)) from None
    except json.JSONDecodeError as e:
        raise InputError(f"not valid JSON: {e.msg}", str(path), e.lineno) from None
