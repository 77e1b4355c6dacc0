"""BioC XML: a ``<collection>`` of ``<document>``s with passages and annotations.

Reading:

* Document text: the passages placed at their (document-level) ``<offset>`` in file
  order, a gap between them filled with spaces (so PubTator-style title at 0 and
  abstract at ``len(title) + 1`` give ``title + " " + abstract``). A passage without
  ``<text>`` is built from its sentences the same way. Overlapping passages raise.
  When a document has several passages, or one not at offset 0, or passage infons,
  ``metadata["bioc_passages"]`` keeps ``[{"offset", "length", "infons"}]`` and the writer
  writes the same passages again.
* Annotations (of passages, sentences and the document): label = the ``type`` infon,
  offsets = the ``<location>`` (document-level, as BioC defines them); the
  ``<text>``, when present, must equal the slice. Several locations raise unless
  ``discontinuous="merge"`` (covering span). The ``score`` infon -> ``entity.score``;
  other infons -> ``entity.attributes`` (strings).
* Document infons -> ``metadata`` (strings). Relations are ignored.

Writing: one passage at offset 0 holding the whole text (unless ``bioc_passages``
says otherwise), one annotation per entity. Non-string attribute/metadata values
are kept as JSON in one ``clinlm:json`` infon, so documents round-trip exactly.
"""
from __future__ import annotations

import json
import re
from typing import Any, Iterable

from clinlm.document import Document, Entity
from clinlm.errors import ConfigError, InputError
from clinlm.formats.files import PathLike, atomic_write_text, read_bytes

# Reading uses lxml (bioc's own parser) directly rather than bioc.biocxml.load, whose
# objects forget the source line that every InputError here names.

JSON_INFON = "clinlm:json"
_PASSAGES = "bioc_passages"
_XML_BAD = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _short(s: str, n: int = 60) -> str:
    return repr(s if len(s) <= n else s[:n] + "...")


def _infons(el: Any) -> dict[str, str]:
    return {str(c.get("key")): c.text or "" for c in el.iterchildren("infon")}


def _int(el: Any, tag: str, path: str) -> int:
    value = el.findtext(tag)
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"<{el.tag}> needs an integer <{tag}>, got {value!r}", path, el.sourceline) from None


def _unjson(infons: dict[str, str], out: dict[str, Any], path: str, line: int | None) -> None:
    raw = infons.pop(JSON_INFON, None)
    if raw is not None:
        try:
            extra = json.loads(raw)
        except json.JSONDecodeError as e:
            raise InputError(f"infon {JSON_INFON!r} is not valid JSON ({e.msg})", path, line) from None
        if not isinstance(extra, dict):
            raise InputError(f"infon {JSON_INFON!r} must hold a JSON object", path, line)
        out.update(extra)


def _place(parts: list[str], length: int, offset: int, text: str, el: Any, path: str) -> int:
    if offset < length:
        raise InputError(
            f"<{el.tag}> at offset {offset} overlaps the text before it (which ends at {length})",
            path,
            el.sourceline,
        )
    parts.append(" " * (offset - length) + text)
    return offset + len(text)


def _document(el: Any, path: str, discontinuous: str) -> Document:
    doc_id = (el.findtext("id") or "").strip()
    if not doc_id:
        raise InputError("<document> without an <id>", path, el.sourceline)
    parts: list[str] = []
    length = 0
    passages_meta = []
    ann_els = []
    for p in el.iterchildren("passage"):
        offset = _int(p, "offset", path)
        t = p.find("text")
        if t is not None or not list(p.iterchildren("sentence")):
            length = _place(parts, length, offset, (t.text or "") if t is not None else "", p, path)
        else:
            first = True
            for s in p.iterchildren("sentence"):
                s_off = _int(s, "offset", path)
                if first:
                    length = _place(parts, length, offset, "", p, path)
                    first = False
                length = _place(parts, length, s_off, s.findtext("text") or "", s, path)
        passages_meta.append({"offset": offset, "length": length - offset, "infons": _infons(p)})
        ann_els.extend(p.iterchildren("annotation"))
        for s in p.iterchildren("sentence"):
            ann_els.extend(s.iterchildren("annotation"))
    ann_els.extend(el.iterchildren("annotation"))
    text = "".join(parts)

    ents = []
    for a in ann_els:
        line = a.sourceline
        infons = _infons(a)
        label = infons.pop("type", None)
        if not label:
            raise InputError("<annotation> without a 'type' infon (used as its label)", path, line)
        locs = []
        for loc in a.iterchildren("location"):
            try:
                locs.append((int(loc.get("offset")), int(loc.get("length"))))
            except (TypeError, ValueError):
                raise InputError("<location> needs integer offset and length attributes", path, loc.sourceline) from None
        if not locs:
            raise InputError("<annotation> without a <location>", path, line)
        if len(locs) > 1 and discontinuous == "error":
            raise InputError(
                "annotations with several locations (discontinuous) are not supported; "
                "pass discontinuous='merge' to take the covering span",
                path,
                line,
            )
        start = min(o for o, _ in locs)
        end = max(o + n for o, n in locs)
        if not 0 <= start < end <= len(text):
            raise InputError(
                f"location {start}-{end} does not fit the text of document {doc_id} (length {len(text)})", path, line
            )
        mention = a.findtext("text")
        expected = " ".join(text[o : o + n] for o, n in sorted(locs))
        if mention is not None and mention not in (expected, text[start:end]):
            raise InputError(
                f"annotation text {_short(mention)} does not match the document at {start}-{end}, "
                f"which reads {_short(text[start:end])}",
                path,
                line,
            )
        score = None
        if "score" in infons:
            try:
                score = float(infons.pop("score"))
            except ValueError:
                raise InputError("the 'score' infon must be a number", path, line) from None
        extra: dict[str, Any] = {}
        _unjson(infons, extra, path, line)
        attrs: dict[str, Any] = {**infons, **extra}
        ents.append(Entity(start, end, label, text[start:end], score, attrs))

    meta: dict[str, Any] = _infons(el)
    _unjson(meta, meta, path, el.sourceline)
    if len(passages_meta) > 1 or (passages_meta and (passages_meta[0]["offset"] or passages_meta[0]["infons"])):
        meta[_PASSAGES] = passages_meta
    return Document(doc_id, text, ents, meta)


