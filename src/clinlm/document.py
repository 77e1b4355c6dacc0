"""The one data model: a Document's text and its Entities' character offsets.

Offsets into the original text are the single source of truth. Words, subword
windows and BIO tags are always derived from them (see ``clinlm.text`` and
``clinlm.windows``), never stored beside them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from .errors import OffsetError


@dataclass
class Entity:
    """A labelled character span ``[start, end)`` of a document's text."""

    start: int
    end: int
    label: str
    text: str
    score: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def span(self) -> tuple[int, int]:
        return (self.start, self.end)

    def key(self) -> tuple[int, int, str]:
        """Identity used for exact-match scoring."""
        return (self.start, self.end, self.label)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"start": self.start, "end": self.end, "label": self.label, "text": self.text}
        if self.score is not None:
            d["score"] = self.score
        if self.attributes:
            d["attributes"] = self.attributes
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Entity":
        return cls(
            start=int(d["start"]),
            end=int(d["end"]),
            label=str(d["label"]),
            text=str(d["text"]),
            score=None if d.get("score") is None else float(d["score"]),
            attributes=dict(d.get("attributes") or {}),
        )


@dataclass
class Document:
    """A note (or abstract) with its entities; ``text[e.start:e.end] == e.text`` always."""

    id: str
    text: str
    entities: list[Entity] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_offsets(self.text, self.entities, self.id)
        self.entities.sort(key=lambda e: (e.start, e.end, e.label))

    def add(self, start: int, end: int, label: str, score: float | None = None, **attributes: Any) -> Entity:
        """Add an entity by offsets; its text is taken from the document."""
        ent = Entity(start, end, label, self.text[start:end], score, dict(attributes))
        check_offsets(self.text, [ent], self.id)
        self.entities.append(ent)
        self.entities.sort(key=lambda e: (e.start, e.end, e.label))
        return ent

    def with_entities(self, entities: Iterable[Entity]) -> "Document":
        """A copy of this document carrying other entities (e.g. predictions)."""
        return Document(self.id, self.text, list(entities), dict(self.metadata))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "text": self.text, "entities": [e.to_dict() for e in self.entities]}
        if self.metadata:
            d["metadata"] = self.metadata
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Document":
        return cls(
            id=str(d["id"]),
            text=str(d["text"]),
            entities=[Entity.from_dict(e) for e in d.get("entities") or []],
            metadata=dict(d.get("metadata") or {}),
        )


def check_offsets(text: str, entities: Iterable[Entity], doc_id: str = "?") -> None:
    """Raise one ``OffsetError`` that counts every bad entity and shows the first."""
    bad = [
        e
        for e in entities
        if not (0 <= e.start < e.end <= len(text)) or text[e.start : e.end] != e.text
    ]
    if bad:
        e = bad[0]
        found = text[e.start : e.end] if 0 <= e.start <= e.end <= len(text) else "<out of range>"
        raise OffsetError(
            f"document {doc_id}: {len(bad)} entit{'y' if len(bad) == 1 else 'ies'} do not match the text; "
            f"first: [{e.start}:{e.end}] {e.label} says {e.text!r} but the text has {found!r}"
        )
