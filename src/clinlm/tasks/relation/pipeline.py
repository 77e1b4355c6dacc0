"""The relation pipeline: Documents with entities (gold, or from an NER pipeline) in,
the same Documents with ``relations`` between those entities out.

``clinlm.load_relations(dir, ner=...)`` builds it; the CLI's ``predict re``/``evaluate re``
and the trainer's dev scoring all run this one object.
"""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import torch

from clinlm import manifest as manifest_io
from clinlm.runtime.attention import fuse_attention
from clinlm.tasks.relation.candidates import candidate_pairs, orient
from clinlm.document import Document, Relation
from clinlm.errors import ConfigError, ModelError
from clinlm.runtime.loading import check_model_location, check_vocab_fits, load_tokenizer
from clinlm.runtime.device import inference_autocast, resolve_device, resolve_dtype
from clinlm.tasks.relation.model import RelationModel, encode_pairs
from clinlm.windows import special_parts

NO_RELATION = "none"


class RelationPipeline:
    """Classify the candidate pairs of each document; ``pipe(docs)`` streams them in input order.

    ``ner``: an NER pipeline (``clinlm.load()``) run first on texts and on Documents that
    have no entities; without it, Documents must bring their entities."""

    task = "re"

    def __init__(
        self,
        model: RelationModel,
        tokenizer,
        *,
        labels: Sequence[str],
        markers: str = "typed",
        max_length: int = 128,
        window_chars: int | None = None,
        window_sentences: int | None = None,
        type_pairs: Iterable[Sequence[str]] | None = None,
        directions: dict[str, Any] | None = None,
        entity_types: Sequence[str] = (),
        ner=None,
        batch_size: int = 32,
        device: str | torch.device = "auto",
        precision: str = "auto",
        manifest: dict[str, Any] | None = None,
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.labels = list(labels)
        if self.labels[0] != NO_RELATION:
            raise ConfigError(f"the first label must be {NO_RELATION!r}, got {self.labels[0]!r}")
        self.markers = markers
        limit = getattr(model.config, "max_position_embeddings", max_length)
        self.max_length = min(max_length, limit)
        self.window_chars = window_chars
        self.window_sentences = window_sentences
        self.type_pairs = None if type_pairs is None else [list(p) for p in type_pairs]
        self.directions = directions or {}
        self.entity_types = list(entity_types or [])
        self.ner = ner
        self.batch_size = batch_size
        self.device = resolve_device(device) if not isinstance(device, torch.device) else device
        self.dtype = resolve_dtype(precision, self.device)
        self.manifest = dict(manifest or {})
        self._special = special_parts(tokenizer)

    # -- construction -------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | Path, *, ner=None, **options) -> "RelationPipeline":
        """Load a checkpoint written by ``clinlm train re``; options override its manifest
        (``window_chars``, ``window_sentences``, ``max_length``, ``batch_size``, ``device``, ``precision``)."""
        path = str(path)
        check_model_location(path)
        man = manifest_io.read(path)
        if man.get("task") != "re":
            raise ModelError(f"{path} is not a relation model (its clinlm.json names task {man.get('task')!r})")
        tokenizer = load_tokenizer(path, cased=man.get("cased"))
        device = resolve_device(options.pop("device", "auto"))
        dtype = resolve_dtype(options.get("precision", "auto"), device)
        model = RelationModel.from_pretrained(path, len(man["labels"]), man["pooling"])
        check_vocab_fits(model.encoder, tokenizer, path)
        fuse_attention(model)
        model.to(device=device, dtype=dtype).eval()
        keys = ("markers", "max_length", "window_chars", "window_sentences", "type_pairs", "directions", "entity_types")
        kw = {k: man[k] for k in keys if k in man}
        kw.update(options)
        return cls(model, tokenizer, labels=man["labels"], ner=ner, device=device, manifest=man, **kw)

    # -- prediction -----------------------------------------------------------------
    def __call__(self, text: str | Document) -> Document:
        return next(iter(self.pipe([text])))

    def pipe(self, docs: Iterable[str | Document], batch_size: int = 16) -> Iterator[Document]:
        """Documents with predicted relations (their entities untouched), ``batch_size`` notes at a time."""
        counter = itertools.count()
        prepared = iter(self._entities(d, counter) for d in docs)
        for chunk in iter(lambda: list(itertools.islice(prepared, batch_size)), []):
            yield from self._relate(chunk)

    def _entities(self, d: str | Document, counter) -> Document:
        if isinstance(d, str):
            d = Document(str(next(counter)), d)
        elif not isinstance(d, Document):
            raise ConfigError(f"can only relate str or Document, not {type(d).__name__}")
        if not d.entities and self.ner is not None:
            d = self.ner(d)
        return d

    def candidates(self, doc: Document) -> list[tuple[int, int]]:
        return candidate_pairs(doc, self.window_chars, self.window_sentences, self.type_pairs)

    def _relate(self, docs: Sequence[Document]) -> list[Document]:
        jobs = [(d, i, j) for d in docs for i, j in self.candidates(d)]
        found: dict[int, list[Relation]] = {id(d): [] for d in docs}
        for start in range(0, len(jobs), self.batch_size):
            batch = jobs[start : start + self.batch_size]
            probs = self.probabilities(batch)
            best = probs.argmax(dim=-1)
            for (doc, i, j), k, p in zip(batch, best.tolist(), probs.tolist()):
                if k == 0:
                    continue
                label = self.labels[k]
                head, tail = orient(label, doc.entities[i], doc.entities[j], self.directions)
                found[id(doc)].append(Relation(label, head, tail, float(p[k])))
        return [d.with_relations(found[id(d)]) for d in docs]

    def probabilities(self, pairs: Sequence[tuple[Document, int, int]]) -> torch.Tensor:
        """Label probabilities ``[len(pairs), n_labels]`` of candidate pairs."""
        feats = encode_pairs(self.tokenizer, pairs, self.markers, self.max_length, self._special, self.entity_types)
        batch = collate_pairs(feats, self.tokenizer.pad_token_id or 0)
        with torch.inference_mode(), inference_autocast(self.model, self.device, self.dtype):
            logits = self.model(**{k: v.to(self.device) for k, v in batch.items()})
            return torch.softmax(logits.float(), dim=-1).cpu()


def collate_pairs(feats: Sequence[dict[str, Any]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``/``attention_mask`` and the marker positions (and ``labels``) as tensors."""
    width = max(len(f["input_ids"]) for f in feats)
    out = {
        "input_ids": torch.tensor([f["input_ids"] + [pad_id] * (width - len(f["input_ids"])) for f in feats]),
        "attention_mask": torch.tensor([[1] * len(f["input_ids"]) + [0] * (width - len(f["input_ids"])) for f in feats]),
    }
    for key in ("head_pos", "tail_pos", "labels"):
        if key in feats[0]:
            out[key] = torch.tensor([f[key] for f in feats], dtype=torch.long)
    return out


def load_relations(path: str | Path, *, ner=None, **options) -> RelationPipeline:
    """``clinlm.load_relations(dir)`` -> a relation pipeline; ``ner=clinlm.load()`` (or a model
    directory) makes it end to end: texts in, entities and relations out."""
    if ner is not None and not callable(ner):
        from clinlm.tasks.ner.pipeline import load

        ner = load(ner, device=options.get("device", "auto"), precision=options.get("precision", "auto"))
    return RelationPipeline.from_pretrained(path, ner=ner, **options)
