"""The NOTE → NOTE_NLP job: resumable, idempotent, safe beside other runs.

A run walks ``NOTE`` (optionally filtered by ``where``) in ``note_id`` order, a page at a time,
and skips a note whose ``clinlm_note_status`` row for this ``nlp_system`` is ``done`` with the
sha256 of its current text. The others (new, changed, failed before) are annotated
``batch_notes`` at a time by the one pipeline (:func:`clinlm.load`), and each batch is written in
one transaction: mark the notes' status rows (which locks them against a concurrent run), delete
their old ``NOTE_NLP`` rows of this ``nlp_system``, allocate ids, insert the new rows. A run
killed at any point leaves whole batches behind it, so the next run resumes with nothing lost and
nothing written twice; rows of other NLP systems are never touched.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import sqlalchemy as sa

from clinlm.document import Document
from clinlm.errors import ConfigError
from clinlm.omop.mapping import LENGTHS, SECTION_LOINC, ConceptMap, Cuts, note_nlp_rows
from clinlm.omop.schema import OmopTables, allocate_ids, check_schema, require_tables, tables

DONE, FAILED = "done", "failed"


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def model_fingerprint(model_dir: str | Path | None) -> str:
    """12 hex digits of sha256 over a model directory's config and weights (``unknown`` without one)."""
    if model_dir is None or not Path(model_dir).is_dir():
        return "unknown"
    files = sorted(p for p in Path(model_dir).iterdir()
                   if p.is_file() and (p.suffix in (".safetensors", ".onnx") or p.name in ("config.json", "clinlm.json")))
    h = hashlib.sha256()
    for p in files:
        h.update(p.name.encode())
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:12]


def nlp_system_of(pipe: Any, version: str, model: str | None = None) -> str:
    """``clinlm <version> <model name>@<fingerprint>``: what NOTE_NLP rows say made them. The name
    is the model directory's (``default`` for the shipped model) or the hub id given."""
    model_dir = getattr(pipe, "manifest_dir", None)
    name = model or (Path(model_dir).name if model_dir is not None else "model")
    if model and Path(model).is_dir():
        name = Path(model).resolve().name
    return f"clinlm {version} {name}@{model_fingerprint(model_dir)}"


@dataclass
class RunReport:
    """What a run did (note ids, never note text)."""

    nlp_system: str
    run_id: str
    notes_read: int = 0
    annotated: int = 0
    changed: int = 0
    skipped: int = 0
    failed: list[int] = field(default_factory=list)
    rows_written: int = 0
    rows_replaced: int = 0
    words: int = 0
    seconds: float = 0.0
    db_seconds: float = 0.0  # reading NOTE and writing NOTE_NLP (the rest: annotating and mapping)
    cuts: Cuts = field(default_factory=Cuts)

    def to_dict(self) -> dict[str, Any]:
        return {"nlp_system": self.nlp_system, "run_id": self.run_id, "notes_read": self.notes_read,
                "annotated": self.annotated, "changed": self.changed, "skipped": self.skipped,
                "failed": len(self.failed), "failed_note_ids": self.failed[:100], "rows_written": self.rows_written,
                "rows_replaced": self.rows_replaced, "words": self.words, "seconds": round(self.seconds, 3),
                "db_seconds": round(self.db_seconds, 3),
                "truncated": dict(self.cuts)}


