"""The bi-encoder (cosine, CoSENT), the no-training baselines printed beside every pair-task
figure, and the architecture chosen inside each cross-validation fold."""
from __future__ import annotations

import json

import pytest
import torch
from cli_runner import clinlm
from hypothesis import given
from hypothesis import strategies as st
from test_pair_tasks import nli_rows, pubmedqa_json, sts_rows, write_jsonl, write_tsv

from clinlm.errors import ConfigError
from clinlm.tasks import get_task
from clinlm.tasks.pair.baselines import best_threshold
from clinlm.tasks.pair.biencoder import collate_pairs, cosent_loss, mean_pool
from clinlm.tasks.pair.data import PairExample
from clinlm.tasks.trainer import TrainArgs, train


def sts_examples(n: int, seed: int = 0) -> list[PairExample]:
    return [PairExample(str(i), a, b, s) for i, (a, b, s) in enumerate(sts_rows(n, seed))]


# -- pieces ---------------------------------------------------------------------------------------
def test_cosent_penalises_cosines_ranked_against_the_gold_order():
    gold = torch.tensor([0.5, 2.0, 4.5])
    right = cosent_loss(torch.tensor([-0.5, 0.1, 0.9]), gold)
    wrong = cosent_loss(torch.tensor([0.9, 0.1, -0.5]), gold)
    assert right < 0.01 < 1.0 < wrong
    # ties in gold give no pair, so equal gold scores cost nothing whatever the cosines
    assert cosent_loss(torch.tensor([0.9, -0.9]), torch.tensor([1.0, 1.0])) == pytest.approx(0.0, abs=1e-6)


def test_mean_pool_leaves_padding_out():
    hidden = torch.tensor([[[1.0, 1.0], [3.0, 3.0], [100.0, 100.0]]])
    assert mean_pool(hidden, torch.tensor([[1, 1, 0]])).tolist() == [[2.0, 2.0]]


def test_collate_pads_each_side_apart():
    batch = collate_pairs([{"input_ids": [1, 2, 3], "input_ids_b": [4], "labels": 1.0},
                           {"input_ids": [5], "input_ids_b": [6, 7], "labels": 0.0}], pad_id=0)
    assert batch["input_ids"].tolist() == [[1, 2, 3], [5, 0, 0]]
    assert batch["attention_mask_b"].tolist() == [[1, 0], [1, 1]]
    assert batch["labels"].tolist() == [1.0, 0.0]


@given(st.lists(st.tuples(st.floats(-1, 1, allow_nan=False), st.booleans()), min_size=1, max_size=30))
def test_best_threshold_is_the_best_cut_and_reports_its_accuracy(rows):
    cos, pos = [c for c, _ in rows], [p for _, p in rows]
    t, acc = best_threshold(cos, pos)
    achieved = sum((c >= t) == p for c, p in rows) / len(rows)
    assert achieved == pytest.approx(acc)
    # no cut between (or around) the observed cosines does better
    cuts = sorted(set(cos)) + [max(cos) + 1]
    assert all(sum((c >= u) == p for c, p in rows) / len(rows) <= acc + 1e-12 for u in cuts)


def test_bi_encoder_is_for_similarity_only():
    with pytest.raises(ConfigError, match="sts"):
        get_task("nli", architecture="bi-encoder")
    with pytest.raises(ConfigError, match="architecture"):
        get_task("sts", architecture="siamese")


