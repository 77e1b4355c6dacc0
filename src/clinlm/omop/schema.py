"""OMOP CDM v5.4 ``NOTE`` and ``NOTE_NLP`` as SQLAlchemy Core tables, plus clinlm's bookkeeping.

Column names, types, lengths and nullability follow the CDM v5.4 DDL (OHDSI/CommonDataModel,
``OMOPCDM_<dialect>_5.4_ddl.sql``), its primary keys (``xpk_note``, ``xpk_note_nlp``) and
indexes (``idx_note_*``, ``idx_note_nlp_*``); ``"offset"`` is a reserved word, quoted by the
dialect. Table names are lower case, as the PostgreSQL DDL creates them (unquoted).

clinlm adds, in the same schema:

* ``clinlm_note_status``: one row per (note, ``nlp_system``): the sha256 of the text annotated,
  the run, ``done`` or ``failed``, when. A run skips notes whose row is ``done`` with the same
  hash and re-annotates the rest (new, changed, failed).
* ``note_nlp_id`` allocation: the sequence ``clinlm_note_nlp_id_seq`` where the dialect has
  sequences (PostgreSQL), else the counter row ``clinlm_id_counter('note_nlp')`` updated inside
  the batch's transaction (SQLite: the database's write lock serialises writers). Either way it
  starts above the ``note_nlp_id`` already in the table and stays within 32 bits.
"""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from clinlm.errors import ConfigError

INT32_MAX = 2**31 - 1
ID_SEQUENCE = "clinlm_note_nlp_id_seq"


@dataclass
class OmopTables:
    note: sa.Table
    note_nlp: sa.Table
    status: sa.Table
    counter: sa.Table
    sequence: sa.Sequence
    metadata: sa.MetaData


