"""Relation extraction rows of ``gatortron_tasks.py``: ChemProt and DDI 2013, plus the marker study.

Both rows train clinlm's ``RelationTask`` through the shared trainer, select the checkpoint on
dev only and score test once: micro-F1 over the positive relation types (no-relation excluded).

* ``chemprot``: the shared copy is SciBERT's ChemProt files, which hold **only related pairs**
  (no ``false`` lines) and mark the pair by position, not by type. Labels are mapped to the five
  CPR groups BLURB scores (CPR:3,4,5,6,9), but without BLURB's negative pairs this is 5-way
  classification of related pairs: not comparable with BLURB's 77.24.
* ``ddi``: DDI 2013 XML; dev = 10% of the training *documents* (seeded); the test set is the
  official one (979 interactions among 5,715 pairs). The full row trains on every training pair;
  ``negatives_per_positive`` (the quick row's) thins the negatives (7 in 8 pairs) in training only;
  dev and test always keep every pair.

    python3 benchmarks/tasks_relation.py --compare-markers --shared ../shared/data   # the marker study
"""
from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

#: full-row budgets (MiniLM-L6, a quiet 2-core CPU): ChemProt about 6 minutes; DDI the whole training
#: split with every negative pair, 3 epochs, the checkpoint chosen on dev twice an epoch (about 20
#: minutes an epoch: run it in the background with ``gatortron_tasks.py --json F --resume``)
BUDGETS: dict[str, dict[str, Any]] = {
    "chemprot": {"train": 2400, "dev": 600, "epochs": 1.0, "max_length": 128, "batch_size": 16, "lr": 1e-4},
    "ddi": {"train_pos": None, "negatives_per_positive": None, "dev": None, "epochs": 3.0, "evals_per_epoch": 2,
            "max_length": 128, "batch_size": 16, "lr": 1e-4},
}
QUICK: dict[str, dict[str, Any]] = {
    "chemprot": {"train": 48, "dev": 24, "test": 40, "epochs": 1.0, "max_length": 64, "batch_size": 16, "lr": 1e-4},
    "ddi": {"train_pos": 24, "negatives_per_positive": 2.0, "dev": 40, "test": 60, "epochs": 1.0, "max_length": 64,
            "batch_size": 16, "lr": 1e-4},
}
#: what the marker study on ChemProt dev chose (see README: relation extraction)
MARKERS, POOLING = "typed", "cls"


def _sample(items: list, n: int | None, seed: int) -> list:
    return items if n is None or n >= len(items) else random.Random(seed).sample(items, n)


def _fit(ctx, name: str, train, dev, test, budget: dict[str, Any], **task_options) -> dict[str, Any]:
    """Train on ``train``, select on ``dev``, score ``test``; the row's result."""
    from clinlm.tasks.relation.task import RelationTask
    from clinlm.tasks.trainer import TrainArgs, train as run_training

    t0 = time.perf_counter()
    options = dict(markers=MARKERS, pooling=POOLING, max_length=budget["max_length"], seed=ctx.seed)
    options.update(task_options)
    task = RelationTask(**options)
    model, tok = task.build(ctx.base_model, train)
    args = TrainArgs(epochs=budget["epochs"], learning_rate=budget["lr"], batch_size=budget["batch_size"], seed=ctx.seed,
                     evals_per_epoch=budget.get("evals_per_epoch", 1))
    out = Path(ctx.work) / name
    summary = run_training(task, model, tok, train, dev, args, out)
    result = task.evaluate(model, tok, test)
    return {
        "value": 100 * result["micro"]["f1"],
        "seconds": round(time.perf_counter() - t0, 1),
        "extra": {
            "dev_micro_f1": round(100 * summary["dev"]["micro"]["f1"], 2) if summary["dev"] else None,
            "test": result,
            "train_pairs": summary["train_features"],
            "train_seconds": summary["train_seconds"],
            "markers": task.markers,
            "pooling": task.pooling,
        },
    }


def _budget_text(b: dict[str, Any], what: str) -> str:
    return f"{what}, {b['epochs']:g} epoch{'s' if b['epochs'] != 1 else ''}, max_length {b['max_length']}, {b['markers']}+{b['pooling']}"


def chemprot_data(ctx, budget: dict[str, Any]):
    from clinlm.tasks.relation.task import read_relation_documents

    folder = Path(ctx.shared) / "chemprot"
    read = lambda split: read_relation_documents(folder / f"{split}.jsonl", cpr_groups=True)  # noqa: E731
    return (_sample(read("train"), budget.get("train"), ctx.seed), _sample(read("dev"), budget.get("dev"), ctx.seed),
            _sample(read("test"), budget.get("test"), ctx.seed))


def run_chemprot(ctx) -> dict[str, Any]:
    budget = (QUICK if ctx.quick else BUDGETS)["chemprot"]
    train, dev, test = chemprot_data(ctx, budget)
    res = _fit(ctx, "chemprot", train, dev, test, budget)
    b = dict(budget, markers=MARKERS, pooling=POOLING)
    return {"task": "relation extraction", "dataset": "ChemProt (SciBERT files: related pairs only, 5 CPR groups; not BLURB-comparable)",
            "metric": "micro-F1", "budget": _budget_text(b, f"{len(train)} train pairs, dev {len(dev)}"),
            "blurb_comparable": False, **res}


