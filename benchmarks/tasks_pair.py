"""Pair and QA rows of ``gatortron_tasks.py``: BIOSSES (STS), RQE (NLI), PubMedQA, MMLU (zero-shot).

Model selection uses dev data or held-out folds only; each test set is scored once.

Every row carries its no-training baseline (``baseline``): the untrained encoder's cosine for
BIOSSES, the cosine threshold fitted on training pairs for RQE, the training majority class for
PubMedQA; ``gatortron_tasks.py`` flags a row below it.

* ``biosses``: 100 pairs, no split: 10-fold cross-validation. Each fold chooses among the
  bi-encoder (fine-tuned for a fixed budget), the untrained encoder's cosine and WiSE-FT (the
  fine-tuned bi-encoder's weights averaged with the untrained ones, Wortsman et al. 2022; it
  reuses the bi-encoder's inner training) by a 3-fold CV of its own 90 training pairs (every
  training pair scored once), then refits the choice on all 90; the held-out fold only scores. Pearson of the pooled out-of-fold predictions (x100),
  Spearman, the mean per-fold Pearson and each fold's choice beside it.
* ``rqe``: train on the RQE training file less a 500-pair dev set, score the official 302-pair
  test set. Its test questions (real consumer questions, 44 words on average) are unlike its
  training ones (20 words); a random dev split is trivially separable (the untrained cosine
  scores 99% there), so the dev set is the 500 training pairs with the *longest* consumer
  questions: the shift the test has, drawn from training data only. The untrained cosine with
  its threshold (fitted on the training pairs) competes on that dev set with the fine-tuned
  model, and the better dev accuracy is the row's model.
* ``pubmedqa``: the official 500 test questions (``test_ground_truth.json``); the other 500 are
  split 450 train / 50 dev (seeded); selection on dev accuracy (BLURB's metric). Whether the
  class-weighted loss stays is for dev to say (``--balance`` both ways, the better dev kept).
  Accuracy is the row's figure, macro-F1 and the predicted-label counts beside it.
* ``mmlu``: zero-shot, no training: every question of the six medical MMLU test subjects, each
  option scored by masked-LM pseudo-log-likelihood (encoders) or log-likelihood (causal LMs), per
  token, summed, or as PMI with the question; MMLU's val + dev questions choose which.
  MiniLM-L6 ships without masked-LM head weights, so its head is random: expect chance (25%).
"""
from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from typing import Any

#: full-row budgets, sized for about 6 minutes or less each on a quiet 2-core CPU (MiniLM-L6)
BUDGETS: dict[str, dict[str, Any]] = {
    "biosses": {"folds": 10, "inner_folds": 3, "epochs": 10, "batch_size": 16, "lr": 2e-5, "max_length": 128},
    "rqe": {"train": None, "dev": 500, "test": None, "epochs": 2, "batch_size": 16, "lr": 5e-5, "max_length": 128, "evals_per_epoch": 2},
    "pubmedqa": {"dev": 50, "train": None, "test": None, "epochs": 10, "batch_size": 16, "lr": 3e-5, "max_length": 256, "evals_per_epoch": 1},
    "mmlu": {"questions": None, "max_length": 128},
}
QUICK: dict[str, dict[str, Any]] = {
    "biosses": {"folds": 3, "inner_folds": 2, "pairs": 24, "epochs": 1, "batch_size": 8, "lr": 5e-5, "max_length": 64},
    "rqe": {"train": 64, "dev": 32, "test": 40, "epochs": 1, "batch_size": 16, "lr": 5e-5, "max_length": 64, "evals_per_epoch": 1},
    "pubmedqa": {"dev": 16, "train": 48, "test": 40, "epochs": 1, "batch_size": 16, "lr": 3e-5, "max_length": 128, "evals_per_epoch": 1},
    "mmlu": {"questions": 8, "max_length": 64},
}


def _budget(ctx, row: str) -> dict[str, Any]:
    return (QUICK if ctx.quick else BUDGETS)[row]


def _sample(items: list, n: int | None, seed: int) -> list:
    return list(items) if n is None or n >= len(items) else random.Random(seed).sample(list(items), n)


def _args(ctx, b: dict[str, Any]):
    from clinlm.tasks.trainer import TrainArgs

    return TrainArgs(epochs=b["epochs"], learning_rate=b["lr"], batch_size=b["batch_size"], seed=ctx.seed,
                     evals_per_epoch=b.get("evals_per_epoch", 1))


