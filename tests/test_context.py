"""Assertion and section context (clinlm.context), its wiring into NerPipeline and the CLI,
and the outputs that carry it (JSONL, BRAT, HTML, OMOP NOTE_NLP values)."""
from __future__ import annotations

import json
import time

import pytest
from context_cases import CASES, HELDOUT, Case, doc_with
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinlm.context import (
    ASSERTIONS,
    FLAGS,
    ContextAnnotator,
    assertion_of,
    context_attributes,
    default_annotator,
)
from clinlm.document import Document, Entity
from clinlm.errors import ConfigError, InputError

KEYS = set(FLAGS) | {"assertion", "section"}


@pytest.fixture(scope="module")
def annotator() -> ContextAnnotator:
    return default_annotator()


def _check(annotator: ContextAnnotator, case: Case) -> None:
    e = annotator(case.document()).entities[0]
    got = {f for f in FLAGS if e.attributes[f]}
    assert (got, e.attributes["section"]) == (case.expected, case.section)
    assert e.attributes["assertion"] == assertion_of(dict.fromkeys(case.expected, True))


def _params(cases):
    return [pytest.param(c, id=c.id, marks=pytest.mark.xfail(strict=True, reason=c.known) if c.known else ())
            for c in cases]


@pytest.mark.parametrize("case", _params(CASES))
def test_assertion_cases(annotator, case):
    _check(annotator, case)


@pytest.mark.parametrize("case", _params(HELDOUT))
def test_heldout_assertion_cases(annotator, case):
    _check(annotator, case)


def test_the_suite_is_large_and_covers_every_flag():
    assert len(CASES) >= 60
    for flag in FLAGS:
        assert sum(flag in c.expected for c in CASES) >= 4, flag
    assert sum(not c.expected for c in CASES) >= 10  # present, incl. pseudo-negation and scope ends


# -- the label and its precedence ---------------------------------------------------------------
@pytest.mark.parametrize("flags,label", [
    ({}, "present"),
    ({"historical": True}, "present"),
    ({"negated": True}, "absent"),
    ({"uncertain": True}, "possible"),
    ({"negated": True, "uncertain": True}, "possible"),
    ({"conditional": True, "uncertain": True}, "conditional"),
    ({"hypothetical": True, "negated": True}, "hypothetical"),
    ({"family": True, "negated": True, "hypothetical": True}, "associated_with_someone_else"),
])
def test_assertion_precedence(flags, label):
    assert assertion_of(flags) == label and label in ASSERTIONS


def test_section_flags_and_keys():
    a = context_attributes(["FAMILY"], None)
    assert set(a) == KEYS and a["family"] and a["assertion"] == "associated_with_someone_else"
    assert context_attributes([], "past_medical_history")["historical"]
    assert context_attributes([], "family_history")["family"]
    assert context_attributes([], "patient_instructions")["assertion"] == "hypothetical"
    assert context_attributes(["SOMETHING_ELSE"], "social_history") == {
        **dict.fromkeys(FLAGS, False), "assertion": "present", "section": "social_history"}


# -- the annotator on whole notes ----------------------------------------------------------------
NOTE = ("Family History: Mother had breast cancer.\nPast Medical History: MI in 2015.\n"
        "HPI: Denies fever but reports cough. No increase in swelling. Possible pneumonia.\nReturn if fever recurs.")




def test_a_note_with_sections(annotator):
    d = doc_with(NOTE, ["breast cancer", "MI", "fever", "cough", "swelling", "pneumonia", "fever"])
    d.entities[0].attributes["cui"] = "C0006142"
    out = annotator(d)
    got = [(e.text, e.attributes["assertion"], e.attributes["section"], e.attributes["historical"]) for e in out.entities]
    assert got == [
        ("breast cancer", "associated_with_someone_else", "family_history", False),
        ("MI", "present", "past_medical_history", True),
        ("fever", "absent", "history_of_present_illness", False),
        ("cough", "present", "history_of_present_illness", False),
        ("swelling", "present", "history_of_present_illness", False),
        ("pneumonia", "possible", "history_of_present_illness", False),
        ("fever", "hypothetical", "history_of_present_illness", False),
    ]
    assert out.entities[0].attributes["cui"] == "C0006142"  # other attributes are kept
    assert d.entities[1].attributes == {}  # the input is not changed
    assert [e.key() for e in out.entities] == [e.key() for e in d.entities] and out.text == d.text


