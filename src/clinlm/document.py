"""The one data model: a Document's text, its Entities' character offsets and the
Relations between those entities.

Offsets into the original text are the single source of truth. Words, subword
windows and BIO tags are always derived from them (see ``clinlm.text`` and
``clinlm.windows``), never stored beside them. A Relation holds its two Entity
objects themselves (not copies, not offsets), so sorting ``doc.entities`` never
breaks it; files store them as indices into the entity list.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from clinlm.errors import InputError, OffsetError


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
class Relation:
    """A labelled, directed link ``head -> tail`` between two entities of the same document."""

    label: str
    head: Entity
    tail: Entity
    score: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    def key(self) -> tuple[tuple[int, int, str], tuple[int, int, str], str]:
        """Identity used for exact-match scoring: both argument spans and the label."""
        return (self.head.key(), self.tail.key(), self.label)

    def to_dict(self, index: dict[int, int]) -> dict[str, Any]:
        """JSON form; ``index`` maps ``id(entity)`` to its position in the written entity list."""
        d: dict[str, Any] = {"label": self.label, "head": index[id(self.head)], "tail": index[id(self.tail)]}
        if self.score is not None:
            d["score"] = self.score
        if self.attributes:
            d["attributes"] = self.attributes
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], entities: list[Entity]) -> "Relation":
        return cls(
            label=str(d["label"]),
            head=entities[int(d["head"])],
            tail=entities[int(d["tail"])],
            score=None if d.get("score") is None else float(d["score"]),
            attributes=dict(d.get("attributes") or {}),
        )


@dataclass
class Document:
    """A note (or abstract) with its entities; ``text[e.start:e.end] == e.text`` always,
    and every relation links two of ``entities`` (the same objects)."""

    id: str
    text: str
    entities: list[Entity] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    relations: list[Relation] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_offsets(self.text, self.entities, self.id)
        self.entities.sort(key=lambda e: (e.start, e.end, e.label))
        check_relations(self.entities, self.relations, self.id)

    @property
    def layout(self) -> dict[str, Any] | None:
        """The note's layout as the context step derives it from the text (``metadata["layout"]``:
        sections, sub-headers, list items, paragraphs, lines, all character offsets into ``text``;
        see :mod:`clinlm.context.layout`), or ``None`` when context has not run."""
        return self.metadata.get("layout")

    def relate(self, label: str, head: Entity, tail: Entity, score: float | None = None, **attributes: Any) -> Relation:
        """Add a relation between two entities already in this document."""
        rel = Relation(label, head, tail, score, dict(attributes))
        check_relations(self.entities, [rel], self.id)
        self.relations.append(rel)
        return rel

    def add(self, start: int, end: int, label: str, score: float | None = None, **attributes: Any) -> Entity:
        """Add an entity by offsets; its text is taken from the document."""
        ent = Entity(start, end, label, self.text[start:end], score, dict(attributes))
        check_offsets(self.text, [ent], self.id)
        self.entities.append(ent)
        self.entities.sort(key=lambda e: (e.start, e.end, e.label))
        return ent

    def with_entities(self, entities: Iterable[Entity]) -> "Document":
        """A copy of this document carrying other entities (e.g. predictions) and no relations."""
        return Document(self.id, self.text, list(entities), dict(self.metadata))

    def with_relations(self, relations: Iterable[Relation]) -> "Document":
        """A copy sharing this document's entities, carrying other relations (e.g. predictions)."""
        return Document(self.id, self.text, list(self.entities), dict(self.metadata), list(relations))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "text": self.text, "entities": [e.to_dict() for e in self.entities]}
        if self.metadata:
            d["metadata"] = self.metadata
        if self.relations:
            index = {id(e): i for i, e in enumerate(self.entities)}
            d["relations"] = [r.to_dict(index) for r in self.relations]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Document":
        entities = [Entity.from_dict(e) for e in d.get("entities") or []]
        return cls(
            id=str(d["id"]),
            text=str(d["text"]),
            entities=entities,
            metadata=dict(d.get("metadata") or {}),
            relations=[Relation.from_dict(r, entities) for r in d.get("relations") or []],
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


def check_relations(entities: Iterable[Entity], relations: Iterable[Relation], doc_id: str = "?") -> None:
    """Every relation must link two entity objects of this document (not equal copies)."""
    mine = {id(e) for e in entities}
    for r in relations:
        for role, ent in (("head", r.head), ("tail", r.tail)):
            if id(ent) not in mine:
                raise InputError(
                    f"document {doc_id}: relation {r.label!r} has a {role} ({ent.label} [{ent.start}:{ent.end}]) "
                    "that is not one of the document's entities"
                )