def _classification_row(ctx, kind: str, train, dev, test, b: dict[str, Any], t0: float, baseline: str,
                        balances: tuple = (None,), baseline_candidate: bool = False, truncation_side: str = "right",
                        **row: str) -> dict[str, Any]:
    """Train with selection on ``dev`` (for each ``balance`` setting; the better dev accuracy is
    kept), score ``test`` once: accuracy as the row's figure, macro-F1, the dev selection score,
    the predicted-label counts and the ``baseline`` (fitted on ``train``) beside it.
    ``baseline_candidate``: the untrained ``baseline`` competes on dev too, as BIOSSES's folds let
    the untrained cosine compete; where its dev score is higher it is the row's model."""
    from clinlm.tasks import get_task
    from clinlm.tasks.trainer import train as run_training

    runs = []
    for balance in balances:
        task = get_task(kind, max_length=b["max_length"], balance=balance, truncation_side=truncation_side)
        model, tok = task.build(ctx.base_model, train)
        summary = run_training(task, model, tok, train, dev, _args(ctx, b), Path(ctx.work) / f"{kind}-{balance}")
        runs.append((summary["dev"][task.selection_metric], balance, task, model, tok))
    dev_score, balance, task, model, tok = max(runs, key=lambda r: r[0])
    result = task.evaluate(model, tok, test)
    fitted = task.fit_baselines(ctx.base_model, train)
    base = task.baselines(fitted, test)
    chosen, trained_dev = "fine-tuned", dev_score
    if baseline_candidate:
        base_dev = task.baselines(fitted, dev)[baseline][task.selection_metric]
        if base_dev > dev_score:  # dev decides; the test set is scored for both but chooses nothing
            chosen, dev_score, result = f"untrained ({baseline})", base_dev, base[baseline]
    return dict(row, metric="accuracy", value=100 * result["accuracy"], seconds=round(time.perf_counter() - t0, 1),
                baseline={"name": baseline, "value": 100 * base[baseline]["accuracy"]}, extra={
        "macro_f1": round(100 * result["macro_f1"], 2), "test_examples": result["n"], "predicted": result["predicted"],
        f"dev_{task.selection_metric}": round(100 * dev_score, 2), "class_weighted": task.balance,
        "chosen": chosen, f"fine_tuned_dev_{task.selection_metric}": round(100 * trained_dev, 2),
        "dev_by_balance": {str(r[1]): round(100 * r[0], 2) for r in runs},
        "baselines": {n: round(100 * v["accuracy"], 2) for n, v in base.items() if "accuracy" in v}})


def biosses(ctx) -> dict[str, Any]:
    from clinlm.tasks.pair.crossval import cross_validate
    from clinlm.tasks.pair.data import read_pairs
    from clinlm.tasks import get_task

    b = _budget(ctx, "biosses")
    t0 = time.perf_counter()
    pairs = _sample(read_pairs(Path(ctx.shared) / "biosses" / "biosses.tsv", "sts"), b.get("pairs"), ctx.seed)
    from clinlm.tasks.pair.baselines import ZERO_SHOT
    from clinlm.tasks.pair.crossval import WISE, Interpolated
    from clinlm.tasks.pair.crossval import ZERO_SHOT as UNTRAINED

    make = lambda arch: get_task("sts", max_length=b["max_length"], architecture=arch)  # noqa: E731
    # the cross-encoder is left out: alone it scored 27.56 (10-fold, 2026-11), no fold chose it on an
    # inner dev split (2026-12-05), and inner CV would triple the row's time for it
    bi = make("bi-encoder")
    # WiSE-FT (the bi-encoder's weights half-way back to the base's) reuses the bi-encoder's inner training
    candidates = {"bi-encoder": bi, UNTRAINED: make("bi-encoder"), WISE: Interpolated(bi)}
    task = candidates["bi-encoder"]
    res = cross_validate(task, ctx.base_model, pairs, b["folds"], _args(ctx, b), candidates=candidates,
                         inner_folds=b["inner_folds"], on_fold=lambda k, f: print(
        f"biosses fold {k + 1}/{b['folds']}: Pearson {f['pearson']:.3f} ({f['chosen']})", file=sys.stderr, flush=True))
    base = task.baselines({"base_model": ctx.base_model}, pairs)[ZERO_SHOT]
    return {
        "task": "semantic similarity", "dataset": "BIOSSES", "metric": "Pearson x100 (pooled CV)",
        "value": 100 * res["pooled"]["pearson"],
        "budget": f"{b['folds']}-fold CV of {len(pairs)} pairs, {b['epochs']} epochs/fold, batch {b['batch_size']}, "
                  f"max_length {b['max_length']}, bi-encoder, untrained cosine or WiSE-FT 0.5 chosen per fold by {b['inner_folds']}-fold "
                  "CV of its training part",
        "seconds": round(time.perf_counter() - t0, 1),
        "baseline": {"name": ZERO_SHOT, "value": 100 * base["pearson"]},
        "extra": {"spearman": round(100 * res["pooled"]["spearman"], 2),
                  "fold_mean_pearson": round(100 * res["fold_mean_pearson"], 2),
                  "fold_sd_pearson": round(100 * res["fold_sd_pearson"], 2),
                  "chosen": [f["chosen"] for f in res["per_fold"]],
                  "zero_shot_spearman": round(100 * base["spearman"], 2)},
    }


