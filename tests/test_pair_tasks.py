"""STS, NLI and PubMedQA: readers and their errors, splits, metrics, learning on a tiny BERT, the CLI."""
from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
from cli_runner import clinlm
from conftest import WORDS
from hypothesis import given
from hypothesis import strategies as st

from clinlm.data.splits import holdout, kfold
from clinlm.errors import ConfigError, InputError
from clinlm.tasks import get_task
from clinlm.tasks.pair.data import PairExample, read_ids, read_pairs, select
from clinlm.tasks.pair.metrics import classification_scores, correlation_scores
from clinlm.tasks.trainer import TrainArgs, train


# -- fixtures: trivially separable data ------------------------------------------------------
def sentence(rng: random.Random, n: int = 5) -> str:
    return " ".join(rng.sample(WORDS[:30], n))


def sts_rows(n: int, seed: int = 0) -> list[tuple[str, str, float]]:
    """Score 4.5 when the second sentence mentions the heart, 0.5 when it mentions the lung."""
    rng = random.Random(seed)
    return [(sentence(rng), f"{sentence(rng)} {'heart' if i % 2 else 'lung'}", 4.5 if i % 2 else 0.5) for i in range(n)]


NLI_CUES = {"entailment": "reports", "contradiction": "denies", "neutral": "mother"}


def nli_rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    labels = sorted(NLI_CUES)
    return [{"sentence1": sentence(rng), "sentence2": f"{NLI_CUES[labels[i % 3]]} {sentence(rng, 3)}", "gold_label": labels[i % 3]}
            for i in range(n)]


def pubmedqa_json(path: Path, n: int, seed: int = 0) -> dict[str, str]:
    """ori_pqal.json layout; the answer is cued by a word in the abstract (yes 3 : no 2 : maybe 1)."""
    rng = random.Random(seed)
    cue = {"yes": "aspirin", "no": "metformin", "maybe": "virus"}
    decisions = ["yes", "yes", "yes", "no", "no", "maybe"]
    data, gold = {}, {}
    for i in range(n):
        d = decisions[i % len(decisions)]
        data[str(1000 + i)] = {"QUESTION": f"is {sentence(rng, 3)} ?", "CONTEXTS": [sentence(rng, 6), f"{cue[d]} {sentence(rng, 4)}"],
                               "LONG_ANSWER": "x", "final_decision": d}
        gold[str(1000 + i)] = d
    path.write_text(json.dumps(data, indent=1))
    return gold


def write_tsv(path: Path, rows) -> Path:
    path.write_text("".join("\t".join(map(str, r)) + "\n" for r in rows))
    return path


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# -- readers --------------------------------------------------------------------------------------
def test_clinical_sts_and_biosses_layouts(tmp_path):
    sts = read_pairs(write_tsv(tmp_path / "clinicalsts.tsv", [("a b", "c d", "3.5"), ("e", "f", "0")]), "sts")
    assert [(e.text_a, e.text_b, e.label) for e in sts] == [("a b", "c d", 3.5), ("e", "f", 0.0)]
    (tmp_path / "biosses.tsv").write_text(
        "id\tsentence1\tsentence2\tannotator_a\tmean_score\n7\tx y\tz\t4\t3.8\n8\tp\tq\t0\t0.2\n")
    bio = read_pairs(tmp_path / "biosses.tsv", "sts")
    assert [(e.id, e.text_a, e.text_b, e.label) for e in bio] == [("7", "x y", "z", 3.8), ("8", "p", "q", 0.2)]
    unlabelled = read_pairs(write_tsv(tmp_path / "test.tsv", [("a", "b")]), "sts", require_label=False)
    assert unlabelled[0].label is None


