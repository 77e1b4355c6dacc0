"""DDI 2013 XML (DrugBank and MedLine): one Document per ``<sentence>``.

``<entity charOffset="a-b">`` has an *inclusive* end (``a-b`` is ``text[a:b+1]``); a
discontinuous ``a-b;c-d`` becomes the covering span. ``<pair ddi="true" type="effect">``
becomes a relation ``e1 -> e2``; the few ``ddi="true"`` pairs with no type (DrugBank train
files) are left out, as the official scorer has no class for them; ``ddi="false"`` pairs are the corpus's negatives, which
are exactly all other entity pairs of the sentence, so candidate generation rebuilds them.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from clinlm.document import Document, Entity, Relation
from clinlm.errors import InputError
from clinlm.formats.files import PathLike, read_bytes
from clinlm.formats.bioc_xml import parse_xml

_SPAN = re.compile(r"([0-9]+)-([0-9]+)\Z")


def _span(el: Any, path: str) -> tuple[int, int, bool]:
    frags = []
    for frag in (el.get("charOffset") or "").split(";"):
        m = _SPAN.match(frag.strip())
        if not m:
            raise InputError(f"<entity> charOffset {el.get('charOffset')!r}: expected 'start-end'", path, el.sourceline)
        frags.append((int(m.group(1)), int(m.group(2)) + 1))
    return min(s for s, _ in frags), max(e for _, e in frags), len(frags) > 1


def _sentence(el: Any, path: str) -> Document:
    text = el.get("text")
    if text is None or not el.get("id"):
        raise InputError("<sentence> needs id and text attributes", path, el.sourceline)
    ents: dict[str, Entity] = {}
    for e in el.iterchildren("entity"):
        start, end, split = _span(e, path)
        if not 0 <= start < end <= len(text):
            raise InputError(f"<entity> span {start}-{end} does not fit its sentence (length {len(text)})", path, e.sourceline)
        if not split and text[start:end] != e.get("text"):
            raise InputError(
                f"<entity> text {e.get('text')!r} does not match the sentence, which reads {text[start:end]!r}",
                path,
                e.sourceline,
            )
        ents[e.get("id")] = Entity(start, end, e.get("type") or "drug", text[start:end])
    rels = []
    for p in el.iterchildren("pair"):
        a, b = p.get("e1"), p.get("e2")
        if a not in ents or b not in ents:
            raise InputError(f"<pair> refers to an entity that this sentence does not have ({a!r}, {b!r})", path, p.sourceline)
        if p.get("ddi") == "true" and p.get("type"):
            rels.append(Relation(p.get("type"), ents[a], ents[b]))
    return Document(el.get("id"), text, list(ents.values()), {}, rels)


def loads(data: bytes | str, path: str = "<string>") -> list[Document]:
    root = parse_xml(data, path)
    if root.tag != "document":
        raise InputError(f"expected a DDI <document> root element, found <{root.tag}>", path, root.sourceline)
    return [_sentence(s, path) for s in root.iterchildren("sentence")]


def files(path: PathLike) -> list[Path]:
    """The XML files of a DDI folder (searched recursively), or the one file given."""
    p = Path(path)
    if p.is_dir():
        found = sorted(f for f in p.rglob("*.xml") if f.is_file())
        if not found:
            raise InputError("no .xml files in this directory", str(p))
        return found
    return [p]


def read(path: PathLike) -> list[Document]:
    return [d for f in files(path) for d in loads(read_bytes(f), str(f))]


def looks_like(path: PathLike) -> bool:
    """A DDI folder or file: its (first) XML file's root element is ``<document>``."""
    try:
        first = files(path)[0]
        head = read_bytes(first)[:400].decode("utf-8", "replace")
    except InputError:
        return False
    return first.suffix == ".xml" and re.search(r"<document[\s>]", head) is not None and "<collection" not in head