def _labelled(text: str, terms: list[tuple[str, str]]) -> Document:
    d, pos = Document("n", text), 0
    for term, label in terms:
        pos = text.index(term, pos)
        d.add(pos, pos + len(term), label)
        pos += len(term)
    return d


def test_where_a_relative_is_is_not_what_the_relative_has():
    out = default_annotator()(_labelled("HPI: The patient's son is at the bedside and confirmed his history of "
                                        "hydronephrosis. His mother is diabetic.",
                                        [("bedside", "T058"), ("hydronephrosis", "T038"), ("diabetic", "T038")]))
    assert [e.attributes["family"] for e in out.entities] == [False, False, True]


def test_a_condition_does_not_reach_back_over_a_list():
    out = default_annotator()(_labelled("She had continued pain, snapping, malalignment, difficulty with ambulation. "
                                        "Dyspnea on exertion.", [("snapping", "T033"), ("malalignment", "T033"),
                                                                 ("Dyspnea", "T033")]))
    assert [e.attributes["conditional"] for e in out.entities] == [False, False, True]


@pytest.mark.parametrize("text, terms, want", [
    # the place of a negated finding is not absent itself
    ("No lymphadenopathy in the neck.", [("lymphadenopathy", "T033"), ("neck", "T017")], ["absent", "present"]),
    ("No masses in the abdomen or pelvis.", [("masses", "T033"), ("abdomen", "T017"), ("pelvis", "T017")],
     ["absent", "present", "present"]),
    ("No lymphadenopathy was appreciated in the neck, axillae or groin.",
     [("lymphadenopathy", "T033"), ("neck", "T082"), ("axillae", "T017"), ("groin", "T082")],
     ["absent", "present", "present", "present"]),
    ("He had not had previous problems with his left arm.", [("problems", "T033"), ("left arm", "T017")],
     ["absent", "present"]),
    ("There is no tenderness over the right lower quadrant.", [("tenderness", "T033"), ("right lower quadrant", "T082")],
     ["absent", "present"]),
    # ...but a place negated on its own, or listed beside a finding, still is
    ("No left kidney was seen.", [("left kidney", "T017")], ["absent"]),
    ("No rash, neck stiffness.", [("rash", "T033"), ("neck", "T017")], ["absent", "absent"]),
    ("No erythema of the pharynx.", [("erythema", "T033"), ("pharynx", "T033")], ["absent", "absent"]),  # not a place type
    # a test's result is not the test's absence
    ("Cardiac work-up has been negative.", [("Cardiac work-up", "T058")], ["present"]),
    ("He had negative lab studies.", [("lab studies", "T058")], ["present"]),
    ("CT of the head was unremarkable.", [("CT of the head", "T058")], ["present"]),
    ("No MRI was done.", [("MRI", "T058")], ["absent"]),
    ("Negative for steroids, chemotherapy, or cancer.", [("steroids", "T103"), ("chemotherapy", "T058")],
     ["absent", "absent"]),  # a list of what the patient has not had
    ("Take them and do not miss doses, and he returns with better blood pressure control.",
     [("doses", "T033"), ("blood pressure control", "T038")], ["absent", "present"]),  # a new clause, its own subject
    ("No fever, and she has no cough.", [("fever", "T033"), ("cough", "T033")], ["absent", "absent"]),
    ("No evidence of bowel obstruction and he was released home.", [("bowel obstruction", "T038"), ("home", "T082")],
     ["absent", "present"]),
    ("He denies chest pain and he denies dyspnea.", [("chest pain", "T033"), ("dyspnea", "T033")], ["absent", "absent"]),
    ("There were no leukocytes noted within the urine.", [("leukocytes", "T017"), ("urine", "T031")],
     ["absent", "absent"]),  # the finding is itself of a place type (cells are T017): nothing to place
    ("No bacteria were seen in the urine.", [("bacteria", "T007"), ("urine", "T031")], ["absent", "present"]),
    ("No history of skin disease, who has fullness in the neck.", [("skin disease", "T038"), ("fullness", "T033")],
     ["absent", "present"]),
    ("Negative myalgia.", [("myalgia", "T033")], ["absent"]),
])
def test_places_of_negated_findings_and_results_of_tests(annotator, text, terms, want):
    out = annotator(_labelled(text, terms))
    assert [e.attributes["assertion"] for e in out.entities] == want


