"""Entity markers around a candidate pair, with exact bookkeeping of where every marker went.

A relation classifier reads the text with its two arguments wrapped in marker tokens
(``[E1] aspirin [/E1] ... [E2] 81 mg [/E2]``); the markers are added to the tokenizer as
special tokens. ``typed`` markers also name the entity type (``[E1:Drug]``), ``plain``
ones only the role. The marked text is derived from the document each time; the
original offsets stay the only truth and :class:`Marked` maps them into the marked text.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from clinlm.errors import ConfigError

MARKER_STYLES = ("typed", "plain")
ROLES = ("E1", "E2")  # head, tail
_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]")


def marker_pair(style: str, role: str, entity_type: str) -> tuple[str, str]:
    """The opening and closing marker strings of one argument."""
    if style not in MARKER_STYLES:
        raise ConfigError(f"unknown marker style {style!r}; use one of {', '.join(MARKER_STYLES)}")
    tag = role if style == "plain" else f"{role}:{_UNSAFE.sub('_', entity_type)}"
    return f"[{tag}]", f"[/{tag}]"


def marker_vocabulary(style: str, entity_types: Iterable[str]) -> list[str]:
    """Every marker string a model with these entity types can meet (added to its tokenizer)."""
    types = sorted(set(entity_types) | {"ENTITY"})  # ENTITY: the fallback for types unseen in training
    out: list[str] = []
    for role in ROLES:
        for t in types if style == "typed" else types[:1]:
            out += marker_pair(style, role, t)
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class Marked:
    """A text with markers inserted. ``inserts[k] = (position in the original text, string)``
    in text order; ``markers`` are the marked-text offsets of the head's opening and closing
    and the tail's opening and closing marker (the classifier pools at the openings)."""

    text: str
    inserts: tuple[tuple[int, str], ...]
    markers: tuple[int, int, int, int]

    def offset(self, pos: int) -> int:
        """Where original offset ``pos`` lands in the marked text (text at ``pos`` is never a marker).

        Markers inserted at ``pos`` come before the original character there."""
        k = bisect.bisect_right([p for p, _ in self.inserts], pos)
        return pos + sum(len(s) for _, s in self.inserts[:k])

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Where the original span ``[start, end)`` lands (markers inside it included)."""
        return self.offset(start), self.offset(end - 1) + 1

    def original(self) -> str:
        """The text without its markers (the inverse of :func:`insert_markers`)."""
        parts, last, cursor = [], 0, 0
        for pos, s in self.inserts:
            at = pos + cursor
            parts.append(self.text[last:at])
            last = at + len(s)
            cursor += len(s)
        parts.append(self.text[last:])
        return "".join(parts)


def insert_markers(
    text: str,
    head: tuple[int, int],
    tail: tuple[int, int],
    head_markers: tuple[str, str],
    tail_markers: tuple[str, str],
) -> Marked:
    """``text`` with ``open + " "`` before and ``" " + close`` after each argument span.

    Nested or touching spans get properly nested markers: at one position, closing markers
    come before opening ones, the longer span opens first and the shorter closes first.
    """
    items = []  # (pos, order, string, slot in Marked.markers, offset of the marker in the string)
    for k, ((s, e), (op, cl)) in enumerate(((head, head_markers), (tail, tail_markers))):
        if not 0 <= s < e <= len(text):
            raise ConfigError(f"argument span {s}-{e} does not fit a text of length {len(text)}")
        items.append((s, (1, -(e - s), k), op + " ", 2 * k, 0))
        items.append((e, (0, e - s, -k), " " + cl, 2 * k + 1, 1))
    items.sort(key=lambda it: (it[0], it[1]))
    parts, inserts, where, last, shift = [], [], [0, 0, 0, 0], 0, 0
    for pos, _, s, slot, skip in items:
        parts.append(text[last:pos])
        where[slot] = pos + shift + skip
        parts.append(s)
        inserts.append((pos, s))
        shift += len(s)
        last = pos
    parts.append(text[last:])
    return Marked("".join(parts), tuple(inserts), (where[0], where[1], where[2], where[3]))


def crop(n: int, keep: Sequence[tuple[int, int]], budget: int) -> list[int]:
    """Indices (sorted) of at most ``budget`` of ``n`` tokens: every token in the ``keep``
    ranges ``[start, end)`` first (as far as the budget goes), then the nearest others."""
    must: list[int] = sorted({i for s, e in keep for i in range(max(0, s), min(n, e))})
    if len(must) >= budget:
        ends = sorted({min(max(0, e - 1), n - 1) for _, e in keep} | {max(0, s) for s, _ in keep})
        rest = [i for i in must if i not in ends]
        return sorted(ends[:budget] + rest[: max(0, budget - len(ends))])
    if n <= budget:
        return list(range(n))
    taken = set(must)
    lo, hi = min(must), max(must)
    # grow the kept region outwards, one token each side in turn (gaps between ranges first)
    inside = [i for i in range(lo, hi + 1) if i not in taken]
    for i in inside[: budget - len(taken)]:
        taken.add(i)
    left, right = lo - 1, hi + 1
    while len(taken) < budget and (left >= 0 or right < n):
        if left >= 0:
            taken.add(left)
            left -= 1
        if len(taken) < budget and right < n:
            taken.add(right)
            right += 1
    return sorted(taken)
