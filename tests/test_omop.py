"""OMOP NOTE → NOTE_NLP in a real database: the same tests on SQLite and on a throwaway PostgreSQL.

The job's logic (batches, transactions, resume, changed notes) runs with a deterministic stand-in
pipeline (:class:`omop_helpers.WordTagger`); the commands run the real pipeline on a tiny model.
"""
from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sa = pytest.importorskip("sqlalchemy")

from cli_runner import clinlm  # noqa: E402
from conftest import require_system  # noqa: E402
from hypothesis import given, settings, strategies as st  # noqa: E402
from omop_helpers import SYSTEM, PostgresServer, WordTagger, postgres_bin  # noqa: E402

from clinlm.document import Entity  # noqa: E402
from clinlm.omop import ConceptMap, Cuts, note_nlp_rows, snippet  # noqa: E402

HELPER = Path(__file__).with_name("omop_helpers.py")
CONTENT = ("note_id", "section_concept_id", "snippet", "offset", "lexical_variant", "note_nlp_concept_id",
           "note_nlp_source_concept_id", "nlp_system", "term_exists", "term_temporal", "term_modifiers")


@pytest.fixture(scope="session")
def postgres():
    bindir = postgres_bin()
    require_system("PostgreSQL (initdb, pg_ctl)", bindir is not None)
    pytest.importorskip("psycopg")
    server = PostgresServer(bindir)
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def make_db(request, tmp_path):
    """A factory of empty databases of one dialect (each call: a new one)."""
    if request.param == "sqlite":
        count = iter(range(1000))
        return lambda: f"sqlite:///{tmp_path}/db{next(count)}.sqlite"
    server = request.getfixturevalue("postgres")
    return server.new_database


def notes(n: int, seed: int = 0) -> list[tuple[int, str]]:
    rng = random.Random(seed)
    words = "patient denies fever reports cough headache nausea history diabetes mother asthma no pain".split()
    return [(i, ("HPI: " if i % 3 == 0 else "") + " ".join(rng.choice(words) for _ in range(rng.randint(0, 30))))
            for i in range(1, n + 1)]


def fill(url: str, rows: list[tuple[int, str]]) -> sa.Engine:
    import datetime as dt

    from clinlm.omop.schema import create, engine_for, tables

    engine = engine_for(url)
    create(engine)
    t = tables()
    with engine.begin() as conn:
        conn.execute(t.note.insert(), [
            {"note_id": i, "person_id": i % 7, "note_date": dt.date(2024, 1, 1), "note_type_concept_id": 0,
             "note_class_concept_id": 0, "note_text": text, "encoding_concept_id": 0, "language_concept_id": 0}
            for i, text in rows])
    return engine


def table_rows(engine, system: str | None = SYSTEM, ids: bool = False) -> list[tuple]:
    from clinlm.omop.schema import tables

    t = tables().note_nlp
    cols = [t.c[c] for c in (("note_nlp_id",) if ids else ()) + CONTENT]
    q = sa.select(*cols)
    if system is not None:
        q = q.where(t.c.nlp_system == system)
    with engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(q))


def run_job(engine, **kw):
    from clinlm.omop.job import NoteNlpJob

    tagger = kw.pop("tagger", WordTagger())
    return NoteNlpJob(engine, tagger, kw.pop("system", SYSTEM), **kw).run()