def test_odd_entities_and_texts(annotator):
    assert annotator(Document("e", "")).entities == []
    assert annotator(Document("n", "no entities here")).entities == []
    text = "No fever.\r\n  \r\nDenies cough and chills.\u2028Mother: diabetes."
    d = Document("x", text, [
        Entity(3, 8, "T033", "fever"),
        Entity(3, 5, "T033", "fe"),            # inside a token, overlapping another entity
        Entity(9, 11, "T033", "\r\n"),         # whitespace only: no token to hang it on
        Entity(3, 27, "T033", text[3:27]),     # across a sentence boundary
        Entity(len(text) - 9, len(text) - 1, "T033", "diabetes"),
    ])
    out = annotator(d)
    assert [e.key() for e in out.entities] == [e.key() for e in d.entities]
    by = {(e.start, e.end): e.attributes for e in out.entities}
    assert all(set(a) == KEYS for a in by.values())
    assert by[(3, 8)]["negated"] and by[(3, 5)]["negated"]
    assert by[(9, 11)]["assertion"] == "present"
    assert by[(len(text) - 9, len(text) - 1)]["family"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(st.sampled_from(list("ab \r\n\t.:;,no fever denies Mother if?\u00e9\u4e2d\u200b\U0001f600")), min_size=1,
               max_size=120),
       st.lists(st.tuples(st.integers(0, 119), st.integers(1, 8)), max_size=6))
def test_any_text_and_spans_keep_offsets(annotator, text, raw):
    ents = [Entity(s, min(s + n, len(text)), "T033", text[s:min(s + n, len(text))]) for s, n in raw if s < len(text)]
    out = annotator(Document("h", text, ents))
    assert sorted(e.key() for e in out.entities) == sorted(e.key() for e in ents)
    for e in out.entities:
        assert text[e.start:e.end] == e.text and set(e.attributes) == KEYS


def test_long_notes_take_linear_time(annotator):
    note = "The patient denies chest pain and fever. Mother had cancer. Blood pressure with aspirin daily.\r\n\t"
    spans = [(19, 29, "T033"), (34, 39, "T033"), (52, 58, "T191"), (80, 87, "T103")]

    def run(reps: int) -> float:
        text = note * reps
        d = Document("big", text, [Entity(s + k * len(note), e + k * len(note), lab, text[s + k * len(note):e + k * len(note)])
                                   for k in range(reps) for s, e, lab in spans])
        t = time.perf_counter()
        out = annotator(d)
        assert sum(e.attributes["negated"] for e in out.entities) == 2 * reps
        assert sum(e.attributes["family"] for e in out.entities) == reps
        return time.perf_counter() - t

    small, large = run(25), run(100)  # ConText alone would compare all 8,000 modifier pairs: quadratic
    assert large < 8 * small + 0.5


