"""One type per term repeated in a document (clinlm.tasks.ner.consistency), after Viterbi."""
from __future__ import annotations

import json
import shutil

import numpy as np
from conftest import DECODE_LABELS, TAGGER_LABELS, entity_at, mentions_doc, word_logp
from hypothesis import given, settings
from hypothesis import strategies as st

from clinlm.tasks.ner.consistency import choose, consistent_types
from clinlm.tasks.ner.lexicon import term_key
from clinlm.tasks.ner.pipeline import NerPipeline
from clinlm.document import Entity
from clinlm.text import words
from clinlm.windows import encode

LABELS = DECODE_LABELS


def test_a_repeated_term_takes_the_type_its_mentions_support_most():
    text = "Lisinopril 20 mg daily . lisinopril was held . Aspirin daily ."
    w = words(text)
    # "Lisinopril" leans T103 strongly; "lisinopril" leans T058 weakly; "Aspirin" is alone
    logp = word_logp([{"B-T103": 0.9, "B-T058": 0.05}, {}, {}, {}, {}, {"B-T058": 0.5, "B-T103": 0.4}, {}, {}, {},
                  {"B-T058": 0.6, "B-T103": 0.3}, {}, {}])
    ents = [entity_at(text, w, 0, 0, "T103"), entity_at(text, w, 5, 5, "T058"), entity_at(text, w, 9, 9, "T058")]
    out = consistent_types(ents, w, logp, LABELS)
    assert [(e.text, e.label) for e in out] == [("Lisinopril", "T103"), ("lisinopril", "T103"), ("Aspirin", "T058")]
    assert [e.span for e in out] == [e.span for e in ents]  # spans never move
    assert ents[1].label == "T058"  # the input is not changed in place


def test_evidence_is_summed_over_mentions_not_counted():
    """Two weak T058 mentions against one sure T103 mention: the sum of log-evidence decides."""
    text = "CT done . CT again . CT today ."
    w = words(text)
    logp = word_logp([{"B-T103": 0.98, "B-T058": 0.01}, {}, {}, {"B-T058": 0.55, "B-T103": 0.45}, {}, {},
                  {"B-T058": 0.55, "B-T103": 0.45}, {}, {}])
    ents = [entity_at(text, w, 0, 0, "T103"), entity_at(text, w, 3, 3, "T058"), entity_at(text, w, 6, 6, "T058")]
    assert {e.label for e in consistent_types(ents, w, logp, LABELS)} == {"T103"}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["CT", "ct", "Aspirin", "heart  failure", "x"]),
                          st.sampled_from(["T103", "T058"]),
                          st.floats(0.05, 0.9), st.floats(0.05, 0.9)), min_size=1, max_size=8))
def test_spans_stay_and_each_term_has_one_type(mentions):
    text, w, ents, logp = mentions_doc(mentions)
    out = consistent_types(ents, w, logp, LABELS)
    assert [e.span for e in out] == [e.span for e in ents]
    by_term: dict[str, set[str]] = {}
    for e in out:
        by_term.setdefault(term_key(e.text), set()).add(e.label)
    assert all(len(labels) == 1 for labels in by_term.values())
    for e, before in zip(out, ents):  # a term mentioned once keeps its type
        if sum(term_key(x.text) == term_key(e.text) for x in ents) == 1:
            assert e.label == before.label


def test_the_model_manifest_turns_it_on_and_the_pipeline_overrides(tagger, tmp_path):
    model = tmp_path / "tagger"
    shutil.copytree(tagger, model)
    text = " ".join(["chest pain and fever ."] * 6)
    off = NerPipeline.from_pretrained(model, precision="fp32", context=False)
    assert off.consistent_types is False  # a model that says nothing: off
    plain = off(text)
    man = json.loads((model / "clinlm.json").read_text())
    (model / "clinlm.json").write_text(json.dumps(dict(man, consistent_types=True)))
    on = NerPipeline.from_pretrained(model, precision="fp32", context=False)
    assert on.consistent_types is True
    got = on(text)
    assert [e.span for e in got.entities] == [e.span for e in plain.entities]
    labels: dict[str, set[str]] = {}
    for e in got.entities:
        labels.setdefault(e.text.casefold(), set()).add(e.label)
    assert all(len(v) == 1 for v in labels.values())
    assert {e.label for e in got.entities} <= {t[2:] for t in TAGGER_LABELS if t != "O"}
    forced = NerPipeline.from_pretrained(model, precision="fp32", context=False, consistent_types=False)
    assert forced.consistent_types is False and [e.key() for e in forced(text).entities] == [e.key() for e in plain.entities]
    # decoding as the pipeline does: "fever" leans T191 once (sure) and T033 once (barely)
    enc = encode(on.tokenizer, ["fever and fever ."])[0]
    logp = np.full((4, len(TAGGER_LABELS)), np.log(1e-4))
    logp[0, TAGGER_LABELS.index("B-T191")], logp[0, TAGGER_LABELS.index("B-T033")] = np.log(0.9), np.log(0.05)
    logp[2, TAGGER_LABELS.index("B-T033")], logp[2, TAGGER_LABELS.index("B-T191")] = np.log(0.5), np.log(0.45)
    logp[[1, 3], 0] = 0.0
    assert [e.label for e in forced.decode_words(enc, logp, None)] == ["T191", "T033"]
    assert [e.label for e in on.decode_words(enc, logp, None)] == ["T191", "T191"]


