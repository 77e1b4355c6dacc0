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
CSR-style), ``idf.npy``, ``inverted_{data,indices,indptr}.npy`` (n-grams x names) and
``vectors_{data,indices,indptr}.npy`` (names x n-grams), the two matrices, which :meth:`LinkIndex.load`
memory-maps (only the posting lists and name rows a query touches are read from disk).
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
from clinlm.formats.files import PathLike, staged_folder, temp_prefix, umask
from clinlm.linking.normalize import bag_key, normalize
from clinlm.linking.vocab import Vocabulary

INDEX_VERSION = 1
N_FEATURES = 2 ** 20
NGRAMS = (3, 3)
_CHUNK = 200_000
#: Names whose concepts :meth:`LinkIndex.concepts_of` keeps (a few MB).
CONCEPTS_CACHE = 100_000
_MIN_RARE = 3  # n-grams a query keeps for its candidates, common or not


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
                 name_rank: np.ndarray, idf: np.ndarray, inverted: sp.csr_matrix, vectors: sp.csr_matrix,
                 ngrams: tuple[int, int] = NGRAMS, n_features: int = N_FEATURES):
        self.vocab = vocab
        self.ids, self.names, self.types, self.alt_ids = ids, names, types, alt_ids
        self.keys = keys
        self.name_ptr, self.name_concepts, self.name_rank = name_ptr, name_concepts, name_rank
        self.idf = idf
        self.inverted = inverted
        self.name_vectors = vectors
        self.ngrams = tuple(ngrams)
        self.n_features = n_features
        self._hv = _vectorizer(self.ngrams, n_features)
        self._exact: dict[str, int] | None = None
        self._bags: dict[str, list[int]] | None = None
        self._df: np.ndarray | None = None
        self._concepts: dict[int, list[tuple[int, int]]] = {}

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
        of_id = vocab.position_of_ids()
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
        inverted.sort_indices()
        x.sort_indices()
        x, inverted = _index_dtype(x), _index_dtype(inverted)
        types = [list(c.types) for c in vocab.concepts] if vocab.has_types else None
        return cls(vocab=vocab.name, ids=[c.id for c in vocab.concepts], names=[c.name for c in vocab.concepts],
                   types=types, alt_ids=[list(c.alt_ids) for c in vocab.concepts], keys=keys, name_ptr=name_ptr,
                   name_concepts=arr[:, 1].astype(np.int32), name_rank=arr[:, 2].astype(np.int8), idf=idf,
                   inverted=inverted, vectors=x, ngrams=ngrams, n_features=n_features)

    # -- disk ---------------------------------------------------------------------------------
    def save(self, path: PathLike) -> None:
        """Write the index folder atomically: into a temporary folder beside ``path``, then renamed
        (an index already at ``path`` is replaced; any other non-empty folder is refused)."""
        out = Path(path)
        if out.exists() and not (out.is_dir() and (not any(out.iterdir()) or (out / "index.json").is_file())):
            raise InputError("not an index folder (and not empty): refusing to replace it", str(out))
        with staged_folder(out) as tmp:
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
                              ("inverted_indptr", self.inverted.indptr), ("vectors_data", self.name_vectors.data),
                              ("vectors_indices", self.name_vectors.indices),
                              ("vectors_indptr", self.name_vectors.indptr)):
                np.save(tmp / f"{name}.npy", np.asarray(arr), allow_pickle=False)
            os.chmod(tmp, 0o777 & ~umask())
            if out.exists():
                old = Path(tempfile.mkdtemp(prefix=temp_prefix(out.name), suffix=".tmp", dir=tmp.parent))
                os.replace(out, old / "old")
                os.replace(tmp, out)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, out)

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
            if not f.is_file():
                raise InputError("file of the index missing; rebuild it with `clinlm link build`", str(f))
            try:
                return np.load(f, mmap_mode=mode, allow_pickle=False)
            except (OSError, ValueError) as e:
                raise InputError(f"cannot read the index array: {e}", str(f)) from None

        n = len(keys)
        inverted = sp.csr_matrix((arr("inverted_data"), arr("inverted_indices"), arr("inverted_indptr")),
                                 shape=(int(meta["n_features"]), n), copy=False)
        vectors = sp.csr_matrix((arr("vectors_data"), arr("vectors_indices"), arr("vectors_indptr")),
                                shape=(n, int(meta["n_features"])), copy=False)
        return cls(vocab=meta["vocab"], ids=concepts["ids"], names=concepts["names"], types=concepts["types"],
                   alt_ids=concepts["alt_ids"], keys=keys, name_ptr=np.array(arr("name_ptr")),
                   name_concepts=np.array(arr("name_concepts")), name_rank=np.array(arr("name_rank")),
                   idf=np.array(arr("idf")),
                   inverted=inverted, vectors=vectors, ngrams=tuple(meta["ngrams"]),
                   n_features=int(meta["n_features"]))

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
        """The concepts name ``row`` belongs to, with its rank there (2 annotated, 1 preferred, 0 synonym).
        Kept for the last :data:`CONCEPTS_CACHE` names asked about: the same near names come up for
        mention after mention, and this lookup was a third of the lexical stage."""
        hit = self._concepts.get(row)
        if hit is None:
            a, b = int(self.name_ptr[row]), int(self.name_ptr[row + 1])
            hit = list(zip(self.name_concepts[a:b].tolist(), self.name_rank[a:b].tolist()))
            if len(self._concepts) >= CONCEPTS_CACHE:
                self._concepts.clear()
            self._concepts[row] = hit
        return hit

    def vectors(self, keys: Sequence[str]) -> sp.csr_matrix:
        return _weigh(self._hv.transform(list(keys)), self.idf)

    def nearest_names(self, keys: Sequence[str], k: int, *, shortlist: int = 100,
                      max_df: int | None = None) -> list[list[tuple[int, float]]]:
        """For each normalized key, the ``k`` names with the highest TF-IDF cosine: ``[(name row, cosine)]``.

        The posting lists of n-grams in more than ``max_df`` names (default: 0.1% of the names, at least
        1,000; " co", "ase") are most of
        the work and add little to a cosine: candidates are the ``shortlist`` names best by the cosine
        over the query's other n-grams, then their exact cosines come from their own vectors (rows of
        the names' matrix), all queries at once. A query made of common n-grams only is scored over
        the posting lists of its rarest few."""
        if not keys:
            return []
        q = self.vectors(keys)
        inv = self.inverted
        if self._df is None:
            self._df = np.diff(np.asarray(inv.indptr))
        cap = max(1000, inv.shape[1] // 1000) if max_df is None else max_df
        df = self._df[q.indices]
        keep = df <= cap
        for i in range(len(keys)):  # and always the rarer half of a query's n-grams (a typo's are rare)
            a, b = q.indptr[i], q.indptr[i + 1]
            if b > a:
                keep[a + np.argsort(df[a:b], kind="stable")[:max(_MIN_RARE, (b - a) // 2)]] = True
        rare = q.copy()
        rare.data[~keep] = 0.0
        rare.eliminate_zeros()
        partial = (rare @ inv).tocsr()
        rows, owners = [], []
        for i in range(len(keys)):
            a, b = partial.indptr[i], partial.indptr[i + 1]
            cols, data = partial.indices[a:b], partial.data[a:b]
            if len(cols) > shortlist:
                cols = cols[np.argpartition(-data, shortlist - 1)[:shortlist]]
            rows.append(cols)
            owners.append(np.full(len(cols), i, dtype=np.int64))
        cand = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        owner = np.concatenate(owners) if owners else np.zeros(0, dtype=np.int64)
        exact = np.asarray(self.name_vectors[cand].multiply(q[owner]).sum(axis=1)).ravel()
        out = []
        start = 0
        for i in range(len(keys)):
            n = len(rows[i])
            cols, data = cand[start:start + n], exact[start:start + n]
            start += n
            if len(data) > k:
                top = np.argpartition(-data, k - 1)[:k]
                cols, data = cols[top], data[top]
            order = np.argsort(-data, kind="stable")
            out.append(list(zip(cols[order].tolist(), np.minimum(data[order], 1.0).tolist())))
        return out


def _index_dtype(m: sp.csr_matrix) -> sp.csr_matrix:
    """One index dtype for both index arrays (int32 when it fits), so loading never converts (copies) them."""
    dtype = np.int32 if m.nnz < 2 ** 31 and max(m.shape) < 2 ** 31 else np.int64
    m.indices = m.indices.astype(dtype, copy=False)
    m.indptr = m.indptr.astype(dtype, copy=False)
    return m


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
