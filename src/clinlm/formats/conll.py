"""CoNLL / BIO: one token per line, the BIO tag in the LAST column.

Reading:

* ``-DOCSTART- (ID)`` opens a document with id ``ID``; a ``-DOCSTART-`` line without
  ``(ID)`` (e.g. CoNLL-2003's ``-DOCSTART- -X- -X- O``) gets ``<base>-<n>``: the file
  name without extensions and the document's 1-based number in the file.
* Lines before the first ``-DOCSTART-`` (all of a file without one) form one
  document with id ``<base>``, kept only when it has tokens.
* A blank line ends a sentence. Columns are split on tabs when the line has one
  (a token may then hold spaces), else on runs of whitespace.
* Tags are ``O``, ``B-TYPE`` or ``I-TYPE`` (IOB1 or IOB2). Mentions are read per
  sentence conlleval style: an ``I-X`` that does not continue an ``X`` starts one.
  :func:`to_document` with ``strict=True`` reads IOB2 strictly instead (only ``B-``
  starts a mention; an ``I-`` that does not continue its own type belongs to none).
* The text is rebuilt: tokens joined by one space, sentences by ``"\\n"``.

Writing: words from :func:`clinlm.text.words`, tags from :func:`clinlm.text.entity_tags`,
one sentence per line of the original text, ``token<TAB>TAG`` lines, a blank line after
each sentence and after ``-DOCSTART- (id)``.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from clinlm.document import Document, Entity
from clinlm.errors import InputError
from clinlm.labels import repair_bio, split_tag, tag_spans
from clinlm.text import entity_tags, words
from clinlm.formats.files import PathLike, atomic_write_text, read_text_file, split_lines

DOCSTART = "-DOCSTART-"
_TAG = re.compile(r"(O|[BI]-.+)\Z", re.S)
_DOC_ID = re.compile(r"\((.*)\)\Z", re.S)


@dataclass
class TaggedDocument:
    """A document as the file has it: tokens and tags per sentence."""

    id: str
    tokens: list[list[str]] = field(default_factory=list)
    tags: list[list[str]] = field(default_factory=list)
    line: int = 1  #: line of its ``-DOCSTART-`` (1 for an implicit first document)


def _base_name(path: str) -> str:
    name = Path(path).name
    if name.endswith(".gz"):
        name = name[:-3]
    return name.split(".")[0] or "doc"


def iter_tagged(text: str, path: str = "<string>") -> Iterator[TaggedDocument]:
    """The documents of a CoNLL string, as tokens and tags (see the module doc)."""
    base = "doc" if path == "<string>" else _base_name(path)
    cur = TaggedDocument(base)
    explicit = False
    n_docs = 0
    sent_tokens: list[str] = []
    sent_tags: list[str] = []

    def end_sentence() -> None:
        nonlocal sent_tokens, sent_tags
        if sent_tokens:
            cur.tokens.append(sent_tokens)
            cur.tags.append(sent_tags)
            sent_tokens, sent_tags = [], []

    for lineno, line in enumerate(split_lines(text), 1):
        stripped = line.strip()
        if not stripped:
            end_sentence()
            continue
        if stripped == DOCSTART or stripped.startswith((DOCSTART + " ", DOCSTART + "\t")):
            end_sentence()
            if explicit or cur.tokens:
                yield cur
            n_docs += 1
            m = _DOC_ID.match(stripped[len(DOCSTART) :].strip())
            doc_id = m.group(1) if m and m.group(1) else f"{base}-{n_docs}"
            cur = TaggedDocument(doc_id, line=lineno)
            explicit = True
            continue
        cols = line.split("\t") if "\t" in line else line.split()
        if len(cols) < 2:
            raise InputError(
                "expected a token and its BIO tag (tag in the last column, separated by a tab or spaces)",
                path,
                lineno,
            )
        token, tag = cols[0], cols[-1].strip()
        if not token.strip():
            raise InputError("empty token in the first column", path, lineno)
        if not _TAG.match(tag):
            raise InputError(f"bad tag {tag!r} in the last column: expected O, B-TYPE or I-TYPE", path, lineno)
        sent_tokens.append(token)
        sent_tags.append(tag)
    end_sentence()
    if explicit or cur.tokens:
        yield cur


def read_tagged(path: PathLike) -> list[TaggedDocument]:
    return list(iter_tagged(read_text_file(path), str(path)))


def strict_spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Mentions of an IOB2 sequence read strictly: ``B-X`` plus the ``I-X`` right after it.

    An ``I-`` tag that does not continue a mention of its own type ends any open
    mention and belongs to none (seqeval's strict mode reads IOB2 this way).
    """
    spans: list[tuple[int, int, str]] = []
    start: int | None = None
    typ: str | None = None
    for i, tag in enumerate(tags):
        prefix, t = split_tag(tag)
        if prefix == "I" and start is not None and t == typ:
            continue
        if start is not None:
            spans.append((start, i, typ))  # type: ignore[arg-type]
            start = typ = None
        if prefix == "B":
            start, typ = i, t
    if start is not None:
        spans.append((start, len(tags), typ))  # type: ignore[arg-type]
    return spans