def test_evaluate_takes_the_switch(tagger, tmp_path):
    from cli_runner import clinlm

    text = "the patient denies chest pain and chest pain again ."
    s = text.index("chest pain")
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"id": "1", "text": text, "entities": [
        {"start": s, "end": s + 10, "text": "chest pain", "label": "T033"}]}) + "\n")
    for flag in ("--consistent-types", "--no-consistent-types"):
        r = clinlm("evaluate", "ner", "--model", tagger, "--data", data, "--json", "--precision", "fp32", flag)
        assert r.returncode == 0, r.stderr.decode()
        assert 0.0 <= json.loads(r.stdout.decode())["strict"]["f1"] <= 1.0


def test_dev_chooses_and_a_tie_keeps_it_off(tagger):
    from clinlm.document import Document

    pipe = NerPipeline.from_pretrained(tagger, precision="fp32", context=False)
    dev = [Document("d", "chest pain and fever . chest pain again .")]
    calls = []

    def f1(gold, pred):  # the first decode (off) scores 0.5, the second (on) what the test says
        calls.append([e.label for e in pred[0].entities])
        return 0.5 if len(calls) == 1 else want

    for want, chosen in ((0.6, True), (0.5, False), (0.4, False)):
        calls.clear()
        on, scores = choose(pipe, dev, f1)
        assert (on, scores) == (chosen, {"off": 0.5, "on": want}) and len(calls) == 2
        assert pipe.consistent_types is False  # the pipeline is left as it was


def test_an_abbreviation_the_document_defines_takes_its_long_forms_type():
    from clinlm.tasks.ner.consistency import follow_long_forms

    text = "We used endobronchial ultrasound (EBUS) to sample nodes. EBUS was safe. CT (computed tomography) too."
    lf, sf1, sf2 = text.index("endobronchial"), text.index("EBUS"), text.index("EBUS was")
    ents = [Entity(lf, lf + 24, "T058", text[lf:lf + 24]), Entity(sf1, sf1 + 4, "T074", "EBUS"),
            Entity(sf2, sf2 + 4, "T074", "EBUS"), Entity(text.index("CT"), text.index("CT") + 2, "T074", "CT")]
    out = follow_long_forms(ents, text)
    assert [e.label for e in out] == ["T058", "T058", "T058", "T074"]  # CT's long form is no entity: unchanged
    assert [e.span for e in out] == [e.span for e in ents] and ents[1].label == "T074"
    assert follow_long_forms(ents[1:], text) == ents[1:]  # no long-form entity, nothing to follow
    # through the decoding step: only where one type per term is on
    w = words(text)
    labels = ["O", "B-T058", "I-T058", "B-T074", "I-T074"]
    logp = word_logp([{"B-T074": 0.6, "B-T058": 0.1}] * len(w.starts), labels)  # every word leans T074
    assert [e.label for e in consistent_types(ents, w, logp, labels)][:3] == ["T058"] * 3
    assert [e.label for e in consistent_types(ents, w, logp, labels, group=False)] == [e.label for e in ents]


def test_the_pipeline_follows_long_forms_unless_told_not_to(tagger, tmp_path):
    model = tmp_path / "tagger"
    shutil.copytree(tagger, model)
    man = json.loads((model / "clinlm.json").read_text())
    (model / "clinlm.json").write_text(json.dumps(dict(man, consistent_types=True)))
    text = "chest pain (CP) . CP ."
    on = NerPipeline.from_pretrained(model, precision="fp32", context=False)
    off = NerPipeline.from_pretrained(model, precision="fp32", context=False, long_forms=False)
    assert on.long_forms is True and off.long_forms is False
    enc = encode(on.tokenizer, [text])[0]
    rows = [{"B-T033": 0.9}, {"I-T033": 0.9}, {}, {"B-T191": 0.9}, {}, {}, {"B-T191": 0.9}, {}]
    logp = word_logp(rows[: len(enc.words.starts)], TAGGER_LABELS)
    assert [e.label for e in off.decode_words(enc, logp, None)] == ["T033", "T191", "T191"]
    assert [e.label for e in on.decode_words(enc, logp, None)] == ["T033", "T033", "T033"]
