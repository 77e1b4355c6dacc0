"""A displaCy page of annotated notes (output only): ``clinlm annotate --format html -o page.html``.

Each document is one figure titled with its id; entities are coloured by type (ST21pv type
names, :func:`clinlm.labels.type_name`), and when the context attributes are there each
label carries the assertion: ``NEG`` (negated concepts are also struck through), ``POSS``,
``HYPO``, ``COND``, ``FAM`` (someone else), plus ``HIST`` for historical ones. Overlapping
entities cannot be drawn by displaCy: the longest of each overlapping run is shown.
Labels and ids are HTML-escaped here (displaCy escapes only the text).
"""
from __future__ import annotations

import html
import zlib
from typing import Iterable

from clinlm.document import Document, Entity
from clinlm.labels import ST21PV_TYPES, type_name
from clinlm.formats.files import PathLike, atomic_write_text

_PALETTE = (
    "#a6cee3", "#b2df8a", "#fb9a99", "#fdbf6f", "#cab2d6", "#ffff99", "#8dd3c7", "#bebada", "#fb8072",
    "#80b1d3", "#fdb462", "#b3de69", "#fccde5", "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f", "#e5c494",
    "#b3e2cd", "#fdcdac", "#cbd5e8",
)
#: Colour of each ST21pv type name; other labels get a palette colour by a stable hash.
TYPE_COLORS = {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(ST21PV_TYPES.values())}

#: Label suffix of each non-present assertion.
MARKS = {
    "absent": "NEG",
    "possible": "POSS",
    "hypothetical": "HYPO",
    "conditional": "COND",
    "associated_with_someone_else": "FAM",
}

_TEMPLATE = (
    '<mark class="entity" style="background: {bg}; padding: 0.45em 0.6em; margin: 0 0.25em; line-height: 1; '
    'border-radius: 0.35em;{strike}">{text}<span style="font-size: 0.8em; font-weight: bold; line-height: 1; '
    'border-radius: 0.35em; vertical-align: middle; margin-left: 0.5rem; text-decoration: none; '
    'display: inline-block">{label}{kb_link}</span></mark>'
)

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>clinlm</title>
</head>
<body style="font-size: 16px; font-family: -apple-system, BlinkMacSystemFont, 'Segoe UI', Helvetica, Arial, sans-serif; padding: 2rem">
<p style="font-size: 0.85em; color: #555">Marks: NEG negated (struck through) &middot; POSS possible &middot;
HYPO hypothetical &middot; COND conditional &middot; FAM someone other than the patient &middot; HIST historical</p>
{content}
</body>
</html>
"""


def color_of(name: str) -> str:
    return TYPE_COLORS.get(name) or _PALETTE[zlib.crc32(name.encode("utf-8")) % len(_PALETTE)]


def label_of(e: Entity) -> str:
    """The label drawn for ``e``: its type name, then its assertion mark(s)."""
    parts = [type_name(e.label)]
    mark = MARKS.get(e.attributes.get("assertion")) if e.attributes.get("assertion") else None
    if mark is None and e.attributes.get("negated") is True:
        mark = "NEG"
    if mark:
        parts.append(mark)
    if e.attributes.get("historical") is True:
        parts.append("HIST")
    return " ".join(parts)


def _shown(entities: list[Entity]) -> list[Entity]:
    """Non-overlapping entities: of overlapping ones, the longest (then the first)."""
    chosen: list[Entity] = []
    for e in sorted(entities, key=lambda e: (-(e.end - e.start), e.start)):
        if all(e.end <= c.start or c.end <= e.start for c in chosen):
            chosen.append(e)
    return sorted(chosen, key=lambda e: e.start)


def render_document(doc: Document) -> str:
    """One document as a displaCy ``ent`` figure."""
    from spacy import displacy

    ents, colors = [], {}
    for e in _shown(doc.entities):
        label = html.escape(label_of(e))
        colors[label] = color_of(type_name(e.label))
        negated = e.attributes.get("negated") is True or e.attributes.get("assertion") == "absent"
        ents.append({"start": e.start, "end": e.end, "label": label,
                     "params": {"strike": " text-decoration: line-through;" if negated else ""}})
    data = {"text": doc.text, "ents": ents, "title": html.escape(doc.id)}
    markup = displacy.render(data, style="ent", manual=True, page=False, jupyter=False,
                             options={"colors": colors, "template": _TEMPLATE})
    return f"<figure style=\"margin-bottom: 3rem\">{markup}</figure>\n"


def dumps(docs: Iterable[Document]) -> str:
    return _PAGE.format(content="".join(render_document(d) for d in docs))


def write(docs: Iterable[Document], path: PathLike) -> None:
    """Write the page atomically (the documents are rendered before anything is written)."""
    page = dumps(docs)
    atomic_write_text(path, [page])