# -- the schema ---------------------------------------------------------------------------
def test_init_creates_the_v54_tables(make_db):
    url = make_db()
    result = clinlm("omop", "init", "--db", url)
    assert result.returncode == 0, result.stderr
    assert b"note_nlp" in result.stderr
    engine = sa.create_engine(url)
    cols = {c["name"]: c for c in sa.inspect(engine).get_columns("note_nlp")}
    assert list(cols) == ["note_nlp_id", "note_id", "section_concept_id", "snippet", "offset", "lexical_variant",
                          "note_nlp_concept_id", "note_nlp_source_concept_id", "nlp_system", "nlp_date",
                          "nlp_datetime", "term_exists", "term_temporal", "term_modifiers"]
    lengths = {name: getattr(c["type"], "length", None) for name, c in cols.items()}
    assert {k: lengths[k] for k in ("snippet", "offset", "lexical_variant", "nlp_system", "term_exists",
                                    "term_temporal", "term_modifiers")} == \
        {"snippet": 250, "offset": 50, "lexical_variant": 250, "nlp_system": 250, "term_exists": 1,
         "term_temporal": 50, "term_modifiers": 2000}
    assert not cols["note_nlp_id"]["nullable"] and not cols["lexical_variant"]["nullable"] and not cols["nlp_date"]["nullable"]
    assert cols["snippet"]["nullable"] and cols["term_modifiers"]["nullable"]
    note = {c["name"]: c for c in sa.inspect(engine).get_columns("note")}
    assert len(note) == 16 and not note["note_text"]["nullable"] and note["note_title"]["type"].length == 250
    assert sa.inspect(engine).get_pk_constraint("note_nlp")["constrained_columns"] == ["note_nlp_id"]
    again = clinlm("omop", "init", "--db", url)
    assert again.returncode == 0 and b"there already" in again.stderr


def test_the_ddl_quotes_offset_for_both_dialects():
    from sqlalchemy.dialects import postgresql, sqlite
    from sqlalchemy.schema import CreateTable

    from clinlm.omop.schema import tables

    for dialect in (postgresql.dialect(), sqlite.dialect()):
        ddl = str(CreateTable(tables().note_nlp).compile(dialect=dialect))
        assert '"offset" VARCHAR(50)' in ddl and "term_modifiers VARCHAR(2000)" in ddl
        assert "SERIAL" not in ddl and "AUTOINCREMENT" not in ddl
        assert "SERIAL" not in str(CreateTable(tables().note).compile(dialect=dialect))


def test_run_needs_the_tables_and_a_sane_database(tmp_path):
    result = clinlm("omop", "run", "--db", f"sqlite:///{tmp_path}/none.db")
    assert result.returncode == 2 and b"clinlm omop init" in result.stderr
    result = clinlm("omop", "init", "--db", f"sqlite:///{tmp_path}/x.db", "--schema", "cdm")
    assert result.returncode == 2 and b"no schemas" in result.stderr
    engine = fill(f"sqlite:///{tmp_path}/y.db", [(1, "fever")])
    result = clinlm("omop", "run", "--db", f"sqlite:///{tmp_path}/y.db", "--where", "no_such_column > 1",
                    "--model", tmp_path / "no-model")  # --where is checked before the model loads
    assert result.returncode == 2 and b"--where" in result.stderr and b"no_such_column" in result.stderr
    from clinlm.errors import ConfigError

    with pytest.raises(ConfigError, match="--where"):
        from clinlm.omop.job import NoteNlpJob

        NoteNlpJob(engine, WordTagger(), SYSTEM, where="no_such_column > 1").count()


def test_a_postgresql_schema_holds_everything(postgres):
    from clinlm.omop.job import NoteNlpJob
    from clinlm.omop.notes import load_notes
    from clinlm.omop.schema import create, engine_for, tables

    from clinlm.document import Document

    engine = engine_for(postgres.new_database())
    assert sorted(create(engine, "cdm")) == ["clinlm_id_counter", "clinlm_note_status", "note", "note_nlp"]
    load_notes(engine, [Document("1", "HPI: no asthma tonight"), Document("x", "fever again")], schema="cdm")
    report = NoteNlpJob(engine, WordTagger(), SYSTEM, schema="cdm").run()
    assert (report.annotated, report.rows_written) == (2, 2)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables("cdm").note_nlp)).scalar_one() == 2
        assert conn.execute(sa.text("SELECT count(*) FROM information_schema.sequences WHERE sequence_schema = 'cdm'")).scalar_one() == 1
        assert conn.execute(sa.text("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")).scalar_one() == 0


