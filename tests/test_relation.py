"""Relation extraction: markers, candidates, readers, metrics, learning, CLI and the shared corpora."""
from __future__ import annotations

import json
import random
import re

import pytest
from cli_runner import clinlm
from hypothesis import given, settings
from hypothesis import strategies as st

from clinlm.document import Document, Entity, Relation
from clinlm.errors import ClinlmError, InputError
from clinlm.formats import (
    brat,
    chemprot,
    ddi_xml,
    jsonl,
    read_documents,
    write_documents,
)
from clinlm.tasks.relation.candidates import (
    candidate_pairs,
    learn_directions,
    orient,
    sentence_starts,
)
from clinlm.tasks.relation.markers import (
    crop,
    insert_markers,
    marker_pair,
    marker_vocabulary,
)
from clinlm.tasks.relation.metrics import relation_scores


def note(k: int, related: bool, drug: str = "aspirin") -> Document:
    """'the patient with aspirin daily for pain' relates drug and pain; '... no aspirin ...' does not."""
    text = f"the patient {'with' if related else 'no'} {drug} daily for pain"
    d = Document(f"n{k}", text)
    a = d.add(text.index(drug), text.index(drug) + len(drug), "Drug")
    b = d.add(text.index("pain"), text.index("pain") + 4, "Symptom")
    if related:
        d.relate("treats", a, b)
    return d


def corpus(n: int, seed: int) -> list[Document]:
    rng = random.Random(seed)
    return [note(k, k % 2 == 0, rng.choice(["aspirin", "metformin"])) for k in range(n)]


# -- markers ------------------------------------------------------------------------------
spans = st.tuples(st.integers(0, 40), st.integers(1, 12)).map(lambda t: (t[0], t[0] + t[1]))


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="ab c.\n\r\u00e9\U0001f600", min_size=60, max_size=80), head=spans, tail=spans,
       style=st.sampled_from(["typed", "plain"]))
def test_markers_keep_every_offset(text, head, tail, style):
    hm, tm = marker_pair(style, "E1", "Drug"), marker_pair(style, "E2", "Strength dose")
    m = insert_markers(text, head, tail, hm, tm)
    assert m.original() == text
    for where, marker in zip(m.markers, (*hm, *tm)):
        assert m.text.startswith(marker, where)
    for pos in range(len(text)):
        assert m.text[m.offset(pos)] == text[pos]
    if head[1] <= tail[0] or tail[1] <= head[0]:  # disjoint arguments: exactly their text between their markers
        for (s, e), op, k in ((head, hm[0], 0), (tail, tm[0], 2)):
            assert m.text[m.markers[k] + len(op) + 1 : m.markers[k + 1] - 1] == text[s:e]
            assert m.text[slice(*m.span(s, e))] == text[s:e]


def test_markers_nest_and_name_types():
    m = insert_markers("aspirin 81 mg", (0, 13), (8, 10), ("[E1]", "[/E1]"), ("[E2]", "[/E2]"))
    assert m.text == "[E1] aspirin [E2] 81 [/E2] mg [/E1]"
    assert marker_pair("typed", "E2", "Route or mode") == ("[E2:Route_or_mode]", "[/E2:Route_or_mode]")
    assert "[E1:ENTITY]" in marker_vocabulary("typed", ["Drug"]) and len(marker_vocabulary("plain", ["A", "B"])) == 4
    with pytest.raises(ClinlmError, match="marker style"):
        marker_pair("fancy", "E1", "x")


@given(n=st.integers(1, 300), a=st.integers(0, 299), la=st.integers(1, 40), b=st.integers(0, 299), lb=st.integers(1, 40),
       budget=st.integers(8, 64))
def test_crop_keeps_the_markers_and_the_budget(n, a, la, b, lb, budget):
    ranges = [(min(a, n - 1), min(a + la, n)), (min(b, n - 1), min(b + lb, n))]
    kept = crop(n, ranges, budget)
    assert kept == sorted(set(kept)) and len(kept) <= budget and all(0 <= i < n for i in kept)
    for s, e in ranges:  # opening and closing marker tokens always survive
        assert s in kept and e - 1 in kept
    if n <= budget:
        assert kept == list(range(n))


