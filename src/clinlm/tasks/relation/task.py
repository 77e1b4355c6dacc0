"""Relation extraction as a task: Documents with entities and relations -> one example per
candidate pair (markers around both mentions) -> a classifier -> micro P/R/F1 over relation types.

Negatives are the candidate pairs without a gold relation (label ``none``). Corpora where
they dominate (DDI: 7 in 8 pairs) can keep a share of them (``negatives_per_positive``)
and/or weigh the loss by class (``class_weight="balanced"``), so the model does not learn
to answer ``none`` everywhere.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from clinlm import manifest as manifest_io
from clinlm.tasks.relation.candidates import candidate_pairs, gold_pairs, learn_directions, related_type_pairs
from clinlm.document import Document
from clinlm.errors import ConfigError, InputError, ModelError
from clinlm.tasks.relation.markers import MARKER_STYLES, marker_vocabulary
from clinlm.tasks.relation.metrics import relation_scores
from clinlm.runtime.loading import check_model_location, check_vocab_fits, load_pretrained, load_tokenizer, lowercases
from clinlm.tasks.relation.model import HEAD_FILE, POOLINGS, RelationModel, encode_pairs
from clinlm.tasks.relation.pipeline import NO_RELATION, RelationPipeline, collate_pairs
from clinlm.windows import special_parts
from clinlm.tasks.base import Task

FORMATS = ("chemprot", "ddi", "jsonl", "brat", "bioc")


def read_relation_documents(path: str | Path, format: str | None = None, cpr_groups: bool = False) -> list[Document]:
    """Gold documents of a relation corpus: ChemProt JSONL (marked pairs), DDI 2013 XML (a file or
    folder), clinlm JSONL, brat (n2c2 2018: ``T`` and ``R`` lines) or BioC; guessed when not given."""
    from clinlm.formats import chemprot, ddi_xml, guess_format, read_gold, read_text_file, split_lines

    p = Path(path)
    if format is None:
        if p.is_dir() or p.suffix == ".xml":
            format = "ddi" if ddi_xml.looks_like(p) else None
        elif p.name.endswith((".jsonl", ".jsonl.gz")):
            first = next((ln for ln in split_lines(read_text_file(p)) if ln.strip()), "")
            format = "chemprot" if chemprot.looks_like(first) else "jsonl"
    if format is not None and format not in FORMATS:
        raise ConfigError(f"unknown relation data format {format!r}; use one of {', '.join(FORMATS)}")
    if format in ("chemprot", "ddi"):
        docs = chemprot.read(p, groups=cpr_groups) if format == "chemprot" else ddi_xml.read(p)
        if not docs:
            raise InputError(f"no documents in this {'folder' if p.is_dir() else 'file'}; gold and training data need at least one", str(p))
        return docs
    # n2c2 2018 has discontinuous mentions: relation arguments take their covering span
    merge = (format or guess_format(p)) in ("brat", "bioc")
    return read_gold(p, format, **({"discontinuous": "merge"} if merge else {}))


class RelationTask(Task):
    name = "re"
    selection_metric = "micro.f1"

    def __init__(
        self,
        markers: str = "typed",
        pooling: str = "cls",
        max_length: int = 128,
        window_chars: int | None = None,
        window_sentences: int | None = None,
        type_filter: bool = True,
        negatives_per_positive: float | None = None,
        class_weight: str | None = None,
        cpr_groups: bool = False,
        format: str | None = None,
        cased: bool | None = None,
        seed: int = 42,
        eval_batch_size: int = 64,
    ):
        if markers not in MARKER_STYLES:
            raise ConfigError(f"unknown marker style {markers!r}; use one of {', '.join(MARKER_STYLES)}")
        if pooling not in POOLINGS:
            raise ConfigError(f"unknown pooling {pooling!r}; use one of {', '.join(POOLINGS)}")
        if class_weight not in (None, "balanced"):
            raise ConfigError(f"unknown class weight {class_weight!r}; use balanced or leave it out")
        self.markers, self.pooling, self.max_length = markers, pooling, max_length
        self.window_chars, self.window_sentences, self.type_filter = window_chars, window_sentences, type_filter
        self.negatives_per_positive, self.class_weight = negatives_per_positive, class_weight
        self.cpr_groups, self.format, self.cased, self.seed = cpr_groups, format, cased, seed
        self.eval_batch_size = eval_batch_size
        self.labels: list[str] = [NO_RELATION]
        self.entity_types: list[str] = []
        self.type_pairs: list[list[str]] | None = None
        self.directions: dict[str, Any] = {}
        self.weights: torch.Tensor | None = None

    # -- data ---------------------------------------------------------------------
    def read(self, path: str | Path) -> list[Document]:
        return read_relation_documents(path, self.format, self.cpr_groups)

    # -- model ----------------------------------------------------------------------
    def build(self, model_path: str, train_examples: Sequence[Document], labels: Sequence[str] | None = None,
              seed: int | None = None, **_):
        """A fresh head on a base encoder, or (a directory with ``relation_head.safetensors``) a
        relation checkpoint to train further with its own labels, markers and pooling."""
        from transformers import AutoModel

        check_model_location(model_path)
        torch.manual_seed(self.seed if seed is None else seed)  # new marker embeddings and the head start the same on every run
        man = manifest_io.read(model_path) if Path(model_path).is_dir() else {}
        if (Path(model_path) / HEAD_FILE).is_file():
            if man.get("task") != "re":
                raise ModelError(f"{model_path} has a relation head but no relation manifest")
            self.labels, self.markers, self.pooling = list(man["labels"]), man["markers"], man["pooling"]
            self.entity_types = list(man.get("entity_types") or [])
            tokenizer = load_tokenizer(model_path, cased=man.get("cased", self.cased))
            model = RelationModel.from_pretrained(model_path, len(self.labels), self.pooling)
        else:
            found = sorted({r.label for d in train_examples for r in d.relations})
            self.labels = [NO_RELATION] + [lab for lab in (labels or found) if lab != NO_RELATION]
            self.entity_types = sorted({e.label for d in train_examples for e in d.entities})
            tokenizer = load_tokenizer(model_path, cased=self.cased)
            tokenizer.add_tokens(marker_vocabulary(self.markers, self.entity_types), special_tokens=True)
            encoder = load_pretrained(AutoModel, model_path)
            if len(tokenizer) > encoder.get_input_embeddings().weight.shape[0]:
                encoder.resize_token_embeddings(len(tokenizer))  # GatorTron has spare rows: no resize there
            model = RelationModel(encoder, len(self.labels), self.pooling)
        model.float()  # fp32 master weights even from an fp16/bf16 checkpoint
        check_vocab_fits(model.encoder, tokenizer, model_path)
        self.max_length = min(self.max_length, getattr(model.config, "max_position_embeddings", self.max_length))
        self.type_pairs = related_type_pairs(train_examples) if self.type_filter else None
        self.directions = learn_directions(train_examples)
        return model, tokenizer

    def examples(self, docs: Sequence[Document]) -> list[tuple[Document, int, int, int]]:
        """``(doc, i, j, label id)`` of every candidate pair, negatives thinned as configured."""
        label2id = {lab: k for k, lab in enumerate(self.labels)}
        pos, neg = [], []
        for d in docs:
            gold = gold_pairs(d)
            for i, j in candidate_pairs(d, self.window_chars, self.window_sentences, self.type_pairs):
                rel = gold.get((i, j))
                target = label2id.get(rel.label, 0) if rel is not None else 0
                (pos if target else neg).append((d, i, j, target))
        if self.negatives_per_positive is not None:
            keep = int(round(self.negatives_per_positive * len(pos)))
            if keep < len(neg):
                neg = random.Random(self.seed).sample(neg, keep)
        return pos + neg

    def features(self, examples: Sequence[Document], model, tokenizer) -> list[dict[str, Any]]:
        ex = self.examples(examples)
        feats = encode_pairs(tokenizer, [(d, i, j) for d, i, j, _ in ex], self.markers, self.max_length,
                             special_parts(tokenizer), self.entity_types)
        for f, (*_, target) in zip(feats, ex):
            f["labels"] = target
        if self.class_weight == "balanced" and feats:
            counts = torch.bincount(torch.tensor([f["labels"] for f in feats]), minlength=len(self.labels)).float()
            self.weights = torch.where(counts > 0, counts.sum() / (len(self.labels) * counts.clamp(min=1)), 0.0)
        return feats

    def collate(self, batch: Sequence[dict[str, Any]], pad_id: int) -> dict[str, torch.Tensor]:
        return collate_pairs(batch, pad_id)

    def loss(self, model, batch: dict[str, torch.Tensor], label_smoothing: float = 0.0) -> torch.Tensor:
        labels = batch.pop("labels")
        logits = model(**batch).float()
        weight = None if self.weights is None else self.weights.to(logits.device)
        return F.cross_entropy(logits, labels, weight=weight, label_smoothing=label_smoothing)

    # -- prediction and metrics -------------------------------------------------------
    def pipeline(self, model, tokenizer, **options) -> RelationPipeline:
        kw: dict[str, Any] = dict(
            labels=self.labels, markers=self.markers, max_length=self.max_length, window_chars=self.window_chars,
            window_sentences=self.window_sentences, type_pairs=self.type_pairs, directions=self.directions,
            entity_types=self.entity_types, batch_size=self.eval_batch_size, device=model.device,
        )
        kw.update(options)
        return RelationPipeline(model, tokenizer, **kw)

    def evaluate(self, model, tokenizer, examples: Sequence[Document], **options) -> dict[str, Any]:
        was_training = model.training
        model.eval()
        try:
            pipe = self.pipeline(model, tokenizer, **options)
            predictions = list(pipe.pipe([d.with_relations([]) for d in examples], batch_size=256))
            return relation_scores(examples, predictions)
        finally:
            model.train(was_training)

    def save(self, model, tokenizer, output_dir: Path, manifest: dict[str, Any]) -> None:
        model.save_pretrained(output_dir)
        tokenizer.save_pretrained(output_dir)
        man = dict(
            manifest, task="re", labels=self.labels, markers=self.markers, pooling=self.pooling,
            max_length=self.max_length, window_chars=self.window_chars, window_sentences=self.window_sentences,
            type_pairs=self.type_pairs, directions=self.directions, entity_types=self.entity_types,
            cased=not lowercases(tokenizer),
        )
        manifest_io.write(output_dir, man)
