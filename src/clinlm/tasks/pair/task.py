"""Sentence-pair tasks on one encoder with a sequence head: STS (regression, Pearson/Spearman),
NLI and PubMedQA (classification, accuracy/macro-F1).

The two texts go through the tokenizer as a pair (``[CLS] a [SEP] b [SEP]``). PubMedQA keeps
the whole question and truncates the abstract (``only_second``), at its end by default or, with
``truncation_side="left"``, at its start, keeping the RESULTS that an abstract ends with; STS and
NLI trim the longer text first. STS may instead run as a bi-encoder (``architecture="bi-encoder"``, ``biencoder.py``):
each text alone, mean-pooled, cosine, trained with CoSENT.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from clinlm import manifest as manifest_io
from clinlm.tasks.pair.data import PUBMEDQA_LABELS, PairExample, read_pairs
from clinlm.errors import ConfigError, InputError, ModelError
from clinlm.tasks.pair.metrics import classification_scores, correlation_scores
from clinlm.runtime.loading import check_model_location, check_vocab_fits, load_pretrained, load_tokenizer
from clinlm.tasks.base import Task
from clinlm.tasks.inference import forward_batches

KINDS = ("sts", "nli", "pubmedqa")
ARCHITECTURES = ("cross-encoder", "bi-encoder")
SELECTION = {"sts": "pearson", "nli": "accuracy", "pubmedqa": "accuracy"}  # BLURB scores PubMedQA by accuracy


class PairTask(Task):
    """One class for the three pair tasks; ``kind`` picks head, loss, metrics and truncation."""

    def __init__(self, kind: str = "nli", max_length: int = 128, balance: bool | None = None, batch_size: int = 64,
                 architecture: str = "cross-encoder", truncation_side: str = "right"):
        if kind not in KINDS:
            raise ConfigError(f"unknown pair task {kind!r}; use one of {', '.join(KINDS)}")
        if architecture not in ARCHITECTURES:
            raise ConfigError(f"unknown architecture {architecture!r}; use one of {', '.join(ARCHITECTURES)}")
        if truncation_side not in ("right", "left"):
            raise ConfigError(f"unknown truncation side {truncation_side!r}; use right or left")
        if architecture == "bi-encoder" and kind != "sts":
            raise ConfigError("--architecture bi-encoder is for similarity (sts); nli and pubmedqa need a cross-encoder")
        self.architecture = architecture
        self.kind = self.name = kind
        self.selection_metric = SELECTION[kind]
        self.max_length = max_length
        self.truncation = "only_second" if kind == "pubmedqa" else "longest_first"
        self.truncation_side = truncation_side  # which end of a text too long is cut (transformers' name)
        # class-weighted loss: PubMedQA is 55% "yes", and an unweighted head learns to say only that
        self.balance = (kind == "pubmedqa") if balance is None else balance
        self.batch_size = batch_size
        self.class_weights: torch.Tensor | None = None

    @property
    def regression(self) -> bool:
        return self.kind == "sts"

    # -- data -------------------------------------------------------------------------
    def read(self, path: str | Path, require_label: bool = True) -> list[PairExample]:
        return read_pairs(path, self.kind, require_label)

    # -- model ------------------------------------------------------------------------
    def labels_for(self, examples: Sequence[PairExample]) -> list[str]:
        if self.regression:
            return ["score"]
        if self.kind == "pubmedqa":
            return list(PUBMEDQA_LABELS)
        labels = sorted({str(e.label) for e in examples if e.label is not None})
        if len(labels) < 2:
            raise InputError(f"the training data needs at least two classes, found {labels}")
        return labels

    @property
    def bi_encoder(self) -> bool:
        return self.architecture == "bi-encoder"

    def build(self, model_path: str, train_examples: Sequence[PairExample], seed: int = 42, **_) -> tuple[Any, Any]:
        from transformers import AutoConfig, AutoModelForSequenceClassification

        check_model_location(model_path)
        tokenizer = load_tokenizer(model_path)
        if self.bi_encoder:
            return self._bi_encoder(model_path, tokenizer), tokenizer
        labels = self.labels_for(train_examples)
        config = AutoConfig.from_pretrained(
            model_path,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={l: i for i, l in enumerate(labels)},
            problem_type="regression" if self.regression else "single_label_classification",
        )
        torch.manual_seed(seed)  # the new head starts the same on every run
        model = load_pretrained(AutoModelForSequenceClassification, model_path, config=config, ignore_mismatched_sizes=True)
        model.float()
        check_vocab_fits(model, tokenizer, model_path)
        self.max_length = min(self.max_length, getattr(model.config, "max_position_embeddings", self.max_length))
        return model, tokenizer

    def _bi_encoder(self, model_path: str | Path, tokenizer):
        from clinlm.tasks.pair.biencoder import load_bi_encoder

        model, _ = load_bi_encoder(str(model_path))
        self.max_length = min(self.max_length, getattr(model.config, "max_position_embeddings", self.max_length))
        return model

    def load(self, model_dir: str | Path) -> tuple[Any, Any]:
        """A checkpoint this task saved (labels and settings from its ``clinlm.json``)."""
        from transformers import AutoModelForSequenceClassification

        check_model_location(str(model_dir))
        man = manifest_io.read(model_dir)
        if man.get("task") != self.kind:
            raise ModelError(f"{model_dir} is a {man.get('task') or 'non-clinlm'} checkpoint, not {self.kind}")
        self.max_length = man.get("max_length", self.max_length)
        self.architecture = man.get("architecture", "cross-encoder")
        self.truncation_side = man.get("truncation_side", "right")
        tokenizer = load_tokenizer(str(model_dir))
        if self.bi_encoder:
            return self._bi_encoder(model_dir, tokenizer), tokenizer
        return load_pretrained(AutoModelForSequenceClassification, model_dir), tokenizer

    def _encode(self, tokenizer, examples: Sequence[PairExample]) -> dict[str, list[list[int]]]:
        """Token ids of each pair, truncated to ``max_length``. Under ``only_second`` a question
        longer than half the window is trimmed too (``longest_first``), leaving room for the abstract."""
        a, b = [e.text_a for e in examples], [e.text_b for e in examples]
        if self.bi_encoder:  # each text alone, cut at max_length
            enc_a = tokenizer(a, truncation=True, max_length=self.max_length)["input_ids"] if a else []
            enc_b = tokenizer(b, truncation=True, max_length=self.max_length)["input_ids"] if b else []
            return {"input_ids": list(enc_a), "input_ids_b": list(enc_b)}
        strategy = [self.truncation] * len(examples)
        if self.truncation == "only_second":
            lengths = tokenizer(a, add_special_tokens=False)["input_ids"] if a else []
            strategy = ["longest_first" if len(ids) > self.max_length // 2 else "only_second" for ids in lengths]
        out: dict[str, list] = {"input_ids": [None] * len(examples)}
        side, tokenizer.truncation_side = tokenizer.truncation_side, self.truncation_side
        try:
            for how in set(strategy):
                idx = [i for i, s in enumerate(strategy) if s == how]
                enc = tokenizer([a[i] for i in idx], [b[i] for i in idx], truncation=how, max_length=self.max_length)
                for key in ("input_ids", "token_type_ids"):
                    if key in enc:
                        column = out.setdefault(key, [None] * len(examples))
                        for j, i in enumerate(idx):
                            column[i] = enc[key][j]
        finally:
            tokenizer.truncation_side = side
        return out

    def features(self, examples: Sequence[PairExample], model, tokenizer) -> list[dict[str, Any]]:
        missing = [e.id for e in examples if e.label is None]
        if missing:
            raise InputError(f"training examples need labels; {missing[0]} has none")
        enc = self._encode(tokenizer, examples)
        label2id = model.config.label2id
        feats = []
        for i, ex in enumerate(examples):
            f: dict[str, Any] = {k: v[i] for k, v in enc.items()}
            if self.regression:
                f["labels"] = float(ex.label)  # type: ignore[arg-type]
            else:
                if ex.label not in label2id:
                    raise InputError(f"example {ex.id}: label {ex.label!r} is not one of {sorted(label2id)}")
                f["labels"] = label2id[ex.label]
            feats.append(f)
        if self.balance and not self.regression:
            counts = torch.bincount(torch.tensor([f["labels"] for f in feats]), minlength=len(label2id)).float()
            self.class_weights = counts.sum() / (len(counts) * counts.clamp(min=1))
        return feats

    def collate(self, batch, pad_id: int) -> dict[str, torch.Tensor]:
        if self.bi_encoder:
            from clinlm.tasks.pair.biencoder import collate_pairs

            return collate_pairs(batch, pad_id)
        return super().collate(batch, pad_id)

    def loss(self, model, batch: dict[str, torch.Tensor], label_smoothing: float = 0.0) -> torch.Tensor:
        labels = batch.pop("labels")
        logits = model(**batch).logits.float()
        if self.bi_encoder:
            from clinlm.tasks.pair.biencoder import cosent_loss

            return cosent_loss(logits.squeeze(-1), labels.float())
        if self.regression:
            return F.mse_loss(logits.squeeze(-1), labels.float())
        weight = self.class_weights.to(logits.device) if self.class_weights is not None else None
        return F.cross_entropy(logits, labels, weight=weight, label_smoothing=label_smoothing)

    # -- prediction and metrics ----------------------------------------------------------
    def logits(self, model, tokenizer, examples: Sequence[PairExample]) -> torch.Tensor:
        """Head outputs for every example, in input order."""
        enc = self._encode(tokenizer, examples)
        feats = [{k: v[i] for k, v in enc.items()} for i in range(len(examples))]
        out = torch.empty(len(examples), 1 if self.bi_encoder else model.config.num_labels)
        for idx, res in forward_batches(self, model, tokenizer, feats, self.batch_size):
            out[idx] = res.logits.float().cpu()
        return out

    def predict(self, model, tokenizer, examples: Sequence[PairExample]) -> list[dict[str, Any]]:
        """``{"id", "score"}`` (STS) or ``{"id", "label", "probabilities"}`` per example."""
        logits = self.logits(model, tokenizer, examples)
        if self.regression:
            return [{"id": e.id, "score": float(v)} for e, v in zip(examples, logits[:, 0])]
        probs = logits.softmax(-1)
        names = [model.config.id2label[i] for i in range(probs.shape[1])]
        return [
            {"id": e.id, "label": names[int(p.argmax())], "probabilities": {n: round(float(x), 4) for n, x in zip(names, p)}}
            for e, p in zip(examples, probs)
        ]

    def evaluate(self, model, tokenizer, examples: Sequence[PairExample]) -> dict[str, Any]:
        gold = [e for e in examples if e.label is not None]
        if not gold:
            raise InputError("no labelled examples to score")
        preds = self.predict(model, tokenizer, gold)
        labels = None if self.regression else [model.config.id2label[i] for i in range(model.config.num_labels)]
        return self.score(gold, preds, labels=labels)

    def score(self, gold: Sequence[PairExample], preds: Sequence[dict[str, Any]], labels: Sequence[str] | None = None) -> dict:
        if self.regression:
            return correlation_scores([float(e.label) for e in gold], [p["score"] for p in preds])  # type: ignore[arg-type]
        return classification_scores([str(e.label) for e in gold], [p["label"] for p in preds], labels)

    def fit_baselines(self, base_model: str, train_examples: Sequence[PairExample]) -> dict[str, Any]:
        from clinlm.tasks.pair import baselines

        return baselines.fit(self.kind, base_model, train_examples, self.max_length)

    def baselines(self, fitted: dict[str, Any], gold: Sequence[PairExample]) -> dict[str, dict[str, Any]]:
        from clinlm.tasks.pair import baselines

        return baselines.score(self.kind, fitted, [e for e in gold if e.label is not None], self.max_length)

    def save(self, model, tokenizer, output_dir: Path, manifest: dict[str, Any]) -> None:
        model.save_pretrained(output_dir)
        tokenizer.save_pretrained(output_dir)
        labels = ["score"] if self.regression else [model.config.id2label[i] for i in range(model.config.num_labels)]
        man = dict(manifest, task=self.kind, max_length=self.max_length, truncation=self.truncation,
                   truncation_side=self.truncation_side, labels=labels,
                   architecture=self.architecture, **({"pooling": "mean", "score": "cosine"} if self.bi_encoder else {}))
        manifest_io.write(output_dir, man)