# -- the mapping ----------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=600), st.data())
def test_snippet_holds_the_entity_and_fits(text, data):
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    s = snippet(text, start, end)
    assert len(s) <= 250 and s in text
    if end - start <= 250:
        assert text[start:end] in s
        assert len(s) == min(250, len(text))
    else:
        assert s == text[start:start + 250]


@settings(max_examples=150, deadline=None)
@given(st.text(min_size=1, max_size=400), st.data())
def test_offset_and_end_give_back_the_entity(text, data):
    spans = data.draw(st.lists(st.tuples(st.integers(0, len(text) - 1), st.integers(1, 300)), max_size=5))
    ents = [Entity(a, min(len(text), a + n), "T033", text[a:min(len(text), a + n)], 0.5, {}) for a, n in spans]
    rows = note_nlp_rows(1, text, ents, "sys", ConceptMap(), Cuts(), None, None)
    for e, row in zip(ents, rows):
        start = int(row["offset"])
        end = int(row["term_modifiers"].rsplit("end=", 1)[1])
        assert (start, end) == (e.start, e.end) and row["lexical_variant"] == text[start:end][:250]


def test_rows_cut_long_text_and_count_the_cuts():
    text = "x" * 300 + " tail"
    e = Entity(0, 300, "T033", text[:300], 0.9, {"section": "s" * 2100})
    cuts = Cuts()
    (row,) = note_nlp_rows(5, text, [e], "sys", ConceptMap({"T033": 123}, {"T033": 9}, {"s" * 2100: 7}), cuts, None, None)
    assert len(row["lexical_variant"]) == 250 and len(row["snippet"]) == 250 and len(row["term_modifiers"]) == 2000
    assert dict(cuts) == {"lexical_variant": 1, "snippet": 1, "term_modifiers": 1}
    assert (row["offset"], row["note_nlp_concept_id"], row["note_nlp_source_concept_id"], row["section_concept_id"]) == \
        ("0", 123, 9, 7)


def test_concept_map_file(tmp_path):
    p = tmp_path / "map.json"
    p.write_text(json.dumps({"concepts": {"C0011849": 201820, "T047": 4}, "sections": {"family_history": 5}}))
    m = ConceptMap.read(p)
    assert m.concept(Entity(0, 1, "T047", "x", attributes={"cui": "C0011849"})) == 201820  # linked id first
    assert m.concept(Entity(0, 1, "T047", "x")) == 4 and m.concept(Entity(0, 1, "T999", "x")) == 0
    assert m.section("family_history") == 5 and m.section(None) == 0 and m.section("other") == 0
    p.write_text(json.dumps({"concepts": {"T047": "four"}}))
    from clinlm.errors import InputError

    with pytest.raises(InputError, match="integer"):
        ConceptMap.read(p)


# -- the job --------------------------------------------------------------------------------
def test_run_is_idempotent_and_replaces_changed_notes(make_db):
    from clinlm.omop.schema import tables

    engine = fill(make_db(), notes(60))
    first = run_job(engine, batch_notes=8)
    assert (first.annotated, first.skipped, first.failed) == (60, 0, [])
    rows = table_rows(engine, ids=True)
    assert len(rows) == first.rows_written > 0
    assert len({r[0] for r in rows}) == len(rows)
    again = run_job(engine, batch_notes=8)
    assert (again.annotated, again.skipped, again.rows_written) == (0, 60, 0)
    assert table_rows(engine, ids=True) == rows  # untouched, ids too
    t = tables()
    with engine.begin() as conn:  # another system's rows stay; a changed note is redone
        conn.execute(t.note_nlp.insert().values(note_nlp_id=10**6, note_id=2, lexical_variant="x", nlp_system="other",
                                                nlp_date=sa.func.current_date()))
        conn.execute(t.note.update().where(t.note.c.note_id == 2).values(note_text="HPI: no asthma tonight"))
    blind = run_job(engine, batch_notes=8, recheck=False)  # the anti-join alone: done notes are not read
    assert (blind.notes_read, blind.annotated) == (0, 0)
    third = run_job(engine, batch_notes=8)
    assert (third.annotated, third.changed, third.skipped) == (1, 1, 59)
    after = table_rows(engine)
    assert [r for r in after if r[0] == 2] == sorted([(2, 0, "HPI: no asthma tonight", "8", "asthma", 0, 0, SYSTEM, "N", "present",
                                               "negated=true,uncertain=false,hypothetical=false,conditional=false,"
                                               "subject=patient,section=history_of_present_illness,score=0.500,end=14"),
                                              (2, 0, "HPI: no asthma tonight", "15", "tonight", 0, 0, SYSTEM, "Y", "present",
                                               "negated=false,uncertain=false,hypothetical=false,conditional=false,"
                                               "subject=patient,section=history_of_present_illness,score=0.500,end=22")])
    assert [r for r in after if r[0] != 2] == sorted(r[1:] for r in rows if r[1] != 2)
    assert len(table_rows(engine, system="other")) == 1


