"""The ``clinlm`` spaCy component: found through its entry point, same entities as clinlm itself,
medspaCy before and after it, displaCy, ``nlp.pipe``, and a clear error for a bad model.

The component module is never imported here: ``nlp.add_pipe("clinlm")`` has to find it alone.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import spacy

import clinlm
from clinlm.context.spacy_adapter import from_spacy
from clinlm.errors import ClinlmError

# "Dr." and "1.5mg" are spaCy tokens that clinlm splits into words: spans widen, entities stay exact
TEXT = "Dr. Lee: the patient denies fever, took 1.5mg.\nMother had cancer."


def _nlp(model, **config):
    nlp = spacy.blank("en")
    nlp.add_pipe("clinlm", config={"model": str(model), **config})
    return nlp


@pytest.fixture(scope="module")
def nlp(tiny_tagger):
    return _nlp(tiny_tagger)


def _ents(doc) -> list[tuple]:
    return [(s.start_char, s.end_char, s.label_) for s in doc.ents]


def test_add_pipe_finds_the_factory_through_its_entry_point(tiny_tagger, nlp):
    code = f"""
import json, sys, spacy
assert not [m for m in sys.modules if m.startswith("clinlm")]
nlp = spacy.blank("en")
nlp.add_pipe("clinlm", config={{"model": {str(tiny_tagger)!r}}})
print(json.dumps([[s.start_char, s.end_char, s.label_] for s in nlp({TEXT!r}).ents]))
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert [tuple(e) for e in json.loads(run.stdout.strip().splitlines()[-1])] == _ents(nlp(TEXT))


def test_entities_are_clinlms_own(tiny_tagger, nlp):
    own = clinlm.load(str(tiny_tagger))(TEXT)
    doc = nlp(TEXT)
    spans = list(doc.spans["clinlm"])
    assert own.entities and [s._.clinlm for s in spans] == own.entities  # exact offsets, score, attributes
    assert all(s.start_char <= s._.clinlm.start < s._.clinlm.end <= s.end_char for s in spans)
    assert any((s.start_char, s.end_char) != (s._.clinlm.start, s._.clinlm.end) for s in spans)  # "1" -> "1.5"
    assert from_spacy(doc).entities == own.entities
    assert doc.ents and {(e.start, e.end) for e in doc.ents} <= {(s.start, s.end) for s in spans}
    # the word "1" of "1.5mg" widened to spaCy's token "1.5" ("5mg" alone is a measurement, which clean drops)
    assert "1.5" in [e.text for e in doc.ents]


def test_context_flags_are_medspacy_extensions(nlp):
    doc = nlp("The patient denies fever.")
    by_text = {s.text: s for s in doc.spans["clinlm"]}
    assert by_text["fever"]._.is_negated and not by_text["patient"]._.is_negated
    assert by_text["fever"]._.clinlm.attributes["assertion"] == "absent"
    assert {e.text: e._.is_negated for e in doc.ents}["fever"] is True


def test_options_and_existing_ents(tiny_tagger):
    nlp = _nlp(tiny_tagger, context=False, spans_key="mine", set_ents=False)
    doc = nlp("denies fever")
    assert doc.ents == () and "clinlm" not in doc.spans and [s.text for s in doc.spans["mine"]] == ["denies", "fever"]
    assert all(s._.clinlm.attributes == {} for s in doc.spans["mine"])
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "SYMPTOM", "pattern": "fever"}])
    nlp.add_pipe("clinlm", config={"model": str(tiny_tagger)})
    doc = nlp("mild fever")  # (with context, a cue word such as "denies" is no concept: clinlm.context.concepts)
    assert [(e.text, e.label_) for e in doc.ents] == [("mild", "T033"), ("fever", "SYMPTOM")]  # a rule's ent stays


def test_works_between_medspacy_components(tiny_tagger):
    import medspacy  # noqa: F401 - registers medspaCy's factories

    nlp = spacy.blank("en")
    nlp.add_pipe("medspacy_pyrush")
    nlp.add_pipe("clinlm", config={"model": str(tiny_tagger), "context": False})
    nlp.add_pipe("medspacy_context")  # reads doc.ents
    doc = nlp("The patient denies fever. Mother had cancer.")
    assert [s.text for s in doc.sents] == ["The patient denies fever.", "Mother had cancer."]
    flags = {e.text: (e._.is_negated, e._.is_family) for e in doc.ents}
    assert flags["fever"] == (True, False) and flags["cancer"] == (False, True) and flags["patient"] == (False, False)


def test_displacy_renders_ents_and_the_span_group(nlp):
    from spacy import displacy

    doc = nlp(TEXT)
    html = displacy.render(doc, style="ent", jupyter=False)
    assert "fever" in html and "T033" in html
    html = displacy.render(doc, style="span", options={"spans_key": "clinlm"}, jupyter=False)
    assert "fever" in html and "T033" in html


def test_nlp_pipe_equals_one_by_one(nlp):
    texts = [TEXT, "", "denies fever", "Mother had cancer. " * 40, "   "]

    def seen(doc):
        return _ents(doc), [(s._.clinlm, s._.is_negated) for s in doc.spans["clinlm"]]

    assert [seen(d) for d in nlp.pipe(texts, batch_size=2)] == [seen(nlp(t)) for t in texts]


def test_a_bad_model_path_is_one_clear_clinlm_error(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(ClinlmError) as err:
        spacy.blank("en").add_pipe("clinlm", config={"model": str(missing)})
    assert str(missing) in str(err.value) and "\n" not in str(err.value)
