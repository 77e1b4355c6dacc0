"""Clinical concept extraction as a task: Documents -> word-window features -> token head -> seqeval."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from clinlm import manifest as manifest_io
from clinlm.document import Document
from clinlm.errors import InputError
from clinlm.labels import OUTSIDE, bio_labels
from clinlm.tasks.ner.metrics import mapped_scores, seqeval_scores, span_scores
from clinlm.tasks.ner.sources import AllowedTable, Sourced, marginal_nll, model_types, sample, word_tag_sets
from clinlm.runtime.loading import check_model_location, check_vocab_fits, load_pretrained, load_tokenizer, lowercases
from clinlm.text import entity_tags, words
from clinlm.windows import content_length, encode, plan, special_parts
from clinlm.tasks.base import Task

PROTOCOLS = ("clinlm", "model-card")


class NerTask(Task):
    name = "ner"
    selection_metric = "strict.f1"

    def __init__(
        self,
        max_length: int | None = None,
        stride: int | None = None,
        decode: str = "viterbi",
        cased: bool | None = None,
        train_max_length: int | None = 128,
        train_stride: int | None = 32,
        source_sampling: str = "proportional",
        seed: int = 42,
    ):
        # Shorter training windows give more optimiser steps per epoch (and cost less attention), and
        # inference reads words the way training did unless told otherwise: a MiniLM trained on
        # 128-subword windows scored MM-ST21pv-r dev strict F1 0.418 read from 128-subword windows and
        # 0.365 from 512-subword ones (a 512-trained model: 0.472 and 0.475).
        self.max_length = max_length or train_max_length or 512
        if stride is None:
            stride = (train_stride if max_length is None and train_max_length and train_stride is not None
                      else min(128, self.max_length // 4))
        self.stride = stride
        self.decode = decode
        self.cased = cased
        self.train_max_length = train_max_length
        self.train_stride = train_stride
        #: how several training sources are mixed (``proportional`` or ``equal``) and its seed
        self.source_sampling = source_sampling
        self.seed = seed
        #: the allowed-tag table the last ``features()`` call built (None: plain cross-entropy)
        self.allowed = None

    # -- data ---------------------------------------------------------------------
    def read(self, path: str | Path, discontinuous: str = "error") -> list[Document]:
        """Gold or training documents; no documents (an empty file) is an error naming the file.
        ``discontinuous``: brat/BioC annotations in several pieces are an error, or ``"merge"``d
        into their covering span (only those two readers take the option)."""
        from clinlm.formats import guess_format, read_gold

        options = {"discontinuous": discontinuous} if guess_format(path) in ("brat", "bioc") else {}
        return read_gold(path, **options)

    # -- model ----------------------------------------------------------------------
    def build(self, model_path: str, train_examples: Sequence[Document], labels: Sequence[str] | None = None,
              seed: int = 42, **_):
        import torch
        from transformers import AutoConfig, AutoModelForTokenClassification

        check_model_location(model_path)
        tokenizer = load_tokenizer(model_path, cased=self.cased)
        if labels is None:
            types = model_types([x if isinstance(x, Sourced) else Sourced(x) for x in train_examples])
            if not types:  # a model whose only label is O would be saved and score 0
                raise InputError("the training data has no entities, so there is nothing to learn")
            labels = bio_labels(types)
        config = AutoConfig.from_pretrained(
            model_path,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={l: i for i, l in enumerate(labels)},
        )
        torch.manual_seed(seed)  # the new head starts the same on every run
        model = load_pretrained(AutoModelForTokenClassification, model_path, config=config, ignore_mismatched_sizes=True)
        model.float()  # train in fp32 master weights even from an fp16/bf16 checkpoint
        check_vocab_fits(model, tokenizer, model_path)
        limit = getattr(model.config, "max_position_embeddings", self.max_length)
        self.max_length = min(self.max_length, limit)
        if self.train_max_length:
            self.train_max_length = min(self.train_max_length, limit)
        return model, tokenizer

    def features(self, examples: Sequence[Document | Sourced], model, tokenizer) -> list[dict[str, list[int]]]:
        """Training windows. Documents (or :class:`Sourced` ones from fully annotated, unit-weight
        sources) give ``labels``, the gold tag at each word's first subword (-100 elsewhere), for the
        usual cross-entropy. As soon as one source is partial or weighted, every window instead gives
        ``allowed``: an index into ``self.allowed`` (tag set and weight) for the marginal loss, and
        windows with nothing scored are left out. ``self.source_sampling`` mixes the sources."""
        items = [x if isinstance(x, Sourced) else Sourced(x) for x in examples]
        marginal = any(i.source is not None and (not i.source.full or i.source.weight != 1.0) for i in items)
        label2id = model.config.label2id
        self.allowed = AllowedTable(len(label2id)) if marginal else None
        key, fill = ("allowed", 0) if marginal else ("labels", -100)
        pre, post = special_parts(tokenizer)
        clen = content_length(tokenizer, min(self.train_max_length or self.max_length, self.max_length))
        stride = self.stride if self.train_stride is None else self.train_stride
        stride = min(stride, clen // 2)
        groups: dict[int, list[dict]] = {}
        for item, enc in zip(items, encode(tokenizer, [i.document.text for i in items])):
            doc, src = item.document, item.source
            if marginal:
                weight = 1.0 if src is None else src.weight
                sets = word_tag_sets(enc.words, doc, src, label2id)
                word_value = np.array([self.allowed.index(t, weight) for t in sets], dtype=np.int64)
            else:
                tags = entity_tags(enc.words, doc.entities)
                word_value = np.array([label2id.get(t, label2id[OUTSIDE]) for t in tags], dtype=np.int64)
            is_first = np.zeros(len(enc.input_ids), dtype=bool)
            valid = enc.first_subword[enc.first_subword >= 0]
            is_first[valid] = True
            sub_values = np.where(is_first, word_value[enc.word_ids] if len(word_value) else fill, fill)
            group = groups.setdefault(id(src), [])
            for s, e in plan(len(enc.input_ids), clen, stride):
                if marginal and not sub_values[s:e].any():
                    continue  # nothing scored in this window
                group.append(
                    {
                        "input_ids": list(pre) + enc.input_ids[s:e].tolist() + list(post),
                        key: [fill] * len(pre) + sub_values[s:e].tolist() + [fill] * len(post),
                    }
                )
        return sample(list(groups.values()), self.source_sampling, self.seed)

    def loss(self, model, batch, label_smoothing: float = 0.0):
        """Cross-entropy over ``labels``, or the marginal likelihood over ``allowed`` tag sets
        (:func:`clinlm.tasks.ner.sources.marginal_nll`) when the features carry those."""
        if "allowed" not in batch:
            return super().loss(model, batch, label_smoothing)
        index = batch.pop("allowed")
        batch.pop("labels", None)
        logits = model(**batch).logits
        mask, weight = self.allowed.tensors(logits.device)
        return marginal_nll(logits, mask[index], weight[index], label_smoothing)

    # -- prediction and metrics -------------------------------------------------------
    def pipeline(self, model, tokenizer, **options):
        from clinlm.tasks.ner.pipeline import NerPipeline

        # context (assertion) does not change spans or labels, so scoring skips it
        kw = dict(max_length=self.max_length, stride=self.stride, decode=self.decode, device=model.device, context=False)
        kw.update(options)
        return NerPipeline(model, tokenizer, **kw)

    def evaluate(self, model, tokenizer, examples: Sequence[Document], protocol: str = "clinlm", **options) -> dict[str, Any]:
        was_training = model.training
        model.eval()
        try:
            pipe = self.pipeline(model, tokenizer, **options)
            if protocol == "model-card":
                return model_card_scores(pipe, examples)
            predictions = list(pipe.pipe(examples))
            return ner_scores(examples, predictions)
        finally:
            model.train(was_training)

    def report(self, model, tokenizer, examples: Sequence[Document], mapping: dict[str, list[str]] | None = None,
               **options) -> dict[str, Any]:
        """Scores on a report-only dev set: :func:`ner_scores` when it is fully annotated in the
        model's labels, else per source type :func:`mapped_scores` through its ``mapping``."""
        if mapping is None:
            return self.evaluate(model, tokenizer, examples, **options)
        was_training = model.training
        model.eval()
        try:
            predictions = list(self.pipeline(model, tokenizer, **options).pipe(examples))
        finally:
            model.train(was_training)
        return {"mapped": mapped_scores(examples, predictions, mapping), "documents": len(examples)}

    def save(self, model, tokenizer, output_dir: Path, manifest: dict[str, Any]) -> None:
        model.save_pretrained(output_dir)
        tokenizer.save_pretrained(output_dir)
        man = dict(manifest, task="ner", max_length=self.max_length, stride=self.stride, decode=self.decode)
        if self.train_max_length:
            man["train_window"] = {"max_length": self.train_max_length, "stride": self.train_stride}
        man["labels"] = [model.config.id2label[i] for i in range(len(model.config.id2label))]
        man["cased"] = not lowercases(tokenizer)
        manifest_io.write(output_dir, man)


