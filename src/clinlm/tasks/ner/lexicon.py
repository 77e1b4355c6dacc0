"""A type lexicon: the types the training data gave each term, as a prior on an entity's type.

The tagger types a mention from its window alone. The training documents say more about a
frequent term: MedMentions types "expression" T038 and "mice" T204 nearly every time, and a
window that leaves the model unsure should lean that way. :class:`TypeLexicon` counts, for every
term of :data:`MIN_TERM_LENGTH` characters or more that a fully annotated training source tags (same
words, ignoring case, spacing and the spaces around punctuation, as :func:`term_key` writes it), how
often it carries each type. After decoding,
an entity whose term the lexicon knows takes the type with the highest
``evidence + weight * log((count + alpha) / (total + alpha * n_types))``, where ``evidence`` is the
model's own, as :mod:`clinlm.tasks.ner.consistency` sums it (over every mention of the term where
the document repeats it and one type per term is on). Spans never change, nor does an entity whose
term the lexicon lacks.

``clinlm train ner-lexicon`` counts the terms and chooses ``weight`` and ``alpha`` on dev data
(weight 0 is a candidate: no lexicon); both and the counts live in the checkpoint's ``clinlm.json``
(``type_lexicon``), so every user of the model decodes the same way. Measured on MedMentions
ST21pv-r dev with the shipped model v5 (2026-12-07, terms from MM-ST21pv-r train): strict F1 0.5264
-> 0.5310 (see the model card).
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Callable, Iterable, Sequence

import numpy as np

from clinlm.document import Document
from clinlm.errors import ConfigError

WEIGHTS = (0.0, 0.5, 1.0, 2.0, 4.0)
ALPHAS = (0.1, 1.0)
#: shorter terms are mostly abbreviations whose sense each text defines for itself (MedMentions
#: abstracts typed "CA" as a place and "MG" as a chemical; in notes they are cancer and a maternal
#: grandmother): on MM dev they bought 0.0007 F1, on notes they mistyped (2026-12-07)
MIN_TERM_LENGTH = 4
_PUNCT_SPACE = re.compile(r"\s*([^\w\s])\s*")


def term_key(text: str) -> str:
    """A term as the lexicon and one-type-per-term compare it: "Immune - related" and
    "immune-related" are one term (tokenized corpora put spaces around punctuation, notes do not),
    and so are "Heart failure" and "heart failure". A term of three characters or fewer keeps its
    case: "Mg" is magnesium, "mg" a milligram; "CA" and "Ca" differ too."""
    key = _PUNCT_SPACE.sub(r"\1", " ".join(text.split()))
    return key if len(key) <= 3 else key.casefold()


def count_types(docs: Iterable[Document], min_length: int = MIN_TERM_LENGTH) -> dict[str, dict[str, int]]:
    """``{term: {type: mentions}}`` over every entity of ``docs`` whose term has at least
    ``min_length`` characters."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for doc in docs:
        for e in doc.entities:
            key = term_key(e.text)
            if len(key) >= min_length:
                counts[key][e.label] += 1
    return {k: dict(sorted(c.items())) for k, c in sorted(counts.items())}


class TypeLexicon:
    """Term -> type counts, and how strongly they pull an entity's type (see the module doc)."""

    def __init__(self, counts: dict[str, dict[str, int]], weight: float, alpha: float):
        if weight < 0 or alpha <= 0:
            raise ConfigError(f"a type lexicon needs weight >= 0 and alpha > 0, not {weight} and {alpha}")
        self.counts, self.weight, self.alpha = counts, float(weight), float(alpha)

    def log_prior(self, key: str, types: Sequence[str]) -> np.ndarray | None:
        """``weight x`` the smoothed log share of each of ``types`` for ``key``; ``None`` if unknown."""
        c = self.counts.get(key)
        if not c or not self.weight:
            return None
        n = np.array([c.get(t, 0) for t in types], dtype=np.float64)
        return self.weight * np.log((n + self.alpha) / (sum(c.values()) + self.alpha * len(types)))

    def entry(self, **about) -> dict:
        """The ``type_lexicon`` entry of a checkpoint's ``clinlm.json``; each term's counts as one
        short string, ``"T038:3 T103:1"`` (a line a term keeps the file small and readable)."""
        terms = {k: " ".join(f"{t}:{n}" for t, n in c.items()) for k, c in self.counts.items()}
        return {"weight": self.weight, "alpha": self.alpha, **about, "terms": terms}

    @classmethod
    def from_manifest(cls, man: dict) -> "TypeLexicon | None":
        """The lexicon a ``clinlm.json`` carries, or ``None`` (none, or weight 0)."""
        entry = man.get("type_lexicon")
        if not entry or not float(entry.get("weight", 0)):
            return None
        try:
            counts = {k: {t: int(n) for t, n in (pair.split(":") for pair in v.split())}
                      for k, v in entry["terms"].items()}
            return cls(counts, float(entry["weight"]), float(entry["alpha"]))
        except (KeyError, ValueError, AttributeError, TypeError) as exc:
            raise ConfigError(f"the type lexicon in clinlm.json is damaged ({exc}); fit it again "
                              "(clinlm train ner-lexicon)") from None


def choose(pipe, dev: Sequence[Document], counts: dict[str, dict[str, int]],
           f1: Callable[[Sequence[Document], list[Document]], float],
           weights: Sequence[float] = WEIGHTS, alphas: Sequence[float] = ALPHAS,
           batch_size: int = 32, encoded=None) -> tuple[tuple[float, float], dict[str, float]]:
    """The ``(weight, alpha)`` with the best dev score ``f1(gold, predicted)`` (ties: the smaller
    weight, then the larger alpha, so no lexicon wins a tie), and every candidate's score as
    ``{"weight/alpha": f1}``. The model runs once (not at all when ``encoded``,
    ``pipe.document_logprobs(dev)``, is given); each candidate only decodes again."""
    if not dev:
        raise ConfigError("choosing the type lexicon's weight needs dev documents")
    encoded = pipe.document_logprobs(dev, batch_size) if encoded is None else encoded
    saved, scores = pipe.type_lexicon, {}
    grid = [(0.0, max(alphas))] + [(w, a) for w in weights if w for a in alphas]
    try:
        for w, a in grid:
            pipe.type_lexicon = TypeLexicon(counts, w, a) if w else None
            scores[(w, a)] = float(f1(dev, pipe.decode_documents(dev, encoded)))
    finally:
        pipe.type_lexicon = saved
    best = max(grid, key=lambda c: (scores[c], -c[0], c[1]))
    return best, {f"{w:g}/{a:g}": round(v, 4) for (w, a), v in scores.items()}
