"""PubTator, as in MedMentions' ``corpus_pubtator.txt.gz`` (plain or gzipped)::

    PMID|t|title
    PMID|a|abstract
    PMID<TAB>start<TAB>end<TAB>mention<TAB>types<TAB>concept
    (blank line between documents)

The document text is ``title + " " + abstract`` (just ``title`` without an ``|a|``
line) and offsets index it. ``metadata["title_length"]`` keeps the title's length so
the writer can split the text again. Per mention: ``label`` = the first of the
comma-separated types, ``attributes["types"]`` = all of them (only when more than
one), ``attributes["concept"]`` = the 6th column as written (e.g. ``UMLS:C0010674``;
absent for 5-column lines), ``attributes["pubtator_extra"]`` = any further columns. Writing, an entity
without ``concept`` but linked (``attributes["concepts"]``, :mod:`clinlm.linking`) gets its best concept's id. A mention
column with spaces at its edges that the text lacks (offsets right, as in one NCBI-disease training
line) is repaired: the entity takes the text's span and ``attributes["pubtator_mention"]`` keeps
the column as written (and the writer writes it back).
Relation lines (``PMID<TAB>type<TAB>id1<TAB>id2[<TAB>x]``) are kept as lists of
their columns after the PMID in ``metadata["pubtator_relations"]``; a 4-column line whose
2nd and 3rd columns are integers is a mention without its types and raises ``InputError``
(it would otherwise be dropped as a relation). Writing a read
file reproduces it byte for byte when its annotation lines are in (start, end,
type) order, as MedMentions' are.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from clinlm.document import Document, Entity
from clinlm.errors import InputError
from clinlm.formats.files import PathLike, atomic_write_text, read_text_file, split_lines

# Our own parser, not bioc.pubtator: that one strips lines (offsets at the edges shift),
# prints unparseable lines (note text) instead of raising, and knows no line numbers.

_HEADER = re.compile(r"([^|\t]+)\|([ta])\|(.*)\Z", re.S)
_INT = re.compile(r"[0-9]+\Z")
_EXPECTED = (
    "expected 'PMID|t|title', 'PMID|a|abstract', an annotation line "
    "'PMID<TAB>start<TAB>end<TAB>mention<TAB>types<TAB>concept', or a blank line"
)


@dataclass
class _Pending:
    pmid: str
    title: str
    lineno: int
    abstract: str | None = None
    anns: list[tuple[list[str], int]] = field(default_factory=list)
    rels: list[list[str]] = field(default_factory=list)


def _short(s: str, n: int = 60) -> str:
    return repr(s if len(s) <= n else s[:n] + "...")


def _build(p: _Pending, path: str) -> Document:
    text = p.title if p.abstract is None else p.title + " " + p.abstract
    ents: list[Entity] = []
    for fields, lineno in p.anns:
        if not (_INT.match(fields[1]) and _INT.match(fields[2])):
            raise InputError(
                f"start and end must be integers, got {fields[1]!r} and {fields[2]!r}", path, lineno
            )
        start, end = int(fields[1]), int(fields[2])
        if not start < end <= len(text):
            raise InputError(
                f"offsets {start}-{end} do not fit the text of document {p.pmid} "
                f"(length {len(text)}: title + ' ' + abstract)",
                path,
                lineno,
            )
        mention = fields[3]
        attrs: dict[str, Any] = {}
        if text[start:end] != mention and mention.strip() == text[start:end] and mention:
            # the mention column has spaces at its edges that the text lacks (NCBI-disease train,
            # PMID 10923035): the offsets are right, so keep the text's span and the column as written
            attrs["pubtator_mention"] = mention
            mention = text[start:end]
        if text[start:end] != mention:
            raise InputError(
                f"mention {_short(mention)} does not match the text at {start}-{end}, "
                f"which reads {_short(text[start:end])}",
                path,
                lineno,
            )
        types = fields[4].split(",")
        if not all(types):
            raise InputError(f"empty semantic type in {fields[4]!r}", path, lineno)
        if len(types) > 1:
            attrs["types"] = types
        if len(fields) >= 6:
            attrs["concept"] = fields[5]
        if len(fields) > 6:
            attrs["pubtator_extra"] = fields[6:]
        ents.append(Entity(start, end, types[0], mention, None, attrs))
    meta: dict[str, Any] = {"title_length": len(p.title)}
    if p.rels:
        meta["pubtator_relations"] = p.rels
    return Document(p.pmid, text, ents, meta)


def iter_loads(text: str, path: str = "<string>") -> Iterator[Document]:
    """Documents of a PubTator string, one at a time."""
    cur: _Pending | None = None
    for lineno, line in enumerate(split_lines(text), 1):
        if not line.strip():
            if cur is not None:
                yield _build(cur, path)
                cur = None
            continue
        m = _HEADER.match(line)
        if m:
            pmid, kind, body = m.groups()
            if kind == "t":
                if cur is not None:  # a missing blank line between documents is tolerated
                    yield _build(cur, path)
                cur = _Pending(pmid, body, lineno)
                continue
            if cur is None or cur.pmid != pmid:
                raise InputError(f"abstract line of PMID {pmid} without its title line before it", path, lineno)
            if cur.abstract is not None:
                raise InputError(f"second abstract line for PMID {pmid}", path, lineno)
            if cur.anns or cur.rels:
                raise InputError(f"abstract line for PMID {pmid} after its annotation lines", path, lineno)
            cur.abstract = body
            continue
        fields = line.split("\t")
        if len(fields) < 4:
            raise InputError(_EXPECTED, path, lineno)
        if cur is None:
            raise InputError("annotation line outside a document (no 'PMID|t|title' line before it)", path, lineno)
        if fields[0] != cur.pmid:
            raise InputError(
                f"annotation line for PMID {fields[0]!r} inside document {cur.pmid} (missing blank line?)",
                path,
                lineno,
            )
        offsets = _INT.match(fields[1]) and _INT.match(fields[2])
        if len(fields) == 4 and offsets:  # not a relation line: a mention whose types column is missing
            raise InputError(
                "mention line with 4 columns: expected 'PMID<TAB>start<TAB>end<TAB>mention<TAB>types"
                "[<TAB>concept]' (the semantic types column is missing)",
                path,
                lineno,
            )
        if len(fields) >= 6 or (len(fields) == 5 and offsets):
            cur.anns.append((fields, lineno))
        else:
            cur.rels.append(fields[1:])
    if cur is not None:
        yield _build(cur, path)


def loads(text: str, path: str = "<string>") -> list[Document]:
    return list(iter_loads(text, path))


def read(path: PathLike) -> list[Document]:
    return loads(read_text_file(path), str(path))


def _no(chars: str, value: str, what: str, doc_id: str) -> None:
    for i, c in enumerate(value):
        if c in chars:
            raise InputError(
                f"document {doc_id}: PubTator cannot hold {c!r} in {what} (position {i})"
            )


def dumps_document(doc: Document) -> str:
    """One document's lines, each ending in ``\\n`` (no blank line after)."""
    if not doc.id:
        raise InputError("PubTator needs a non-empty document id (PMID)")
    _no("|\t\n\r", doc.id, "a PMID", doc.id)
    text = doc.text
    _no("\n\r", text, "the text (title and abstract are single lines)", doc.id)
    tl = doc.metadata.get("title_length")
    if isinstance(tl, int) and not isinstance(tl, bool) and 0 <= tl < len(text) and text[tl] == " ":
        title, abstract = text[:tl], text[tl + 1 :]
    else:  # no (usable) title length: the whole text is the title
        title, abstract = text, None
    out = [f"{doc.id}|t|{title}\n"]
    if abstract is not None:
        out.append(f"{doc.id}|a|{abstract}\n")
    for e in doc.entities:
        _no("\t", e.text, f"a mention (entity at {e.start}-{e.end})", doc.id)
        _no("\t\n\r,", e.label, "a type label", doc.id)
        types = e.attributes.get("types")
        if isinstance(types, (list, tuple)) and len(types) > 1 and types[0] == e.label:
            type_field = ",".join(str(t) for t in types)
            _no("\t\n\r", type_field, "a type list", doc.id)
        else:
            type_field = e.label
        written = e.attributes.get("pubtator_mention")
        mention = written if isinstance(written, str) and written.strip() == e.text and not set("\t\n\r") & set(written) else e.text
        cols = [doc.id, str(e.start), str(e.end), mention, type_field]
        concepts = e.attributes.get("concepts")
        if "concept" in e.attributes:
            cols.append(str(e.attributes["concept"]))
            extra = e.attributes.get("pubtator_extra")
            if isinstance(extra, (list, tuple)):
                cols.extend(str(x) for x in extra)
        elif isinstance(concepts, list) and concepts and isinstance(concepts[0], dict):
            cols.append(str(concepts[0].get("id")))  # the linked concept
        for c in cols[5:]:
            _no("\t\n\r", c, "a concept column", doc.id)
        out.append("\t".join(cols) + "\n")
    for rel in doc.metadata.get("pubtator_relations") or []:
        cols = [doc.id] + [str(x) for x in rel]
        for c in cols:
            _no("\t\n\r", c, "a relation column", doc.id)
        out.append("\t".join(cols) + "\n")
    return "".join(out)


def _iter_chunks(docs: Iterable[Document]) -> Iterator[str]:
    for i, d in enumerate(docs):
        yield ("\n" if i else "") + dumps_document(d)


def dumps(docs: Iterable[Document]) -> str:
    """Documents separated by one blank line; the text ends in one newline."""
    return "".join(_iter_chunks(docs))


def write(docs: Iterable[Document], path: PathLike) -> None:
    atomic_write_text(path, _iter_chunks(docs))
