"""The model shipped inside the package: real entities on a fresh, offline machine."""
from __future__ import annotations

from pathlib import Path

import pytest

import clinlm
from clinlm.labels import ST21PV_TYPES
from clinlm.tasks.ner.pipeline import DEFAULT_MODEL_DIR

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "discharge_note.txt"



def test_the_default_model_is_where_the_pipeline_looks():
    """The weights are committed and packaged: a missing model is a failure, never a skip (a move of
    the pipeline module once pointed this path at nothing while these tests skipped)."""
    for name in ("config.json", "model.safetensors", "tokenizer.json", "clinlm.json"):
        assert (DEFAULT_MODEL_DIR / name).is_file(), name


@pytest.fixture(scope="module")
def pipe():
    return clinlm.load()


def test_default_model_finds_clinical_concepts_in_the_example(pipe):
    text = EXAMPLE.read_text(encoding="utf-8")
    doc = pipe(text)
    assert len(doc.entities) >= 20
    assert {e.label for e in doc.entities} <= set(ST21PV_TYPES)
    found = {e.text.lower() for e in doc.entities}
    assert {"pneumonia", "hypertension", "metformin"} & found
    for e in doc.entities:
        assert text[e.start : e.end] == e.text and 0.0 < e.score <= 1.0


def test_default_model_tags_a_5000_word_note_to_its_last_word(pipe):
    paragraph = EXAMPLE.read_text(encoding="utf-8")
    reps = 5000 // len(paragraph.split()) + 1
    text = "\n\n".join([paragraph] * reps)
    assert len(text.split()) >= 5000
    doc = pipe(text)
    per_copy = len(pipe(paragraph).entities)
    period = len(paragraph) + 2
    copies = {e.start // period for e in doc.entities}
    assert copies == set(range(reps))  # no part of the note is left untagged
    assert len(doc.entities) >= 0.9 * per_copy * reps
    assert doc.entities[-1].end > len(text) - 300


def test_manifest_records_the_test_metrics(pipe):
    test = pipe.manifest.get("metrics", {}).get("test", {})
    assert test.get("protocol") == "MM-ST21pv-r" and 0.3 < test["strict"]["f1"] < 1.0


def test_a_list_without_bullets_is_read_item_by_item():
    """Lines without punctuation under a header: the model reads a sentence end at each line break
    (block breaks), where it once read "cholecystectomy right hip replacement family history ..." as
    one run-on phrase and tagged nothing in the list."""
    text = ("PAST MEDICAL HISTORY:\n1. COPD\n2. Hypertension\n\nPAST SURGICAL HISTORY:\nCholecystectomy\n"
            "Right hip replacement\n\nFAMILY HISTORY:\nMother - colon cancer\n")
    found = {e.text for e in clinlm.load(block_breaks=True)(text).entities}
    assert "Cholecystectomy" in found
    assert "Cholecystectomy" not in {e.text for e in clinlm.load(block_breaks=False)(text).entities}


def test_clinical_abbreviations_in_a_note_get_their_types():
    text = ("HPI: 68 yo M with PMH of HTN, HLD, CAD s/p CABG and COPD presents with SOB.\n"
            "PLAN: Start IV lasix. Check TTE.\n")
    found = {e.text: e.label for e in clinlm.load()(text).entities}
    assert (found.get("HTN"), found.get("HLD"), found.get("CABG"), found.get("SOB"), found.get("TTE")) == (
        "T038", "T038", "T058", "T033", "T058")
    assert "IV" not in found and any("lasix" in k and v == "T103" for k, v in found.items())  # "IV lasix" may stay whole
    plain = {e.text: e.label for e in clinlm.load(abbreviations=False)(text).entities}
    assert plain.get("HTN") != "T038" or "HLD" not in plain  # what the model alone did (2026-12-07: T103, untagged)
    # no sections (an abstract, a sentence): the model's own reading
    sentence = "Patients with HTN and CAD were enrolled."
    assert [(e.text, e.label) for e in clinlm.load()(sentence).entities] == \
        [(e.text, e.label) for e in clinlm.load(abbreviations=False)(sentence).entities]


def test_evaluate_ner_scores_with_and_without_block_breaks(tmp_path):
    import json

    from cli_runner import clinlm

    text = ("PAST MEDICAL HISTORY:\n1. COPD\n2. Hypertension\n\nPAST SURGICAL HISTORY:\nCholecystectomy\n"
            "Right hip replacement\n\nFAMILY HISTORY:\nMother - colon cancer\n")  # as the test above
    start = text.index("Cholecystectomy")
    doc = {"id": "n1", "text": text, "entities": [{"start": start, "end": start + 15, "label": "T058",
                                                    "text": "Cholecystectomy"}]}
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps(doc) + "\n")
    recall = {}
    for flag in ("--block-breaks", "--no-block-breaks"):
        r = clinlm("evaluate", "ner", "--data", data, "--json", flag)
        assert r.returncode == 0, r.stderr.decode()
        recall[flag] = json.loads(r.stdout)["strict"]["recall"]
    assert recall == {"--block-breaks": 1.0, "--no-block-breaks": 0.0}
