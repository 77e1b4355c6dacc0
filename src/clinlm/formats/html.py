"""A displaCy-style page of annotated notes (output only): ``clinlm annotate --format html -o page.html``.

Each document is one figure titled with its id; entities are coloured by type (ST21pv type
names, :func:`clinlm.labels.type_name`), and when the context attributes are there each
label carries the assertion: ``NEG`` (negated concepts are also struck through), ``POSS``,
``HYPO``, ``COND``, ``FAM`` (someone else), plus ``HIST`` for historical ones. Overlapping
entities cannot be drawn side by side: the longest of each overlapping run is shown.

When the context step has put the note's layout in ``metadata["layout"]``
(:mod:`clinlm.context.layout`), the note is drawn by it, so a reviewer sees why a concept got
its label: each section is a band with its category and header as written ("family_history
· [FAMILY HISTORY]"), headers and sub-headers ("Lungs:", "Mother:") are bold, list items are
indented with their bullet, and a sub-header's role (system, relative, field) is in its
tooltip. Without a layout the note is one band, line by line. Labels, ids, names and text
are HTML-escaped here.
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

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>clinlm</title>
</head>
<body style="font-size: 16px; font-family: -apple-system, BlinkMacSystemFont, 'Segoe UI', Helvetica, Arial, sans-serif; padding: 2rem">
<p style="font-size: 0.85em; color: #555">Marks: NEG negated (struck through) &middot; POSS possible &middot;
HYPO hypothetical &middot; COND conditional &middot; FAM someone other than the patient &middot; HIST historical.
Bands are sections (category &middot; header); headers and sub-headers are bold; list items are indented.</p>
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


_MARK = ('<mark class="entity" title="{title}" style="background: {bg}; padding: 0.25em 0.45em; margin: 0 0.15em; '
         'line-height: 2; border-radius: 0.35em;{strike}">{text}{label}</mark>')
_LABEL = ('<span style="font-size: 0.75em; font-weight: bold; line-height: 1; border-radius: 0.35em; '
          'vertical-align: middle; margin-left: 0.4rem; text-decoration: none; display: inline-block">{label}</span>')


def _band_color(name: str | None) -> str:
    return "#f7f7f7" if name is None else _PALETTE[zlib.crc32(name.encode("utf-8")) % len(_PALETTE)]


def _layout_parts(doc: Document):
    """``(bands, lines, headers, items)`` from ``metadata["layout"]`` when it fits the text, else one band."""
    n = len(doc.text)
    lay = doc.metadata.get("layout") if isinstance(doc.metadata, dict) else None
    try:
        sections = [(int(s["start"]), int(s["end"]), s.get("category"), str(s.get("name", ""))) for s in lay["sections"]]
        lines = [(int(x["start"]), int(x["end"]), str(x["kind"])) for x in lay["lines"]]
        heads = [(int(s["header"]["start"]), int(s["header"]["end"]), s.get("category") or s.get("role"))
                 for s in lay["sections"] + lay["subsections"]]
        roles = {int(s["header"]["start"]): s.get("role") for s in lay["subsections"]}
        items = [(int(x["start"]), int(x.get("marker_end") or x["start"])) for x in lay["items"]]
        if any(not 0 <= a <= b <= n for a, b, *_ in sections + lines + heads):
            raise ValueError("layout does not fit the text")
    except (TypeError, KeyError, ValueError):
        sections, heads, roles, items = [], [], {}, []
        lines, pos = [], 0
        for line in doc.text.splitlines(keepends=True):
            body = line.rstrip("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
            lines.append((pos, pos + len(body), "text" if body.strip() else "blank"))
            pos += len(line)
    bands = []
    first = sections[0][0] if sections else n
    if doc.text[:first].strip() or not sections:
        bands.append((0, first, None, ""))
    bands += sections
    return bands, lines, heads, roles, items


def _render_line(text: str, a: int, b: int, ents: list[Entity], heads, roles) -> str:
    """One line (or the part of it in a band): entity marks, bold headers."""
    cuts = {a, b}
    for e in ents:
        cuts.update(x for x in (e.start, e.end) if a < x < b)
    for h0, h1, _ in heads:
        cuts.update(x for x in (h0, h1) if a < x < b)
    points = sorted(cuts)
    out, current = [], None
    buf: list[str] = []

    def close() -> None:
        if current is None:
            out.extend(buf)
        else:
            label = html.escape(label_of(current))
            last = current.end <= b
            negated = current.attributes.get("negated") is True or current.attributes.get("assertion") == "absent"
            title = html.escape(f"{current.label} [{current.start}:{current.end}]"
                                + (f" {current.attributes.get('assertion')}, section {current.attributes.get('section')}"
                                   if current.attributes else ""))
            out.append(_MARK.format(title=title, bg=color_of(type_name(current.label)), text="".join(buf),
                                    strike=" text-decoration: line-through;" if negated else "",
                                    label=_LABEL.format(label=label) if last else ""))
        buf.clear()

    for x, y in zip(points, points[1:]):
        ent = next((e for e in ents if e.start <= x and y <= e.end), None)
        if ent is not current:
            close()
            current = ent
        piece = html.escape(text[x:y])
        head = next((h for h in heads if h[0] <= x and y <= h[1]), None)
        if head is not None:
            role = roles.get(head[0])
            piece = (f'<b title="{html.escape(str(role))}">{piece}</b>' if role else f"<b>{piece}</b>")
        buf.append(piece)
    close()
    return "".join(out)


def _near(spans: list, starts: list[int], a: int, b: int, longest: int) -> list:
    """The spans (sorted by start) that overlap ``[a, b)``: those starting in ``[a - longest, b)``."""
    from bisect import bisect_left

    return [x for x in spans[bisect_left(starts, a - longest):bisect_left(starts, b)] if x_end(x) > a]


def x_end(x) -> int:
    return x.end if isinstance(x, Entity) else x[1]


def render_document(doc: Document) -> str:
    """One document as a figure: a band per section, a line per line of the note."""
    from bisect import bisect_left

    text = doc.text
    shown = _shown(doc.entities)
    shown_starts = [e.start for e in shown]
    longest_entity = max((e.end - e.start for e in shown), default=0)
    bands, lines, heads, roles, items = _layout_parts(doc)
    heads = sorted(heads)
    head_starts = [h[0] for h in heads]
    longest_head = max((h[1] - h[0] for h in heads), default=0)
    item_starts = sorted(s for s, _ in items)
    line_starts = [ln[0] for ln in lines]
    parts = [(f'<figure style="margin-bottom: 3rem"><figcaption style="font-weight: bold; margin-bottom: 0.5rem">'
              f"{html.escape(doc.id)}</figcaption>")]
    for b0, b1, category, name in bands:
        color = _band_color(category)
        caption = (f"{html.escape(category)} &middot; {html.escape(name)}" if category else
                   (html.escape(name) if name else "no section"))
        parts.append(f'<section class="clinlm-section" data-section="{html.escape(str(category))}" '
                     f'style="border-left: 6px solid {color}; background: {color}22; margin: 0.4rem 0; '
                     f'padding: 0.3rem 0.8rem">'
                     f'<div style="font-size: 0.75em; color: #444; letter-spacing: 0.03em">{caption}</div>')
        first = max(bisect_left(line_starts, b0) - 1, 0)  # the line holding the band's start, then on
        for l0, l1, kind in lines[first:bisect_left(line_starts, b1)]:
            if kind == "blank":
                if b0 <= l0 < b1:
                    parts.append('<div class="clinlm-line blank" style="height: 0.6em"></div>')
                continue
            a, b = max(l0, b0), min(l1, b1)
            if a >= b:
                continue
            ents = _near(shown, shown_starts, a, b, longest_entity)
            k = bisect_left(item_starts, l0)
            item = kind == "item" or (k < len(item_starts) and item_starts[k] < l1)
            style = ("padding-left: 1.6em; " if item else "") + "white-space: pre-wrap; line-height: 2.1"
            line_heads = _near(heads, head_starts, a, b, longest_head)
            parts.append(f'<div class="clinlm-line {kind}" style="{style}">'
                         f"{_render_line(text, a, b, ents, line_heads, roles) or '&nbsp;'}</div>")
        parts.append("</section>")
    parts.append("</figure>\n")
    return "".join(parts)


def dumps(docs: Iterable[Document]) -> str:
    return _PAGE.format(content="".join(render_document(d) for d in docs))


def write(docs: Iterable[Document], path: PathLike) -> None:
    """Write the page atomically (the documents are rendered before anything is written)."""
    page = dumps(docs)
    atomic_write_text(path, [page])
