"""k-fold cross-validation on the shared trainer, for corpora without a split (BIOSSES), and the
choice between architectures on dev data.

Each fold trains a fresh model from the base for a fixed budget and predicts its held-out fold;
the pooled out-of-fold predictions are scored once, and the per-fold scores are kept beside them.
With several candidates (``--architecture auto``: cross-encoder, bi-encoder, the untrained
encoder's zero-shot cosine) each fold chooses among them on its own training part, never on the
held-out fold, then refits the choice on the whole training part: on a seeded inner dev split,
or (``inner_folds``) by an inner cross-validation over the whole training part. On BIOSSES an
18-pair inner dev split could not tell the candidates apart (issue 21); inner folds score every
training pair once. A candidate may be :class:`Interpolated` (WiSE-FT: a trained candidate's weights
mixed with the base's); inside one choice it reuses that candidate's trained models, so it costs
no training of its own.
"""
from __future__ import annotations

import statistics
import tempfile
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence

from clinlm.data.splits import holdout, kfold
from clinlm.tasks.trainer import TrainArgs, metric, train

#: the candidate that is not trained: the base encoder's cosine as it comes
ZERO_SHOT = "zero-shot"


#: the bi-encoder's weights half-way back to the base's (:class:`Interpolated`)
WISE = "bi-encoder WiSE-FT 0.5"


@dataclass(frozen=True, eq=False)
class Interpolated:
    """A candidate whose trained weights are mixed with the base model's: ``weight`` times the weights
    ``task`` trains plus ``1 - weight`` times those it started from (WiSE-FT, Wortsman et al., CVPR
    2022; :func:`clinlm.tasks.averaging.interpolate`). Everything else is ``task``'s."""

    task: Any
    weight: float = 0.5

    def __getattr__(self, name: str) -> Any:
        return getattr(self.task, name)


def fit(task, model_path: str, examples: Sequence[Any], args: TrainArgs, on_log=None,
        cache: Optional[dict] = None) -> tuple[Any, Any]:
    """``(model, tokenizer)`` trained on ``examples`` for the fixed budget; no training when
    ``args.epochs`` is 0 (the zero-shot candidate). ``cache`` (:func:`_cache`) keeps the trained
    weights of the tasks an :class:`Interpolated` candidate wraps, by training examples, so that
    candidate reuses its task's training."""
    if isinstance(task, Interpolated):
        from clinlm.tasks.averaging import interpolate

        model, tokenizer = fit(task.task, model_path, examples, args, on_log, cache)
        start, _ = task.task.build(model_path, examples, seed=args.seed)
        return interpolate(model, start, task.weight), tokenizer
    slot = cache.get(id(task)) if cache is not None else None
    key = (tuple(getattr(e, "id", i) for i, e in enumerate(examples)), args.epochs, args.seed)
    model, tokenizer = task.build(model_path, examples, seed=args.seed)
    if slot is not None and key in slot:
        model.load_state_dict(slot[key])
    elif args.epochs > 0:
        with tempfile.TemporaryDirectory(prefix="clinlm-cv-") as tmp:
            train(task, model, tokenizer, examples, None, args, tmp, on_log=on_log)
        if slot is not None:
            slot[key] = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return model, tokenizer


def _cache(candidates: Mapping[str, Any]) -> dict:
    """:func:`fit`'s cache for one choice: a slot per task that an :class:`Interpolated` candidate wraps
    (no other model is kept in memory)."""
    return {id(c.task): {} for c in candidates.values() if isinstance(c, Interpolated)}


def choose(candidates: Mapping[str, Any], model_path: str, train_ex: Sequence[Any], dev_ex: Sequence[Any],
           args: TrainArgs, on_log=None) -> tuple[str, dict[str, float]]:
    """The candidate with the best dev score, and every candidate's dev score. A candidate is a
    task (trained with ``args``) or, under :data:`ZERO_SHOT`, a task used untrained."""
    scores, cache = {}, _cache(candidates)
    for name, task in candidates.items():
        model, tokenizer = fit(task, model_path, train_ex, _budget(name, args), on_log, cache)
        scores[name] = metric(task.evaluate(model, tokenizer, dev_ex), task.selection_metric)
    return max(scores, key=scores.get), scores