def test_mednli_rqe_and_pubmedqa_layouts(tmp_path):
    nli = read_pairs(write_jsonl(tmp_path / "mednli.jsonl", [
        {"sentence1": "a", "sentence2": "b", "gold_label": "entailment", "pairID": "p1"},
        {"sentence1": "c", "sentence2": "d", "gold_label": "-"},  # no consensus: skipped, as in SNLI
    ]), "nli")
    assert [(e.id, e.label) for e in nli] == [("p1", "entailment")]
    (tmp_path / "rqe.xml").write_text(
        '<?xml version="1.0"?>\n<RQE>\n<pair pid="1" value="true">\n<chq>\n  How   to treat\n  fever?</chq>\n'
        '<faq>Fever treatment?</faq>\n</pair>\n<pair pid="2" value="false"><chq>a</chq><faq>b</faq></pair>\n</RQE>\n')
    rqe = read_pairs(tmp_path / "rqe.xml", "nli")
    assert [(e.id, e.text_a, e.text_b, e.label) for e in rqe] == [("1", "How to treat fever?", "Fever treatment?", "true"), ("2", "a", "b", "false")]
    gold = pubmedqa_json(tmp_path / "ori_pqal.json", 6)
    pq = read_pairs(tmp_path / "ori_pqal.json", "pubmedqa")
    assert [e.label for e in pq] == list(gold.values()) and pq[0].text_a.startswith("is ")
    assert "LONG_ANSWER" not in pq[0].text_b and pq[0].text_b.count(" ") == 10  # two context paragraphs joined
    (tmp_path / "truth.json").write_text(json.dumps({"1001": "yes", "1003": "no"}))
    assert [e.id for e in select(pq, read_ids(tmp_path / "truth.json"))] == ["1001", "1003"]
    assert [e.id for e in select(pq, drop=read_ids(tmp_path / "truth.json"))] == ["1000", "1002", "1004", "1005"]


