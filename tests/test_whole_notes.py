"""``clinlm annotate`` on whole notes as clinicians write them (capital headers, review-of-systems and
exam lists, a family history section): sections, assertions, and nothing that is not a concept."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_runner import clinlm

VISIT = Path(__file__).resolve().parents[1] / "examples" / "visit_note.txt"


def _entities(output: bytes) -> list[dict]:
    (line,) = output.decode("utf-8").splitlines()
    return json.loads(line)["entities"]


@pytest.fixture(scope="module")
def visit() -> list[dict]:
    """The default model's entities of examples/visit_note.txt, through the command line."""
    r = clinlm("annotate", VISIT, "--format", "jsonl")
    assert r.returncode == 0, r.stderr.decode()
    return _entities(r.stdout)


def test_the_visit_note_gets_sections_and_assertions_a_clinician_expects(visit):
    text = VISIT.read_text(encoding="utf-8")

    def at(phrase: str, term: str) -> dict:
        """The attributes of the one entity that overlaps ``term`` where it occurs in ``phrase``.

        Overlap, not the exact span: this test is about sections and assertions, and where a model
        ends a span ("barre" or "barre classes") is judged by benchmarks/whole_notes.py instead."""
        start = text.index(phrase) + phrase.index(term)
        end = start + len(term)
        (e,) = [e for e in visit if e["start"] < end and start < e["end"]]
        return e["attributes"]

    expected = [
        ("CHIEF COMPLAINT\n\nChest pain", "Chest pain", "chief_complaint", "present"),
        ("She denies chest pain", "chest pain", "history_of_present_illness", "absent"),
        ("chest pain or dyspnea on exertion. She", "dyspnea", "history_of_present_illness", "absent"),
        ("reports palpitations", "palpitations", "history_of_present_illness", "present"),
        ("into barre classes", "barre classes", "history_of_present_illness", "present"),
        ("Hypertension\nHyperlipidemia", "Hyperlipidemia", "past_medical_history", "present"),
        ("Mother: breast cancer", "breast cancer", "family_history", "associated_with_someone_else"),
        ("grandfather: myocardial infarction", "myocardial infarction", "family_history",
         "associated_with_someone_else"),
        ("Denies fever", "fever", "review_of_systems", "absent"),
        ("Positive for heartburn", "heartburn", "review_of_systems", "present"),
        ("Endorses depression", "depression", "review_of_systems", "present"),
        ("Regular rate and rhythm", "rhythm", "physical_exam", "present"),
        ("No murmurs", "murmurs", "physical_exam", "absent"),
        ("Lungs are clear", "Lungs", "physical_exam", "present"),
        ("Abdomen is soft", "soft", "physical_exam", "present"),
        ("No edema", "edema", "physical_exam", "absent"),
        ("likely gastroesophageal reflux disease", "gastroesophageal reflux disease", "observation_and_plan",
         "possible"),
        ("Return if chest pain", "chest pain", "patient_instructions", "hypothetical"),
    ]
    for phrase, term, section, assertion in expected:
        a = at(phrase, term)
        assert (term, a["section"], a["assertion"]) == (term, section, assertion)
    assert at("Hypertension\nHyperlipidemia", "Hypertension")["historical"] is True


def test_the_visit_note_has_no_header_words_names_or_cue_words(visit):
    text = VISIT.read_text(encoding="utf-8")
    words = {e["text"].lower() for e in visit}
    assert not words & {"denies", "no", "history", "positive", "endorses", "family history", "physical examination",
                        "review", "chief complaint", "donna torres", "mrs. torres", "torres", "psychiatric",
                        "cardiovascular", "mother", "grandfather", "results", "instructions"}
    assert all("\n" not in e["text"] and text[e["start"]:e["end"]] == e["text"] for e in visit)
    assert all(e["attributes"]["section"] for e in visit if e["start"] > text.index("CHIEF COMPLAINT"))


def test_the_table_and_no_clean(tiny_span_tagger, monkeypatch):
    """A tagger that makes the whole note one entity: clean cuts it at every list item and header and
    drops the header words; --no-clean keeps it whole."""
    note = ("PAST HISTORY\nAsthma\n\nFAMILY HISTORY\nMother: lupus\n\nREVIEW OF SYSTEMS\n- Respiratory: Denies cough\n"
            "- Psychiatric: Endorses depression\n")
    r = clinlm("annotate", "-", "--model", tiny_span_tagger, "--format", "jsonl", stdin=note.encode("utf-8"))
    assert r.returncode == 0, r.stderr.decode()
    got = [(e["text"], e["attributes"]["section"], e["attributes"]["assertion"]) for e in _entities(r.stdout)]
    assert got == [("Asthma", "past_medical_history", "present"),
                   ("lupus", "family_history", "associated_with_someone_else"),
                   ("cough", "review_of_systems", "absent"),
                   ("depression", "review_of_systems", "present")]
    r = clinlm("annotate", "-", "--model", tiny_span_tagger, "--format", "jsonl", "--no-clean",
               stdin=note.encode("utf-8"))
    assert [e["text"] for e in _entities(r.stdout)] == [note.strip()]
    from clinlm.cli import console

    monkeypatch.setattr(console.out, "width", 240)  # the table's columns, untruncated
    r = clinlm("annotate", "-", "--model", tiny_span_tagger, stdin=note.encode("utf-8"))
    assert r.returncode == 0 and b"family_history" in r.stdout and b"associated_with_someone_else" in r.stdout