# -- learning ---------------------------------------------------------------------------------------
def test_bi_encoder_learns_and_round_trips(tiny_bert, tmp_path):
    from clinlm.tasks.predict import load_model

    task = get_task("sts", max_length=32, architecture="bi-encoder")
    ex, held = sts_examples(32), sts_examples(12, seed=9)
    model, tok = task.build(str(tiny_bert), ex)
    before = task.evaluate(model, tok, held)["pearson"]
    train(task, model, tok, ex, None, TrainArgs(epochs=30, learning_rate=3e-3, batch_size=8, warmup_ratio=0.0,
                                                precision="fp32", seed=1), tmp_path / "m")
    after = task.evaluate(model, tok, held)
    assert after["pearson"] > 0.7 and after["pearson"] > before + 0.4, (before, after["pearson"])
    man = json.loads((tmp_path / "m" / "clinlm.json").read_text())
    assert man["architecture"] == "bi-encoder" and man["pooling"] == "mean"
    loaded = load_model(tmp_path / "m")
    assert loaded.task.architecture == "bi-encoder"
    scores = [p["score"] for p in loaded.predict([(e.text_a, e.text_b) for e in held])]
    assert all(-1.0 <= s <= 1.0 for s in scores)
    assert loaded.evaluate(held)["pearson"] == pytest.approx(after["pearson"], abs=1e-5)


# -- baselines through the CLI --------------------------------------------------------------------------
def test_evaluate_prints_the_majority_baseline_fitted_on_training_labels(tiny_bert, tmp_path):
    gold_labels = pubmedqa_json(tmp_path / "train.json", 24)  # yes 3 : no 2 : maybe 1
    r = clinlm("train", "pubmedqa", "--model", tiny_bert, "--train", tmp_path / "train.json", "--output", tmp_path / "m",
               "--epochs", "1", "--max-length", "48")
    assert r.returncode == 0, r.stderr
    man = json.loads((tmp_path / "m" / "clinlm.json").read_text())
    assert man["baselines"]["majority"] == {"label": "yes", "train_counts": {"yes": 12, "no": 8, "maybe": 4}}
    pubmedqa_json(tmp_path / "test.json", 12, seed=3)
    ev = clinlm("evaluate", "pubmedqa", "--model", tmp_path / "m", "--data", tmp_path / "test.json", "--json")
    res = json.loads(ev.stdout)
    majority = res["baselines"]["majority class"]
    assert majority["accuracy"] == pytest.approx(6 / 12) and majority["predicted"] == {"yes": 12}
    assert ("majority class" in res["below_baselines"]) == (res["accuracy"] < 0.5)
    assert len(gold_labels) == 24
    table = clinlm("evaluate", "pubmedqa", "--model", tmp_path / "m", "--data", tmp_path / "test.json")
    assert "against baselines" in table.stdout.decode() and "majority class" in table.stdout.decode()
    if res["accuracy"] < 0.5:
        assert "below the majority class baseline" in " ".join(table.stderr.decode().split())


def test_two_class_nli_gets_a_cosine_threshold_from_training_pairs(tiny_bert, tmp_path):
    rows = [r for r in nli_rows(30) if r["gold_label"] != "neutral"]
    write_jsonl(tmp_path / "train.jsonl", rows)
    r = clinlm("train", "nli", "--model", tiny_bert, "--train", tmp_path / "train.jsonl", "--output", tmp_path / "m",
               "--epochs", "1", "--max-length", "32")
    assert r.returncode == 0, r.stderr
    th = json.loads((tmp_path / "m" / "clinlm.json").read_text())["baselines"]["threshold"]
    assert {th["positive"], th["negative"]} == {"entailment", "contradiction"} and 0.5 <= th["train_accuracy"] <= 1.0
    ev = json.loads(clinlm("evaluate", "nli", "--model", tmp_path / "m", "--data", tmp_path / "train.jsonl", "--json").stdout)
    # scored on the training pairs themselves, the threshold reproduces its training accuracy
    assert ev["baselines"]["cosine threshold"]["accuracy"] == pytest.approx(th["train_accuracy"])
    assert ev["baselines"]["majority class"]["accuracy"] == pytest.approx(0.5)
    off = json.loads(clinlm("evaluate", "nli", "--model", tmp_path / "m", "--data", tmp_path / "train.jsonl", "--json",
                            "--no-baselines").stdout)
    assert "baselines" not in off