@pytest.mark.parametrize(
    "name,content,kind,where,message",
    [
        ("s.tsv", "a\tb\t3\nonly one column\n", "sts", ":2:", "found 1 column"),
        ("s.tsv", "a\tb\t3\nc\td\tlots\n", "sts", ":2:", "is not a number"),
        ("s.tsv", "a\tb\t3\n\nc\td\t7.5\n", "sts", ":3:", "outside 0-5"),
        ("b.tsv", "id\tsentence1\tsentence2\tmean_score\n1\ta\tb\n", "sts", ":2:", "expected 4 columns"),
        ("n.jsonl", '{"sentence1": "a", "sentence2": "b", "gold_label": "x"}\n{"sentence1": "a"\n', "nli", ":2:", "not valid JSON"),
        ("n.jsonl", '{"sentence1": "a", "sentence2": "b"}\n', "nli", ":1:", "needs a gold_label"),
        ("r.xml", '<r>\n<pair value="true"><chq>a</chq><faq>b</faq></pair>\n<pair value="maybe">\n<chq>a</chq><faq>b</faq></pair></r>', "nli", ":3:", "true or false"),
        ("r.xml", '<r>\n<pair value="true"><chq>a</chq>\n<faq>b</faq></pair>\n<pair value="true"><chq>a</chq></pair></r>', "nli", ":4:", "a <chq> and a <faq>"),
        ("r.xml", '<r>\n<pair value="true">\n<chq>a</faq></pair></r>', "nli", ":3:", "malformed XML"),
        ("p.json", '{\n "1": {"QUESTION": "q", "CONTEXTS": ["c"], "final_decision": "yes"},\n "2": {"QUESTION": "q", "CONTEXTS": ["c"], "final_decision": "perhaps"}\n}', "pubmedqa", ":3:", "not yes, no or maybe"),
        ("p.json", '{\n "1": {"QUESTION": "q",\n', "pubmedqa", ":3:", "not valid JSON"),
        ("s.tsv", "a\tb\tyes\n", "nli", ":1:", "not a number"),  # a TSV is STS data: a class label is an error
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path, name, content, kind, where, message):
    p = tmp_path / name
    p.write_text(content)
    with pytest.raises(InputError) as exc:
        read_pairs(p, kind)
    assert str(exc.value).startswith(str(p) + where) and message in str(exc.value) and "\n" not in str(exc.value)


# -- splits ----------------------------------------------------------------------------------------
@given(n=st.integers(2, 60), k=st.integers(2, 12), seed=st.integers(0, 5))
def test_kfold_tests_every_example_once_and_never_trains_on_it(n, k, seed):
    if k > n:
        with pytest.raises(ConfigError):
            kfold(n, k, seed)
        return
    folds = kfold(n, k, seed)
    tested = sorted(i for _, test in folds for i in test)
    assert tested == list(range(n)) and len(folds) == k
    for train_idx, test_idx in folds:
        assert not set(train_idx) & set(test_idx) and sorted(train_idx + test_idx) == list(range(n))
    sizes = [len(t) for _, t in folds]
    assert max(sizes) - min(sizes) <= 1
    assert folds == kfold(n, k, seed)  # seeded


def test_holdout_is_seeded_and_disjoint():
    rest, out = holdout(list(range(100)), 0.1, seed=3)
    assert len(out) == 10 and sorted(rest + out) == list(range(100))
    assert (rest, out) == holdout(list(range(100)), 0.1, seed=3) and out != holdout(list(range(100)), 0.1, seed=4)[1]


# -- metrics against hand-computed values -----------------------------------------------------------
def test_correlations_match_hand_computation():
    gold, pred = [1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 5.0]
    # Pearson by hand: means 2.5 and 2.75; cov sum 5.5; var sums 5 and 8.75
    r = correlation_scores(gold, pred)
    assert math.isclose(r["pearson"], 5.5 / math.sqrt(5 * 8.75))
    assert math.isclose(r["spearman"], 0.8)  # ranks 1,2,3,4 vs 1,3,2,4: 1 - 6*2/(4*15)
    assert correlation_scores(gold, [2.0] * 4)["pearson"] == 0.0  # a constant prediction is undefined, scored 0


def test_accuracy_and_macro_f1_match_hand_computation():
    gold = ["yes", "yes", "yes", "no", "maybe"]
    always_yes = classification_scores(gold, ["yes"] * 5, labels=["yes", "no", "maybe"])
    assert always_yes["accuracy"] == 0.6
    assert math.isclose(always_yes["macro_f1"], (0.75 + 0 + 0) / 3)  # yes: P 0.6 R 1 F1 0.75
    mixed = classification_scores(gold, ["yes", "no", "yes", "no", "yes"], labels=["yes", "no", "maybe"])
    # yes: P 2/3 R 2/3; no: P 1/2 R 1; maybe: 0
    assert math.isclose(mixed["macro_f1"], (2 / 3 + 2 / 3 + 0) / 3) and mixed["accuracy"] == 0.6
    assert mixed["predicted"] == {"yes": 3, "no": 2}


# -- learning on a tiny random BERT -------------------------------------------------------------------
def _fit(task, tiny_bert, tmp_path, train_ex, epochs=40):
    model, tok = task.build(str(tiny_bert), train_ex)
    args = TrainArgs(epochs=epochs, learning_rate=3e-3, batch_size=8, warmup_ratio=0.0, precision="fp32", seed=1)
    train(task, model, tok, train_ex, None, args, tmp_path / "m")
    return model, tok


def test_sts_learns_a_separable_fixture(tiny_bert, tmp_path):
    task = get_task("sts", max_length=32)
    ex = [PairExample(str(i), a, b, s) for i, (a, b, s) in enumerate(sts_rows(32))]
    model, tok = _fit(task, tiny_bert, tmp_path, ex)
    held = [PairExample(str(i), a, b, s) for i, (a, b, s) in enumerate(sts_rows(12, seed=9))]
    assert task.evaluate(model, tok, held)["pearson"] > 0.9
    assert set(json.loads((tmp_path / "m" / "clinlm.json").read_text())["labels"]) == {"score"}


def test_nli_learns_a_separable_fixture(tiny_bert, tmp_path):
    task = get_task("nli", max_length=32)
    ex = [PairExample(str(i), r["sentence1"], r["sentence2"], r["gold_label"]) for i, r in enumerate(nli_rows(36))]
    model, tok = _fit(task, tiny_bert, tmp_path, ex)
    held = [PairExample(str(i), r["sentence1"], r["sentence2"], r["gold_label"]) for i, r in enumerate(nli_rows(15, seed=9))]
    res = task.evaluate(model, tok, held)
    assert res["accuracy"] == 1.0 and res["macro_f1"] == 1.0 and set(res["per_class"]) == set(NLI_CUES)


def test_pubmedqa_learns_and_weights_its_rare_classes(tiny_bert, tmp_path):
    task = get_task("pubmedqa", max_length=48)
    pubmedqa_json(tmp_path / "p.json", 36)
    ex = task.read(tmp_path / "p.json")
    model, tok = _fit(task, tiny_bert, tmp_path, ex)
    # yes 3 : no 2 : maybe 1 -> inverse-frequency weights, "maybe" weighs 3x "yes"
    assert task.class_weights.tolist() == pytest.approx([36 / (3 * 18), 36 / (3 * 12), 36 / (3 * 6)])
    pubmedqa_json(tmp_path / "held.json", 12, seed=9)
    res = task.evaluate(model, tok, task.read(tmp_path / "held.json"))
    assert res["accuracy"] == 1.0 and res["predicted"] == {"yes": 6, "no": 4, "maybe": 2}


def test_pubmedqa_keeps_the_question_and_truncates_the_abstract(tiny_bert):
    task = get_task("pubmedqa", max_length=16)
    model, tok = task.build(str(tiny_bert), [])
    ex = [PairExample("1", "chest pain", " ".join(["fever"] * 40), "yes"), PairExample("2", " ".join(["cough"] * 40), "fever", "no")]
    ids = task._encode(tok, ex)["input_ids"]
    assert all(len(x) == 16 for x in ids)
    assert tok.decode(ids[0]).startswith("[CLS] chest pain [SEP] fever")
    assert tok.decode(ids[1]).endswith("[SEP] fever [SEP]")  # a question too long for half the window is trimmed too


def test_pubmedqa_can_cut_the_abstract_at_its_start_and_keeps_that_in_its_checkpoint(tiny_bert, tmp_path):
    from clinlm.errors import ConfigError

    task = get_task("pubmedqa", max_length=16, truncation_side="left")
    model, tok = task.build(str(tiny_bert), [])
    ex = [PairExample("1", "chest pain", " ".join(["fever"] * 40) + " cough", "yes")]
    text = tok.decode(task._encode(tok, ex)["input_ids"][0])
    assert text.startswith("[CLS] chest pain [SEP] fever") and text.endswith("fever cough [SEP]")  # the abstract's end
    assert tok.truncation_side == "right"  # the tokenizer is left as it was
    task.save(model, tok, tmp_path / "m", {})
    again = get_task("pubmedqa")
    again.load(tmp_path / "m")
    assert again.truncation_side == "left"
    with pytest.raises(ConfigError, match="truncation side"):
        get_task("pubmedqa", truncation_side="middle")


@pytest.mark.slow
def test_cross_validation_pools_out_of_fold_predictions(tiny_bert):
    from clinlm.tasks.pair.crossval import cross_validate

    task = get_task("sts", max_length=32)
    ex = [PairExample(str(i), a, b, s) for i, (a, b, s) in enumerate(sts_rows(45))]
    res = cross_validate(task, str(tiny_bert), ex, 3, TrainArgs(epochs=60, learning_rate=3e-3, batch_size=8, precision="fp32", seed=1))
    assert [p["fold"] for p in res["predictions"]].count(0) == 15 and len(res["per_fold"]) == 3
    assert res["pooled"]["n"] == 45 and res["pooled"]["pearson"] > 0.8 and res["fold_mean_pearson"] > 0.8
    for fold in res["per_fold"]:
        assert fold["train"] == 30 and fold["test"] == 15


@pytest.mark.parametrize("name", ["ner", "sts", "nli", "qa"])
def test_build_starts_the_new_head_from_the_seed(tiny_bert, name):
    """One seed, one run: the head must not depend on what used the global RNG before (it did:
    separate processes trained different models from the same command)."""
    import torch

    from clinlm.document import Document

    doc = Document("d", "the patient denies chest pain")
    doc.add(19, 29, "T184")
    examples = {"ner": [doc], "sts": [PairExample("1", "a", "b", 1.0), PairExample("2", "a", "c", 4.0)],
                "nli": [PairExample(str(i), "a", "b", lab) for i, lab in enumerate(sorted(NLI_CUES))], "qa": []}[name]

    def build(noise: int, seed: int) -> dict:
        torch.manual_seed(noise)
        torch.rand(noise + 1)
        model, _ = get_task(name).build(str(tiny_bert), examples, seed=seed)
        return model.state_dict()

    a, b, c = build(1, seed=7), build(2, seed=7), build(1, seed=8)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)  # the seed is what decides


