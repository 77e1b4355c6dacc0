"""Linking scored on gold mentions (PubTator with concept ids, as NCBI-disease and BC5CDR write them).

Each gold mention is linked from its text, its label and its document's short forms; the gold id
(``MESH:`` prefix dropped) is hit at rank r when the r-th concept's id or one of its alternative ids
equals it. Mentions that cannot be scored as one id are counted apart, never hidden:

* ``composite``: several ids (``D001943|D010051``, ``D015862+D058499``), "breast and ovarian cancers";
* ``no_id``: ``-1`` or an empty id column;
* ``missing``: one id that the vocabulary does not hold: no linker can predict it.

``acc@1``/``acc@5`` are over the ``covered`` mentions (one id, in the vocabulary); ``acc@1_all`` over every
single-id mention (missing ones count as wrong), which coverage bounds.
"""
from __future__ import annotations

import re
from typing import Iterable, Sequence

import numpy as np

from clinlm.document import Document
from clinlm.errors import ConfigError, InputError
from clinlm.linking.linker import Linker
from clinlm.linking.normalize import abbreviations
from clinlm.linking.vocab import canonical_id

_SPLIT = re.compile(r"[|+]")


def gold_ids(value: object) -> list[str]:
    """The ids of a PubTator concept column: ``MESH:`` dropped, ``-1`` and empties left out."""
    if value is None:
        return []
    ids = [canonical_id(x) for x in _SPLIT.split(str(value)) if x.strip()]
    return [i for i in ids if i and i != "-1"]


def gold_mentions(linker: Linker, docs: Iterable[Document], labels: Iterable[str] | None = None):
    """``(covered, counts, missing_ids)``: the covered mentions as ``(text, label, short forms, ids
    that count as right, gold id)``, the counts of the module doc, and how often each missing id occurs."""
    wanted = set(labels) if labels else None
    index = linker.index
    answers: dict[str, set[str]] = {}
    for i, cid in enumerate(index.ids):
        answers.setdefault(cid, set()).add(cid)
        for a in index.alt_ids[i]:
            answers.setdefault(a, set()).add(cid)
    counts = {"mentions": 0, "composite": 0, "no_id": 0, "missing": 0, "covered": 0}
    todo: list[tuple[str, str, dict[str, str], set[str], str]] = []
    missing_ids: dict[str, int] = {}
    for doc in docs:
        ab = abbreviations(doc.text) if linker.expand_abbreviations else {}
        for e in doc.entities:
            if wanted is not None and e.label not in wanted:
                continue
            counts["mentions"] += 1
            raw = str(e.attributes.get("concept", ""))
            ids = gold_ids(raw)
            if len([p for p in _SPLIT.split(raw) if p.strip()]) > 1:
                counts["composite"] += 1
                continue
            if not ids:
                counts["no_id"] += 1
                continue
            if ids[0] not in answers:
                counts["missing"] += 1
                missing_ids[ids[0]] = missing_ids.get(ids[0], 0) + 1
                continue
            counts["covered"] += 1
            todo.append((e.text, e.label, ab, answers[ids[0]], ids[0]))
    return todo, counts, missing_ids


def covered_mentions(linker: Linker, docs: Iterable[Document], labels: Iterable[str] | None = None):
    """The covered gold mentions: ``(text, label, short forms, ids that count as right)``."""
    return [t[:4] for t in gold_mentions(linker, docs, labels)[0]]


def evaluate_linking(linker: Linker, docs: Iterable[Document], *, labels: Iterable[str] | None = None,
                     ks: tuple[int, ...] = (1, 5)) -> dict:
    """Accuracy at each k on covered gold mentions, with the counts of the others (module doc)."""
    index = linker.index
    todo, counts, missing_ids = gold_mentions(linker, docs, labels)
    k_max = max(ks)
    found = linker.candidates([t[0] for t in todo], [t[1] for t in todo], [t[2] for t in todo], k=k_max, threshold=0.0)
    hits = {k: 0 for k in ks}
    errors = []
    for (text, label, _, ok, gold), concepts in zip(todo, found):
        rank = next((r for r, c in enumerate(concepts) if c["id"] in ok), None)
        for k in ks:
            hits[k] += rank is not None and rank < k
        if rank != 0 and len(errors) < 50:
            errors.append({"mention": text, "label": label, "gold": gold,
                           "predicted": concepts[0]["id"] if concepts else None,
                           "predicted_name": concepts[0]["name"] if concepts else None})
    covered = counts["covered"]
    single = covered + counts["missing"]
    result: dict = dict(counts)
    result["coverage"] = covered / single if single else 0.0
    for k in ks:
        result[f"acc@{k}"] = hits[k] / covered if covered else 0.0
    result["acc@1_all"] = hits[min(ks)] / single if single else 0.0
    result["vocab"] = index.vocab
    result["missing_ids"] = len(missing_ids)
    result["errors"] = errors
    return result


