"""Learned transitions: soft scores between consecutive tags, added to the Viterbi decoder.

The tagger scores each word on its own; which tag tends to follow which (``I-T033`` after
``B-T033`` far more than a new ``B-T033``; a chemical rarely right after a body part) is left
to the hard IOB2 constraints. The transitions here are the pointwise mutual information of tag
bigrams in the training data, ``log P(next | previous) - log P(next)`` (add-one smoothed): what
the previous tag says beyond how common the next one is, so a frequent tag is not favoured
twice (the model's scores already carry its prior). The decoder adds ``scale`` times them; the
scale is chosen on dev data (0 is a candidate: plain Viterbi). It lives in the checkpoint's
``clinlm.json`` (``transitions``), so every user of the model decodes the same way.
"""
from __future__ import annotations

from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from clinlm.document import Document
from clinlm.errors import ConfigError
from clinlm.text import entity_tags, words

SCALES = (0.0, 0.1, 0.2, 0.3, 0.5)


def pmi_scores(tag_sequences: Iterable[Sequence[str]], labels: Sequence[str]) -> np.ndarray:
    """``[n_labels, n_labels]`` PMI of ``(previous, next)`` tag pairs, add-one smoothed."""
    index = {t: i for i, t in enumerate(labels)}
    counts = np.ones((len(labels), len(labels)))
    for tags in tag_sequences:
        ids = [index[t] for t in tags if t in index]
        for a, b in zip(ids, ids[1:]):
            counts[a, b] += 1
    following = counts / counts.sum(axis=1, keepdims=True)
    overall = counts.sum(axis=0) / counts.sum()
    return (np.log(following) - np.log(overall)[None, :]).astype(np.float32)


def document_tags(docs: Iterable[Document]) -> Iterator[list[str]]:
    for d in docs:
        yield entity_tags(words(d.text), d.entities)


def entry(scores: np.ndarray, labels: Sequence[str], scale: float, **about) -> dict:
    """The ``transitions`` entry of a checkpoint's ``clinlm.json``."""
    return {"labels": list(labels), "scale": float(scale), "scores": np.round(scores, 4).tolist(), **about}


def from_manifest(man: dict, labels: Sequence[str]) -> np.ndarray | None:
    """``scale x scores`` aligned to the model's ``labels``, or ``None`` (plain Viterbi)."""
    t = man.get("transitions")
    if not t or not float(t.get("scale", 0)):
        return None
    saved = list(t["labels"])
    if sorted(saved) != sorted(labels):
        raise ConfigError("the transitions in clinlm.json name other labels than the model's; "
                          "fit them again (clinlm train ner-transitions)")
    order = [saved.index(l) for l in labels]
    scores = np.asarray(t["scores"], dtype=np.float32)[np.ix_(order, order)]
    return (float(t["scale"]) * scores).astype(np.float32)


def choose_scale(pipe, dev: Sequence[Document], scores: np.ndarray, f1: Callable[[Sequence[Document], list[Document]], float],
                 scales: Sequence[float] = SCALES, batch_size: int = 32) -> tuple[float, dict[float, float]]:
    """The scale with the best dev score ``f1(gold, predicted)`` (ties: the smaller), and every
    scale's score. The model runs once; each scale only decodes again."""
    if not dev:
        raise ConfigError("choosing the transitions' scale needs dev documents")
    encoded = pipe.document_logprobs(dev, batch_size)
    result = {}
    for scale in scales:
        result[float(scale)] = f1(dev, pipe.decode_documents(dev, encoded, scale * scores if scale else None))
    best = max(sorted(result), key=lambda s: (result[s], -s))
    return best, result