# -- command line -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def nli_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("nli-cli")
    write_jsonl(d / "train.jsonl", nli_rows(36))
    write_jsonl(d / "dev.jsonl", nli_rows(9, seed=5))
    write_jsonl(d / "new.jsonl", [{k: v for k, v in r.items() if k != "gold_label"} for r in nli_rows(3, seed=7)])
    return d


@pytest.mark.slow
def test_cli_nli_train_evaluate_predict(tiny_bert, nli_files):
    d = nli_files
    r = clinlm("train", "nli", "--model", tiny_bert, "--train", d / "train.jsonl", "--dev", d / "dev.jsonl", "--output", d / "m",
               "--epochs", "40", "--lr", "3e-3", "--batch-size", "4", "--max-length", "32", "--precision", "fp32")
    assert r.returncode == 0, r.stderr.decode()
    man = json.loads((d / "m" / "clinlm.json").read_text())
    assert man["task"] == "nli" and man["labels"] == sorted(NLI_CUES) and man["train_data"]["fingerprint"].startswith("sha256:")
    ev = clinlm("evaluate", "nli", "--model", d / "m", "--data", d / "dev.jsonl", "--json")
    assert ev.returncode == 0, ev.stderr.decode()
    assert json.loads(ev.stdout)["accuracy"] == 1.0
    table = clinlm("evaluate", "nli", "--model", d / "m", "--data", d / "dev.jsonl")
    assert b"macro_f1" in table.stdout and b"per class" in table.stdout
    pr = clinlm("predict", "nli", "--model", d / "m", "--data", d / "new.jsonl", "--output", d / "pred.jsonl")
    assert pr.returncode == 0, pr.stderr.decode()
    preds = [json.loads(l) for l in (d / "pred.jsonl").read_text().splitlines()]
    assert [p["label"] for p in preds] == [r["gold_label"] for r in nli_rows(3, seed=7)]
    assert all(math.isclose(sum(p["probabilities"].values()), 1.0, abs_tol=1e-3) for p in preds)
    wrong = clinlm("evaluate", "sts", "--model", d / "m", "--data", d / "dev.jsonl")
    assert wrong.returncode == 2 and b"is a nli model" in wrong.stderr


