"""Request and response bodies of the REST API (they make the OpenAPI schema at ``/openapi.json``).

Offsets are 0-based, half-open Python string indices (Unicode code points) into the text sent:
``text[start:end] == entity.text``. A client in a language that counts UTF-16 units (JavaScript,
Java, C#) converts: a character beyond U+FFFF is one index here and two there.
"""
from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field

SPAN = "0-based, half-open character offsets (Python string indices, code points) into the note's text"


class Note(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="The note, any length (up to the server's max_chars); CRLF and any Unicode kept.")
    id: Optional[str] = Field(None, max_length=256, description="Your id for the note, echoed back.")


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    notes: list[Note] = Field(description="Notes to annotate (at most the server's max_batch_notes; 413 beyond).")


class Attributes(BaseModel):
    """How the note speaks of the concept (ConText) and where it is (absent without context)."""

    model_config = ConfigDict(extra="allow")

    negated: Optional[bool] = None
    uncertain: Optional[bool] = None
    historical: Optional[bool] = None
    hypothetical: Optional[bool] = None
    family: Optional[bool] = Field(None, description="About someone other than the patient.")
    conditional: Optional[bool] = None
    assertion: Optional[str] = Field(None, description="i2b2 label: present, absent, possible, conditional, "
                                                       "hypothetical or associated_with_someone_else.")
    section: Optional[str] = Field(None, description="Category of the section the concept is in; null before any header.")


class EntityOut(BaseModel):
    start: int = Field(description=SPAN)
    end: int = Field(description=SPAN)
    text: str = Field(description="text[start:end]")
    label: str = Field(description="The concept type (a UMLS semantic type id for the default model, e.g. T038).")
    label_name: str = Field(description="The type's name, e.g. Biologic Function.")
    score: Optional[float] = Field(None, description="The model's mean probability of the entity's tags.")
    attributes: Attributes = Field(default_factory=Attributes)


class RelationOut(BaseModel):
    label: str
    head: int = Field(description="Index of the head entity in this document's entities.")
    tail: int = Field(description="Index of the tail entity in this document's entities.")
    score: Optional[float] = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class HeaderSpan(BaseModel):
    start: int
    end: int


class SectionOut(BaseModel):
    start: int = Field(description=SPAN)
    end: int = Field(description=SPAN)
    name: str = Field(description="The header as written.")
    category: Optional[str] = Field(None, description="The section category, e.g. family_history.")
    header: HeaderSpan


class DocumentOut(BaseModel):
    id: Optional[str] = Field(None, description="The id sent with the note.")
    characters: int = Field(description="Length of the text (code points).")
    entities: list[EntityOut]
    sections: list[SectionOut] = Field(description="The note's sections as its layout shows them (empty without context).")
    relations: list[RelationOut] = Field(default_factory=list, description="Relations between the entities "
                                         "(only when the server runs a relation model, --relations).")


class AnnotateResponse(DocumentOut):
    model: str = Field(description="The model that annotated the note.")
    version: str = Field(description="clinlm's version.")
    elapsed_ms: float = Field(description="Time from the request's arrival to its answer, in milliseconds.")


class BatchResponse(BaseModel):
    model: str
    version: str
    elapsed_ms: float
    documents: list[DocumentOut] = Field(description="One per note, in the order sent.")


class ErrorBody(BaseModel):
    code: str = Field(description="bad_json, invalid_request, unauthorized, not_found, too_large, overloaded, "
                                  "timeout, not_ready or internal.")
    message: str


class ErrorEnvelope(BaseModel):
    error: ErrorBody


class LabelOut(BaseModel):
    label: str
    name: str


class Limits(BaseModel):
    max_chars: int
    max_batch_notes: int
    max_batch_tokens: int
    max_wait_ms: float
    max_queue: int
    timeout_s: float


class Info(BaseModel):
    model: str
    relations: Optional[str] = Field(None, description="The relation model, if the server runs one.")
    version: str
    labels: list[LabelOut]
    context: bool = Field(description="Whether entities carry assertion attributes and sections.")
    max_length: int = Field(description="Subwords per window; longer notes are read in overlapping windows.")
    stride: int
    auth: bool = Field(description="Whether /v1 and /metrics need a bearer token.")
    ready: bool
    worker_pid: int = Field(description="The process answering (workers are replaced after --max-requests).")
    limits: Limits


class Health(BaseModel):
    status: str


def document_out(doc: Any, note_id: Optional[str]) -> dict[str, Any]:
    """A :class:`~clinlm.document.Document` as the JSON of :class:`DocumentOut` (clinlm JSON's entities
    plus each label's name; the layout's sections)."""
    from clinlm.labels import type_name

    entities = []
    for e in doc.entities:
        d = e.to_dict()
        d["label_name"] = type_name(e.label)
        d.setdefault("score", None)
        d.setdefault("attributes", {})
        entities.append(d)
    layout = doc.layout or {}
    index = {id(e): i for i, e in enumerate(doc.entities)}
    return {"id": note_id, "characters": len(doc.text), "entities": entities, "sections": layout.get("sections", []),
            "relations": [r.to_dict(index) for r in doc.relations]}