def rqe(ctx) -> dict[str, Any]:
    from clinlm.tasks.pair.data import read_pairs
    b = _budget(ctx, "rqe")
    t0 = time.perf_counter()
    folder = Path(ctx.shared) / "rqe"
    from clinlm.tasks.pair.baselines import THRESHOLD

    pool = read_pairs(folder / "RQE_Train_8588_AMIA2016.xml", "nli")
    # dev: the pairs with the longest consumer questions (the test's shift), from training data only
    by_length = sorted(range(len(pool)), key=lambda i: (-len(pool[i].text_a.split()), i))
    dev_idx = set(by_length[: b["dev"]])
    dev = [pool[i] for i in sorted(dev_idx)]
    train = _sample([e for i, e in enumerate(pool) if i not in dev_idx], b["train"], ctx.seed)
    test = _sample(read_pairs(folder / "RQE_Test_302_pairs_AMIA2016.xml", "nli"), b["test"], ctx.seed)
    return _classification_row(ctx, "nli", train, dev, test, b, t0, THRESHOLD, baseline_candidate=True,
                               task="NLI (question entailment)", dataset="RQE",
                               budget=f"{len(train)} train pairs, {b['epochs']} epochs, max_length {b['max_length']}, "
                               f"dev {len(dev)} (longest questions)")


def _pubmedqa_split(ctx, b: dict[str, Any]):
    """The official 500 test questions, a seeded dev holdout of the rest, and the training questions."""
    from clinlm.tasks.pair.data import read_ids, read_pairs, select
    from clinlm.data.splits import holdout

    folder = Path(ctx.shared) / "pubmedqa"
    allq = read_pairs(folder / "ori_pqal.json", "pubmedqa")
    test_ids = read_ids(folder / "test_ground_truth.json")
    rest, dev = holdout(select(allq, drop=test_ids), b["dev"] / 500, ctx.seed)
    return folder / "ori_pqal.json", _sample(rest, b["train"], ctx.seed), dev, _sample(select(allq, keep=test_ids), b["test"], ctx.seed)


def pubmedqa(ctx, max_length: int | None = None, dataset: str = "PubMedQA", truncation_side: str = "right") -> dict[str, Any]:
    from clinlm.tasks.pair.baselines import MAJORITY

    b = dict(_budget(ctx, "pubmedqa"), **({"max_length": max_length} if max_length else {}))
    t0 = time.perf_counter()
    _, train, dev, test = _pubmedqa_split(ctx, b)
    cut = "" if truncation_side == "right" else ", the abstract cut at its start"
    return _classification_row(ctx, "pubmedqa", train, dev, test, b, t0, MAJORITY, balances=(True, False),
                               truncation_side=truncation_side, task="question answering (yes/no/maybe)", dataset=dataset,
                               budget=f"{len(train)} train, {b['epochs']} epochs, max_length {b['max_length']}{cut}, "
                               f"class weights on and off, dev {len(dev)} (accuracy) chooses")


def pubmedqa_long(ctx) -> dict[str, Any]:
    """``pubmedqa`` with every training question also paired with its long answer (``--long-answers``):
    the same split, dev and test (question + abstract), budget and dev choice of class weights."""
    from clinlm.tasks.pair.baselines import MAJORITY
    from clinlm.tasks.pair.data import pubmedqa_long_answers

    b = _budget(ctx, "pubmedqa")
    t0 = time.perf_counter()
    source, train, dev, test = _pubmedqa_split(ctx, b)
    train = train + pubmedqa_long_answers(source, train)
    return _classification_row(ctx, "pubmedqa", train, dev, test, b, t0, MAJORITY, balances=(True, False),
                               task="question answering (yes/no/maybe)", dataset="PubMedQA, + long answers in training",
                               budget=f"{len(train)} train pairs ({len(train) // 2} questions, each with its abstract and "
                               f"its long answer), {b['epochs']} epochs, max_length {b['max_length']}, class weights on "
                               f"and off, dev {len(dev)} (question + abstract, accuracy) chooses")


