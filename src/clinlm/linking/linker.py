"""The lexical linker: a typed span -> the vocabulary's concepts, best first.

For each entity: its text, with the short forms its document defines ("chronic kidney disease
(CKD)" -> "CKD" reads as "chronic kidney disease") expanded, is normalized
(:mod:`clinlm.linking.normalize`); candidates are

1. the concepts of the name with exactly that key (score 1.0),
2. those of names with the same words in another order ("carcinoma, ductal", score 0.95),
3. the nearest names by character n-gram TF-IDF cosine (:mod:`clinlm.linking.index`), each concept
   scored by its best name;

a short form that is itself a name in the vocabulary competes with its expansion at 0.95 of its score,
and a mention with a parenthesis is also looked up without it.
When the vocabulary carries semantic types, a candidate must have a type compatible with the
entity's label (the label itself, or a type a ``type_map`` maps onto it; a label that no type of
the vocabulary maps to is not filtered). Ties go to the concept whose preferred name matched.

With an embedding cache in the index folder (``clinlm link embed``, :mod:`clinlm.linking.dense`), the
lexical top 20 are re-ordered by ``w * cosine + (1 - w) * lexical score`` (``score`` is that sum; the
threshold still applies to the lexical score); ``Linker.load`` takes the cache when there is one. A mention
found by its exact name is not re-ranked: that name's cosine is 1.0 too, so it stays first whatever the
encoder says; nor is one with no candidate above the threshold (no link either way). The encoder (most of
re-ranking's cost) runs only for the other mentions.

Output: ``entity.attributes["concepts"] = [{"vocab", "id", "name", "score"}, ...]``, at most ``k``,
each with ``score >= threshold``; an empty list when nothing reaches it ("no link"). Several linkers
(vocabularies) on one entity merge into one list, best first.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from clinlm.document import Document, Entity
from clinlm.errors import ConfigError, InputError
from clinlm.formats.files import PathLike, read_text_file, split_lines
from clinlm.linking.index import LinkIndex
from clinlm.linking.normalize import abbreviations, bag_key, expand, normalize

_PARENTHESES = re.compile(r"\([^()]*\)")
DEFAULT_K = 5
DEFAULT_THRESHOLD = 0.6
BAG_SCORE = 0.95
SHORT_FORM_FACTOR = 0.95
#: Stop scanning a mention's nearest names once none can enter its top n (off: every name is offered;
#: the same top n, slower).
STOP_SCAN = True


def read_type_map(path: PathLike) -> dict[str, set[str]]:
    """A TSV of ``vocabulary type<TAB>entity label`` lines (a header line is skipped), e.g.
    MedMentions' ``st21pv_ancestor.tsv``: fine UMLS semantic types onto the 21 ST21pv labels."""
    out: dict[str, set[str]] = {}
    for lineno, line in enumerate(split_lines(read_text_file(path)), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) != 2 or not cols[0].strip() or not cols[1].strip():
            raise InputError("expected 'vocabulary type<TAB>entity label'", str(path), lineno)
        if lineno == 1 and not any(c.isdigit() for c in line):
            continue  # header
        out.setdefault(cols[1].strip(), set()).add(cols[0].strip())
    return out