def tables(schema: str | None = None) -> OmopTables:
    md = sa.MetaData(schema=schema)
    note = sa.Table(
        "note", md,
        sa.Column("note_id", sa.Integer, nullable=False),
        sa.Column("person_id", sa.Integer, nullable=False),
        sa.Column("note_date", sa.Date, nullable=False),
        sa.Column("note_datetime", sa.DateTime, nullable=True),
        sa.Column("note_type_concept_id", sa.Integer, nullable=False),
        sa.Column("note_class_concept_id", sa.Integer, nullable=False),
        sa.Column("note_title", sa.String(250), nullable=True),
        sa.Column("note_text", sa.Text, nullable=False),
        sa.Column("encoding_concept_id", sa.Integer, nullable=False),
        sa.Column("language_concept_id", sa.Integer, nullable=False),
        sa.Column("provider_id", sa.Integer, nullable=True),
        sa.Column("visit_occurrence_id", sa.Integer, nullable=True),
        sa.Column("visit_detail_id", sa.Integer, nullable=True),
        sa.Column("note_source_value", sa.String(50), nullable=True),
        sa.Column("note_event_id", sa.Integer, nullable=True),
        sa.Column("note_event_field_concept_id", sa.Integer, nullable=True),
        sa.PrimaryKeyConstraint("note_id", name="xpk_note"),
        sa.Index("idx_note_person_id_1", "person_id"),
        sa.Index("idx_note_concept_id_1", "note_type_concept_id"),
        sa.Index("idx_note_visit_id_1", "visit_occurrence_id"),
    )
    note_nlp = sa.Table(
        "note_nlp", md,
        sa.Column("note_nlp_id", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("note_id", sa.Integer, nullable=False),
        sa.Column("section_concept_id", sa.Integer, nullable=True),
        sa.Column("snippet", sa.String(250), nullable=True),
        sa.Column("offset", sa.String(50), nullable=True, quote=True),
        sa.Column("lexical_variant", sa.String(250), nullable=False),
        sa.Column("note_nlp_concept_id", sa.Integer, nullable=True),
        sa.Column("note_nlp_source_concept_id", sa.Integer, nullable=True),
        sa.Column("nlp_system", sa.String(250), nullable=True),
        sa.Column("nlp_date", sa.Date, nullable=False),
        sa.Column("nlp_datetime", sa.DateTime, nullable=True),
        sa.Column("term_exists", sa.String(1), nullable=True),
        sa.Column("term_temporal", sa.String(50), nullable=True),
        sa.Column("term_modifiers", sa.String(2000), nullable=True),
        sa.PrimaryKeyConstraint("note_nlp_id", name="xpk_note_nlp"),
        sa.Index("idx_note_nlp_note_id_1", "note_id"),
        sa.Index("idx_note_nlp_concept_id_1", "note_nlp_concept_id"),
    )
    status = sa.Table(
        "clinlm_note_status", md,
        sa.Column("note_id", sa.Integer, nullable=False),
        sa.Column("nlp_system", sa.String(250), nullable=False),
        sa.Column("text_hash", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("n_rows", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("note_id", "nlp_system", name="xpk_clinlm_note_status"),
    )
    counter = sa.Table(
        "clinlm_id_counter", md,
        sa.Column("name", sa.String(50), primary_key=True),
        sa.Column("next_id", sa.Integer, nullable=False),
    )
    sequence = sa.Sequence(ID_SEQUENCE, start=1, metadata=md)
    return OmopTables(note, note_nlp, status, counter, sequence, md)


def engine_for(url: str) -> sa.Engine:
    """An engine for ``url`` (``sqlite:///notes.db``, ``postgresql+psycopg://user@host/db``; a plain
    path is a SQLite file)."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    if "://" not in url:  # a plain path: a SQLite file
        url = "sqlite:///" + url
    options = {}
    if url.startswith("sqlite"):
        options["connect_args"] = {"timeout": 120}  # wait for another writer's batch, not fail
    try:
        return sa.create_engine(url, **options)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ConfigError(f"--db: {exc}") from None
    except ImportError as exc:
        raise ConfigError(f"--db: the database driver is not installed ({exc}); for PostgreSQL: "
                          "pip install 'psycopg[binary]'") from None


def check_schema(engine: sa.Engine, schema: str | None) -> None:
    if schema and engine.dialect.name == "sqlite" and schema != "main":
        raise ConfigError(f"--schema {schema!r}: a SQLite file has no schemas (leave --schema out)")


def has_sequences(engine: sa.Engine) -> bool:
    return bool(engine.dialect.supports_sequences)


def create(engine: sa.Engine, schema: str | None = None) -> list[str]:
    """Create NOTE, NOTE_NLP and clinlm's bookkeeping where missing (never drops or alters).
    Returns the names of the tables created."""
    check_schema(engine, schema)
    t = tables(schema)
    with engine.begin() as conn:
        if schema and engine.dialect.name == "postgresql":
            conn.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
        inspector = sa.inspect(conn)
        before = {name for name in (t.note.name, t.note_nlp.name, t.status.name, t.counter.name)
                  if inspector.has_table(name, schema=schema)}
        t.metadata.create_all(conn, tables=[t.note, t.note_nlp, t.status, t.counter], checkfirst=True)
        if has_sequences(engine):
            t.sequence.create(conn, checkfirst=True)
    ensure_ids(engine, t)
    return [name for name in (t.note.name, t.note_nlp.name, t.status.name, t.counter.name) if name not in before]


def ensure_ids(engine: sa.Engine, t: OmopTables) -> None:
    """Start the id sequence (or counter) above the note_nlp_id already in NOTE_NLP, once."""
    with engine.begin() as conn:
        if has_sequences(engine):
            t.sequence.create(conn, checkfirst=True)
            seq = conn.execute(sa.text(
                "SELECT last_value, is_called FROM " + _qualified(engine, t.sequence.schema, ID_SEQUENCE))).one()
            if not seq.is_called:
                top = conn.execute(sa.select(sa.func.coalesce(sa.func.max(t.note_nlp.c.note_nlp_id), 0))).scalar_one()
                if top > 0:
                    conn.execute(sa.text("SELECT setval(CAST(:seq AS regclass), :top)"),
                                 {"seq": _qualified(engine, t.sequence.schema, ID_SEQUENCE), "top": top})
        else:
            t.counter.create(conn, checkfirst=True)
            if conn.execute(sa.select(t.counter.c.next_id).where(t.counter.c.name == "note_nlp")).first() is None:
                top = conn.execute(sa.select(sa.func.coalesce(sa.func.max(t.note_nlp.c.note_nlp_id), 0))).scalar_one()
                conn.execute(t.counter.insert().values(name="note_nlp", next_id=top + 1))


def _qualified(engine: sa.Engine, schema: str | None, name: str) -> str:
    prep = engine.dialect.identifier_preparer
    return (prep.quote_schema(schema) + "." if schema else "") + prep.quote(name)


def allocate_ids(conn: sa.Connection, t: OmopTables, n: int) -> list[int]:
    """``n`` fresh note_nlp_id inside the caller's transaction, safe with concurrent writers."""
    if n == 0:
        return []
    if conn.dialect.supports_sequences:
        ids = conn.execute(sa.select(t.sequence.next_value()).select_from(sa.func.generate_series(1, n))).scalars().all()
    else:
        # max + offset under the database's write lock (the UPDATE takes it): above the counter and
        # above any id another program wrote into NOTE_NLP meanwhile
        conn.execute(t.counter.update().where(t.counter.c.name == "note_nlp")
                     .values(next_id=t.counter.c.next_id + n))
        counted = conn.execute(sa.select(t.counter.c.next_id).where(t.counter.c.name == "note_nlp")).scalar_one() - n
        top = conn.execute(sa.select(sa.func.coalesce(sa.func.max(t.note_nlp.c.note_nlp_id), 0))).scalar_one()
        first = max(counted, top + 1)
        ids = list(range(first, first + n))
        if first != counted:
            conn.execute(t.counter.update().where(t.counter.c.name == "note_nlp").values(next_id=first + n))
    if ids and max(ids) > INT32_MAX:
        raise ConfigError("note_nlp_id would pass 2,147,483,647 (CDM v5.4 ids are 32-bit integers)")
    return list(ids)


def require_tables(engine: sa.Engine, t: OmopTables) -> None:
    """NOTE and NOTE_NLP must exist (``clinlm omop init`` creates them); bookkeeping is added."""
    inspector = sa.inspect(engine)
    missing = [name for name in (t.note.name, t.note_nlp.name) if not inspector.has_table(name, schema=t.metadata.schema)]
    if missing:
        where = f" in schema {t.metadata.schema}" if t.metadata.schema else ""
        raise ConfigError(f"no {' and no '.join(m.upper() for m in missing)} table{where}: run `clinlm omop init --db URL` first")
    t.metadata.create_all(engine, tables=[t.status, t.counter], checkfirst=True)
    ensure_ids(engine, t)