def test_section_concepts_come_from_the_concept_table(make_db):
    engine = fill(make_db(), [(1, "HPI: asthma tonight")])
    with engine.begin() as conn:  # a sliver of the OMOP vocabulary: LOINC 10164-2
        conn.execute(sa.text("CREATE TABLE concept (concept_id integer, concept_name varchar(255), "
                             "vocabulary_id varchar(20), concept_code varchar(50))"))
        conn.execute(sa.text("INSERT INTO concept VALUES (3010000, 'History of Present illness Narrative', 'LOINC', "
                             "'10164-2'), (99, 'other', 'SNOMED', '10164-2')"))
    run_job(engine)
    assert {r[1] for r in table_rows(engine)} == {3010000}


class LinkedTagger(WordTagger):
    """WordTagger whose entities carry the linker's ``concepts`` attribute."""

    LINKS = {"asthma": ("MEDIC", "D001249"), "aspirin": ("RXNORM", "1191"), "tonight": ("UMLS", "C0000001"),
             "nausea": ("MEDIC", "D009325")}

    def _one(self, doc):
        doc = super()._one(doc)
        for e in doc.entities:
            if e.text in self.LINKS:
                vocab, cid = self.LINKS[e.text]
                e.attributes["concepts"] = [{"vocab": vocab, "id": cid, "name": e.text, "score": 1.0}]
        return doc


def test_linked_concepts_map_through_the_omop_vocabulary(make_db, tmp_path):
    engine = fill(make_db(), [(1, "asthma aspirin tonight nausea fever")])
    with engine.begin() as conn:  # a sliver of the OMOP vocabulary (concept ids made up)
        conn.execute(sa.text("CREATE TABLE concept (concept_id integer, concept_name varchar(255), "
                             "vocabulary_id varchar(20), concept_code varchar(50), standard_concept varchar(1))"))
        conn.execute(sa.text("CREATE TABLE concept_relationship (concept_id_1 integer, concept_id_2 integer, "
                             "relationship_id varchar(20), invalid_reason varchar(1))"))
        conn.execute(sa.text("INSERT INTO concept VALUES (100, 'Asthma', 'MeSH', 'D001249', NULL), "
                             "(317009, 'Asthma', 'SNOMED', '195967001', 'S'), (1112807, 'aspirin', 'RxNorm', '1191', 'S')"))
        conn.execute(sa.text("INSERT INTO concept_relationship VALUES (100, 317009, 'Maps to', NULL), "
                             "(100, 5, 'Maps to', 'D')"))
    concepts = tmp_path / "map.json"
    concepts.write_text(json.dumps({"concepts": {"MEDIC:D009325": 31967, "T033": 7}}))
    run_job(engine, tagger=LinkedTagger(), concepts=ConceptMap.read(concepts))
    got = {r[4]: (r[5], r[6]) for r in table_rows(engine)}  # lexical_variant -> (concept, source concept)
    # MeSH -> Maps to (the deprecated mapping ignored); a standard concept is its own; UMLS has no
    # OMOP vocabulary: the label's entry; the user's entry for a linked concept wins
    assert got == {"asthma": (317009, 100), "aspirin": (1112807, 1112807), "tonight": (7, 0), "nausea": (31967, 0)}