@pytest.mark.slow
def test_cli_sts_folds_and_pubmedqa_ids(tiny_bert, tmp_path):
    write_tsv(tmp_path / "sts.tsv", sts_rows(40))
    r = clinlm("train", "sts", "--model", tiny_bert, "--train", tmp_path / "sts.tsv", "--folds", "4", "--output", tmp_path / "cv",
               "--epochs", "60", "--seed", "1", "--lr", "3e-3", "--batch-size", "8", "--max-length", "32", "--json")
    assert r.returncode == 0, r.stderr.decode()
    cv = json.loads((tmp_path / "cv" / "cv.json").read_text())
    assert cv["folds"] == 4 and len(cv["predictions"]) == 40 and cv["pooled"]["pearson"] > 0.9
    assert not (tmp_path / "cv" / "config.json").exists()  # folds keep no checkpoint
    gold = pubmedqa_json(tmp_path / "ori_pqal.json", 48)
    test_ids = dict(list(gold.items())[:12])
    (tmp_path / "test_ground_truth.json").write_text(json.dumps(test_ids))
    r = clinlm("train", "pubmedqa", "--model", tiny_bert, "--train", tmp_path / "ori_pqal.json", "--exclude-ids",
               tmp_path / "test_ground_truth.json", "--dev-fraction", "0.2", "--output", tmp_path / "pq",
               "--epochs", "40", "--lr", "3e-3", "--batch-size", "8", "--max-length", "48", "--json")
    assert r.returncode == 0, r.stderr.decode()
    ev = clinlm("evaluate", "pubmedqa", "--model", tmp_path / "pq", "--data", tmp_path / "ori_pqal.json",
                "--ids", tmp_path / "test_ground_truth.json", "--json")
    res = json.loads(ev.stdout)
    assert res["n"] == 12 and res["accuracy"] >= 0.75  # learnt (majority class: 0.5)
    man = json.loads((tmp_path / "pq" / "clinlm.json").read_text())
    assert man["training"]["train_examples"] == 29  # 48 - 12 test - 7 dev (20% of 36, rounded)


