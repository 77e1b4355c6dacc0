"""``clinlm train|evaluate|predict sts|nli|pubmedqa``: the sentence-pair tasks, one registration each."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from clinlm.cli.app import evaluate_app, predict_app, train_app
from clinlm.cli.console import err, esc, quiet_transformers
from clinlm.cli.options import (AsJson, BatchSize, Device, Epochs, EvalsPerEpoch, LayerDecay, AverageLast, GradAccum, InferenceBatch, LearningRate, Precision, Seed, Warmup, WeightDecay, train_args)
from clinlm.errors import InputError
from clinlm.tasks.commands import add_baselines, check_kind, print_baselines, print_result, split_dev, train_and_report, write_jsonl

PAIR_HELP = {
    "sts": "semantic textual similarity (ClinicalSTS TSV, BIOSSES TSV): Pearson/Spearman",
    "nli": "natural language inference (MedNLI JSONL, RQE XML): accuracy/macro-F1",
    "pubmedqa": "PubMedQA yes/no/maybe (ori_pqal.json): accuracy/macro-F1",
}
DEFAULT_MAX_LENGTH = {"sts": 128, "nli": 128, "pubmedqa": 256}

ARCH_HELP = {
    "sts": "cross-encoder (the pair together, a regression head), bi-encoder (each text alone, mean pooling, "
           "cosine, CoSENT loss) or auto (the dev data chooses among both and the untrained encoder's cosine; "
           "with --folds, inside each fold's training part).",
    "nli": "cross-encoder (the only one for nli).",
    "pubmedqa": "cross-encoder (the only one for pubmedqa).",
}
IDS_HELP = "Keep only these example ids: a JSON object/list (PubMedQA test_ground_truth.json) or one id a line."
EXCLUDE_HELP = "Drop these example ids (e.g. the PubMedQA test questions from training)."


# -- shared helpers ---------------------------------------------------------------------------
def _select_ids(examples: list, ids: Optional[Path], exclude_ids: Optional[Path]) -> list:
    from clinlm.tasks.pair.data import read_ids, select

    if ids is None and exclude_ids is None:
        return examples
    kept = select(examples, read_ids(ids) if ids else None, read_ids(exclude_ids) if exclude_ids else None)
    if not kept:
        raise InputError("no examples left after --ids/--exclude-ids")
    return kept


def _candidates(kind: str, max_length: int, balance: Optional[bool]) -> dict:
    """What ``--architecture auto`` chooses among (sts only)."""
    from clinlm.tasks import get_task
    from clinlm.tasks.pair.crossval import WISE, ZERO_SHOT, Interpolated

    if kind != "sts":
        raise InputError(f"--architecture auto is for sts; {kind} has the cross-encoder only")
    make = lambda arch: get_task(kind, max_length=max_length, balance=balance, architecture=arch)  # noqa: E731
    bi = make("bi-encoder")
    return {"cross-encoder": make("cross-encoder"), "bi-encoder": bi, ZERO_SHOT: make("bi-encoder"), WISE: Interpolated(bi)}


def _cross_validate(task, model: str, examples: list, folds: int, args, output: Path, as_json: bool,
                    candidates: Optional[dict] = None, inner_folds: int = 0) -> None:
    from clinlm.tasks.pair.crossval import cross_validate
    from clinlm.formats import atomic_write_text

    result = cross_validate(task, model, examples, folds, args, on_log=lambda m: err.print(esc(m)), candidates=candidates,
                            inner_folds=inner_folds)
    if task.kind == "sts":  # the untrained encoder needs no fitting: scored on every pair, like the pooled figure
        baselines = add_baselines(dict(result["pooled"]), task, {"base_model": model}, examples)
        result.update(baselines=baselines["baselines"], below_baselines=baselines["below_baselines"])
    output.mkdir(parents=True, exist_ok=True)
    atomic_write_text(output / "cv.json", [json.dumps(dict(result, base_model=model), indent=2) + "\n"])
    summary = {k: v for k, v in result.items() if k not in ("predictions", "per_fold", "pooled", "baselines")}
    summary.update({f"pooled_{k}": v for k, v in result["pooled"].items() if isinstance(v, (int, float))})
    if candidates:
        summary["chosen per fold"] = ", ".join(str(f["chosen"]) for f in result["per_fold"])
    print_result(summary if not as_json else result, f"{folds}-fold cross-validation ({len(examples)} examples)", as_json)
    if not as_json and "baselines" in result:
        print_baselines(dict(result["pooled"], baselines=result["baselines"], below_baselines=result["below_baselines"]),
                        task.selection_metric)
    err.print(f"wrote {esc(output / 'cv.json')} (per-fold scores and out-of-fold predictions; no checkpoint is kept)",
              soft_wrap=True)


def _choose_and_train(kind: str, model: str, candidates: dict, train_ex: list, dev_ex: Optional[list], args, output: Path,
                      files: list[Path], as_json: bool) -> None:
    """``--architecture auto`` without folds: the dev data chooses, then the choice trains (or, for
    the zero-shot cosine, is saved as it is)."""
    from clinlm.cli.options import train_manifest
    from clinlm.tasks.pair.crossval import ZERO_SHOT, Interpolated, choose, fit

    if not dev_ex:
        raise InputError("--architecture auto needs dev data to choose: give --dev or --dev-fraction (or use --folds)")
    chosen, scores = choose(candidates, model, train_ex, dev_ex, args, on_log=lambda m: err.print(esc(m)))
    err.print("dev " + ", ".join(f"{esc(n)} {v:.4f}" for n, v in scores.items()) + f" -> {esc(chosen)}", soft_wrap=True)
    task = candidates[chosen]
    if chosen != ZERO_SHOT and not isinstance(task, Interpolated):
        return train_and_report(task, model, train_ex, dev_ex, args, output, files, as_json)
    if isinstance(task, Interpolated):  # trained, then mixed with the base's weights
        net, tokenizer = fit(task, model, train_ex, args, on_log=lambda m: err.print(esc(m)))
        what = f"the bi-encoder trained, then {task.weight:g} of its weights mixed with {1 - task.weight:g} of the base's"
    else:
        net, tokenizer = task.build(model, train_ex)
        what = "the untrained encoder's cosine, saved as it is"
    dev = task.evaluate(net, tokenizer, dev_ex)
    task.save(net, tokenizer, output, dict(train_manifest(model, files), baselines={"base_model": model},
                                           training={"chosen": chosen, "dev_choice": scores, "dev": dev}))
    print_result(dev, f"dev ({len(dev_ex)} examples): {what}", as_json)


# -- sts / nli / pubmedqa ---------------------------------------------------------------------
def _register_pair(kind: str) -> None:
    def train_cmd(
        model: str = typer.Option(..., "--model", "-m", help="Base encoder: local directory or hub id."),
        train: Path = typer.Option(..., "--train", help="Training pairs."),
        dev: Optional[Path] = typer.Option(None, "--dev", help="Dev pairs for model selection."),
        output: Path = typer.Option(..., "--output", "-o", help="Checkpoint directory (with --folds: where cv.json goes)."),
        folds: int = typer.Option(0, help="k-fold cross-validation instead of one model (BIOSSES: 10)."),
        inner_folds: int = typer.Option(0, min=0, help="With --folds and --architecture auto: each fold chooses by an inner "
                                                     "k-fold CV of its training part (e.g. 3) instead of a 20% inner dev split; "
                                                     "k times the training, steadier on small sets."),
        dev_fraction: float = typer.Option(0.0, help="Without --dev: hold out this seeded share of --train for model selection."),
        ids: Optional[Path] = typer.Option(None, "--ids", help=IDS_HELP),
        exclude_ids: Optional[Path] = typer.Option(None, "--exclude-ids", help=EXCLUDE_HELP),
        epochs: Epochs = 3.0,
        learning_rate: LearningRate = 5e-5,
        batch_size: BatchSize = 16,
        grad_accum: GradAccum = 1,
        warmup: Warmup = 0.1,
        weight_decay: WeightDecay = 0.01,
        max_length: int = typer.Option(DEFAULT_MAX_LENGTH[kind], help="Subwords per pair (longer pairs are truncated)."),
        architecture: str = typer.Option("cross-encoder", help=ARCH_HELP[kind]),
        balance: Optional[bool] = typer.Option(None, "--balance/--no-balance", help="Class-weighted loss (default: on for pubmedqa)."),
        truncation_side: str = typer.Option("right", "--truncation-side", help="Which end of a pair too long for "
                                            "--max-length is cut: right (the end) or left (the start; for pubmedqa the "
                                            "abstract's start, keeping the RESULTS it ends with). Kept in the checkpoint."),
        long_answers: bool = typer.Option(False, "--long-answers", help="pubmedqa: also train on each training question "
                                          "with its long answer (the abstract's conclusion) in place of the abstract; "
                                          "dev and test keep the abstract."),
        seed: Seed = 42,
        evals_per_epoch: EvalsPerEpoch = 1,
        layer_decay: LayerDecay = 1.0,
        average_last: AverageLast = 0,
        precision: Precision = "auto",
        device: Device = "auto",
        as_json: AsJson = False,
    ) -> None:
        from clinlm.tasks import get_task

        quiet_transformers()
        auto = architecture == "auto"
        candidates = _candidates(kind, max_length, balance) if auto else None
        task = get_task(kind, max_length=max_length, balance=balance, architecture="cross-encoder" if auto else architecture,
                        truncation_side=truncation_side)
        train_ex = _select_ids(task.read(train), ids, exclude_ids)
        dev_ex = task.read(dev) if dev else None
        args = train_args(epochs=epochs, learning_rate=learning_rate, batch_size=batch_size, grad_accum=grad_accum,
                           warmup_ratio=warmup, weight_decay=weight_decay, seed=seed, precision=precision, device=device,
                           evals_per_epoch=evals_per_epoch,
                      layer_decay=layer_decay, average_last=average_last)
        if inner_folds and not folds:
            raise InputError("--inner-folds chooses inside each of --folds K folds: give --folds too")
        if folds:
            if dev is not None or dev_fraction:
                raise InputError("--folds trains on all but the held-out fold: leave out --dev and --dev-fraction")
            if inner_folds == 1 or (inner_folds and not auto):
                raise InputError("--inner-folds takes 2 or more, with --architecture auto (it chooses among architectures)")
            return _cross_validate(task, model, train_ex, folds, args, output, as_json, candidates, inner_folds)
        if long_answers and kind != "pubmedqa":
            raise InputError(f"--long-answers is for pubmedqa (ori_pqal.json), not {kind}")
        if long_answers and folds:
            raise InputError("--long-answers trains one model on a dev split: leave out --folds")
        train_ex, dev_ex = split_dev(train_ex, dev_ex, dev_fraction, seed)
        if long_answers:
            from clinlm.tasks.pair.data import pubmedqa_long_answers

            train_ex = train_ex + pubmedqa_long_answers(train, train_ex)
        if auto:
            return _choose_and_train(kind, model, candidates, train_ex, dev_ex, args, output, [train] + ([dev] if dev else []),
                                     as_json)
        train_and_report(task, model, train_ex, dev_ex, args, output, [train] + ([dev] if dev else []), as_json)

    def evaluate_cmd(
        model: str = typer.Option(..., "--model", "-m", help="A checkpoint trained by clinlm."),
        data: Path = typer.Option(..., "--data", "-d", help="Gold pairs."),
        ids: Optional[Path] = typer.Option(None, "--ids", help=IDS_HELP),
        exclude_ids: Optional[Path] = typer.Option(None, "--exclude-ids", help=EXCLUDE_HELP),
        batch_size: InferenceBatch = 64,
        baselines: bool = typer.Option(True, "--baselines/--no-baselines",
                                       help="Score the no-training baselines on the same data beside the model."),
        device: Device = "auto",
        as_json: AsJson = False,
    ) -> None:
        from clinlm.tasks.predict import load_model

        quiet_transformers()
        from clinlm import manifest as manifest_io

        predictor = load_model(model, device=device, batch_size=batch_size)
        check_kind(predictor, kind, model)
        gold = _select_ids(predictor.task.read(data), ids, exclude_ids)
        result = dict(predictor.evaluate(gold), model=model, data=str(data))
        man = manifest_io.read(model)
        fitted = man.get("baselines") or ({"base_model": man["base_model"]} if kind == "sts" and man.get("base_model") else None)
        if baselines:
            result = add_baselines(result, predictor.task, fitted, gold)
        print_result(result, f"{kind}: {esc(data)} ({len(gold)} examples)", as_json)
        if not as_json:
            print_baselines(result, predictor.task.selection_metric)

    def predict_cmd(
        model: str = typer.Option(..., "--model", "-m", help="A checkpoint trained by clinlm."),
        data: Path = typer.Option(..., "--data", "-d", help="Pairs (labels, if present, are ignored)."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="JSONL file (default: stdout)."),
        ids: Optional[Path] = typer.Option(None, "--ids", help=IDS_HELP),
        batch_size: InferenceBatch = 64,
        device: Device = "auto",
    ) -> None:
        from clinlm.tasks.predict import load_model

        quiet_transformers()
        predictor = load_model(model, device=device, batch_size=batch_size)
        check_kind(predictor, kind, model)
        examples = _select_ids(predictor.task.read(data, require_label=False), ids, None)
        write_jsonl(predictor.predict(examples), output)

    train_cmd.__doc__ = f"Fine-tune an encoder for {PAIR_HELP[kind]}."
    evaluate_cmd.__doc__ = f"Score a {kind} checkpoint on gold pairs ({PAIR_HELP[kind].split(': ')[-1]})."
    predict_cmd.__doc__ = f"Predict {kind} for new pairs, as JSONL."
    train_app.command(kind)(train_cmd)
    evaluate_app.command(kind)(evaluate_cmd)
    predict_app.command(kind)(predict_cmd)


for _kind in PAIR_HELP:
    _register_pair(_kind)