class Linker:
    """Link entities to one vocabulary's concepts (see the module doc)."""

    def __init__(self, index: LinkIndex, *, k: int = DEFAULT_K, threshold: float = DEFAULT_THRESHOLD,
                 type_map: Mapping[str, Iterable[str]] | None = None, labels: Iterable[str] | None = None,
                 expand_abbreviations: bool = True, dense=None):
        if k < 1:
            raise ConfigError(f"k must be at least 1, not {k}")
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"the threshold is a cosine between 0 and 1, not {threshold}")
        self.index = index
        self.k = k
        self.threshold = threshold
        self.labels = set(labels) if labels else None
        self.expand_abbreviations = expand_abbreviations
        self.dense = dense  # a clinlm.linking.dense.DenseReranker, or None: lexical ranking only
        self._allowed: dict[str, set[str] | None] = {}
        self.type_map = {label: set(ts) for label, ts in (type_map or {}).items()}
        self._vocab_types: set[str] | None = None
        if index.types is not None:
            self._vocab_types = {t for ts in index.types for t in ts}
        self._concept_types = [set(ts) for ts in index.types] if index.types is not None else None

    @classmethod
    def load(cls, path: PathLike, *, dense: bool | None = None, encoder=None, **options) -> "Linker":
        """A linker over the index folder ``path`` (``clinlm link build``). ``dense``: re-rank with the
        folder's embedding cache (``clinlm link embed``); ``None``: when there is one, ``False``: never,
        ``True``: required. ``encoder``: an already loaded encoder for it (default: the one it names)."""
        from clinlm.linking.dense import DenseReranker, read_meta

        index = LinkIndex.load(path)
        reranker = None
        if dense or (dense is None and read_meta(path) is not None):
            reranker = DenseReranker.load(path, index, encoder)
        return cls(index, dense=reranker, **options)

    # -- types --------------------------------------------------------------------------------
    def allowed_types(self, label: str | None) -> set[str] | None:
        """The vocabulary types an entity of ``label`` may link to, or ``None``: no filter."""
        if self._vocab_types is None or label is None:
            return None
        if label not in self._allowed:
            allowed = ({label} | self.type_map.get(label, set())) & self._vocab_types
            self._allowed[label] = allowed or None
        return self._allowed[label]

    # -- linking ------------------------------------------------------------------------------
    def ranked(self, mentions: Sequence[str], labels: Sequence[str | None] | None = None,
               abbrevs: Sequence[Mapping[str, str]] | None = None, n: int = DEFAULT_K,
               skip_annotated: bool = False) -> list[tuple[str, list[tuple[int, float, int]]]]:
        """The lexical stage: for each mention, its query key (normalized, short forms expanded)
        and its best ``n`` concepts ``(concept, score, name rank)``, best first, no threshold.
        ``skip_annotated``: leave out names the index took from annotated documents only."""
        labels = list(labels) if labels is not None else [None] * len(mentions)
        abbrevs = list(abbrevs) if abbrevs is not None else [{}] * len(mentions)
        queries: list[list[tuple[str, float]]] = []
        for m, ab in zip(mentions, abbrevs):
            full = expand(m, ab) if self.expand_abbreviations else m
            q = [(normalize(full), 1.0)]
            if "(" in full:  # "complement factor 2 (C2) deficiency": also without what is in parentheses
                bare = normalize(_PARENTHESES.sub(" ", full))
                if bare and bare != q[0][0]:
                    q.append((bare, 1.0))
            if full != m:
                q.append((normalize(m), SHORT_FORM_FACTOR))
            queries.append(q)
        flat = [key for q in queries for key, _ in q]
        filtered = any(self.allowed_types(lb) is not None for lb in labels)
        n_names = n * (40 if filtered else 8) + (40 if skip_annotated else 0)
        near = iter(self.index.nearest_names([key for key in flat if key], n_names))
        out = []
        for q, label in zip(queries, labels):
            allowed = self.allowed_types(label)
            best: dict[int, tuple[float, int]] = {}

            def offer(row: int, score: float, factor: float) -> None:
                for c, pref in self.index.concepts_of(row):
                    if skip_annotated and pref == 2:
                        continue
                    if allowed is not None and not (self._concept_types[c] & allowed):  # type: ignore[index]
                        continue
                    s = score * factor
                    old = best.get(c)
                    if old is None or (s, pref) > old:
                        best[c] = (s, pref)

            for key, factor in q:
                if not key:
                    continue
                row = self.index.exact.get(key)
                if row is not None:
                    offer(row, 1.0, factor)
                for r in self.index.bags.get(bag_key(key), ()):
                    if r != row:
                        offer(r, BAG_SCORE, factor)
                for j, (r, cos) in enumerate(next(near)):
                    # names come best first: once the n-th best concept scores above what any further
                    # name can offer, none of them changes the top n
                    if STOP_SCAN and j % 8 == 7 and len(best) >= n and cos * factor < np.partition(
                            np.fromiter((v[0] for v in best.values()), np.float64, len(best)), len(best) - n)[len(best) - n]:
                        break
                    offer(r, cos, factor)
            ranked = sorted(best.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))
            out.append((q[0][0], [(c, s, p) for c, (s, p) in ranked[:n]]))
        return out

    def candidates(self, mentions: Sequence[str], labels: Sequence[str | None] | None = None,
                   abbrevs: Sequence[Mapping[str, str]] | None = None, k: int | None = None,
                   threshold: float | None = None) -> list[list[dict]]:
        """For each mention (with its entity label and its document's short forms), its concepts
        ``[{"vocab", "id", "name", "score"}]``, best first. With an embedding cache (``dense``), the
        lexical top ``TOP`` are re-ordered by ``w * cosine + (1 - w) * lexical`` and ``score`` is
        that sum; the threshold (no link) still applies to the lexical score."""
        k = self.k if k is None else k
        threshold = self.threshold if threshold is None else threshold
        found = self.ranked(mentions, labels, abbrevs, n=k)
        lexical = [[self._concept(c, s) for c, s, _ in r if s >= threshold] for _, r in found]
        if self.dense is None:
            return lexical
        from clinlm.linking.dense import TOP, combine

        # found by its exact name: no cosine can beat that name's 1.0, so the lexical list stands and
        # neither the encoder nor the wider candidate search is run for it; nor for a mention whose best
        # lexical score is below the threshold (no candidate may be linked, re-ranked or not)
        todo = [i for i, (key, r) in enumerate(found)
                if r and r[0][1] >= threshold and not self._exact_first(key, r)]
        deep = self.ranked([mentions[i] for i in todo], [labels[i] for i in todo] if labels is not None else None,
                           [abbrevs[i] for i in todo] if abbrevs is not None else None, n=max(k, TOP))
        cos = self.dense.cosines([key for key, _ in deep], [[c for c, _, _ in r] for _, r in deep])
        for i, (_, r), cs in zip(todo, deep, cos):
            lex = np.array([s for _, s, _ in r], dtype=np.float32)
            pref = np.array([p for _, _, p in r], dtype=np.float32)
            score = combine(lex, cs, self.dense.weight)
            order = np.lexsort((-pref, -lex, -score))
            lexical[i] = [self._concept(r[j][0], float(score[j])) for j in order if lex[j] >= threshold][:k]
        return lexical

    def _exact_first(self, key: str, ranked: Sequence[tuple[int, float, int]]) -> bool:
        """Whether the best lexical candidate is a concept of the name ``key`` itself (score 1.0). Its
        cosine is then 1.0 too (the same text, embedded the same way), and ``w * cos + (1 - w) * lex``
        ranks it first whatever ``w``: re-ranking could only re-order the rest."""
        c, score, _ = ranked[0]
        row = self.index.exact.get(key) if score >= 1.0 else None
        return row is not None and any(c == other for other, _ in self.index.concepts_of(row))

    def _concept(self, c: int, score: float) -> dict:
        return {"vocab": self.index.vocab, "id": self.index.ids[c], "name": self.index.names[c], "score": round(score, 4)}

    def lexical(self) -> "Linker":
        """The same linker without its dense re-ranking."""
        twin = copy.copy(self)
        twin.dense = None
        return twin

    def link_documents(self, docs: Iterable[Document]) -> list[Document]:
        """Set ``concepts`` on every entity of ``docs`` (in place; merged with concepts other linkers
        set, best first, at most ``k``); returns the documents."""
        docs = list(docs)
        todo: list[tuple[Entity, dict[str, str]]] = []
        for doc in docs:
            ab = abbreviations(doc.text) if self.expand_abbreviations else {}
            todo += [(e, ab) for e in doc.entities if self.labels is None or e.label in self.labels]
        found = self.candidates([e.text for e, _ in todo], [e.label for e, _ in todo], [ab for _, ab in todo])
        for (e, _), concepts in zip(todo, found):
            earlier = [c for c in e.attributes.get("concepts") or [] if c.get("vocab") != self.index.vocab]
            merged = sorted(earlier + concepts, key=lambda c: -float(c.get("score") or 0.0))
            e.attributes["concepts"] = merged[: max(self.k, len(earlier))] if earlier else concepts
        return docs

    def __call__(self, doc: Document) -> Document:
        return self.link_documents([doc])[0]


def load_linker(spec: "str | Path | Linker", **options) -> Linker:
    """A :class:`Linker` from an index folder (or a linker, returned as it is)."""
    if isinstance(spec, Linker):
        return spec
    return Linker.load(spec, **options)
