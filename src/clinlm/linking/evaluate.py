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
from typing import Iterable

from clinlm.document import Document
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


def evaluate_linking(linker: Linker, docs: Iterable[Document], *, labels: Iterable[str] | None = None,
                     ks: tuple[int, ...] = (1, 5)) -> dict:
    """Accuracy at each k on covered gold mentions, with the counts of the others (module doc)."""
    wanted = set(labels) if labels else None
    index = linker.index
    answers: dict[str, set[str]] = {}
    for i, cid in enumerate(index.ids):
        answers.setdefault(cid, set()).add(cid)
        for a in index.alt_ids[i]:
            answers.setdefault(a, set()).add(cid)
    counts = {"mentions": 0, "composite": 0, "no_id": 0, "missing": 0, "covered": 0}
    todo: list[tuple[str, str, dict[str, str], str]] = []
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
            todo.append((e.text, e.label, ab, ids[0]))
    k_max = max(ks)
    found = linker.candidates([t for t, _, _, _ in todo], [lb for _, lb, _, _ in todo], [ab for _, _, ab, _ in todo],
                              k=k_max, threshold=0.0)
    hits = {k: 0 for k in ks}
    errors = []
    for (text, label, _, gold), concepts in zip(todo, found):
        ok = answers[gold]
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