def test_sentence_by_sentence_context_equals_medspacys(annotator):
    """clinlm runs medspaCy's ConText per sentence; it must find the same edges as medspaCy's own pass."""
    from medspacy.context import ConText

    from clinlm.context.medspacy_bridge import SentenceContext

    d = doc_with(NOTE + " No evidence of pneumonia or effusion, but cough persists. Mother and father have no asthma.",
             ["breast cancer", "MI", "fever", "cough", "swelling", "pneumonia", "fever", "pneumonia", "effusion",
              "cough", "asthma"])
    edges = []
    for call in (SentenceContext.__call__, ConText.__call__):
        sdoc = annotator.spacy_doc(d)
        ctx = annotator.nlp.get_pipe("clinlm_context")
        for span in sdoc.spans["clinlm"]:
            span._.modifiers = ()
        call(ctx, sdoc)
        edges.append(sorted((t.start, t.end, m.modifier_span, m.category) for t, m in sdoc._.context_graph.edges))
    assert edges[0] == edges[1] and len(edges[0]) >= 8


def test_pyrush_sentences_equal_pyrushs_own_component(annotator):
    import spacy
    from medspacy.custom_tokenizer import create_medspacy_tokenizer

    from clinlm.context.medspacy_bridge import RUSH_RULES

    ref = spacy.blank("en")
    ref.tokenizer = create_medspacy_tokenizer(ref)
    ref.add_pipe("medspacy_pyrush", config={"rules_path": str(RUSH_RULES)})
    for text in (NOTE, "Dr. Smith saw the pt. today. BP 120/80.  Plan: f/u 2 wks.\r\n\r\nMeds:\n- aspirin\n- metformin"):
        ours = annotator.nlp.get_pipe("clinlm_pyrush")(annotator.nlp.make_doc(text))
        assert [t.i for t in ours if t.is_sent_start] == [t.i for t in ref(text) if t.is_sent_start]


def test_tokenizer_is_medspacys_without_building_englishs_first(annotator):
    """The pipeline registers medSpaCy's tokenizer as spaCy's own (no default tokenizer built only to be
    replaced): the same tokens as medSpaCy's recipe on spaCy's English pipeline."""
    import spacy
    from medspacy.custom_tokenizer import create_medspacy_tokenizer

    ref = spacy.blank("en")
    ref.tokenizer = create_medspacy_tokenizer(ref)
    for text in (NOTE, "c/o chf+cp, 1.5mg q4h p.r.n.; Dr. Smith's pt. don't U.S.A. http://x.org/a?b=1 a@b.org 12/3/2024"):
        assert [t.text for t in annotator.nlp.tokenizer(text)] == [t.text for t in ref.tokenizer(text)]


def test_no_debug_chatter_and_warning_filters_kept(annotator, capfd):
    import warnings

    annotator(doc_with(NOTE, ["fever"]))
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        warnings.warn("still visible", UserWarning)
    assert any("still visible" in str(w.message) for w in caught)
    assert ("ignore", None, Warning, None, 0) not in warnings.filters  # medspaCy's global "ignore" was undone


# -- rule files ------------------------------------------------------------------------------------
def _write(path, key, rules):
    path.write_text(json.dumps({key: rules}), encoding="utf-8")
    return path


def test_user_rules_extend_or_replace_the_defaults(tmp_path):
    rules = _write(tmp_path / "ctx.json", "context_rules", [
        {"literal": "nil", "category": "NEGATED_EXISTENCE", "direction": "FORWARD"},
        {"literal": "grandpa", "category": "FAMILY", "direction": "FORWARD"}])
    sections = _write(tmp_path / "sec.json", "section_rules", [{"literal": "Genetics:", "category": "genetics"}])
    text = "Nil fever. Denies cough. Grandpa had gout.\nGenetics: BRCA1 mutation."
    terms = ["fever", "cough", "gout", "BRCA1 mutation"]
    added = ContextAnnotator(rules, sections)(doc_with(text, terms))
    assert [e.attributes["assertion"] for e in added.entities] == [
        "absent", "absent", "associated_with_someone_else", "present"]
    assert added.entities[-1].attributes["section"] == "genetics"
    replaced = ContextAnnotator(rules, replace=True)(doc_with(text, terms))
    assert [e.attributes["assertion"] for e in replaced.entities][:2] == ["absent", "present"]  # "denies" is gone
    assert replaced.entities[-1].attributes["section"] is None  # no section file given: default headers only
    assert ContextAnnotator(section_rules=sections, replace=True)(doc_with("HPI: fever", ["fever"])).entities[0].attributes[
        "section"] is None  # the default headers are gone