def parse_xml(data: bytes | str, path: str) -> Any:
    """The root element (lxml, so every element knows its ``sourceline``); no entities, no network."""
    from lxml import etree

    if isinstance(data, str):
        data = data.encode("utf-8")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    try:
        return etree.fromstring(data, parser)
    except etree.XMLSyntaxError as e:
        msg = re.sub(r", line \d+, column \d+$", "", str(e.msg))
        raise InputError(f"not well-formed XML: {msg}", path, e.lineno) from None


def loads(data: bytes | str, path: str = "<string>", *, discontinuous: str = "error") -> list[Document]:
    """Documents of a BioC XML string or bytes."""
    if discontinuous not in ("error", "merge"):
        raise ConfigError(f"discontinuous must be 'error' or 'merge', not {discontinuous!r}")
    root = parse_xml(data, path)
    if root.tag != "collection":
        raise InputError(f"expected a BioC <collection> root element, found <{root.tag}>", path, root.sourceline)
    return [_document(d, path, discontinuous) for d in root.iterchildren("document")]


def read(path: PathLike, *, discontinuous: str = "error") -> list[Document]:
    return loads(read_bytes(path), str(path), discontinuous=discontinuous)


def _xml_ok(value: str, what: str, doc_id: str) -> str:
    m = _XML_BAD.search(value)
    if m:
        raise InputError(
            f"document {doc_id}: character U+{ord(m.group()):04X} at position {m.start()} of {what} cannot be stored in XML"
        )
    return value


def _to_infons(values: dict[str, Any], reserved: set[str], doc_id: str) -> dict[str, str]:
    infons: dict[str, str] = {}
    rest: dict[str, Any] = {}
    for k, v in values.items():
        if isinstance(v, str) and k not in reserved and k != JSON_INFON:
            infons[_xml_ok(str(k), "an infon key", doc_id)] = _xml_ok(v, f"infon {k!r}", doc_id)
        else:
            rest[k] = v
    if rest:
        try:
            infons[JSON_INFON] = _xml_ok(json.dumps(rest, ensure_ascii=False, allow_nan=False), "the JSON infon", doc_id)
        except (TypeError, ValueError) as e:
            raise InputError(f"document {doc_id}: cannot store values as JSON ({e})") from None
    return infons


def _passage_plan(doc: Document) -> list[tuple[int, int, dict[str, str]]]:
    """``(offset, length, infons)`` per passage: from ``metadata["bioc_passages"]`` when it fits."""
    plan = doc.metadata.get(_PASSAGES)
    whole = [(0, len(doc.text), {})]
    if not isinstance(plan, list) or not plan:
        return whole
    out = []
    pos = 0
    for p in plan:
        try:
            o, n, inf = int(p["offset"]), int(p["length"]), dict(p.get("infons") or {})
        except (TypeError, ValueError, KeyError):
            return whole
        if o < pos or n < 0 or doc.text[pos:o].strip(" ") or o + n > len(doc.text):
            return whole
        out.append((o, n, {str(k): str(v) for k, v in inf.items()}))
        pos = o + n
    if pos != len(doc.text):
        return whole
    return out


def _collection(docs: Iterable[Document]) -> Any:
    import bioc

    coll = bioc.BioCCollection()
    coll.source, coll.date, coll.key = "clinlm", "", ""
    for doc in docs:
        _xml_ok(doc.id, "the id", doc.id)
        _xml_ok(doc.text, "the text", doc.id)
        d = bioc.BioCDocument()
        d.id = doc.id
        meta = {k: v for k, v in doc.metadata.items() if k != _PASSAGES}
        d.infons = _to_infons(meta, set(), doc.id)
        passages = []
        for o, n, inf in _passage_plan(doc):
            p = bioc.BioCPassage()
            p.offset, p.text = o, doc.text[o : o + n]
            p.infons = {_xml_ok(k, "a passage infon", doc.id): _xml_ok(v, "a passage infon", doc.id) for k, v in inf.items()}
            d.add_passage(p)
            passages.append((o, o + n, p))
        for i, e in enumerate(doc.entities, 1):
            a = bioc.BioCAnnotation()
            a.id = f"T{i}"
            a.infons = {"type": _xml_ok(e.label, "a label", doc.id)}
            if e.score is not None:
                a.infons["score"] = repr(float(e.score))
            a.infons.update(_to_infons(e.attributes, {"type", "score"}, doc.id))
            a.text = e.text
            a.add_location(bioc.BioCLocation(e.start, e.end - e.start))
            home = next((p for s, t, p in passages if s <= e.start < t), None)
            (home or d).add_annotation(a)
        coll.add_document(d)
    return coll


def dumps(docs: Iterable[Document]) -> str:
    import bioc.biocxml

    return bioc.biocxml.dumps(_collection(docs))


def write(docs: Iterable[Document], path: PathLike) -> None:
    atomic_write_text(path, iter([dumps(docs)]))
