"""The type lexicon (clinlm.tasks.ner.lexicon): the types training data gave a term, as a prior."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import DECODE_LABELS, TAGGER_LABELS, chest_pain_jsonl, entity_at, mentions_doc, word_logp
from hypothesis import given, settings
from hypothesis import strategies as st

from clinlm.document import Document, Entity
from clinlm.errors import ConfigError
from clinlm.tasks.ner.consistency import consistent_types
from clinlm.tasks.ner.lexicon import TypeLexicon, choose, count_types, term_key
from clinlm.tasks.ner.pipeline import NerPipeline
from clinlm.text import words
from clinlm.windows import encode

LABELS = DECODE_LABELS


def test_a_term_is_its_words_whatever_the_case_spacing_and_spaces_around_punctuation():
    assert term_key("Immune - related") == term_key("immune-related") == "immune-related"
    assert term_key("Heart  FAILURE") == "heart failure"
    assert term_key("heart failure") != term_key("heart failures")
    # three characters or fewer keep their case: magnesium is not a milligram
    assert term_key("Mg") == "Mg" != term_key("mg") and term_key("CT") != term_key("ct")
    assert term_key("Heparin") == term_key("HEPARIN") == "heparin"


def test_counts_are_per_term_and_type():
    text = "Aspirin given . aspirin held . CT done ."
    docs = [Document("a", text, [Entity(0, 7, "T103", "Aspirin"), Entity(16, 23, "T103", "aspirin"),
                                 Entity(31, 33, "T058", "CT")]),
            Document("b", "CT", [Entity(0, 2, "T103", "CT")])]
    assert count_types(docs, min_length=1) == {"aspirin": {"T103": 2}, "CT": {"T058": 1, "T103": 1}}
    # by default terms of three characters or fewer are left out: abbreviations each text defines
    assert count_types(docs) == {"aspirin": {"T103": 2}}


def test_the_prior_tips_an_unsure_mention_not_a_sure_one():
    text = "heparin given . CT done . ECG done ."
    w = words(text)
    logp = word_logp([{"B-T058": 0.5, "B-T103": 0.4}, {}, {}, {"B-T103": 0.95, "B-T058": 0.02}, {}, {},
                  {"B-T058": 0.5, "B-T103": 0.4}, {}, {}])
    ents = [entity_at(text, w, 0, 0, "T058"), entity_at(text, w, 3, 3, "T103"), entity_at(text, w, 6, 6, "T058")]
    lex = TypeLexicon({"heparin": {"T103": 30}, "CT": {"T058": 30}}, weight=1.0, alpha=1.0)
    out = consistent_types(ents, w, logp, LABELS, lex, group=False)
    # heparin: unsure, the lexicon says T103; CT: sure of T103 (log 0.95/0.02 = 3.9 > the prior's
    # log 31/1 = 3.4); ECG: unknown to the lexicon, untouched
    assert [(e.text, e.label) for e in out] == [("heparin", "T103"), ("CT", "T103"), ("ECG", "T058")]
    assert [e.span for e in out] == [e.span for e in ents]
    stronger = TypeLexicon(lex.counts, weight=2.0, alpha=1.0)
    assert consistent_types(ents, w, logp, LABELS, stronger, group=False)[1].label == "T058"


def test_without_grouping_each_mention_decides_alone():
    text = "CT done . CT again ."
    w = words(text)
    logp = word_logp([{"B-T103": 0.99, "B-T058": 0.005}, {}, {}, {"B-T058": 0.5, "B-T103": 0.45}, {}, {}])
    ents = [entity_at(text, w, 0, 0, "T103"), entity_at(text, w, 3, 3, "T058")]
    lex = TypeLexicon({"CT": {"T058": 3, "T103": 1}}, weight=0.5, alpha=1.0)
    assert [e.label for e in consistent_types(ents, w, logp, LABELS, lex, group=False)] == ["T103", "T058"]
    assert [e.label for e in consistent_types(ents, w, logp, LABELS, lex, group=True)] == ["T103", "T103"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["CT", "ct", "Aspirin", "heart  failure", "x"]),
                          st.sampled_from(["T103", "T058"]),
                          st.floats(0.05, 0.9), st.floats(0.05, 0.9)), min_size=1, max_size=8),
       st.dictionaries(st.sampled_from(["CT", "ct", "aspirin", "heart failure"]),
                       st.tuples(st.integers(0, 5), st.integers(1, 5)), max_size=3),
       st.booleans())
def test_spans_stay_unknown_terms_keep_their_type_and_a_huge_weight_obeys_the_lexicon(mentions, known, group):
    text, w, ents, logp = mentions_doc(mentions)
    counts = {t: {"T103": a, "T058": b + a} for t, (a, b) in known.items()}  # T058 always the majority
    out = consistent_types(ents, w, logp, LABELS, TypeLexicon(counts, weight=1000.0, alpha=0.1), group=group)
    assert [e.span for e in out] == [e.span for e in ents]
    for e, before in zip(out, ents):
        key = term_key(e.text)
        if key in counts:
            assert e.label == "T058"
        elif not group or sum(term_key(x.text) == key for x in ents) == 1:
            assert e.label == before.label


def test_the_manifest_entry_round_trips_and_a_damaged_one_is_named():
    counts = {"aspirin": {"T103": 2}, "ct": {"T058": 1, "T103": 3}}
    entry = TypeLexicon(counts, 4.0, 1.0).entry(chosen_on="dev.jsonl")
    assert entry["terms"] == {"aspirin": "T103:2", "ct": "T058:1 T103:3"} and entry["chosen_on"] == "dev.jsonl"
    back = TypeLexicon.from_manifest({"type_lexicon": json.loads(json.dumps(entry))})
    assert (back.counts, back.weight, back.alpha) == (counts, 4.0, 1.0)
    assert TypeLexicon.from_manifest({}) is None
    assert TypeLexicon.from_manifest({"type_lexicon": dict(entry, weight=0.0)}) is None
    with pytest.raises(ConfigError, match="type lexicon in clinlm.json is damaged"):
        TypeLexicon.from_manifest({"type_lexicon": dict(entry, terms={"ct": "T058=1"})})
    with pytest.raises(ConfigError):
        TypeLexicon(counts, -1.0, 1.0)


def test_the_manifest_turns_it_on_and_the_pipeline_overrides(tagger, tmp_path):
    model = tmp_path / "tagger"
    shutil.copytree(tagger, model)
    plain = NerPipeline.from_pretrained(model, precision="fp32", context=False)
    assert plain.type_lexicon is None  # a model that says nothing: none
    man = json.loads((model / "clinlm.json").read_text())
    lex = TypeLexicon({"fever": {"T033": 50}}, 1.0, 1.0)
    (model / "clinlm.json").write_text(json.dumps(dict(man, type_lexicon=lex.entry())))
    on = NerPipeline.from_pretrained(model, precision="fp32", context=False)
    assert on.type_lexicon is not None and on.type_lexicon.counts == lex.counts
    assert NerPipeline.from_pretrained(model, precision="fp32", context=False, type_lexicon=False).type_lexicon is None
    # "fever" leans T191 but not surely: the lexicon's 50 T033 mentions decide; "pain" it does not know
    enc = encode(on.tokenizer, ["fever and pain ."])[0]
    logp = np.full((4, len(TAGGER_LABELS)), np.log(1e-4))
    logp[0, TAGGER_LABELS.index("B-T191")], logp[0, TAGGER_LABELS.index("B-T033")] = np.log(0.6), np.log(0.35)
    logp[2, TAGGER_LABELS.index("B-T191")], logp[2, TAGGER_LABELS.index("B-T033")] = np.log(0.6), np.log(0.35)
    logp[[1, 3], 0] = 0.0
    assert [e.label for e in plain.decode_words(enc, logp, None)] == ["T191", "T191"]
    assert [e.label for e in on.decode_words(enc, logp, None)] == ["T033", "T191"]
    saved = tmp_path / "saved"
    on.save_pretrained(saved)  # the lexicon travels with the checkpoint
    assert NerPipeline.from_pretrained(saved, precision="fp32", context=False).type_lexicon.counts == lex.counts


def test_dev_chooses_and_no_lexicon_wins_a_tie(tagger):
    pipe = NerPipeline.from_pretrained(tagger, precision="fp32", context=False)
    dev = [Document("d", "chest pain and fever . chest pain again .")]
    for table, want in (({"0/1": 0.5, "1/0.1": 0.5, "1/1": 0.5}, (0.0, 1.0)),
                        ({"0/1": 0.5, "1/0.1": 0.7, "1/1": 0.6}, (1.0, 0.1))):
        calls = []

        def f1(gold, pred):
            calls.append(pipe.type_lexicon)
            return list(table.values())[len(calls) - 1]

        best, scores = choose(pipe, dev, {"fever": {"T033": 3}}, f1, weights=(0.0, 1.0), alphas=(0.1, 1.0))
        assert best == want and scores == table
        assert calls[0] is None and calls[1].weight == 1.0  # weight 0 is scored without a lexicon
        assert pipe.type_lexicon is None  # the pipeline is left as it was


def test_cli_counts_terms_and_chooses_on_dev(tagger, tmp_path):
    from cli_runner import clinlm

    data = chest_pain_jsonl(tmp_path / "d.jsonl", 4)
    r = clinlm("train", "ner-lexicon", "--model", tagger, "--train", data, "--dev", data, "--output", tmp_path / "out",
               "--weights", "0,2", "--precision", "fp32", "--json")
    assert r.returncode == 0, r.stderr.decode()
    res = json.loads(r.stdout.decode())
    entry = json.loads((tmp_path / "out" / "clinlm.json").read_text())["type_lexicon"]
    assert entry["weight"] == res["weight"] in (0.0, 2.0) and entry["terms"] == {"chest pain": "T033:4"}
    assert set(entry["dev_strict_f1"]) == {"0/1", "2/0.1", "2/1"} and (tmp_path / "out" / "config.json").is_file()
    assert json.loads((tagger / "clinlm.json").read_text()).get("type_lexicon") is None  # the source is untouched
    r = clinlm("evaluate", "ner", "--model", tmp_path / "out", "--data", data, "--json", "--precision", "fp32",
               "--no-type-lexicon", "--no-long-forms")
    assert r.returncode == 0, r.stderr.decode()
    r = clinlm("train", "ner-lexicon", "--model", tagger, "--train", data, "--dev", data, "--weights", "a")
    assert r.returncode == 2 and "--weights takes numbers" in r.stderr.decode()
    from clinlm.tasks.ner.pipeline import DEFAULT_MODEL_DIR

    r = clinlm("train", "ner-lexicon", "--model", DEFAULT_MODEL_DIR, "--train", data, "--dev", data)
    assert r.returncode == 2 and "--output DIR" in r.stderr.decode()
    empty = tmp_path / "e.jsonl"
    empty.write_text(json.dumps({"id": "1", "text": "nothing here .", "entities": []}) + "\n")
    r = clinlm("train", "ner-lexicon", "--model", tagger, "--train", empty, "--dev", data, "--output", tmp_path / "o2")
    assert r.returncode != 0 and "no entities" in r.stderr.decode() and "Traceback" not in r.stderr.decode()
    assert not (tmp_path / "o2").exists()