@pytest.mark.parametrize("content,message", [
    ("{not json", "invalid JSON"),
    ('{"rules": []}', 'a "context_rules" list'),
    ('{"context_rules": [{"literal": "x"}]}', "needs a non-empty string 'category'"),
    ('{"context_rules": [{"literal": "x", "category": "NEGATED_EXISTENCE", "direction": "UP"}]}', "direction"),
    ('{"context_rules": [{"literal": "x", "category": "WEIRD"}]}', "unknown category 'WEIRD'"),
    ('{"context_rules": [{"literal": "x", "category": "FAMILY", "colour": 1}]}', "unknown key 'colour'"),
    ('{"context_rules": [{"literal": "x", "category": "FAMILY", "max_scope": 0}]}', "positive integer"),
])
def test_bad_rule_files_are_one_line_errors(tmp_path, content, message):
    p = tmp_path / "rules.json"
    p.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message) as info:
        ContextAnnotator(p)
    assert str(p) in str(info.value) and "\n" not in str(info.value)


def test_bad_patterns_and_files(tmp_path):
    p = _write(tmp_path / "r.json", "context_rules", [{"literal": "x", "category": "FAMILY", "pattern": [{"LOWR": "x"}]}])
    a = ContextAnnotator(p)  # checked structurally now; the pattern itself when the pipeline is built
    with pytest.raises(InputError, match=r"context rule 0 \('x'\) cannot be used") as info:
        a(doc_with("x fever", ["fever"]))
    assert str(p) in str(info.value) and "\n" not in str(info.value)
    s = _write(tmp_path / "s.json", "section_rules", [{"literal": "A B:", "category": "two words"}])
    with pytest.raises(InputError, match="one word"):
        ContextAnnotator(section_rules=s)
    with pytest.raises(InputError, match="not found"):
        ContextAnnotator(tmp_path / "missing.json")
    with pytest.raises(InputError, match="directory"):
        ContextAnnotator(tmp_path)
    with pytest.raises(ConfigError, match="replace"):
        ContextAnnotator(replace=True)


# -- NerPipeline and the CLI ------------------------------------------------------------------------
@pytest.fixture
def tagger_dir(tiny_tagger):
    return tiny_tagger


def test_pipeline_attaches_context(tagger_dir, tmp_path):
    from clinlm.tasks.ner.pipeline import NerPipeline

    pipe = NerPipeline.from_pretrained(tagger_dir)
    doc = pipe("The patient denies fever.")
    assert doc.entities and all(set(e.attributes) == KEYS for e in doc.entities)
    assert {e.text: e.attributes["negated"] for e in doc.entities}["fever"] is True
    assert pipe.context is default_annotator() and pipe.context._nlp is not None  # built once, shared
    bare = NerPipeline.from_pretrained(tagger_dir, context=False)
    assert bare.context is None and all(e.attributes == {} for e in bare("denies fever").entities)
    rules = _write(tmp_path / "r.json", "context_rules", [{"literal": "nil", "category": "NEGATED_EXISTENCE",
                                                           "direction": "FORWARD"}])
    custom = NerPipeline.from_pretrained(tagger_dir, context_rules=rules)
    assert {e.text: e.attributes["negated"] for e in custom("nil cough").entities}["cough"] is True
    with pytest.raises(InputError, match="not found"):
        NerPipeline.from_pretrained(tagger_dir, context_rules=tmp_path / "missing.json")
    with pytest.raises(ConfigError, match="context is off"):
        NerPipeline.from_pretrained(tagger_dir, context=False, context_rules=rules)


def _cli(*args):
    from typer.testing import CliRunner

    from clinlm.cli.main import app

    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=True)


