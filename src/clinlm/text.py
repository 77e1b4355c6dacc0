"""Words with character offsets, derived from a text on demand.

A word is a run of letters, digits and combining marks, or any other single
visible character. Control and format characters (including zero-width ones)
are never words, so every word has text a tokenizer can see.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import regex

from clinlm.document import Entity
from clinlm.labels import OUTSIDE, repair_bio, tag_spans

_WORD = regex.compile(r"[\p{L}\p{N}\p{M}]+|[^\s\p{C}]", regex.V1)


@dataclass(frozen=True)
class Words:
    """Word offsets of one text: ``starts[i]:ends[i]`` is word ``i``."""

    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.starts)

    def strings(self) -> list[str]:
        return [self.text[s:e] for s, e in zip(self.starts, self.ends)]


def words(text: str) -> Words:
    """Pre-tokenize ``text`` into words with character offsets."""
    starts, ends = [], []
    for m in _WORD.finditer(text):
        starts.append(m.start())
        ends.append(m.end())
    return Words(text, tuple(starts), tuple(ends))


def entity_tags(w: Words, entities: Sequence[Entity]) -> list[str]:
    """BIO tags of each word from character-offset entities.

    A word belongs to an entity when it overlaps it. Overlapping entities are
    resolved in favour of the earlier, then longer one (BIO cannot nest).
    """
    import bisect

    tags = [OUTSIDE] * len(w)
    taken = [False] * len(w)
    for e in sorted(entities, key=lambda e: (e.start, -(e.end - e.start))):
        lo = bisect.bisect_right(w.ends, e.start)  # first word ending after start
        hi = bisect.bisect_left(w.starts, e.end)  # first word starting at/after end
        idx = [i for i in range(lo, hi) if not taken[i]]
        if not idx or len(idx) != hi - lo:
            continue
        for k, i in enumerate(idx):
            tags[i] = ("B-" if k == 0 else "I-") + e.label
            taken[i] = True
    return tags


def tags_to_entities(
    w: Words, tags: Sequence[str], scores: Sequence[float] | None = None
) -> list[Entity]:
    """Character-offset entities from word tags (repaired to valid IOB2 first)."""
    out = []
    for first, last, typ in tag_spans(repair_bio(tags)):
        start, end = w.starts[first], w.ends[last - 1]
        score = None
        if scores is not None:
            score = float(min(scores[first:last]))
        out.append(Entity(start, end, typ, w.text[start:end], score))
    return out