@pytest.mark.slow
def test_auto_chooses_inside_each_fold_and_never_on_the_held_out_fold(tiny_bert, tmp_path, monkeypatch):
    from clinlm.tasks.pair import crossval

    write_tsv(tmp_path / "sts.tsv", sts_rows(24))
    seen: list[set[str]] = []
    real_choose = crossval.choose

    def spy(candidates, model_path, train_ex, dev_ex, args, on_log=None):
        seen.append({e.id for e in train_ex} | {e.id for e in dev_ex})
        return real_choose(candidates, model_path, train_ex, dev_ex, args, on_log)

    monkeypatch.setattr(crossval, "choose", spy)
    r = clinlm("train", "sts", "--model", tiny_bert, "--train", tmp_path / "sts.tsv", "--folds", "3", "--architecture", "auto",
               "--epochs", "2", "--output", tmp_path / "cv", "--max-length", "32")
    assert r.returncode == 0, r.stderr
    cv = json.loads((tmp_path / "cv" / "cv.json").read_text())
    assert len(seen) == 3
    for fold, used in zip(cv["per_fold"], seen):
        held_out = {p["id"] for p in cv["predictions"] if p["fold"] == fold["fold"]}
        assert used and not used & held_out
        assert fold["chosen"] in ("cross-encoder", "bi-encoder", "zero-shot", crossval.WISE)
        assert set(fold["inner_dev"]) == {"cross-encoder", "bi-encoder", "zero-shot", crossval.WISE}
    assert "zero-shot cosine" in cv["baselines"] and "pearson" in cv["baselines"]["zero-shot cosine"]


def test_inner_folds_choose_on_every_training_pair_and_never_on_the_held_out_fold(tiny_bert, monkeypatch):
    from clinlm.tasks.pair import crossval

    examples = sts_examples(12)
    fits: list[tuple[int, set[str]]] = []
    real_fit = crossval.fit

    def spy(task, model_path, train_ex, args, on_log=None, cache=None):
        fits.append((args.epochs, {e.id for e in train_ex}))
        return real_fit(task, model_path, train_ex, args, on_log, cache)

    monkeypatch.setattr(crossval, "fit", spy)
    make = lambda: get_task("sts", max_length=32, architecture="bi-encoder")  # noqa: E731
    candidates = {"bi-encoder": make(), crossval.ZERO_SHOT: make()}
    args = TrainArgs(epochs=1, learning_rate=1e-3, batch_size=4, precision="fp32", seed=3)
    res = crossval.cross_validate(make(), str(tiny_bert), examples, 3, args, candidates=candidates, inner_folds=2)
    assert "2-fold CV" in res["selection"]
    per_outer = 2 * 2 + 1  # two candidates x two inner folds, then the refit on the whole training part
    assert len(fits) == 3 * per_outer
    for k, fold in enumerate(res["per_fold"]):
        held_out = {p["id"] for p in res["predictions"] if p["fold"] == fold["fold"]}
        block = fits[k * per_outer:(k + 1) * per_outer]
        inner, refit = block[:-1], block[-1]
        fold_train = {e.id for e in examples} - held_out
        assert refit[1] == fold_train and refit[0] == (0 if fold["chosen"] == crossval.ZERO_SHOT else 1)
        for epochs, used in inner:
            assert used < fold_train  # a strict part of the training part, nothing held out
        # per candidate, the inner folds' training parts leave each training pair out exactly once
        for c in range(2):
            left_out = [fold_train - used for _, used in inner[2 * c:2 * c + 2]]
            assert set().union(*left_out) == fold_train and not left_out[0] & left_out[1]
        assert set(fold["inner_dev"]) == set(candidates) and fold["chosen"] in candidates


