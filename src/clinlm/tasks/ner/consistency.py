"""One type per term in a document: a decoding step after Viterbi.

A term that a document repeats names the same thing each time ("lisinopril" is a drug in every
line of a note), but the model types each mention from its own window and may disagree with
itself (on unseen notes one brand name came out with four types). :func:`consistent_types`
gives every mention of a term (same words, ignoring case and spacing, as
:func:`~clinlm.tasks.ner.lexicon.term_key` writes it) the type with the highest
summed evidence over all its mentions: for each mention, the mean over its words of
``log(P(B-type) + P(I-type))``. Spans never change, nor does a term mentioned once.
:func:`follow_long_forms` then gives every abbreviation the document defines ("endobronchial
ultrasound (EBUS)") its long form's type (2026-12-07, with the type lexicon: MM dev 0.5310 -> 0.5343).

Measured on MedMentions ST21pv-r dev with the shipped model (2026-12-07): strict F1 0.5119 ->
0.5264. A model's ``clinlm.json`` turns it on with ``"consistent_types": true``; the pipeline's
``consistent_types`` argument overrides it. ``clinlm train ner --dev`` writes that choice itself:
:func:`choose` decodes the dev documents both ways and keeps the step only if dev gains.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import Callable, Sequence

import numpy as np

from clinlm.document import Document, Entity
from clinlm.linking.normalize import abbreviations
from clinlm.tasks.ner.lexicon import TypeLexicon, term_key
from clinlm.text import Words


def consistent_types(entities: Sequence[Entity], words: Words, logp: np.ndarray, labels: Sequence[str],
                     lexicon: TypeLexicon | None = None, group: bool = True, long_forms: bool = True) -> list[Entity]:
    """``entities`` (decoded from ``logp``, ``[n_words, n_labels]`` log-probabilities over ``labels``
    for ``words``) with one type per repeated term (``group``) and, where ``lexicon`` knows a term,
    its prior added to the evidence (:mod:`clinlm.tasks.ner.lexicon`); with ``group`` and
    ``long_forms``, an abbreviation the text defines then takes its long form's type
    (:func:`follow_long_forms`); see the module doc."""
    out = _vote(entities, words, logp, labels, lexicon, group)
    return follow_long_forms(out, words.text) if group and long_forms else out


def _vote(entities: Sequence[Entity], words: Words, logp: np.ndarray, labels: Sequence[str],
          lexicon: TypeLexicon | None, group: bool) -> list[Entity]:
    types = sorted({lab[2:] for lab in labels if lab[:2] in ("B-", "I-")})
    if not entities or not types or (lexicon is None and (not group or len(entities) < 2)):
        return list(entities)
    by_term: dict[str, list[int]] = defaultdict(list)
    for k, e in enumerate(entities):
        by_term[term_key(e.text)].append(k)
    priors = {key: lexicon.log_prior(key, types) for key in by_term} if lexicon else {}
    # the units that decide a type together: all mentions of a term, or each mention alone
    units = list(by_term.items()) if group else [(key, [k]) for key, ks in by_term.items() for k in ks]
    units = [(key, ks) for key, ks in units if len(ks) > 1 or priors.get(key) is not None]
    if not units:  # most notes' terms: nothing to index
        return list(entities)
    begin = [labels.index("B-" + t) for t in types]
    inside = [labels.index("I-" + t) if "I-" + t in labels else labels.index("B-" + t) for t in types]
    first = {s: i for i, s in enumerate(words.starts)}
    last = {e: i for i, e in enumerate(words.ends)}
    out = list(entities)
    for key, members in units:
        members = [k for k in members if entities[k].start in first and entities[k].end in last]
        prior = priors.get(key)
        if not members or (len(members) < 2 and prior is None):
            continue
        evidence = np.zeros(len(types)) if prior is None else prior.copy()
        for k in members:
            p = np.exp(logp[first[entities[k].start]:last[entities[k].end] + 1])
            evidence += np.log(p[:, begin] + p[:, inside] + 1e-9).mean(axis=0)
        best = types[int(np.argmax(evidence))]
        for k in members:
            if out[k].label != best:
                out[k] = replace(out[k], label=best)
    return out


def follow_long_forms(entities: list[Entity], text: str) -> list[Entity]:
    """Every mention of an abbreviation that ``text`` defines ("endobronchial ultrasound (EBUS)")
    takes the type of the long form's entity, when the long form is one: both name one concept, and
    the long form's words say more about its type than the letters do (MedMentions ST21pv-r dev,
    2026-12-07: 0.5310 -> 0.5343; summing both forms' evidence instead: 0.5302)."""
    defined = abbreviations(text) if "(" in text else {}
    if not defined:
        return entities
    by_term: dict[str, list[int]] = defaultdict(list)
    for k, e in enumerate(entities):
        by_term[term_key(e.text)].append(k)
    out = list(entities)
    for short, long in defined.items():
        shorts, longs = by_term.get(term_key(short)), by_term.get(term_key(long))
        if shorts and longs:
            label = entities[longs[0]].label
            for k in shorts:
                if out[k].label != label:
                    out[k] = replace(out[k], label=label)
    return out


def choose(pipe, dev: Sequence[Document], f1: Callable[[Sequence[Document], list[Document]], float],
           batch_size: int = 32, encoded=None) -> tuple[bool, dict[str, float]]:
    """Whether ``pipe`` should decode with one type per repeated term: on only if the dev score
    ``f1(gold, predicted)`` is higher with it (a tie keeps it off), and both scores. The model runs
    once (not at all when ``encoded``, ``pipe.document_logprobs(dev)``, is given); each choice only
    decodes again."""
    encoded = pipe.document_logprobs(dev, batch_size) if encoded is None else encoded
    saved, scores = pipe.consistent_types, {}
    try:
        for name, on in (("off", False), ("on", True)):
            pipe.consistent_types = on
            scores[name] = float(f1(dev, pipe.decode_documents(dev, encoded)))
    finally:
        pipe.consistent_types = saved
    return scores["on"] > scores["off"], scores
