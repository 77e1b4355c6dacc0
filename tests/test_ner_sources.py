"""Training NER from several sources, partial ones with the marginal likelihood (tasks/ner/sources.py)."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from cli_runner import clinlm
from conftest import WORDS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinlm.document import Document
from clinlm.errors import ClinlmError, ConfigError
from clinlm.formats import pubtator, write_documents
from clinlm.labels import bio_labels
from clinlm.tasks.ner.metrics import mapped_scores
from clinlm.tasks.ner.sources import (AllowedTable, PRESETS, Source, Sourced, marginal_nll, model_types, parse_arg,
                                      parse_spec, read_spec_file, sample, word_tag_sets)
from clinlm.text import entity_tags, words

LABELS = bio_labels(["T017", "T033", "T038", "T103"])  # O B-T017 I-T017 B-T033 I-T033 B-T038 I-T038 B-T103 I-T103
L2I = {t: i for i, t in enumerate(LABELS)}


def ids(*tags: str) -> frozenset[int]:
    return frozenset(L2I[t] for t in tags)


# -- the spec ------------------------------------------------------------------------------------------
def test_parse_arg_plain_path_is_a_full_source_and_a_suffix_names_a_builtin_map(tmp_path):
    f = tmp_path / "cdr.txt"
    f.write_text("")
    assert parse_arg(str(f)).full
    s = parse_arg(f"{f}:bc5cdr")
    assert not s.full and s.preset == "bc5cdr" and s.map == PRESETS["bc5cdr"]["map"] and s.covered() == set()
    assert s.map["Disease"] == ["T038", "T033", "T037"]
    assert parse_arg(f"{f}:ncbi-disease").targets("Modifier") == ["T038", "T033", "T037"]
    odd = tmp_path / "a:b.jsonl"  # an existing file whose name holds a colon is a path
    odd.write_text("")
    assert parse_arg(str(odd)).path == odd


@pytest.mark.parametrize("spec,message", [
    ("{f}:nosuch", "source 2 ({f}:nosuch): unknown map 'nosuch'; built-in maps: bc5cdr, ncbi-disease"),
    ("{d}/missing.jsonl", "source 2 ({d}/missing.jsonl): {d}/missing.jsonl not found"),
])
def test_parse_arg_errors_name_the_source(tmp_path, spec, message):
    f = tmp_path / "x.txt"
    f.write_text("")
    with pytest.raises(ConfigError) as e:
        parse_arg(spec.format(f=f, d=tmp_path), 2)
    assert str(e.value).startswith(message.format(f=f, d=tmp_path)) and "\n" not in str(e.value)


@pytest.mark.parametrize("obj,message", [
    ("x", "source 3: expected an object with a \"path\""),
    ({"path": "x.txt", "mpa": {}}, "source 3 (x.txt): unknown key(s) mpa"),
    ({"path": ""}, "source 3: \"path\" must be a non-empty string"),
    ({"path": "nope.txt"}, "source 3 (nope.txt): "),
    ({"path": "x.txt", "map": {"Chemical": 5}}, "source 3 (x.txt): map value of 'Chemical' must be a label or a list"),
    ({"path": "x.txt", "map": {"Chemical": ["O"]}}, "source 3 (x.txt): map value of 'Chemical' names O"),
    ({"path": "x.txt", "map": {}}, "source 3 (x.txt): \"map\" must be a non-empty object"),
    ({"path": "x.txt", "map": "cdr"}, "source 3 (x.txt): unknown map 'cdr'"),
    ({"path": "x.txt", "weight": 0}, "source 3 (x.txt): \"weight\" must be a positive number, got 0"),
    ({"path": "x.txt", "weight": True}, "source 3 (x.txt): \"weight\" must be a positive number"),
    ({"path": "x.txt", "covers": "T103"}, "source 3 (x.txt): \"covers\" must be a list of model labels"),
])
def test_parse_spec_errors_are_one_line_and_name_the_source(tmp_path, obj, message):
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(ClinlmError) as e:
        parse_spec(obj, 3, tmp_path)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_parse_spec_reads_maps_weights_and_presets(tmp_path):
    (tmp_path / "x.txt").write_text("")
    s = parse_spec({"path": "x.txt", "map": {"Chemical": "T103", "Disease": ["T038", "T033", "T038"], "Gene": []},
                    "weight": 0.5, "name": "cdr"}, 1, tmp_path)
    assert s.map == {"Chemical": ["T103"], "Disease": ["T038", "T033"], "Gene": []} and s.weight == 0.5
    assert s.covered() == {"T103", "T038", "T033"} and s.name == "cdr" and s.targets("Gene") == []
    p = parse_spec({"path": "x.txt", "map": "bc5cdr"}, 1, tmp_path)
    assert p.preset == "bc5cdr" and p.covered() == set()
    assert parse_spec({"path": "x.txt", "map": "bc5cdr", "covers": ["T103"]}, 1, tmp_path).covered() == {"T103"}
    q = parse_spec({"path": "x.txt", "covers": ["T005"]}, 1, tmp_path)  # no map: its types as they are
    assert not q.full and q.targets("T005") == ["T005"]


def test_spec_file_list_or_train_and_report_dev(tmp_path):
    (tmp_path / "a.jsonl").write_text("")
    (tmp_path / "b.txt").write_text("")
    f = tmp_path / "sources.json"
    f.write_text(json.dumps([{"path": "a.jsonl"}, {"path": "b.txt", "map": "ncbi-disease", "weight": 2}]))
    train, report = read_spec_file(f)
    assert [s.path for s in train] == [tmp_path / "a.jsonl", tmp_path / "b.txt"] and report == []
    assert train[0].full and train[1].weight == 2.0
    f.write_text(json.dumps({"train": [{"path": "a.jsonl"}], "report_dev": [{"path": "b.txt", "map": "bc5cdr"}]}))
    train, report = read_spec_file(f)
    assert len(train) == 1 and report[0].preset == "bc5cdr"
    f.write_text(json.dumps({"train": [{"path": "a.jsonl"}, {"path": "b.txt", "weight": -1}]}))
    with pytest.raises(ConfigError, match=r"sources.json: train source 2 \(b.txt\): \"weight\""):
        read_spec_file(f)


def test_types_must_be_mapped_and_labels_known(tmp_path):
    src = Source(tmp_path / "cdr.txt", map={"Chemical": ["T103"]})
    d = Document("1", "aspirin and fever")
    d.add(0, 7, "Chemical")
    d.add(12, 17, "Disease")
    with pytest.raises(ConfigError, match=r"source 'cdr.txt' \(.*cdr.txt\): type\(s\) Disease \(1\) are in the data "
                                          r"but not in the source's map"):
        src.check_types([d])
    Source(tmp_path / "cdr.txt", map={"Chemical": ["T103"], "Disease": []}).check_types([d])
    with pytest.raises(ConfigError, match="label\\(s\\) T999 are not among the model's labels"):
        Source(tmp_path / "x", map={"Chemical": ["T999"]}).check_labels(["T103"])
    full, part = Source(tmp_path / "mm"), Source(tmp_path / "cdr", map={"Chemical": ["T103"], "Disease": ["T038"]})
    mm = Document("2", "fever")
    mm.add(0, 5, "T033")
    assert model_types([Sourced(mm, full), Sourced(d, part)]) == {"T033", "T103", "T038"}


# -- the allowed-tag mask ----------------------------------------------------------------------------------
def cdr_doc() -> Document:
    text = "aspirin relieved severe chest pain today"
    d = Document("1", text)
    d.add(0, 7, "Chemical")
    d.add(24, 34, "Disease")  # "chest pain": two words
    return d


def test_mask_of_a_partial_source_by_hand(tmp_path):
    src = Source(tmp_path / "cdr", map={"Chemical": ["T103"], "Disease": ["T033", "T038"]})  # covers T103 T033 T038
    d = cdr_doc()
    sets = word_tag_sets(words(d.text), d, src, L2I)
    free = ids("O", "B-T017", "I-T017")  # O and the one label the source does not cover
    ended = ids("O", "B-T017")  # right after a mention: the mention ended, so no I- tag
    assert sets == [ids("B-T103"), ended, free, ids("B-T033", "B-T038"), ids("I-T033", "I-T038"), ended]
    # covers nothing (the BC5CDR preset): an unannotated word allows every tag, except after a mention
    loose = Source(tmp_path / "cdr", map=src.map, covers=[])
    sets = word_tag_sets(words(d.text), d, loose, L2I)
    everything = frozenset(range(len(LABELS)))
    assert sets[2] == everything and sets[0] == ids("B-T103")
    assert sets[1] == sets[5] == frozenset(i for i, l in enumerate(LABELS) if not l.startswith("I-"))
    table = AllowedTable(len(LABELS))
    assert table.index(sets[2], 1.0) == 0 and table.index(sets[0], 1.0) == 1 and table.index(sets[0], 2.0) == 2


def test_a_partial_source_still_teaches_where_a_mention_ends(tmp_path):
    """The presets cover nothing, yet a full stop after a mention can only be O, and a word after one
    cannot continue it: without this the model ran spans on ("Chest pain.", "Lisinopril 20")."""
    d = Document("1", "Lisinopril 20 mg. Chest pain, cough")
    d.add(0, 10, "Chemical")
    d.add(18, 28, "Disease")
    loose = Source(tmp_path / "cdr", map={"Chemical": ["T103"], "Disease": ["T033"]}, covers=[])
    w = words(d.text)
    sets = dict(zip(w.strings(), word_tag_sets(w, d, loose, L2I)))
    assert sets[","] == ids("O")  # punctuation right after a mention
    assert not any(LABELS[i].startswith("I-") for i in sets["20"]) and L2I["O"] in sets["20"]
    assert not any(LABELS[i].startswith("B-") for i in sets["."]) and L2I["O"] in sets["."]  # never starts one


def test_mask_of_a_full_source_is_the_gold_tag():
    d = Document("1", "aspirin relieved severe chest pain today")
    d.add(24, 34, "T033")
    d.add(0, 7, "T999")  # a type the model lacks is O, as in single-source training
    assert word_tag_sets(words(d.text), d, None, L2I) == [ids("O")] * 3 + [ids("B-T033"), ids("I-T033"), ids("O")]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["fever", "aspirin", "chest", "pain", ",", "of"]), min_size=1, max_size=12),
       st.lists(st.tuples(st.integers(0, 11), st.integers(1, 4), st.sampled_from(["T033", "T103", "Chemical", "Disease"])),
                max_size=6),
       st.sampled_from([None, [], ["T103"]]))
def test_mask_over_random_entity_layouts(tokens, spans, covers):
    text = " ".join(tokens)
    w = words(text)
    doc = Document("r", text)
    for first, length, label in spans:
        if first < len(w):
            last = min(len(w), first + length) - 1
            doc.add(w.starts[first], w.ends[last], label)
    full = word_tag_sets(w, doc, None, L2I)
    gold = entity_tags(w, doc.entities)
    assert [len(s) for s in full] == [1] * len(w)
    assert all(L2I.get(g, 0) in s for g, s in zip(gold, full))
    src = Source(Path("p"), map={"Chemical": ["T103"], "Disease": ["T038", "T033"],
                                                       "T033": [], "T103": []}, covers=covers)
    part = word_tag_sets(w, doc, src, L2I)
    assert len(part) == len(w) and all(part)
    mention = entity_tags(w, [e for e in doc.entities if src.targets(e.label)])
    for i, s in enumerate(part):  # a mention word allows only B- or only I- tags; others allow O
        kinds = {LABELS[t][0] for t in s}
        assert kinds in ({"B"}, {"I"}) or "O" in kinds
        if mention[i] == "O" and i and mention[i - 1] != "O":  # the word after a mention does not continue it
            assert "I" not in kinds
        if mention[i] == "O" and w.strings()[i] == ",":
            assert "B" not in kinds


# -- the loss -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_marginal_loss_with_one_allowed_tag_is_cross_entropy(smoothing):
    torch.manual_seed(0)
    logits = torch.randn(3, 7, len(LABELS))
    labels = torch.randint(0, len(LABELS), (3, 7))
    labels[0, :2] = -100
    labels[2, 5:] = -100
    allowed = F.one_hot(labels.clamp(min=0), len(LABELS)).bool() & (labels >= 0).unsqueeze(-1)
    ce = F.cross_entropy(logits.reshape(-1, len(LABELS)), labels.reshape(-1), ignore_index=-100, label_smoothing=smoothing)
    assert torch.allclose(marginal_nll(logits, allowed, label_smoothing=smoothing), ce, rtol=0, atol=1e-6)


def test_marginal_loss_is_at_most_pretending_o():
    torch.manual_seed(1)
    logits = torch.randn(2, 9, len(LABELS))
    o = torch.zeros(len(LABELS), dtype=torch.bool)
    o[0] = True
    free = torch.tensor([i in ids("O", "B-T017", "I-T017") for i in range(len(LABELS))])
    marginal = marginal_nll(logits, free.expand(2, 9, -1))
    pretend = marginal_nll(logits, o.expand(2, 9, -1))
    assert marginal < pretend
    # token by token too, and an unscored token (nothing allowed) gives a finite loss and gradient
    mask = free.expand(2, 9, -1).clone()
    mask[1, 3:] = False
    logits.requires_grad_(True)
    loss = marginal_nll(logits, mask)
    loss.backward()
    assert torch.isfinite(logits.grad).all() and (logits.grad[1, 3:] == 0).all()


def test_weights_scale_a_tokens_share():
    logits = torch.zeros(1, 2, 3)
    allowed = torch.tensor([[[True, False, False], [True, False, False]]])
    base = marginal_nll(logits, allowed)
    assert torch.isclose(marginal_nll(logits, allowed, torch.tensor([[2.0, 2.0]])), 2 * base)
    assert torch.isclose(marginal_nll(logits, allowed, torch.tensor([[1.0, 3.0]])), 2 * base)  # mean over tokens


def test_full_sources_give_the_same_features_and_loss_as_before(tiny_bert, tmp_path):
    from clinlm.tasks.ner.task import NerTask

    docs = [cdr_doc() for _ in range(3)]
    for d in docs:
        d.entities = [e for e in d.entities if e.label == "Disease"]
        for e in d.entities:
            e.label = "T033"
    task = NerTask(max_length=24, stride=8)
    net, tok = task.build(str(tiny_bert), docs, labels=LABELS)
    plain = task.features(docs, net, tok)
    assert task.allowed is None and "labels" in plain[0]
    assert task.features([Sourced(d, Source(tmp_path / "mm")) for d in docs], net, tok) == plain
    before = task.loss(net, task.collate(plain, 0))
    # next to a partial source, the full source's windows go through the marginal loss: the same number
    partial = Source(tmp_path / "cdr", map={"Chemical": ["T103"], "Disease": ["T033"]})
    mixed = task.features([Sourced(d, Source(tmp_path / "mm")) for d in docs] + [Sourced(cdr_doc(), partial)], net, tok)
    assert "allowed" in mixed[0] and len(mixed) == len(plain) + 1
    after = task.loss(net, task.collate(mixed[: len(plain)], 0))
    assert torch.allclose(before, after, rtol=0, atol=1e-6), (before, after)


def test_equal_sampling_repeats_the_smaller_sources():
    a, b = [{"k": i} for i in range(5)], [{"k": 10 + i} for i in range(2)]
    assert sample([a, b], "proportional", 0) == a + b
    out = sample([a, b], "equal", 0)
    assert len(out) == 10 and sum(f["k"] >= 10 for f in out) == 5 and {f["k"] for f in out} == set(range(5)) | {10, 11}
    with pytest.raises(ConfigError):
        sample([a], "mixed", 0)


# -- mapping-aware scores --------------------------------------------------------------------------------------
def test_mapped_scores_by_hand():
    text = "aspirin and ibuprofen cause severe chest pain"
    gold = Document("1", text)
    gold.add(0, 7, "Chemical")  # aspirin
    gold.add(12, 21, "Chemical")  # ibuprofen
    gold.add(35, 45, "Disease")  # chest pain
    pred = Document("1", text)
    pred.add(0, 7, "T103")  # exact chemical
    pred.add(12, 21, "T058")  # found, wrong type
    pred.add(28, 34, "T103")  # "severe": a T103 false positive
    pred.add(41, 45, "T033")  # "pain": overlaps the disease, not exact
    s = mapped_scores([gold], [pred], {"Chemical": ["T103"], "Disease": ["T038", "T033"], "Gene": []})
    assert set(s) == {"Chemical", "Disease", "all"}
    c = s["Chemical"]
    assert c["support"] == 2 and c["predicted"] == 2
    assert (c["exact"]["precision"], c["exact"]["recall"]) == (0.5, 0.5)
    assert (c["overlap"]["precision"], c["overlap"]["recall"]) == (0.5, 0.5)
    assert c["overlap_any_label"]["recall"] == 1.0
    d = s["Disease"]
    assert (d["exact"]["recall"], d["overlap"]["recall"], d["overlap"]["precision"]) == (0.0, 1.0, 1.0)
    a = s["all"]  # 3 gold mentions, 3 predictions in {T103, T038, T033}
    assert a["labels"] == ["T103", "T038", "T033"] and a["predicted"] == 3
    assert a["exact"]["recall"] == pytest.approx(1 / 3) and a["overlap"]["recall"] == pytest.approx(2 / 3)
    assert a["overlap"]["precision"] == pytest.approx(2 / 3)


def test_mapped_scores_do_not_count_another_types_hit_against_a_type():
    text = "breast cancer and ataxia"
    gold = Document("1", text)
    gold.add(0, 13, "SpecificDisease")
    gold.add(18, 24, "DiseaseClass")
    pred = Document("1", text)
    pred.add(0, 13, "T038")
    pred.add(18, 24, "T033")
    disease = ["T038", "T033"]
    s = mapped_scores([gold, gold], [pred, gold.with_entities([])], {"SpecificDisease": disease, "DiseaseClass": disease})
    assert s["SpecificDisease"]["predicted"] == 1 and s["SpecificDisease"]["exact"]["precision"] == 1.0
    assert s["SpecificDisease"]["exact"]["recall"] == 0.5  # the second document has no predictions
    assert s["all"]["predicted"] == 2 and s["all"]["exact"]["precision"] == 1.0 and s["all"]["exact"]["recall"] == 0.5


# -- PubTator: NCBI's mention column with trailing spaces ------------------------------------------------------
def test_pubtator_mention_with_edge_spaces_is_repaired_and_written_back():
    s = "7|t|Febrile seizures plus\n7|a|x\n7\t0\t21\tFebrile seizures plus  \tSpecificDisease\tD1\n"
    doc = pubtator.loads(s)[0]
    assert doc.entities[0].text == "Febrile seizures plus" and doc.entities[0].end == 21
    assert pubtator.dumps([doc]) == s


# -- training -------------------------------------------------------------------------------------------------
FILL = [w for w in WORDS if w not in ("fever", "aspirin")]


def _doc(rng: random.Random, i: str, drug: str, fever: str | None) -> Document:
    ws = rng.sample(FILL, 6)
    ws.insert(rng.randrange(7), "fever")
    ws.insert(rng.randrange(8), "aspirin")
    text = " ".join(ws)
    d = Document(i, text)
    d.add(text.index("aspirin"), text.index("aspirin") + 7, drug)
    if fever:
        d.add(text.index("fever"), text.index("fever") + 5, fever)
    return d


def _fixtures():
    """A full source (fever T033, aspirin T103) and a 4x larger partial one that annotates only its
    drugs: its unannotated fevers would teach "fever is O" if unannotated meant O."""
    rng = random.Random(0)
    full = [_doc(rng, f"f{i}", "T103", "T033") for i in range(6)]
    partial = [_doc(rng, f"p{i}", "Drug", None) for i in range(24)]
    test = [_doc(rng, f"t{i}", "T103", "T033") for i in range(20)]
    return full, partial, test


def test_marginal_training_keeps_a_label_only_the_full_source_teaches(tiny_bert, tmp_path):
    from clinlm.tasks.ner.task import NerTask
    from clinlm.tasks.trainer import TrainArgs, train

    full, partial, test = _fixtures()
    found = {}
    for name, covers in (("marginal", None), ("pretend O", ["T033", "T103"])):
        fs, ps = Source(tmp_path / "full"), Source(tmp_path / "part", map={"Drug": ["T103"]}, covers=covers)
        items = [Sourced(d, fs) for d in full] + [Sourced(d, ps) for d in partial]
        task = NerTask(max_length=24, stride=8)
        net, tok = task.build(str(tiny_bert), items, labels=bio_labels(["T033", "T103"]))
        train(task, net, tok, items, None, TrainArgs(epochs=20, learning_rate=3e-3, batch_size=8, warmup_ratio=0.0),
              tmp_path / name)
        pred = list(task.pipeline(net, tok).pipe(test))
        found[name] = {lab: sum(any(e.label == lab and e.text == w for e in p.entities) for p in pred)
                       for lab, w in (("T033", "fever"), ("T103", "aspirin"))}
    assert found["marginal"]["T103"] == found["pretend O"]["T103"] == 20
    assert found["pretend O"]["T033"] <= 2 and found["marginal"]["T033"] >= 10, found


@pytest.mark.slow
def test_cli_trains_from_sources_and_records_them(tiny_bert, tmp_path):
    full, partial, test = _fixtures()
    write_documents(full, tmp_path / "full.jsonl", "jsonl")
    write_documents(partial, tmp_path / "part.jsonl", "jsonl")
    write_documents(test[:4], tmp_path / "dev.jsonl", "jsonl")
    for d in test:
        for e in d.entities:
            e.label = "Drug" if e.label == "T103" else "Sick"
    write_documents(test[4:], tmp_path / "report.jsonl", "jsonl")
    (tmp_path / "sources.json").write_text(json.dumps({
        "train": [{"path": "part.jsonl", "map": {"Drug": "T103"}, "covers": [], "weight": 0.5, "name": "drugs"}],
        "report_dev": [{"path": "report.jsonl", "map": {"Drug": ["T103"], "Sick": ["T033"]}}]}))
    r = clinlm("train", "ner", "--model", tiny_bert, "--train", tmp_path / "full.jsonl", "--sources", tmp_path / "sources.json",
               "--dev", tmp_path / "dev.jsonl", "--output", tmp_path / "model", "--epochs", "10", "--lr", "3e-3",
               "--batch-size", "8", "--max-length", "24", "--stride", "8", "--source-sampling", "equal")
    assert r.returncode == 0, r.stderr.decode()
    man = json.loads((tmp_path / "model" / "clinlm.json").read_text())
    assert [s["name"] for s in man["sources"]] == ["full.jsonl", "drugs"] and man["source_sampling"] == "equal"
    drugs = man["sources"][1]
    assert drugs["map"] == {"Drug": ["T103"]} and drugs["covers"] == [] and drugs["weight"] == 0.5
    assert drugs["fingerprint"].startswith("sha256:") and drugs["documents"] == 24 and drugs["annotation"] == "partial"
    assert man["labels"] == bio_labels(["T033", "T103"])
    report = man["report_dev"][0]
    assert report["scores"]["documents"] == 16 and set(report["scores"]["mapped"]) == {"Drug", "Sick", "all"}
    assert report["scores"]["mapped"]["Drug"]["overlap"]["recall"] > 0.5
    assert b"report dev report.jsonl" in r.stdout


def test_cli_source_errors_are_one_line(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"id": "1", "text": "aspirin", "entities": [{"start": 0, "end": 7, "label": "Drug", "text": "aspirin"}]}\n')
    r = clinlm("train", "ner", "--model", tmp_path / "none", "--train", f"{tmp_path / 'a.jsonl'}:nosuch", "--output", tmp_path / "o")
    assert r.returncode == 2 and b"unknown map 'nosuch'" in r.stderr and r.stderr.decode().count("\n") == 1
    r = clinlm("train", "ner", "--model", tmp_path / "none", "--train", f"{tmp_path / 'a.jsonl'}:bc5cdr", "--output", tmp_path / "o")
    assert r.returncode == 2 and b"type(s) Drug (1) are in the data but not in the source's map" in r.stderr
    r = clinlm("train", "ner", "--model", tmp_path / "none", "--output", tmp_path / "o")
    assert r.returncode == 2 and b"no training data" in r.stderr


def test_cli_evaluates_any_model_on_a_mapped_corpus(tiny_tagger, tmp_path):
    """``evaluate ner --data PATH:bc5cdr``: the tagger calls every word T033, a disease label, so every
    Disease mention is found with the right labels and no Chemical is (T103 is never predicted)."""
    title, abstract = "Aspirin and fever", "Fever after cocaine use was seen in two cases."
    text = f"{title} {abstract}"
    spans = [(0, 7, "Aspirin", "Chemical"), (12, 17, "fever", "Disease"), (18, 23, "Fever", "Disease"),
             (30, 37, "cocaine", "Chemical")]
    lines = [f"1|t|{title}", f"1|a|{abstract}"] + [f"1\t{s}\t{e}\t{w}\t{t}\tD1" for s, e, w, t in spans]
    assert all(text[s:e] == w for s, e, w, _ in spans)
    gold = tmp_path / "dev.PubTator.txt"
    gold.write_text("\n".join(lines) + "\n\n")
    r = clinlm("evaluate", "ner", "--model", tiny_tagger, "--data", f"{gold}:bc5cdr", "--json")
    assert r.returncode == 0, r.stderr.decode()
    mapped = json.loads(r.stdout)["mapped"]
    assert set(mapped) == {"Chemical", "Disease", "all"}
    assert mapped["Disease"]["overlap"]["recall"] == 1.0 and mapped["Disease"]["support"] == 2
    assert mapped["Chemical"]["overlap"]["recall"] == 0.0 and mapped["Chemical"]["predicted"] == 0
    assert mapped["Chemical"]["overlap_any_label"]["recall"] == 1.0
    r = clinlm("evaluate", "ner", "--model", tiny_tagger, "--data", f"{gold}:bc5cdr")
    assert r.returncode == 0 and b"Disease" in r.stdout and b"T038,T033,T037" in r.stdout
    r = clinlm("evaluate", "ner", "--model", tiny_tagger, "--data", f"{gold}:bc5cdr", "--protocol", "model-card")
    assert r.returncode == 2 and b"scored with the clinlm protocol only" in r.stderr and r.stderr.decode().count("\n") == 1