# -- candidates and directions ----------------------------------------------------------------
def test_candidates_windows_types_and_same_span():
    text = "Aspirin 81 mg daily. Metformin 500 mg.\nLisinopril for pain."
    d = Document("c", text)
    for word, label in (("Aspirin", "Drug"), ("81 mg", "Strength"), ("Metformin", "Drug"), ("500 mg", "Strength"),
                        ("Lisinopril", "Drug"), ("pain", "Reason")):
        d.add(text.index(word), text.index(word) + len(word), label)
    d.add(0, 7, "Brand")  # same span as Aspirin: never paired with it
    ents = d.entities
    name = lambda pairs: {(ents[i].text + "/" + ents[i].label, ents[j].text) for i, j in pairs}  # noqa: E731
    assert sentence_starts(text) == [0, 21, 39]
    everything = candidate_pairs(d)
    assert len(everything) == 7 * 6 // 2 - 1
    same = candidate_pairs(d, window_sentences=0)
    assert name(same) == {("Aspirin/Drug", "81 mg"), ("Aspirin/Brand", "81 mg"), ("Metformin/Drug", "500 mg"),
                          ("Lisinopril/Drug", "pain")}
    assert len(candidate_pairs(d, window_sentences=1)) == len(same) + 3 * 2 + 2 * 2
    assert name(candidate_pairs(d, window_chars=6)) == {("Aspirin/Drug", "81 mg"), ("Aspirin/Brand", "81 mg"),
                                                        ("Metformin/Drug", "500 mg"), ("500 mg/Strength", "Lisinopril"),
                                                        ("Lisinopril/Drug", "pain")}
    typed = candidate_pairs(d, type_pairs=[("Strength", "Drug")])
    assert {(ents[i].label, ents[j].label) for i, j in typed} <= {("Drug", "Strength"), ("Strength", "Drug")}
    assert len(typed) == 3 * 2


def test_directions_follow_types_when_they_decide_else_text_order():
    docs = []
    for k, strength_first in enumerate([False, False, True]):
        text = "20 mg lisinopril" if strength_first else "lisinopril 20 mg"
        d = Document(str(k), text)
        drug = d.add(text.index("lisinopril"), text.index("lisinopril") + 10, "Drug")
        dose = d.add(text.index("20 mg"), text.index("20 mg") + 5, "Strength")
        d.relate("Strength-Drug", dose, drug)  # n2c2: Arg1 is the attribute
        d2 = Document(f"i{k}", "warfarin and aspirin")
        d2.relate("effect", d2.add(0, 8, "drug"), d2.add(13, 20, "drug"))
        docs += [d, d2]
    dirs = learn_directions(docs)
    assert dirs["by_type"] == {"Strength-Drug": [["Strength", "Drug"]]} and dirs["head_first"]["effect"] is True
    later, earlier = Entity(11, 16, "Strength", "20 mg"), Entity(0, 10, "Drug", "lisinopril")
    assert orient("Strength-Drug", earlier, later, dirs) == (later, earlier)
    assert orient("effect", earlier, later, dirs) == (earlier, later)


# -- metrics ----------------------------------------------------------------------------------
def test_relation_scores_match_hand_counts():
    def doc(rels):
        d = Document("m", "a b c d")
        e = [d.add(i, i + 1, "X") for i in (0, 2, 4, 6)]
        for label, h, t in rels:
            d.relate(label, e[h], e[t])
        return d

    gold = [doc([("P", 0, 1), ("P", 1, 2), ("Q", 2, 3), ("Q", 0, 3)])]
    pred = [doc([("P", 0, 1), ("Q", 1, 2), ("Q", 2, 3), ("P", 3, 0)])]  # 2 right, 1 wrong label, 1 reversed
    res = relation_scores(gold, pred)
    assert res["micro"]["precision"] == pytest.approx(2 / 4) and res["micro"]["recall"] == pytest.approx(2 / 4)
    assert res["per_type"]["P"] == pytest.approx({"precision": 1 / 2, "recall": 1 / 2, "f1": 1 / 2, "support": 2})
    assert res["per_type"]["Q"]["precision"] == pytest.approx(1 / 2) and res["per_type"]["Q"]["support"] == 2
    empty = relation_scores(gold, [gold[0].with_relations([])])
    assert empty["micro"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 4}


