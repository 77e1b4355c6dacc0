"""The linker task: an encoder fine-tuned so that names of one concept embed close together.

SapBERT's idea (Liu et al., NAACL 2021): the vocabulary itself is the training data. Each example is
a pair of two names of one concept (normalized as the index normalizes them); a batch's other pairs
are its negatives (InfoNCE both ways, scaled cosines, names of the same concept elsewhere in the
batch masked out, not counted as negatives). The model is the pair task's mean-pooled bi-encoder
(:mod:`clinlm.tasks.pair.biencoder`), trained by the shared trainer; the saved checkpoint is a plain
encoder folder for ``clinlm link embed --encoder``. Dev metric: of held-out pairs, how often a name's
nearest neighbour among all held-out second names belongs to its concept (``acc@1``).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from clinlm import manifest as manifest_io
from clinlm.errors import InputError
from clinlm.tasks.base import Task

SCALE = 20.0


@dataclass(frozen=True)
class SynonymPair:
    text_a: str
    text_b: str
    concept: int


def synonym_pairs(vocabs: Sequence, *, per_concept: int = 4, max_pairs: int | None = None, seed: int = 42,
                  annotations: Sequence[tuple[str, str]] = ()) -> list[SynonymPair]:
    """Pairs of distinct normalized names of one concept: each synonym with the preferred name, then
    random synonym pairs, at most ``per_concept`` a concept; a seeded sample of ``max_pairs`` at most.

    ``annotations``: ``(mention text, concept id)`` from annotated *training* documents (as
    ``clinlm link build --names-from`` takes them); each distinct mention is paired with its concept's
    preferred name (another name where they are the same), after the sample: how mentions are written
    in text is what the vocabulary's own synonyms teach least (BioSyn, SapBERT fine-tuned on a corpus)."""
    from clinlm.linking.normalize import normalize

    rng = random.Random(seed)
    out: list[SynonymPair] = []
    concept = 0
    names_of: dict[int, list[str]] = {}
    of_id: dict[str, int] = {}
    for vocab in vocabs:
        if annotations:  # concepts are numbered 1.. across all the vocabularies; the first holding an id wins
            for cid, i in vocab.position_of_ids().items():
                of_id.setdefault(cid, concept + 1 + i)
        for c in vocab.concepts:
            names = list(dict.fromkeys(k for k in (normalize(n) for n in c.names()) if k))
            concept += 1
            if annotations:
                names_of[concept] = names
            if len(names) < 2:
                continue
            pairs = [(names[0], s) for s in names[1:]]
            rng.shuffle(pairs)
            pairs = pairs[:per_concept]
            while len(pairs) < min(per_concept, len(names) * (len(names) - 1) // 2):
                a, b = rng.sample(names, 2)
                if (a, b) not in pairs and (b, a) not in pairs:
                    pairs.append((a, b))
            out += [SynonymPair(*(p if rng.random() < 0.5 else p[::-1]), concept) for p in pairs]
    if max_pairs is not None and len(out) > max_pairs:
        out = rng.sample(out, max_pairs)
    seen: set[tuple[str, int]] = set()
    for text, cid in annotations:
        key, ci = normalize(text), of_id.get(cid)
        if not key or ci is None or (key, ci) in seen or not names_of[ci]:
            continue
        seen.add((key, ci))
        other = [n for n in names_of[ci] if n != key]
        if other:
            out.append(SynonymPair(key, other[0], ci))
    if not out:
        raise InputError("the vocabulary has no concept with two names: nothing to train a linker on")
    return out


class LinkerTask(Task):
    name = "linker"
    selection_metric = "acc@1"

    def __init__(self, max_length: int = 25, per_concept: int = 4, max_pairs: int | None = None, seed: int = 42,
                 batch_size: int = 256, mentions_from: Sequence[dict] = ()):
        self.mentions_from = list(mentions_from)  # {"path", "sha256"} of --names-from files, kept in clinlm.json
        self.max_length = max_length
        self.per_concept = per_concept
        self.max_pairs = max_pairs
        self.seed = seed
        self.batch_size = batch_size

    def read(self, path: str | Path) -> list[SynonymPair]:
        from clinlm.linking.vocab import read_vocabulary

        return synonym_pairs([read_vocabulary(path)], per_concept=self.per_concept, max_pairs=self.max_pairs,
                             seed=self.seed)

    def build(self, model_path: str, train_examples: Sequence[Any], seed: int = 42, **options) -> tuple[Any, Any]:
        from clinlm.tasks.pair.biencoder import load_bi_encoder

        model, tokenizer = load_bi_encoder(str(model_path))
        self.max_length = min(self.max_length, getattr(model.config, "max_position_embeddings", self.max_length))
        return model, tokenizer

    def features(self, examples: Sequence[SynonymPair], model, tokenizer) -> list[dict[str, Any]]:
        if not examples:
            return []
        a = tokenizer([e.text_a for e in examples], truncation=True, max_length=self.max_length)["input_ids"]
        b = tokenizer([e.text_b for e in examples], truncation=True, max_length=self.max_length)["input_ids"]
        return [{"input_ids": x, "input_ids_b": y, "labels": e.concept} for x, y, e in zip(a, b, examples)]

    def collate(self, batch, pad_id: int) -> dict[str, torch.Tensor]:
        from clinlm.tasks.pair.biencoder import collate_pairs

        out = collate_pairs([{k: v for k, v in f.items() if k != "labels"} for f in batch], pad_id)
        out["labels"] = torch.tensor([int(f["labels"]) for f in batch], dtype=torch.long)
        return out

    def loss(self, model, batch: dict[str, torch.Tensor], label_smoothing: float = 0.0) -> torch.Tensor:
        concepts = batch.pop("labels")
        a = F.normalize(model.embed(batch["input_ids"], batch["attention_mask"]).float(), dim=-1)
        b = F.normalize(model.embed(batch["input_ids_b"], batch["attention_mask_b"]).float(), dim=-1)
        return info_nce(a, b, concepts)

    def evaluate(self, model, tokenizer, examples: Sequence[SynonymPair]) -> dict[str, Any]:
        from clinlm.tasks.pair.biencoder import embed_texts

        if not examples:
            raise InputError("no held-out synonym pairs to score")
        a = torch.from_numpy(embed_texts(model, tokenizer, [e.text_a for e in examples], self.max_length, self.batch_size))
        b = torch.from_numpy(embed_texts(model, tokenizer, [e.text_b for e in examples], self.max_length, self.batch_size))
        concepts = torch.tensor([e.concept for e in examples])
        nearest = (a @ b.T).argmax(dim=1)
        return {"acc@1": float((concepts[nearest] == concepts).float().mean()), "pairs": len(examples)}

    def save(self, model, tokenizer, output_dir: Path, manifest: dict[str, Any]) -> None:
        model.save_pretrained(output_dir)
        tokenizer.save_pretrained(output_dir)
        manifest_io.write(output_dir, dict(manifest, task="linker", max_length=self.max_length, pooling="mean",
                                           score="cosine", per_concept=self.per_concept,
                                           mentions_from=self.mentions_from))


def info_nce(a: torch.Tensor, b: torch.Tensor, concepts: torch.Tensor, scale: float = SCALE) -> torch.Tensor:
    """Symmetric InfoNCE over in-batch pairs: ``a[i]`` should be nearest to ``b[i]``; other pairs of the
    same concept are masked out (neither positive nor negative)."""
    sim = scale * (a @ b.T)
    same = concepts[:, None] == concepts[None, :]
    eye = torch.eye(len(concepts), dtype=torch.bool, device=sim.device)
    sim = sim.masked_fill(same & ~eye, -1e4)
    target = torch.arange(len(concepts), device=sim.device)
    return (F.cross_entropy(sim, target) + F.cross_entropy(sim.T, target)) / 2