@pytest.mark.parametrize("extra, message", [
    (["--inner-folds", "3"], "give --folds too"),
    (["--folds", "3", "--inner-folds", "1"], "takes 2 or more"),
    (["--folds", "3", "--inner-folds", "3"], "with --architecture auto"),  # the cross-encoder alone has nothing to choose
])
def test_inner_folds_misuse_is_one_line_and_trains_nothing(tiny_bert, tmp_path, extra, message):
    write_tsv(tmp_path / "sts.tsv", sts_rows(12))
    r = clinlm("train", "sts", "--model", tiny_bert, "--train", tmp_path / "sts.tsv", "--output", tmp_path / "out", *extra)
    err = r.stderr.decode().strip()
    assert r.returncode == 2 and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_wise_ft_reuses_the_bi_encoders_training_and_mixes_the_weights(tiny_bert, monkeypatch):
    """WiSE-FT costs no training of its own inside a choice, and its model is the halfway point
    between the trained bi-encoder and the base."""
    import torch

    from clinlm.tasks.averaging import interpolate
    from clinlm.tasks.pair import crossval
    from clinlm.tasks.trainer import train as real_train

    trained: list[int] = []

    def spy(task, model, tokenizer, examples, *a, **k):
        trained.append(len(examples))
        return real_train(task, model, tokenizer, examples, *a, **k)

    monkeypatch.setattr(crossval, "train", spy)
    examples = sts_examples(12)
    bi = get_task("sts", max_length=32, architecture="bi-encoder")
    candidates = {"bi-encoder": bi, crossval.ZERO_SHOT: get_task("sts", max_length=32, architecture="bi-encoder"),
                  crossval.WISE: crossval.Interpolated(bi)}
    args = TrainArgs(epochs=1, learning_rate=1e-3, batch_size=4, precision="fp32", seed=3)
    chosen, scores = crossval.choose_cv(candidates, str(tiny_bert), examples, 2, args)
    assert set(scores) == set(candidates) and chosen in candidates
    assert len(trained) == 2  # one bi-encoder per inner fold; WiSE-FT and the cosine train nothing

    trained.clear()
    cache = crossval._cache({"wise": crossval.Interpolated(bi), "zero": candidates[crossval.ZERO_SHOT]})
    assert list(cache) == [id(bi)]  # only the wrapped task's models are kept
    tuned, _ = crossval.fit(bi, str(tiny_bert), examples, args, cache=cache)
    mixed, _ = crossval.fit(crossval.Interpolated(bi), str(tiny_bert), examples, args, cache=cache)
    start, _ = bi.build(str(tiny_bert), examples, seed=3)
    assert len(trained) == 1
    for (name, t), m, s in zip(tuned.state_dict().items(), mixed.state_dict().values(), start.state_dict().values()):
        if t.is_floating_point():
            torch.testing.assert_close(m, 0.5 * t + 0.5 * s, msg=name)
    assert any(not torch.equal(t, s) for t, s in zip(tuned.state_dict().values(), start.state_dict().values()))
    with pytest.raises(Exception, match=r"\[0, 1\]"):
        interpolate(tuned, start, 1.5)


def test_auto_without_folds_saves_the_wise_ft_model_when_dev_chooses_it(tiny_bert, tmp_path, monkeypatch):
    """``train sts --architecture auto`` saves what dev chose; for WiSE-FT, the bi-encoder trained and
    mixed half and half with the base, which ``predict sts`` then reads like any bi-encoder."""
    from clinlm.tasks.pair import crossval

    real_choose = crossval.choose

    def prefer_wise(candidates, model_path, train_ex, dev_ex, args, on_log=None):
        _, scores = real_choose(candidates, model_path, train_ex, dev_ex, args, on_log)
        assert crossval.WISE in scores
        return crossval.WISE, scores

    monkeypatch.setattr(crossval, "choose", prefer_wise)
    write_tsv(tmp_path / "sts.tsv", sts_rows(24))
    r = clinlm("train", "sts", "--model", tiny_bert, "--train", tmp_path / "sts.tsv", "--dev-fraction", "0.25",
               "--architecture", "auto", "--epochs", "1", "--output", tmp_path / "m", "--max-length", "32")
    assert r.returncode == 0, r.stderr
    assert f"-> {crossval.WISE}" in r.stderr.decode()
    manifest = json.loads((tmp_path / "m" / "clinlm.json").read_text())
    assert manifest["training"]["chosen"] == crossval.WISE
    p = clinlm("predict", "sts", "--model", tmp_path / "m", "--data", tmp_path / "sts.tsv")
    assert p.returncode == 0, p.stderr
    assert len(p.stdout.splitlines()) == 24