def pubmedqa_512(ctx) -> dict[str, Any]:
    """``pubmedqa`` reading twice the subwords (512 instead of 256). Why: the abstract comes after the
    question and is cut at its end, where its RESULTS section is; over the 500 non-test questions 78%
    exceed 256 subwords, only 21% of RESULTS sections end within 256 (11% start beyond it) and 97% end
    within 512. Measured on the non-test questions' lengths alone, before any 512 run was scored."""
    return pubmedqa(ctx, 2 * _budget(ctx, "pubmedqa")["max_length"], "PubMedQA, 512 subwords")


def pubmedqa_end(ctx) -> dict[str, Any]:
    """``pubmedqa`` at 256 subwords with the abstract cut at its start instead of its end
    (``--truncation-side left``), so the window holds the question and the abstract's last ~220
    subwords: its RESULTS. Why: at 512 subwords the model sees the results but must find them among
    twice the words, and learnt nothing from 450 questions; a bag-of-words logistic regression on the
    question and the abstract's last section alone scored 58.7 in 10-fold CV of the 500 non-test
    questions (three fold seeds; 57.6 on the whole abstract), so the signal sits at the end.
    Measured on the non-test questions only, before this row ran."""
    return pubmedqa(ctx, dataset="PubMedQA, abstract's end", truncation_side="left")


def mmlu(ctx) -> dict[str, Any]:
    """Zero-shot, scored with PMI so that each question yields all three comparisons (per token,
    summed, PMI); which one the row reports is chosen on MMLU's own val + dev questions (153), never
    on test. All test questions by default (1,099), not a sample: at 25% chance a 300-question sample
    swings by +-2.5 points."""
    from clinlm.tasks.mc.data import read_mc
    from clinlm.tasks.mc.scoring import evaluate_mc, load_scorer, sample

    b = _budget(ctx, "mmlu")
    t0 = time.perf_counter()
    root = Path(ctx.shared) / "mmlu_medical"
    selection = sample([q for split in ("val", "dev") for q in read_mc(root / split)], b["questions"], ctx.seed)
    questions = sample(read_mc(root / "test"), b["questions"], ctx.seed)
    scorer = load_scorer(getattr(ctx, "mc_model", None) or ctx.base_model, max_length=b["max_length"], seed=ctx.seed)
    sel = evaluate_mc(scorer, selection, normalize="pmi")
    by = {"mean": sel["accuracy_per_token"], "sum": sel["accuracy_sum"], "pmi": sel["accuracy_pmi"]}
    chosen = max(by, key=lambda k: (by[k], k == "mean"))  # ties: the default, per token
    res = evaluate_mc(scorer, questions, normalize="pmi")
    value = {"mean": res["accuracy_per_token"], "sum": res["accuracy_sum"], "pmi": res["accuracy_pmi"]}[chosen]
    head = "" if scorer.scoring != "pll" or scorer.mlm_head == "pretrained" else ", random MLM head"
    names = {"mean": "log-probability per token", "sum": "summed log-probability", "pmi": "PMI with the question"}
    return {
        "task": "multiple choice (zero-shot)", "dataset": "MMLU medical (6 subjects)", "metric": "accuracy",
        "value": 100 * value,
        "budget": f"{len(questions)} test questions, {scorer.scoring}{head}, {names[chosen]} (chosen on {len(selection)} "
                  f"val + dev questions), max_length {scorer.max_length}, chance {100 * res['chance']:.0f}",
        "seconds": round(time.perf_counter() - t0, 1),
        "extra": {"chance": round(100 * res["chance"], 2), "chosen": chosen,
                  "selection_accuracy": {k: round(100 * v, 2) for k, v in by.items()},
                  "accuracy_per_token": round(100 * res["accuracy_per_token"], 2),
                  "accuracy_sum": round(100 * res["accuracy_sum"], 2), "accuracy_pmi": round(100 * res["accuracy_pmi"], 2),
                  "mlm_head": res["mlm_head"]},
    }


BENCHMARKS = {"biosses": biosses, "rqe": rqe, "pubmedqa": pubmedqa, "pubmedqa-long": pubmedqa_long,
              "pubmedqa-512": pubmedqa_512, "pubmedqa-end": pubmedqa_end, "mmlu": mmlu}