def ner_scores(gold: Sequence[Document], pred: Sequence[Document]) -> dict[str, Any]:
    """seqeval strict and default mode over each document's words, plus character-span scores."""
    y_true, y_pred = [], []
    for g, p in zip(gold, pred):
        w = words(g.text)
        y_true.append(entity_tags(w, g.entities))
        y_pred.append(entity_tags(w, p.entities))
    spans = span_scores(gold, pred)
    return {
        "strict": seqeval_scores(y_true, y_pred, strict=True),
        "default": seqeval_scores(y_true, y_pred, strict=False),
        "span_exact": spans["exact"],
        "span_overlap": spans["overlap"],
        "documents": len(gold),
    }


def model_card_scores(pipe, gold: Sequence[Document]) -> dict[str, Any]:
    """The seed model card's set-up, with seqeval's arguments in the right order:
    documents truncated at the model's maximum length (words past it vanish from gold and
    prediction alike), first-subword labels, raw argmax tags, seqeval default mode."""
    y_true, y_pred = [], []
    dropped = 0
    for doc, enc in zip(gold, encode(pipe.tokenizer, [d.text for d in gold])):
        keep = (enc.first_subword >= 0) & (enc.first_subword < pipe.content_length)
        dropped += int((enc.first_subword >= pipe.content_length).sum())
        n = int(keep.sum())
        tags = entity_tags(enc.words, doc.entities)
        y_true.append([t for t, k in zip(tags, keep) if k])
        if n == 0:
            y_pred.append([])
            continue
        logp = pipe._forward([enc.input_ids[: pipe.content_length]])[0]
        pos = enc.first_subword[keep] + len(pipe._pre)
        y_pred.append([pipe.labels[i] for i in logp[pos].argmax(axis=1)])
    out = {"default": seqeval_scores(y_true, y_pred, strict=False), "documents": len(gold)}
    out["words_dropped_by_truncation"] = dropped
    return out