def test_cli_table_html_and_rule_options(tagger_dir, tmp_path, monkeypatch):
    from clinlm.cli import console

    monkeypatch.setattr(console.out, "width", 240)  # the table's columns, untruncated
    note = tmp_path / "note.txt"
    note.write_text("Family History: mother had cancer.\nHPI: The patient denies fever.", encoding="utf-8")
    r = _cli("annotate", note, "--model", tagger_dir)
    assert r.exit_code == 0, r.output
    assert "assertion" in r.output and "section" in r.output and "absent" in r.output
    page = tmp_path / "page.html"
    r = _cli("annotate", note, "--model", tagger_dir, "--format", "html", "--output", page)
    assert r.exit_code == 0, r.output
    html = page.read_text(encoding="utf-8")
    assert "Finding NEG" in html and "line-through" in html and "Finding FAM" in html
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left
    r = _cli("annotate", note, "--model", tagger_dir, "--no-context", "--format", "jsonl")
    assert r.exit_code == 0 and '"attributes"' not in r.output
    r = _cli("annotate", note, "--model", tagger_dir, "--no-context", "--context-rules", note)
    assert isinstance(r.exception, ConfigError)
    bad = tmp_path / "bad.json"
    bad.write_text("[]", encoding="utf-8")
    r = _cli("annotate", note, "--model", tagger_dir, "--context-rules", bad)
    assert isinstance(r.exception, InputError) and str(bad) in str(r.exception)


# -- outputs -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def annotated(annotator) -> Document:
    return annotator(doc_with(NOTE, ["breast cancer", "MI", "fever", "cough", "pneumonia"]))


def test_jsonl_and_brat_carry_the_attributes(annotated, tmp_path):
    from clinlm.formats import brat, jsonl

    assert jsonl.loads(jsonl.dumps([annotated]))[0] == annotated
    ann = brat.dumps_ann(annotated)
    lines = ann.splitlines()
    assert "A1\tfamily T1" in lines and "A2\tassertion T1 associated_with_someone_else" in lines
    assert "A3\tsection T1 family_history" in lines and "negated T3" in ann and "historical T2" in ann
    assert not any(" False" in ln or " None" in ln for ln in lines)
    back = brat.loads(annotated.text, ann, "n")
    for a, b in zip(annotated.entities, back.entities):
        assert b.attributes == {k: v for k, v in a.attributes.items() if v not in (False, None)}


def test_html_page(annotated, tmp_path):
    from clinlm.formats import write_documents

    evil = Document("<b>id</b>", "x <script> fever", [Entity(11, 16, "<i>", "fever", None, {"negated": True})])
    page = tmp_path / "p.html"
    write_documents([annotated, evil], page, "html")
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.count("<figure") == 2
    for label in ("Finding FAM", "Finding NEG", "Finding POSS", "Finding HIST"):
        assert label in html
    assert "<script>" not in html and "<b>id</b>" not in html and "&lt;i&gt; NEG" in html


def test_omop_values(annotated):
    from clinlm.omop import note_nlp_values, term_modifiers

    rows = [note_nlp_values(e) for e in annotated.entities]
    assert [r["term_exists"] for r in rows] == ["N", "Y", "N", "Y", "Y"]
    assert [r["term_temporal"] for r in rows] == ["present", "past", "present", "present", "present"]
    e0, e1, e2 = annotated.entities[:3]
    assert rows[0]["term_modifiers"].startswith("negated=false,uncertain=false,hypothetical=false,conditional=false,"
                                                "subject=family,section=family_history")
    assert rows[0]["term_modifiers"].endswith(f"end={e0.end}")
    assert rows[2]["term_modifiers"].startswith("negated=true,") and "section=history_of_present_illness" in rows[2]["term_modifiers"]
    assert rows[1]["offset"] == str(e1.start) and rows[1]["lexical_variant"] == e1.text
    assert term_modifiers({"negated": True, "family": True, "section": "family_history"}, 0.91234, 17) == \
        "negated=true,uncertain=false,hypothetical=false,conditional=false,subject=family,section=family_history,score=0.912,end=17"