# -- readers, writers, errors -----------------------------------------------------------------
def test_chemprot_lines_become_pairs(tmp_path):
    f = tmp_path / "dev.jsonl"
    rows = [
        {"text": "<< EGFR >> inhibitors such as [[ gefitinib ]] work when A >> B.", "label": "INHIBITOR"},
        {"text": "[[ x ]] and << y >> are unrelated", "label": "false"},
    ]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    a, b = chemprot.read(f, groups=True)
    assert a.text == "EGFR inhibitors such as gefitinib work when A >> B." and a.id == "dev:1"
    assert [e.text for e in a.entities] == ["EGFR", "gefitinib"]
    assert [(r.label, r.head.text, r.tail.text) for r in a.relations] == [("CPR:4", "EGFR", "gefitinib")]
    assert b.text == "x and y are unrelated" and b.relations == [] and len(b.entities) == 2


@pytest.mark.parametrize(
    "content,line,message",
    [
        ('{"text": "<< a >> [[ b ]]", "label": "X"}\n{"text": "no markers", "label": "X"}\n', 2, "exactly one << ... >>"),
        ('{"text": "<< a >> [[ b ]]", "label": "X"}\n{"text": "<< a >> [[ b ]]"\n', 2, "invalid JSON"),
        ('{"text": "<< a >> [[ b ]]", "label": 3}\n', 1, 'string "text" and "label"'),
    ],
)
def test_chemprot_errors_name_file_and_line(tmp_path, content, line, message):
    f = tmp_path / "bad.jsonl"
    f.write_text(content)
    with pytest.raises(InputError, match=re.escape(f"{f}:{line}: ") + ".*" + re.escape(message)):
        chemprot.read(f)


DDI = """<?xml version="1.0" encoding="UTF-8"?>
<document id="DDI-DrugBank.d1">
    <sentence id="DDI-DrugBank.d1.s0" text="Aspirin may increase the effect of warfarin and heparin.">
        <entity id="DDI-DrugBank.d1.s0.e0" charOffset="0-6" type="drug" text="Aspirin"/>
        <entity id="DDI-DrugBank.d1.s0.e1" charOffset="35-42" type="drug" text="warfarin"/>
        <entity id="DDI-DrugBank.d1.s0.e2" charOffset="48-54" type="group" text="{third}"/>
        <pair id="p0" e1="DDI-DrugBank.d1.s0.e0" e2="DDI-DrugBank.d1.s0.e1" ddi="true" type="effect"/>
        <pair id="p1" e1="DDI-DrugBank.d1.s0.e0" e2="DDI-DrugBank.d1.s0.e2" ddi="false"/>
        <pair id="p2" e1="DDI-DrugBank.d1.s0.e1" e2="DDI-DrugBank.d1.s0.e2" ddi="false"/>
    </sentence>
</document>
"""


def test_ddi_xml_inclusive_offsets_pairs_and_errors(tmp_path):
    (tmp_path / "DrugBank").mkdir()
    good = tmp_path / "DrugBank" / "a.xml"
    good.write_text(DDI.format(third="heparin"))
    (doc,) = ddi_xml.read(tmp_path)
    assert [e.text for e in doc.entities] == ["Aspirin", "warfarin", "heparin"]
    assert [(r.label, r.head.text, r.tail.text) for r in doc.relations] == [("effect", "Aspirin", "warfarin")]
    assert candidate_pairs(doc) == [(0, 1), (0, 2), (1, 2)]  # the corpus's pairs, negatives included
    good.write_text(DDI.format(third="hepatin"))
    with pytest.raises(InputError, match=re.escape(f"{good}:6: ") + ".*'hepatin' does not match"):
        ddi_xml.read(good)
    good.write_text(DDI.format(third="heparin").replace('e2="DDI-DrugBank.d1.s0.e2" ddi="false"/>\n        <pair id="p2"', 'e2="e9" ddi="false"/>\n        <pair id="p2"'))
    with pytest.raises(InputError, match=re.escape(f"{good}:8: ")):
        ddi_xml.read(good)