def test_failed_notes_are_reported_by_id_and_retried(make_db):
    engine = fill(make_db(), [(1, "fever tonight"), (2, "poison headache"), (3, "asthma again")])
    report = run_job(engine, tagger=WordTagger(fail_on="poison"))
    assert report.failed == [2] and report.annotated == 2
    assert {r[0] for r in table_rows(engine)} == {1, 3}
    retry = run_job(engine)
    assert (retry.annotated, retry.skipped, retry.failed) == (1, 2, [])
    assert {r[0] for r in table_rows(engine)} == {1, 2, 3}


def test_where_and_two_concurrent_runs_on_disjoint_ranges(make_db):
    url = make_db()
    engine = fill(url, notes(120, seed=1))
    from clinlm.omop.schema import engine_for

    reports = {}

    def go(name, where):
        reports[name] = run_job(engine_for(url), where=where, batch_notes=5, tagger=WordTagger(delay=0.005))

    threads = [threading.Thread(target=go, args=("a", "note_id <= 60")),
               threading.Thread(target=go, args=("b", "note_id > 60"))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert reports["a"].annotated == 60 and reports["b"].annotated == 60
    both = table_rows(engine, ids=True)
    assert len({r[0] for r in both}) == len(both)  # no id collision
    ref = fill(make_db(), notes(120, seed=1))
    run_job(ref)
    assert table_rows(engine) == table_rows(ref)


def test_two_runs_over_the_same_notes_write_each_row_once(make_db):
    """Overlapping runs: a batch's status rows lock its notes, so the later batch replaces the
    earlier one's rows instead of adding to them."""
    from clinlm.omop.schema import engine_for

    url = make_db()
    engine = fill(url, notes(80, seed=4))
    threads = [threading.Thread(target=run_job, args=(engine_for(url),),
                                kwargs={"batch_notes": b, "tagger": WordTagger(delay=0.003)}) for b in (5, 7)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    ref = fill(make_db(), notes(80, seed=4))
    run_job(ref)
    assert table_rows(engine) == table_rows(ref)


@pytest.mark.parametrize("n_notes,n_kills", [(400, 6), pytest.param(2000, 20, marks=pytest.mark.slow)])
def test_killed_runs_resume_with_nothing_lost_or_duplicated(make_db, n_notes, n_kills):
    """SIGKILL the job subprocess at random points, resume, and compare with one uninterrupted run."""
    from clinlm.omop.schema import tables

    url = make_db()
    engine = fill(url, notes(n_notes, seed=2))
    t = tables()
    rng = random.Random(0)
    kills = 0

    def n_done() -> int:
        with engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(t.status)).scalar_one()

    while kills < n_kills:
        proc = subprocess.Popen([sys.executable, str(HELPER), url], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        # kill once this run has committed a batch of its own, at a random point after it: the
        # number of kills then does not depend on how fast the machine starts Python
        before, deadline = n_done(), time.monotonic() + 60
        while proc.poll() is None and n_done() <= before and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.15))
        if proc.poll() is not None:
            assert proc.returncode == 0, proc.stderr.read().decode()
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        with engine.connect() as conn:  # after every kill: whole notes only, never a note's rows twice
            per_note = dict(conn.execute(sa.select(t.note_nlp.c.note_id, sa.func.count()).group_by(t.note_nlp.c.note_id)).all())
            done = dict(conn.execute(sa.select(t.status.c.note_id, t.status.c.n_rows)).all())
        assert {k: v for k, v in per_note.items()} == {k: v for k, v in done.items() if v}
    assert kills >= min(n_kills, 2 + n_notes // 200), "the job finished before it could be killed enough"
    final = run_job(engine, batch_notes=7)
    assert final.skipped > 0
    resumed = table_rows(engine, ids=True)
    ref = fill(make_db(), notes(n_notes, seed=2))
    run_job(ref, batch_notes=7)
    expected = table_rows(ref, ids=True)
    assert sorted(r[1:] for r in resumed) == sorted(r[1:] for r in expected)  # 0 lost, 0 duplicated
    assert len({r[0] for r in resumed}) == len(resumed)
    print(f"{n_notes} notes, {kills} kills: {len(resumed)} rows = {len(expected)} uninterrupted; "
          f"the last resume skipped {final.skipped} done notes and annotated {final.annotated}")


# -- the commands, on the real pipeline ---------------------------------------------------------
def test_commands_fill_note_nlp_like_annotate(make_db, tmp_path, tiny_tagger):
    from clinlm.formats import read_documents

    url = make_db()
    (tmp_path / "7.txt").write_text("HPI: patient denies fever.\nreports cough\n", encoding="utf-8")
    (tmp_path / "n.jsonl").write_text(json.dumps({"id": "abc", "text": "mother had cancer", "metadata": {
        "person_id": 3, "note_date": "2024-02-01", "note_title": "Clinic"}}) + "\n", encoding="utf-8")
    assert clinlm("omop", "init", "--db", url).returncode == 0
    loaded = clinlm("omop", "load-notes", "--db", url, tmp_path / "7.txt", tmp_path / "n.jsonl")
    assert loaded.returncode == 0 and b"2 inserted" in loaded.stderr, loaded.stderr
    assert b"2 unchanged" in clinlm("omop", "load-notes", "--db", url, tmp_path / "7.txt", tmp_path / "n.jsonl").stderr
    result = clinlm("omop", "run", "--db", url, "--model", tiny_tagger, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["annotated"] == 2 and report["nlp_system"].startswith(f"clinlm 0.1.0 {Path(tiny_tagger).name}@")
    ann = clinlm("annotate", "--model", tiny_tagger, "--format", "jsonl", "-o", tmp_path / "a.jsonl",
                 tmp_path / "7.txt", tmp_path / "n.jsonl")
    assert ann.returncode == 0, ann.stderr
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        ids = dict(conn.execute(sa.text("SELECT note_source_value, note_id FROM note")).all())
    assert ids["7"] == 7 and ids["abc"] == 8
    got = table_rows(engine, system=None)
    expected = sorted((ids[d.id], e.start, e.text) for d in read_documents(tmp_path / "a.jsonl") for e in d.entities)
    assert sorted((r[0], int(r[3]), r[4]) for r in got) == expected and expected
    again = json.loads(clinlm("omop", "run", "--db", url, "--model", tiny_tagger, "--json").stdout)
    assert (again["annotated"], again["skipped"]) == (0, 2)


@pytest.mark.slow
def test_the_command_killed_mid_run_resumes(make_db, tiny_tagger, tmp_path):
    """The real ``clinlm omop run`` process, SIGKILLed once some batches are in, then resumed."""
    import os

    from clinlm.omop.schema import tables

    url = make_db()
    engine = fill(url, notes(150, seed=3))
    t = tables()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1] / "src"),
                                                       os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "clinlm", "omop", "run", "--db", url, "--model", str(tiny_tagger), "--batch-notes", "4"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    done = 0
    while time.time() < deadline and proc.poll() is None:
        with engine.connect() as conn:
            done = conn.execute(sa.select(sa.func.count()).select_from(t.status)).scalar_one()
        if done >= 8:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 8 <= done < 150
    resumed = clinlm("omop", "run", "--db", url, "--model", tiny_tagger, "--json")
    report = json.loads(resumed.stdout)
    assert report["skipped"] >= 8 and report["skipped"] + report["annotated"] == 150
    system = report["nlp_system"]
    ref = fill(make_db(), notes(150, seed=3))
    json.loads(clinlm("omop", "run", "--db", str(ref.url.render_as_string(hide_password=False)), "--model", tiny_tagger,
                      "--json").stdout)
    assert sorted(r[1:] for r in table_rows(engine, system, ids=True)) == \
        sorted(r[1:] for r in table_rows(ref, system, ids=True))
    assert len(table_rows(engine, system)) == len(set(table_rows(engine, system)))