def ddi_data(ctx, budget: dict[str, Any]):
    """Train and dev sentences (dev: 10% of the training documents) and the official test sentences."""
    from clinlm.tasks.relation.task import read_relation_documents

    corpus = Path(ctx.shared) / "ddi_corpus" / "DDICorpus"
    docs = read_relation_documents(corpus / "Train")
    sources = sorted({d.id.rsplit(".s", 1)[0] for d in docs})
    dev_sources = set(random.Random(ctx.seed).sample(sources, len(sources) // 10))
    train = [d for d in docs if d.id.rsplit(".s", 1)[0] not in dev_sources]
    dev = [d for d in docs if d.id.rsplit(".s", 1)[0] in dev_sources]
    test = read_relation_documents(corpus / "Test" / "Test for DDI Extraction task")
    # training budget: sentences holding the first train_pos relations (in a seeded order), all their pairs
    order = _sample(train, None, ctx.seed)
    random.Random(ctx.seed).shuffle(order)
    picked, n_pos = [], 0
    for d in order:
        if budget["train_pos"] is not None and n_pos >= budget["train_pos"]:
            break
        picked.append(d)
        n_pos += len(d.relations)
    return picked, _sample(dev, budget.get("dev"), ctx.seed), _sample(test, budget.get("test"), ctx.seed)


def run_ddi(ctx) -> dict[str, Any]:
    budget = (QUICK if ctx.quick else BUDGETS)["ddi"]
    train, dev, test = ddi_data(ctx, budget)
    res = _fit(ctx, "ddi", train, dev, test, budget, negatives_per_positive=budget.get("negatives_per_positive"))
    b = dict(budget, markers=MARKERS, pooling=POOLING)
    n_pos = sum(len(d.relations) for d in train)
    return {"task": "relation extraction", "dataset": "DDI 2013 (official test, 4 types)", "metric": "micro-F1",
            "budget": _budget_text(b, _ddi_text(n_pos, b.get("negatives_per_positive"), len(dev), len(test))), **res}


def _ddi_text(n_pos: int, negatives_per_positive: float | None, n_dev: int, n_test: int) -> str:
    """What DDI trained and was scored on; negatives not thinned (``None``) are all kept."""
    negatives = ("all their negative pairs" if negatives_per_positive is None
                 else f"{negatives_per_positive:g} negatives each")
    return f"{n_pos} train DDIs + {negatives}, dev {n_dev} sentences (all pairs), test {n_test} sentences"


BENCHMARKS = {"chemprot": run_chemprot, "ddi": run_ddi}


#: (data, markers, pooling) of the marker study
STUDY = [("chemprot", "typed", "markers"), ("chemprot", "typed", "cls"),
         ("ddi", "typed", "markers"), ("ddi", "typed", "cls"), ("ddi", "plain", "cls")]


def compare_markers(ctx, n_train: int = 2400, n_dev: int = 600, lr: float = 1e-4, max_length: int = 128,
                    study: list[tuple[str, str, str]] = STUDY) -> list[dict[str, Any]]:
    """Dev micro-F1 of marker styles and poolings at one budget: on ChemProt the pooling (its
    markers carry no entity types, so typed and plain coincide there), on DDI both."""
    budgets = {"chemprot": dict(BUDGETS["chemprot"], train=n_train, dev=n_dev, lr=lr, max_length=max_length),
               "ddi": dict(BUDGETS["ddi"], train_pos=n_train // 3, dev=n_dev, lr=lr, max_length=max_length)}
    data = {"chemprot": chemprot_data, "ddi": ddi_data}
    rows = []
    for name in dict.fromkeys(d for d, _, _ in study):
        train, dev, _ = data[name](ctx, budgets[name])
        extra = {"negatives_per_positive": budgets[name].get("negatives_per_positive")} if name == "ddi" else {}
        for _, markers, pooling in (c for c in study if c[0] == name):
            res = _fit(ctx, f"cmp-{name}-{markers}-{pooling}", train, dev, dev[:1], budgets[name], markers=markers,
                       pooling=pooling, **extra)
            rows.append({"data": f"{name} dev", "markers": markers, "pooling": pooling, "lr": lr,
                         "max_length": max_length, **_dev(res)})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def _dev(res: dict[str, Any]) -> dict[str, Any]:
    return {"dev_micro_f1": res["extra"]["dev_micro_f1"], "train_pairs": res["extra"]["train_pairs"], "seconds": res["seconds"]}


if __name__ == "__main__":
    import argparse

    from gatortron_tasks import Context, minilm_dir

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--work", type=Path, default=Path("runs/bench_relation"))
    ap.add_argument("--compare-markers", action="store_true", required=True)
    ap.add_argument("--train", type=int, default=2400, help="ChemProt train pairs (DDI: a third as many relations)")
    ap.add_argument("--dev", type=int, default=600)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--max-length", type=int, default=128)
    a = ap.parse_args()
    compare_markers(Context(a.shared, minilm_dir(), a.work, False), a.train, a.dev, a.lr, a.max_length)