def test_jsonl_relation_errors_name_the_line(tmp_path):
    d = note(0, True)
    ok = jsonl.dumps([d]).strip()
    bad = json.loads(ok)
    bad["relations"][0]["tail"] = 5
    f = tmp_path / "r.jsonl"
    f.write_text(ok + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(InputError, match=re.escape(f"{f}:2: relation 0: 'tail' must be the index of one of the 2 entities")):
        jsonl.read(f)
    with pytest.raises(InputError, match="not one of the document's entities"):
        Document("x", "ab", [Entity(0, 1, "A", "a")], relations=[Relation("r", Entity(0, 1, "A", "a"), Entity(1, 2, "B", "b"))])


def test_brat_relation_line_errors(tmp_path):
    (tmp_path / "d.txt").write_text("aspirin 81 mg")
    (tmp_path / "d.ann").write_text("T1\tDrug 0 7\taspirin\nR1\tStrength-Drug Arg1:T2 Arg2:T1\n")
    with pytest.raises(InputError, match=re.escape(f"{tmp_path / 'd.ann'}:2: reference to 'T2'")):
        brat.read(tmp_path)
    (tmp_path / "d.ann").write_text("T1\tDrug 0 7\taspirin\nR1\tStrength-Drug\n")
    with pytest.raises(InputError, match=re.escape(f"{tmp_path / 'd.ann'}:2: expected 'R1")):
        brat.read(tmp_path)


N2C2 = (
    "T1\tDrug 0 10\tlisinopril\nT2\tStrength 11 16\t20 mg\nT3\tFrequency 17 22\tdaily\nT4\tReason 27 30\tHTN\n"
    "R1\tStrength-Drug Arg1:T2 Arg2:T1\nR2\tFrequency-Drug Arg1:T3 Arg2:T1\nR3\tReason-Drug Arg1:T4 Arg2:T1\n"
)


def test_brat_n2c2_relations_read_and_write(tmp_path):
    from clinlm.tasks.relation.task import read_relation_documents

    (tmp_path / "n.txt").write_text("lisinopril 20 mg daily for HTN")
    (tmp_path / "n.ann").write_text(N2C2)
    (doc,) = brat.read(tmp_path)
    assert [(r.label, r.head.text, r.tail.text) for r in doc.relations] == [
        ("Strength-Drug", "20 mg", "lisinopril"), ("Frequency-Drug", "daily", "lisinopril"), ("Reason-Drug", "HTN", "lisinopril")]
    assert brat.dumps_ann(doc) == N2C2
    # n2c2 has discontinuous mentions: relation data reads them as their covering span
    (tmp_path / "n.ann").write_text(N2C2.replace("Frequency 17 22\tdaily", "Frequency 11 13;17 22\t20 daily"))
    (doc,) = read_relation_documents(tmp_path)
    assert [e.text for e in doc.entities if e.label == "Frequency"] == ["20 mg daily"] and len(doc.relations) == 3


words = st.sampled_from(["aspirin", "81", "mg", "daily", "pain", "no", "\n", "é"])


@st.composite
def related_docs(draw):
    toks = draw(st.lists(words, min_size=2, max_size=12))
    text = " ".join(toks)
    d = Document(f"d{draw(st.integers(0, 99))}", text)
    pos, ents = 0, []
    for t in toks:
        if t.strip() and draw(st.booleans()):
            ents.append(d.add(pos, pos + len(t), draw(st.sampled_from(["Drug", "Dose"]))))
        pos += len(t) + 1
    for _ in range(draw(st.integers(0, 4)) if len(ents) > 1 else 0):
        h, t = draw(st.sampled_from(ents)), draw(st.sampled_from(ents))
        d.relate(draw(st.sampled_from(["Dose-Drug", "rel"])), h, t, **({"roles": ["Dose", "Drug"]} if draw(st.booleans()) else {}))
    return d


@settings(max_examples=60, deadline=None)
@given(docs=st.lists(related_docs(), min_size=1, max_size=3, unique_by=lambda d: d.id))
def test_relations_round_trip_jsonl_and_brat(docs, tmp_path_factory):
    out = tmp_path_factory.mktemp("rt")
    write_documents(docs, out / "d.jsonl")
    assert read_documents(out / "d.jsonl") == docs
    write_documents(docs, out / "brat", "brat")
    back = {d.id: d for d in read_documents(out / "brat")}
    for d in docs:
        assert back[d.id].entities == d.entities and back[d.id].relations == d.relations
        for r in back[d.id].relations:  # still the document's own entity objects
            assert any(r.head is e for e in back[d.id].entities) and any(r.tail is e for e in back[d.id].entities)


# -- learning -----------------------------------------------------------------------------------
@pytest.mark.parametrize("markers,pooling", [("typed", "markers"), ("plain", "cls")])
def test_tiny_model_learns_a_separable_relation(tiny_bert, tmp_path, markers, pooling):
    import clinlm
    from clinlm.tasks.relation.task import RelationTask
    from clinlm.tasks.trainer import TrainArgs, train

    task = RelationTask(markers=markers, pooling=pooling, max_length=32)
    model, tok = task.build(str(tiny_bert), corpus(48, 1))
    assert task.labels == ["none", "treats"] and set(marker_vocabulary(markers, ["Drug", "Symptom"])) <= set(tok.get_vocab())
    summary = train(task, model, tok, corpus(48, 1), corpus(12, 2), TrainArgs(epochs=8, learning_rate=3e-3, batch_size=8, seed=0),
                    tmp_path / "m")
    assert summary["dev"]["micro"]["f1"] == 1.0
    pipe = clinlm.load_relations(tmp_path / "m")
    assert pipe.markers == markers and pipe.model.pooling == pooling
    dev = corpus(12, 3)
    found = list(pipe.pipe(d.with_relations([]) for d in dev))
    assert relation_scores(dev, found)["micro"]["f1"] == 1.0
    assert all(r.head is f.entities[0] and 0.5 < r.score <= 1 for f in found for r in f.relations)


def test_megatron_bert_keeps_its_spare_embedding_rows(tiny_megatron, tmp_path):
    """GatorTron-like encoder: markers fit in the spare rows (no resize), cased tokenizer, save and load."""
    import clinlm
    from clinlm.tasks.relation.task import RelationTask
    from clinlm.tasks.trainer import TrainArgs, train

    docs = [note(k, k % 2 == 0, "Aspirin") for k in range(8)]
    task = RelationTask(max_length=32)
    model, tok = task.build(str(tiny_megatron), docs)
    rows = model.encoder.get_input_embeddings().weight.shape[0]
    assert model.encoder.config.model_type == "megatron-bert" and len(tok) <= rows == model.encoder.config.vocab_size
    train(task, model, tok, docs, docs[:2], TrainArgs(epochs=1, batch_size=8), tmp_path / "m")
    pipe = clinlm.load_relations(tmp_path / "m")
    assert pipe.model.encoder.get_input_embeddings().weight.shape[0] == rows
    assert "Aspirin" in pipe.tokenizer.tokenize("Aspirin") and len(pipe.pipe([docs[0]]).__next__().entities) == 2


def two_lines(n: int, seed: int) -> list[Document]:
    """Notes of two lines like note(); only pairs within a line are related."""
    rng = random.Random(seed)
    docs = []
    for k in range(n):
        a, b = note(2 * k, rng.random() < 0.5, rng.choice(["aspirin", "metformin"])), note(2 * k + 1, rng.random() < 0.5, "metformin")
        d = Document(f"t{k}", a.text + ".\n" + b.text)
        shift = len(a.text) + 2
        ents = [d.add(e.start, e.end, e.label) for e in a.entities] + [d.add(e.start + shift, e.end + shift, e.label) for e in b.entities]
        for src, (h, t) in ((a, ents[:2]), (b, ents[2:])):
            if src.relations:
                d.relate("treats", h, t)
        docs.append(d)
    return docs


def test_end_to_end_text_through_ner_to_relations(tiny_bert, tmp_path):
    """A text with no entities goes through the NER pipeline first; relations point at its entities."""
    import clinlm
    from clinlm.tasks.relation.task import RelationTask
    from clinlm.tasks.trainer import TrainArgs, train

    task = RelationTask(max_length=32, window_sentences=0)
    model, tok = task.build(str(tiny_bert), two_lines(32, 1))
    train(task, model, tok, two_lines(32, 1), two_lines(8, 2), TrainArgs(epochs=10, learning_rate=3e-3, batch_size=8, seed=0),
          tmp_path / "m")

    def fake_ner(doc: Document) -> Document:
        return doc.with_entities([Entity(m.start(), m.end(), "Symptom" if m.group() == "pain" else "Drug", m.group())
                                  for m in re.finditer(r"aspirin|metformin|pain", doc.text)])

    pipe = clinlm.load_relations(tmp_path / "m", ner=fake_ner)
    doc = pipe("the patient with aspirin daily for pain.\nthe patient no metformin daily for pain")
    assert [(r.label, r.head.text, r.tail.text, r.tail.start) for r in doc.relations] == [("treats", "aspirin", "pain", 35)]
    assert pipe.window_sentences == 0  # the second line's pain is never paired with aspirin
    assert len(pipe.candidates(doc)) == 2


# -- command line ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli_model(tmp_path_factory, tiny_bert):
    wd = tmp_path_factory.mktemp("re-cli")
    write_documents(corpus(48, 1), wd / "train.jsonl")
    write_documents(corpus(12, 2), wd / "dev.jsonl")
    r = clinlm("train", "re", "--model", tiny_bert, "--train", wd / "train.jsonl", "--dev", wd / "dev.jsonl",
               "--output", wd / "model", "--epochs", "8", "--lr", "3e-3", "--batch-size", "8", "--max-length", "32",
               "--negatives-per-positive", "1", "--class-weight", "balanced", "--window-sentences", "0")
    assert r.returncode == 0, r.stderr.decode()
    return wd


@pytest.mark.slow
def test_cli_train_and_evaluate(cli_model):
    man = json.loads((cli_model / "model" / "clinlm.json").read_text())
    assert man["task"] == "re" and man["labels"] == ["none", "treats"] and man["window_sentences"] == 0
    assert man["train_data"]["fingerprint"].startswith("sha256:") and (cli_model / "model" / "relation_head.safetensors").is_file()
    r = clinlm("evaluate", "re", "--model", cli_model / "model", "--data", cli_model / "dev.jsonl", "--json")
    assert r.returncode == 0, r.stderr.decode()
    res = json.loads(r.stdout)
    assert res["micro"]["f1"] == 1.0 and res["per_type"]["treats"]["support"] == 6
    table = clinlm("evaluate", "re", "--model", cli_model / "model", "--data", cli_model / "dev.jsonl")
    assert b"micro (all types)" in table.stdout and b"treats" in table.stdout


@pytest.mark.slow
def test_cli_predict_documents_and_texts(cli_model, tiny_bert, tmp_path):
    docs = corpus(4, 5)
    write_documents([d.with_relations([]) for d in docs], tmp_path / "in.jsonl")
    r = clinlm("predict", "re", "--model", cli_model / "model", tmp_path / "in.jsonl", "--format", "jsonl", "--output", tmp_path / "out.jsonl")
    assert r.returncode == 0, r.stderr.decode()
    got = read_documents(tmp_path / "out.jsonl")
    assert [[(x.label, x.head.text, x.tail.text) for x in d.relations] for d in got] == \
           [[(x.label, x.head.text, x.tail.text) for x in d.relations] for d in docs]
    r = clinlm("predict", "re", "--model", cli_model / "model", tmp_path / "in.jsonl", "--format", "brat", "--output", tmp_path / "brat")
    assert r.returncode == 0, r.stderr.decode()
    assert "R1\ttreats Arg1:T1 Arg2:T2" in (tmp_path / "brat" / "n0.ann").read_text()
    # a text without entities needs an NER model; a base encoder is refused in one line
    (tmp_path / "note.txt").write_text("the patient with aspirin daily for pain")
    r = clinlm("predict", "re", "--model", cli_model / "model", "--ner-model", tiny_bert, tmp_path / "note.txt")
    assert r.returncode == 2 and b"not a token-classification" in r.stderr and len(r.stderr.decode().strip().splitlines()) == 1
    r = clinlm("predict", "re", "--model", tiny_bert, tmp_path / "in.jsonl")
    assert r.returncode == 2 and b"not a relation model" in r.stderr


@pytest.mark.slow
def test_cli_predict_with_an_ner_model(cli_model, tiny_bert, tmp_path):
    from clinlm.tasks.ner.task import NerTask
    from clinlm.tasks.trainer import TrainArgs, train

    task = NerTask(max_length=32, stride=8, train_max_length=32, train_stride=8)
    docs = [d.with_relations([]) for d in corpus(32, 7)]
    model, tok = task.build(str(tiny_bert), docs)
    train(task, model, tok, docs, docs[:4], TrainArgs(epochs=20, learning_rate=3e-3, batch_size=8, seed=0), tmp_path / "ner")
    (tmp_path / "note.txt").write_text("the patient with metformin daily for pain")
    r = clinlm("predict", "re", "--model", cli_model / "model", "--ner-model", tmp_path / "ner", tmp_path / "note.txt",
               "--format", "jsonl")
    assert r.returncode == 0, r.stderr.decode()
    (doc,) = jsonl.loads(r.stdout.decode())
    assert [(x.label, x.head.text, x.tail.text) for x in doc.relations] == [("treats", "metformin", "pain")]
    table = clinlm("predict", "re", "--model", cli_model / "model", "--ner-model", tmp_path / "ner", tmp_path / "note.txt")
    assert b"treats" in table.stdout and b"metformin" in table.stdout


def test_cli_bad_data_is_one_line_and_writes_nothing(tiny_bert, tmp_path):
    bad = tmp_path / "train.jsonl"
    bad.write_text('{"text": "<< a >> [[ b ]]", "label": "X"}\n{"text": "a b", "label": "X"}\n')
    r = clinlm("train", "re", "--model", tiny_bert, "--train", bad, "--output", tmp_path / "out")
    msg = r.stderr.decode().strip()
    assert r.returncode == 2 and f"{bad}:2:" in msg and len(msg.splitlines()) == 1 and "Traceback" not in msg
    assert not (tmp_path / "out").exists()


# -- the shared corpora ----------------------------------------------------------------------------------
@pytest.mark.integration
def test_shared_chemprot_reads_whole_and_clean(shared_data):
    from clinlm.tasks.relation.task import read_relation_documents

    docs = read_relation_documents(shared_data / "chemprot" / "dev.jsonl", cpr_groups=True)
    assert len(docs) == 2427 and all(len(d.entities) == 2 and len(d.relations) == 1 for d in docs)
    assert {r.label for d in docs for r in d.relations} == {"CPR:3", "CPR:4", "CPR:5", "CPR:6", "CPR:9"}
    assert not any("<< " in d.text or "[[ " in d.text for d in docs)


@pytest.mark.integration
def test_shared_ddi_pairs_are_the_candidates(shared_data):
    from clinlm.tasks.relation.task import read_relation_documents

    docs = read_relation_documents(shared_data / "ddi_corpus" / "DDICorpus" / "Test" / "Test for DDI Extraction task")
    assert len(docs) == 1299 and sum(len(d.relations) for d in docs) == 979
    assert {r.label for d in docs for r in d.relations} == {"advise", "effect", "int", "mechanism"}
    assert sum(len(candidate_pairs(d)) for d in docs) == 5715