def tune_weight(linker, docs, *, labels: Iterable[str] | None = None, grid: Sequence[float] | None = None) -> dict:
    """The ``w`` that maximizes acc@1 of the re-ranked list on gold (training!) mentions.

    The lexical candidates are found without the names the index took from annotated documents
    and their cosines (otherwise every training mention is its own exact name, lexical score 1 and
    cosine 1).
    Ties go to the smaller ``w`` (closer to the lexical ranking)."""
    from clinlm.linking.dense import GRID, TOP, combine

    grid = GRID if grid is None else grid
    if linker.dense is None:
        raise ConfigError("tuning the dense weight needs a linker with an embedding cache")
    todo = covered_mentions(linker, docs, labels)
    if not todo:
        raise InputError("no mention with one id the vocabulary holds to tune the dense weight on")
    ranked = linker.ranked([t for t, _, _, _ in todo], [lb for _, lb, _, _ in todo], [ab for _, _, ab, _ in todo],
                           n=TOP, skip_annotated=True)
    cos = linker.dense.cosines([q for q, _ in ranked], [[c for c, _, _ in r] for _, r in ranked], skip_annotated=True)
    hits = np.zeros(len(grid))
    for (_, r), cs, (_, _, _, ok) in zip(ranked, cos, todo):
        if not r:
            continue
        lex = np.array([s for _, s, _ in r], dtype=np.float32)
        pref = np.array([p for _, _, p in r], dtype=np.float32)
        good = np.array([linker.index.ids[c] in ok for c, _, _ in r])
        if not good.any():
            continue
        for gi, w in enumerate(grid):
            score = combine(lex, cs, w)
            best = np.lexsort((-pref, -lex, -score))[0]
            hits[gi] += good[best]
    acc = hits / len(todo)
    best_i = int(np.argmax(acc))  # first maximum: the smallest w
    return {"weight": float(grid[best_i]), "mentions": len(todo),
            "acc@1": {f"{w:.2f}": round(float(a), 4) for w, a in zip(grid, acc)}}


def annotated_names(docs: Iterable[Document], labels: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """``(mention text, id)`` of every gold mention with one id (of ``labels``), for
    ``LinkIndex.build(..., annotations=...)``: training documents' names for their concepts."""
    wanted = set(labels) if labels else None
    out = []
    for doc in docs:
        for e in doc.entities:
            if wanted is not None and e.label not in wanted:
                continue
            raw = str(e.attributes.get("concept", ""))
            ids = gold_ids(raw)
            if len(ids) == 1 and len([p for p in _SPLIT.split(raw) if p.strip()]) == 1:
                out.append((e.text, ids[0]))
    return out


def names_from_files(paths: Iterable, labels: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """:func:`annotated_names` of every file (``--names-from``); a file where ``labels`` match no
    mention is an error naming the labels it has, never a silent zero."""
    from clinlm.errors import InputError
    from clinlm.formats import read_documents

    wanted = list(labels) if labels else None
    out: list[tuple[str, str]] = []
    for path in paths:
        docs = list(read_documents(path))
        found = annotated_names(docs, wanted)
        if wanted and not found:
            have = sorted({e.label for d in docs for e in d.entities})
            raise InputError(f"no mention with a concept id is labelled {', '.join(wanted)} here "
                             f"(its labels: {', '.join(have) or 'none'})", str(path))
        out += found
    return out


def _prf(tp: int, n_pred: int, n_gold: int) -> dict:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "tp": tp,
            "predicted": n_pred, "gold": n_gold}


def end_to_end_scores(gold: Iterable[Document], predicted: Iterable[Document], index, *,
                      gold_types: Iterable[str] | None = None, labels: Iterable[str] | None = None) -> dict:
    """NER then linking, scored as exact ``(span, id)`` pairs against gold mentions with one id.

    ``gold_types``: the gold mention types scored (default: all); ``labels``: the predicted entity
    labels that stand for them (default: all). A predicted entity counts with its best concept (none
    when nothing reached the threshold). Gold composite mentions and mentions without an id are
    left out, and so are predictions with exactly their spans; a gold id the vocabulary lacks stays
    in (it can only be missed). ``span`` scores the spans alone (what NER got right), ``span_id``
    the pairs."""
    types = set(gold_types) if gold_types else None
    allowed = set(labels) if labels else None
    primary: dict[str, str] = {}
    for i, cid in enumerate(index.ids):
        primary.setdefault(cid, cid)
        for a in index.alt_ids[i]:
            primary.setdefault(a, cid)
    g_pairs, g_spans, skip, p_pairs, p_spans = set(), set(), set(), set(), set()
    for g, p in zip(gold, predicted):
        if g.id != p.id:
            raise ValueError(f"gold and predicted documents out of step: {g.id} and {p.id}")
        for e in g.entities:
            if types is not None and e.label not in types:
                continue
            raw = str(e.attributes.get("concept", ""))
            ids = gold_ids(raw)
            if len(ids) != 1 or len([x for x in _SPLIT.split(raw) if x.strip()]) > 1:
                skip.add((g.id, e.start, e.end))
                continue
            g_pairs.add((g.id, e.start, e.end, primary.get(ids[0], ids[0])))
            g_spans.add((g.id, e.start, e.end))
        scored = {(g.id, e.start, e.end) for e in g.entities if (g.id, e.start, e.end) in g_spans}
        for e in p.entities:
            key = (p.id, e.start, e.end)
            if (allowed is not None and e.label not in allowed) or (key in skip and key not in scored):
                continue
            p_spans.add((p.id, e.start, e.end))
            concepts = e.attributes.get("concepts") or []
            if concepts:
                p_pairs.add((p.id, e.start, e.end, concepts[0]["id"]))
    return {"span": _prf(len(g_spans & p_spans), len(p_spans), len(g_spans)),
            "span_id": _prf(len(g_pairs & p_pairs), len(p_pairs), len(g_pairs)),
            "left_out_gold": len(skip)}