def to_document(
    doc_id: str,
    tokens: Sequence[Sequence[str]],
    tags: Sequence[Sequence[str]],
    *,
    strict: bool = False,
    map_type: Callable[[str], str | None] | None = None,
    metadata: dict | None = None,
) -> Document:
    """A Document from per-sentence tokens and tags (text rebuilt as the module doc says).

    ``map_type`` renames each mention's type; ``None`` from it drops the mention.
    """
    parts: list[str] = []
    ents: list[Entity] = []
    pos = 0
    for s, (toks, stags) in enumerate(zip(tokens, tags)):
        if s:
            parts.append("\n")
            pos += 1
        starts, ends = [], []
        for k, tok in enumerate(toks):
            if k:
                parts.append(" ")
                pos += 1
            starts.append(pos)
            parts.append(tok)
            pos += len(tok)
            ends.append(pos)
        spans = strict_spans(stags) if strict else tag_spans(repair_bio(stags))
        for first, last, typ in spans:
            label = map_type(typ) if map_type is not None else typ
            if label is None:
                continue
            ents.append(Entity(starts[first], ends[last - 1], label, ""))
    text = "".join(parts)
    for e in ents:
        e.text = text[e.start : e.end]
    return Document(doc_id, text, ents, dict(metadata or {}))


def loads(text: str, path: str = "<string>") -> list[Document]:
    return [to_document(d.id, d.tokens, d.tags) for d in iter_tagged(text, path)]


def read(path: PathLike) -> list[Document]:
    return loads(read_text_file(path), str(path))


def sentences(doc: Document) -> list[list[tuple[str, str]]]:
    """``(word, tag)`` pairs per line of ``doc.text`` (lines without words are skipped)."""
    w = words(doc.text)
    tags = entity_tags(w, doc.entities)
    newlines = [i for i, c in enumerate(doc.text) if c == "\n"]
    out: list[list[tuple[str, str]]] = []
    last_line = -1
    for s, e, tag in zip(w.starts, w.ends, tags):
        line = bisect.bisect_left(newlines, s)
        if line != last_line:
            out.append([])
            last_line = line
        out[-1].append((doc.text[s:e], tag))
    return out


def dumps_document(doc: Document) -> str:
    if any(c in doc.id for c in "\n\r"):
        raise InputError(f"document {doc.id!r}: a CoNLL document id cannot hold a line break")
    for e in doc.entities:
        if any(c in e.label for c in "\t\n\r"):
            raise InputError(f"document {doc.id}: label {e.label!r} cannot be a CoNLL tag (tab or line break)")
    out = [f"{DOCSTART} ({doc.id})\n\n" if doc.id else f"{DOCSTART}\n\n"]
    for sent in sentences(doc):
        out.extend(f"{tok}\t{tag}\n" for tok, tag in sent)
        out.append("\n")
    return "".join(out)


def _iter_chunks(docs: Iterable[Document]) -> Iterator[str]:
    for d in docs:
        yield dumps_document(d)


def dumps(docs: Iterable[Document]) -> str:
    return "".join(_iter_chunks(docs))


def write(docs: Iterable[Document], path: PathLike) -> None:
    atomic_write_text(path, _iter_chunks(docs))


__all__ = [
    "TaggedDocument",
    "iter_tagged",
    "read_tagged",
    "strict_spans",
    "to_document",
    "sentences",
    "loads",
    "dumps",
    "read",
    "write",
]