def choose_cv(candidates: Mapping[str, Any], model_path: str, examples: Sequence[Any], folds: int, args: TrainArgs,
              on_log=None) -> tuple[str, dict[str, float]]:
    """Like :func:`choose`, scored by a seeded ``folds``-fold cross-validation over ``examples``:
    each candidate's pooled out-of-fold score (every example predicted once, by a model that did
    not train on it)."""
    scores, cache = {}, _cache(candidates)
    for name, task in candidates.items():
        inner = cross_validate(task, model_path, examples, folds, _budget(name, args), on_log,
                               fold_seed=args.seed + 1, cache=cache)  # not the outer folds' split
        scores[name] = metric(inner["pooled"], task.selection_metric)
    return max(scores, key=scores.get), scores


def _budget(name: str, args: TrainArgs) -> TrainArgs:
    if name != ZERO_SHOT:
        return args
    from dataclasses import replace

    return replace(args, epochs=0)


def cross_validate(task, model_path: str, examples: Sequence[Any], folds: int, args: TrainArgs,
                   on_log: Callable[[str], None] | None = None, on_fold: Callable[[int, dict], None] | None = None,
                   candidates: Optional[Mapping[str, Any]] = None, inner_dev: float = 0.2,
                   inner_folds: int = 0, fold_seed: int | None = None, cache: Optional[dict] = None) -> dict[str, Any]:
    """Pooled and per-fold scores of ``task`` (or, with ``candidates``, of each fold's choice among
    them) trained from ``model_path`` on ``folds`` seeded folds. Each fold chooses on an
    ``inner_dev`` share of its training part, or with ``inner_folds`` > 1 by inner k-fold CV.
    ``fold_seed`` splits the folds (default ``args.seed``, which also seeds the training); ``cache``
    is :func:`fit`'s."""
    log = on_log or (lambda msg: None)
    predictions: list[dict | None] = [None] * len(examples)
    per_fold = []
    splits = kfold(len(examples), folds, args.seed if fold_seed is None else fold_seed)
    for k, (train_idx, test_idx) in enumerate(splits):
        fold_train = [examples[i] for i in train_idx]
        chosen, inner = None, None
        fold_task = task
        if candidates and inner_folds > 1:
            chosen, inner = choose_cv(candidates, model_path, fold_train, inner_folds, args)
        elif candidates:
            inner_train, inner_dev_ex = holdout(fold_train, inner_dev, args.seed)
            chosen, inner = choose(candidates, model_path, inner_train, inner_dev_ex, args)
        if candidates:
            fold_task = candidates[chosen]
            log(f"fold {k + 1}/{folds}: inner dev {', '.join(f'{n} {v:.4f}' for n, v in inner.items())} -> {chosen}")
        model, tokenizer = fit(fold_task, model_path, fold_train, _budget(chosen or "", args), on_log, cache)
        test = [examples[i] for i in test_idx]
        preds = fold_task.predict(model, tokenizer, test)
        for i, p in zip(test_idx, preds):
            predictions[i] = dict(p, fold=k)
        scores = fold_task.score(test, preds)
        row = {"fold": k, "train": len(train_idx), "test": len(test_idx), **scores}
        if candidates:
            row.update(chosen=chosen, inner_dev=inner)
        per_fold.append(row)
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
        "selection": ("none (fixed budget; the held-out fold is the test)" if not candidates else
                      f"per fold, among {', '.join(candidates)} by {inner_folds}-fold CV of its training part" if inner_folds > 1
                      else f"per fold, among {', '.join(candidates)} on a seeded {inner_dev:.0%} inner dev split of its training part"),
    }
