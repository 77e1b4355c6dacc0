"""Which entity pairs of a document a relation model is asked about.

End to end (a note -> NER -> relations) every pair of entities is a candidate unless a
window rules it out: at most ``window_chars`` characters between the two mentions and/or
at most ``window_sentences`` sentence boundaries between them (0: same sentence), and,
when the model learnt them, only pairs of entity types that were ever related in training.
Pairs are unordered here, ``(i, j)`` with ``i < j`` in text order; the model's manifest
decides the direction of a predicted relation (:func:`orient`).
"""
from __future__ import annotations

import bisect
import re
from collections import Counter, defaultdict
from typing import Any, Iterable, Sequence

from clinlm.document import Document, Entity, Relation

# A sentence ends after . ! ? (and closing quotes/brackets) before white space and a capital,
# digit or list marker, and at every line break: in clinical notes a line is usually a unit.
_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[A-Z0-9\-*•(])|\n")


def sentence_starts(text: str) -> list[int]:
    """Character offsets where sentences begin (the first is 0)."""
    return [0] + [m.end() for m in _BOUNDARY.finditer(text) if m.end() < len(text)]


def candidate_pairs(
    doc: Document,
    window_chars: int | None = None,
    window_sentences: int | None = None,
    type_pairs: Iterable[Sequence[str]] | None = None,
) -> list[tuple[int, int]]:
    """Index pairs ``(i, j)``, ``i < j``, of ``doc.entities`` a relation may link.

    Two mentions of the same span are never paired. ``type_pairs`` (unordered label pairs)
    restricts the pairs to those types; ``None`` allows every pair."""
    ents = doc.entities
    allowed = None if type_pairs is None else {tuple(sorted(p)) for p in type_pairs}
    starts = sentence_starts(doc.text) if window_sentences is not None else []
    sent = [bisect.bisect_right(starts, e.start) - 1 for e in ents] if starts else []
    out = []
    for i, a in enumerate(ents):
        for j in range(i + 1, len(ents)):
            b = ents[j]
            if window_chars is not None and b.start - a.end > window_chars:
                break  # entities are sorted by start: later ones are farther still
            if a.span == b.span:
                continue
            if window_sentences is not None and abs(sent[j] - sent[i]) > window_sentences:
                continue
            if allowed is not None and tuple(sorted((a.label, b.label))) not in allowed:
                continue
            out.append((i, j))
    return out


def gold_pairs(doc: Document) -> dict[tuple[int, int], Relation]:
    """The document's relations by unordered entity-index pair (the first one where several share a pair)."""
    index = {id(e): i for i, e in enumerate(doc.entities)}
    out: dict[tuple[int, int], Relation] = {}
    for r in doc.relations:
        i, j = sorted((index[id(r.head)], index[id(r.tail)]))
        if i != j:
            out.setdefault((i, j), r)
    return out


def learn_directions(docs: Iterable[Document]) -> dict[str, Any]:
    """How to orient a predicted relation, learnt from gold ones.

    ``by_type[label]``: ``[head_type, tail_type]`` pairs whose head type decides the direction
    in at least 95% of the training relations between those two (different) types, and more
    often than text order does (n2c2's ``Strength-Drug``: the Strength is the head). ``head_first[label]``: whether the head is
    usually the earlier mention, used for every other pair (e.g. drug-drug interactions)."""
    heads: dict[str, dict[tuple[str, str], Counter]] = defaultdict(lambda: defaultdict(Counter))
    order: dict[str, dict[tuple[str, str], Counter]] = defaultdict(lambda: defaultdict(Counter))
    first: dict[str, Counter] = defaultdict(Counter)
    for d in docs:
        for r in d.relations:
            is_first = (r.head.start, r.head.end) <= (r.tail.start, r.tail.end)
            first[r.label][is_first] += 1
            if r.head.label != r.tail.label:
                pair = tuple(sorted((r.head.label, r.tail.label)))
                heads[r.label][pair][r.head.label] += 1
                order[r.label][pair][is_first] += 1
    by_type: dict[str, list[list[str]]] = {}
    for label, pairs in heads.items():
        for pair, counts in sorted(pairs.items()):
            head, n = counts.most_common(1)[0]
            # the type decides only where it is (nearly) always right and beats text order
            if n / sum(counts.values()) >= 0.95 and n > max(order[label][pair].values()):
                by_type.setdefault(label, []).append([head, pair[1] if pair[0] == head else pair[0]])
    head_first = {label: c[True] >= c[False] for label, c in first.items()}
    return {"by_type": by_type, "head_first": head_first}


def orient(label: str, a: Entity, b: Entity, directions: dict[str, Any]) -> tuple[Entity, Entity]:
    """``(head, tail)`` of a relation ``label`` predicted for the pair ``a`` before ``b``."""
    for head, tail in (directions.get("by_type") or {}).get(label, []):
        if (a.label, b.label) == (head, tail):
            return a, b
        if (b.label, a.label) == (head, tail):
            return b, a
    return (a, b) if (directions.get("head_first") or {}).get(label, True) else (b, a)


def related_type_pairs(docs: Iterable[Document]) -> list[list[str]]:
    """Unordered entity-type pairs that some training relation links (sorted, JSON-ready)."""
    return sorted({tuple(sorted((r.head.label, r.tail.label))) for d in docs for r in d.relations})  # type: ignore[misc]
