"""ChemProt as the SciBERT/BLURB-style sentence files: JSONL ``{"text", "label"}`` with the
pair marked in the text as ``<< first >>`` and ``[[ second ]]``.

In these files the two markers mark the *first* and the *second* mention of the pair, not
a chemical and a gene (``<< EGFR >> ... [[ gefitinib ]]``), so both entities get the type
``ENTITY``. One line becomes one Document with two entities and, unless the label is
``false`` (no relation), one relation ``first -> second``. ``groups=True`` maps the
fine-grained labels to the CPR groups BLURB scores (CPR:3, 4, 5, 6, 9).
"""
from __future__ import annotations

import json
from pathlib import Path

from clinlm.document import Document, Entity, Relation
from clinlm.errors import InputError
from clinlm.formats.files import PathLike, read_text_file, split_lines

NEGATIVE = "false"
ENTITY = "ENTITY"
MARKERS = (("<< ", " >>"), ("[[ ", " ]]"))
#: BioCreative VI ChemProt: fine-grained relation -> the CPR group it belongs to
CPR_GROUPS = {
    "UPREGULATOR": "CPR:3", "ACTIVATOR": "CPR:3", "INDIRECT-UPREGULATOR": "CPR:3",
    "DOWNREGULATOR": "CPR:4", "INHIBITOR": "CPR:4", "INDIRECT-DOWNREGULATOR": "CPR:4",
    "AGONIST": "CPR:5", "AGONIST-ACTIVATOR": "CPR:5", "AGONIST-INHIBITOR": "CPR:5",
    "ANTAGONIST": "CPR:6",
    "SUBSTRATE": "CPR:9", "PRODUCT-OF": "CPR:9", "SUBSTRATE_PRODUCT-OF": "CPR:9",
}


def looks_like(first_line: str) -> bool:
    """A ChemProt line: a JSON object with text and label but no clinlm document keys."""
    try:
        d = json.loads(first_line)
    except json.JSONDecodeError:
        return False
    return isinstance(d, dict) and "label" in d and "text" in d and "entities" not in d and "id" not in d


def unmark(marked: str, where: str, line: int) -> tuple[str, list[tuple[int, int]]]:
    """The text without the markers and the spans of the two marked mentions, in marker order."""
    found = []
    for op, cl in MARKERS:
        # the text itself may hold ">>" ("potency: A >> B"): a mention ends at the first close after its open
        a = marked.find(op)
        b = marked.find(cl, a + len(op)) if a >= 0 else -1
        if a < 0 or b < 0 or marked.count(op) != 1:
            raise InputError(f"expected exactly one {op.strip()} ... {cl.strip()} pair in the text", where, line)
        found += [(a, op), (b, cl)]
    found.sort()
    parts, spans, last, removed, opened = [], [], 0, 0, {}
    for pos, mark in found:
        parts.append(marked[last:pos])
        if mark in (op for op, _ in MARKERS):
            opened[mark] = pos - removed
        else:
            op = next(o for o, c in MARKERS if c == mark)
            spans.append((op, opened[op], pos - removed))
        removed += len(mark)
        last = pos + len(mark)
    parts.append(marked[last:])
    order = [op for op, _ in MARKERS]
    spans.sort(key=lambda s: order.index(s[0]))
    return "".join(parts), [(s, e) for _, s, e in spans]


def loads(text: str, path: str = "<string>", *, groups: bool = False) -> list[Document]:
    stem = Path(path).name.split(".")[0]
    docs = []
    for lineno, line in enumerate(split_lines(text), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"invalid JSON: {e.msg} at column {e.colno}", path, lineno) from None
        if not isinstance(d, dict) or not isinstance(d.get("text"), str) or not isinstance(d.get("label"), str):
            raise InputError('expected a JSON object with string "text" and "label"', path, lineno)
        clean, spans = unmark(d["text"], path, lineno)
        ents = [Entity(s, e, ENTITY, clean[s:e]) for s, e in spans]
        if any(not e.text.strip() for e in ents):
            raise InputError("a marked mention is empty", path, lineno)
        label = d["label"]
        if groups and label != NEGATIVE:
            if label not in CPR_GROUPS:
                raise InputError(f"unknown ChemProt label {label!r} (no CPR group)", path, lineno)
            label = CPR_GROUPS[label]
        rels = [] if label == NEGATIVE else [Relation(label, ents[0], ents[1])]
        docs.append(Document(f"{stem}:{lineno}", clean, list(ents), {}, rels))
    return docs


def read(path: PathLike, *, groups: bool = False) -> list[Document]:
    return loads(read_text_file(path), str(path), groups=groups)