def test_pubmedqa_long_answers_are_extra_training_pairs(tmp_path):
    from clinlm.errors import InputError
    from clinlm.tasks.pair.data import pubmedqa_long_answers

    path = tmp_path / "ori_pqal.json"
    pubmedqa_json(path, 6)
    data = json.loads(path.read_text())
    data["1001"]["LONG_ANSWER"] = "Aspirin lowered the risk."
    path.write_text(json.dumps(data, indent=1))
    questions = read_pairs(path, "pubmedqa")[:3]
    extra = pubmedqa_long_answers(path, questions)
    assert [(e.id, e.text_a, e.label) for e in extra] == [(f"{q.id}#long", q.text_a, q.label) for q in questions]
    assert extra[1].text_b == "Aspirin lowered the risk." and questions[1].text_b != extra[1].text_b
    del data["1002"]["LONG_ANSWER"]
    path.write_text(json.dumps(data, indent=1))
    with pytest.raises(InputError, match=r"record 1002 has no LONG_ANSWER") as info:
        pubmedqa_long_answers(path, questions)
    assert f"{path}:" in str(info.value)  # file and line named


def test_cli_long_answers_double_pubmedqa_training_only(tiny_bert, tmp_path):
    pubmedqa_json(tmp_path / "ori_pqal.json", 20)
    r = clinlm("train", "pubmedqa", "--model", tiny_bert, "--train", tmp_path / "ori_pqal.json", "--dev-fraction", "0.2",
               "--output", tmp_path / "pq", "--epochs", "1", "--batch-size", "8", "--max-length", "32", "--long-answers",
               "--json")
    assert r.returncode == 0, r.stderr.decode()
    man = json.loads((tmp_path / "pq" / "clinlm.json").read_text())
    assert man["training"]["train_examples"] == 2 * 16  # 16 questions, each with its abstract and its long answer
    write_tsv(tmp_path / "sts.tsv", sts_rows(8))
    r = clinlm("train", "sts", "--model", tiny_bert, "--train", tmp_path / "sts.tsv", "--output", tmp_path / "s",
               "--long-answers")
    assert r.returncode == 2 and "--long-answers is for pubmedqa" in r.stderr.decode() and not (tmp_path / "s").exists()


def test_cli_bad_input_is_one_line_and_writes_nothing(tiny_bert, tmp_path):
    (tmp_path / "bad.tsv").write_text("a\tb\t1\nc\td\n")
    r = clinlm("train", "sts", "--model", tiny_bert, "--train", tmp_path / "bad.tsv", "--output", tmp_path / "m")
    assert r.returncode == 2 and r.stderr.decode().strip().endswith("found 2 column(s)")
    assert f"{tmp_path / 'bad.tsv'}:2:" in r.stderr.decode() and len(r.stderr.decode().strip().splitlines()) == 1
    assert not (tmp_path / "m").exists()
    r = clinlm("train", "sts", "--model", tmp_path / "nope", "--train", tmp_path / "bad.tsv", "--output", tmp_path / "m")
    assert r.returncode == 2


# -- shared data (skipped where ../shared is absent) -------------------------------------------------------
@pytest.mark.integration
def test_shared_biosses_rqe_pubmedqa_read(shared_data):
    bio = read_pairs(shared_data / "biosses" / "biosses.tsv", "sts")
    assert len(bio) == 100 and all(0 <= e.label <= 4 for e in bio)
    rqe = read_pairs(shared_data / "rqe" / "RQE_Test_302_pairs_AMIA2016.xml", "nli")
    assert len(rqe) == 302 and {e.label for e in rqe} == {"true", "false"}
    assert len(read_pairs(shared_data / "rqe" / "RQE_Train_8588_AMIA2016.xml", "nli")) == 8588
    pq = read_pairs(shared_data / "pubmedqa" / "ori_pqal.json", "pubmedqa")
    test_ids = read_ids(shared_data / "pubmedqa" / "test_ground_truth.json")
    assert len(pq) == 1000 and len(select(pq, test_ids)) == 500 and len(select(pq, drop=test_ids)) == 500