class NoteNlpJob:
    """``NoteNlpJob(engine, pipe, nlp_system=...).run()`` fills NOTE_NLP from NOTE.

    ``where``: an SQL condition on NOTE's columns (``note_id BETWEEN 1 AND 1000``), trusted as
    the user's own SQL. ``concepts``: a :class:`ConceptMap` (section concept ids are added from
    the database's ``CONCEPT`` table when it has one)."""

    def __init__(self, engine: sa.Engine, pipe: Any, nlp_system: str, *, schema: str | None = None,
                 where: str | None = None, batch_notes: int = 32, concepts: ConceptMap | None = None,
                 page_notes: int | None = None):
        if batch_notes < 1:
            raise ConfigError(f"--batch-notes must be at least 1, not {batch_notes}")
        check_schema(engine, schema)
        self.engine = engine
        self.pipe = pipe
        self.t: OmopTables = tables(schema)
        self.nlp_system = Cuts().fit("nlp_system", nlp_system)
        self.where = sa.text(f"({where})") if where and where.strip() else None
        self.batch_notes = batch_notes
        self.page_notes = page_notes or max(4 * batch_notes, 256)
        self.concepts = concepts or ConceptMap()
        require_tables(engine, self.t)
        self.concepts = self.concepts.with_sections(self._section_concepts())

    # -- reading ------------------------------------------------------------------------
    def _filtered(self, query: sa.Select) -> sa.Select:
        return query.where(self.where) if self.where is not None else query

    def count(self) -> int:
        """Notes the filter selects (for progress)."""
        try:
            with self.engine.connect() as conn:
                return conn.execute(self._filtered(sa.select(sa.func.count()).select_from(self.t.note))).scalar_one()
        except sa.exc.DBAPIError as exc:
            raise ConfigError(f"--where {self.where.text if self.where is not None else ''!r}: "
                              f"{str(exc.orig).splitlines()[0]}") from None

    def _pages(self) -> Iterator[list[tuple[int, str, tuple | None]]]:
        """(note_id, text, (hash, status) or None) in note_id order, a page at a time (keyset)."""
        note, status = self.t.note, self.t.status
        last = None
        while True:
            q = self._filtered(sa.select(note.c.note_id, note.c.note_text))
            if last is not None:
                q = q.where(note.c.note_id > last)
            with self.engine.connect() as conn:
                page = conn.execute(q.order_by(note.c.note_id).limit(self.page_notes)).all()
                if not page:
                    return
                ids = [r.note_id for r in page]
                known = {r.note_id: (r.text_hash, r.status) for r in conn.execute(
                    sa.select(status.c.note_id, status.c.text_hash, status.c.status)
                    .where(status.c.nlp_system == self.nlp_system, status.c.note_id.in_(ids)))}
            yield [(r.note_id, r.note_text or "", known.get(r.note_id)) for r in page]
            last = ids[-1]

    def _section_concepts(self) -> dict[str, int]:
        """Section category → concept id of its LOINC code, from the database's CONCEPT table."""
        schema = self.t.metadata.schema
        if not sa.inspect(self.engine).has_table("concept", schema=schema):
            return {}
        concept = sa.Table("concept", sa.MetaData(schema=schema), sa.Column("concept_id", sa.Integer),
                           sa.Column("vocabulary_id", sa.String(20)), sa.Column("concept_code", sa.String(50)))
        with self.engine.connect() as conn:
            found = dict(conn.execute(sa.select(concept.c.concept_code, concept.c.concept_id).where(
                concept.c.vocabulary_id == "LOINC", concept.c.concept_code.in_(sorted(set(SECTION_LOINC.values()))))).all())
        return {cat: found[code] for cat, code in SECTION_LOINC.items() if code in found}

    # -- annotating and writing -----------------------------------------------------------
    def _annotate(self, notes: Sequence[tuple[int, str]]) -> list[Document | None]:
        docs = [Document(str(nid), text) for nid, text in notes]
        try:
            return list(self.pipe.pipe(docs, batch_size=len(docs)))
        except Exception:  # noqa: BLE001  one bad note must not stop the batch: retry one by one
            out: list[Document | None] = []
            for d in docs:
                try:
                    out.append(next(iter(self.pipe.pipe([d], batch_size=1))))
                except Exception:  # noqa: BLE001  recorded as failed, by id (never the text)
                    out.append(None)
            return out

    def _write(self, batch: list[tuple[int, str, str, list[dict]]], run_id: str, report: RunReport) -> None:
        """One transaction: status rows first (they lock the notes), old rows out, new rows in."""
        t = self.t
        now = dt.datetime.now().replace(microsecond=0)
        ids = [nid for nid, _, _, _ in batch]
        statuses = [{"note_id": nid, "nlp_system": self.nlp_system, "text_hash": h, "run_id": run_id,
                     "status": state, "n_rows": len(rows), "updated_at": now} for nid, h, state, rows in batch]
        rows = [r for _, _, _, rs in batch for r in rs]
        with self.engine.begin() as conn:
            self._upsert_status(conn, statuses)
            gone = conn.execute(t.note_nlp.delete().where(t.note_nlp.c.note_id.in_(ids),
                                                          t.note_nlp.c.nlp_system == self.nlp_system)).rowcount
            for row, nlp_id in zip(rows, allocate_ids(conn, t, len(rows))):
                row["note_nlp_id"] = nlp_id
            if rows:
                conn.execute(t.note_nlp.insert(), rows)
        report.rows_written += len(rows)
        report.rows_replaced += max(gone or 0, 0)

    def _upsert_status(self, conn: sa.Connection, statuses: list[dict]) -> None:
        status = self.t.status
        name = conn.dialect.name
        if name in ("sqlite", "postgresql"):
            if name == "sqlite":
                from sqlalchemy.dialects.sqlite import insert
            else:
                from sqlalchemy.dialects.postgresql import insert
            stmt = insert(status)
            stmt = stmt.on_conflict_do_update(
                index_elements=[status.c.note_id, status.c.nlp_system],
                set_={c: stmt.excluded[c] for c in ("text_hash", "run_id", "status", "n_rows", "updated_at")})
            conn.execute(stmt, statuses)
        else:  # other dialects: delete and insert in the same transaction
            conn.execute(status.delete().where(status.c.nlp_system == self.nlp_system,
                                               status.c.note_id.in_([s["note_id"] for s in statuses])))
            conn.execute(status.insert(), statuses)

    def run(self, on_progress: Callable[[RunReport, int], None] | None = None) -> RunReport:
        """Annotate every selected note not done with its current text; ``on_progress(report, n)``
        after each page's skipped notes and each written batch (``n`` notes more)."""
        run_id = str(uuid.uuid4())
        report = RunReport(self.nlp_system, run_id)
        started = time.perf_counter()
        today = dt.date.today()
        pages = self._pages()
        while True:
            t0 = time.perf_counter()
            page = next(pages, None)
            report.db_seconds += time.perf_counter() - t0
            if page is None:
                break
            report.notes_read += len(page)
            todo = []
            for nid, text, known in page:
                h = text_hash(text)
                if known is not None and known == (h, DONE):
                    report.skipped += 1
                else:
                    report.changed += known is not None and known[0] != h
                    todo.append((nid, text, h))
            if on_progress is not None and len(page) > len(todo):
                on_progress(report, len(page) - len(todo))
            for i in range(0, len(todo), self.batch_notes):
                chunk = todo[i:i + self.batch_notes]
                docs = self._annotate([(nid, text) for nid, text, _ in chunk])
                now = dt.datetime.now().replace(microsecond=0)
                batch = []
                for (nid, text, h), doc in zip(chunk, docs):
                    if doc is None:
                        report.failed.append(nid)
                        batch.append((nid, h, FAILED, []))
                        continue
                    rows = note_nlp_rows(nid, text, doc.entities, self.nlp_system, self.concepts, report.cuts,
                                         today, now)
                    batch.append((nid, h, DONE, rows))
                    report.annotated += 1
                    report.words += len(text.split())
                t0 = time.perf_counter()
                self._write(batch, run_id, report)
                report.db_seconds += time.perf_counter() - t0
                if on_progress is not None:
                    on_progress(report, len(chunk))
        report.seconds = time.perf_counter() - started
        return report


__all__ = ["DONE", "FAILED", "LENGTHS", "NoteNlpJob", "RunReport", "model_fingerprint", "nlp_system_of", "text_hash"]
