"""k-fold cross-validation on the shared trainer, for corpora without a split (BIOSSES).

Each fold trains a fresh model from the base for a fixed budget (no model selection: the
held-out fold is the test, and nothing else is held out) and predicts its held-out fold; the
pooled out-of-fold predictions are scored once, and the per-fold scores are kept beside them.
"""
from __future__ import annotations

import statistics
import tempfile
from typing import Any, Callable, Sequence

from clinlm.data.splits import kfold
from clinlm.tasks.trainer import TrainArgs, metric, train


def cross_validate(task, model_path: str, examples: Sequence[Any], folds: int, args: TrainArgs,
                   on_log: Callable[[str], None] | None = None, on_fold: Callable[[int, dict], None] | None = None) -> dict[str, Any]:
    """Pooled and per-fold scores of ``task`` trained from ``model_path`` on ``folds`` seeded folds."""
    log = on_log or (lambda msg: None)
    predictions: list[dict | None] = [None] * len(examples)
    per_fold = []
    for k, (train_idx, test_idx) in enumerate(kfold(len(examples), folds, args.seed)):
        model, tokenizer = task.build(model_path, [examples[i] for i in train_idx], seed=args.seed)
        with tempfile.TemporaryDirectory(prefix="clinlm-cv-") as tmp:
            summary = train(task, model, tokenizer, [examples[i] for i in train_idx], None, args, tmp, on_log=on_log)
        test = [examples[i] for i in test_idx]
        preds = task.predict(model, tokenizer, test)
        for i, p in zip(test_idx, preds):
            predictions[i] = dict(p, fold=k)
        scores = task.score(test, preds)
        per_fold.append({"fold": k, "train": len(train_idx), "test": len(test_idx), "seconds": summary["seconds"], **scores})
        log(f"fold {k + 1}/{folds}: {task.selection_metric} {metric(scores, task.selection_metric):.4f}")
        if on_fold:
            on_fold(k, per_fold[-1])
    pooled = task.score(list(examples), predictions)
    key = task.selection_metric
    values = [metric(f, key) for f in per_fold]
    return {
        "folds": folds,
        "pooled": pooled,
        f"fold_mean_{key}": statistics.fmean(values),
        f"fold_sd_{key}": statistics.stdev(values) if len(values) > 1 else 0.0,
        "per_fold": per_fold,
        "predictions": predictions,
        "selection": "none (fixed budget; the held-out fold is the test)",
    }
