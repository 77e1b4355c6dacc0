"""An example NOTE loader: Documents (text files, JSONL, any format clinlm reads) into ``NOTE``.

* ``note_id``: the document id when it is a whole number (``123``, a file ``123.txt``), else the
  note whose ``note_source_value`` is that id, else the next free id. ``note_source_value`` keeps
  the document id (cut to 50 characters).
* Other NOTE columns come from ``metadata`` keys of the same name (JSONL ``"metadata":
  {"person_id": 7, "note_date": "2024-01-31", "note_title": "Discharge summary"}``), else
  ``person_id`` 0, ``note_date`` today and concept ids 0 (the CDM's "no matching concept").
* Loading again is idempotent: a note already there with the same text is left alone, one with
  other text is updated (``clinlm omop run`` then re-annotates it).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Iterable

import sqlalchemy as sa

from clinlm.document import Document
from clinlm.errors import InputError
from clinlm.omop.schema import INT32_MAX, require_tables, tables

_CONCEPTS = ("note_type_concept_id", "note_class_concept_id", "encoding_concept_id", "language_concept_id")
_OPTIONAL_INTS = ("provider_id", "visit_occurrence_id", "visit_detail_id", "note_event_id", "note_event_field_concept_id")


@dataclass
class LoadReport:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


def _int(value: Any, key: str, doc_id: str) -> int:
    try:
        out = int(value)
    except (TypeError, ValueError):
        raise InputError(f"document {doc_id}: metadata {key!r} must be a whole number, not {value!r}") from None
    if not -INT32_MAX - 1 <= out <= INT32_MAX:
        raise InputError(f"document {doc_id}: metadata {key!r} does not fit a 32-bit integer")
    return out


def _date(value: Any, key: str, doc_id: str, kind: type) -> Any:
    try:
        return kind.fromisoformat(str(value))
    except ValueError:
        raise InputError(f"document {doc_id}: metadata {key!r} is not an ISO date: {value!r}") from None


def note_values(doc: Document, today: dt.date) -> dict[str, Any]:
    """NOTE's columns (but note_id) for one document."""
    m = doc.metadata or {}
    row: dict[str, Any] = {
        "person_id": _int(m.get("person_id", 0), "person_id", doc.id),
        "note_date": _date(m["note_date"], "note_date", doc.id, dt.date) if m.get("note_date") else today,
        "note_datetime": _date(m["note_datetime"], "note_datetime", doc.id, dt.datetime) if m.get("note_datetime") else None,
        "note_title": str(m["note_title"])[:250] if m.get("note_title") is not None else None,
        "note_text": doc.text,
        "note_source_value": doc.id[:50],
    }
    for key in _CONCEPTS:
        row[key] = _int(m.get(key, 0), key, doc.id)
    for key in _OPTIONAL_INTS:
        row[key] = _int(m[key], key, doc.id) if m.get(key) is not None else None
    return row


def _whole(doc_id: str) -> int | None:
    return int(doc_id) if doc_id.isascii() and doc_id.isdigit() and int(doc_id) <= INT32_MAX else None


def load_notes(engine: sa.Engine, docs: Iterable[Document], schema: str | None = None, chunk: int = 500) -> LoadReport:
    """Insert or update the documents as NOTE rows, one transaction per ``chunk`` documents."""
    t = tables(schema)
    require_tables(engine, t)
    note = t.note
    report = LoadReport()
    today = dt.date.today()
    pending: list[Document] = []

    def flush() -> None:
        with engine.begin() as conn:
            whole = [n for n in (_whole(d.id) for d in pending) if n is not None]
            names = [d.id[:50] for d in pending if _whole(d.id) is None]
            by_id = {r.note_id: r.note_text for r in conn.execute(
                sa.select(note.c.note_id, note.c.note_text).where(note.c.note_id.in_(whole)))} if whole else {}
            by_name = {r.note_source_value: (r.note_id, r.note_text) for r in conn.execute(
                sa.select(note.c.note_source_value, note.c.note_id, note.c.note_text)
                .where(note.c.note_source_value.in_(names)).order_by(note.c.note_id))} if names else {}
            next_id = None
            inserts = []
            for d in pending:
                row = note_values(d, today)
                nid = _whole(d.id)
                old = by_id.get(nid) if nid is not None else None
                if nid is None and d.id[:50] in by_name:
                    nid, old = by_name[d.id[:50]]
                if nid is not None and (nid in by_id or old is not None):
                    if old == d.text:
                        report.unchanged += 1
                    else:
                        conn.execute(note.update().where(note.c.note_id == nid).values(**row))
                        report.updated += 1
                    continue
                if nid is None:
                    if next_id is None:
                        top = conn.execute(sa.select(sa.func.coalesce(sa.func.max(note.c.note_id), 0))).scalar_one()
                        next_id = max([top] + whole) + 1  # above this chunk's own numbered notes too
                    nid, next_id = next_id, next_id + 1
                    by_name[d.id[:50]] = (nid, d.text)
                else:
                    by_id[nid] = d.text
                inserts.append(dict(row, note_id=nid))
                report.inserted += 1
            if inserts:
                conn.execute(note.insert(), inserts)
        pending.clear()

    for doc in docs:
        pending.append(doc)
        if len(pending) >= chunk:
            flush()
    if pending:
        flush()
    return report
