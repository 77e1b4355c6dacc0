"""clinlm's own JSONL: one ``Document.to_dict()`` per line, exact round trip.

Relations are ``{"label", "head", "tail"}`` with ``head``/``tail`` the indices of their
entities in the same line's ``entities`` list (plus optional ``score``, ``attributes``).

Text is stored as a JSON string, so CRLF, tabs and any Unicode survive; scores,
attributes and metadata survive as far as JSON can hold them (JSON-native values). After the
context step, ``metadata["layout"]`` holds the note's layout (sections, sub-headers, list items,
lines: character offsets; :mod:`clinlm.context.layout`).
"""
from __future__ import annotations

import json
from typing import Iterable, Iterator

from clinlm.document import Document
from clinlm.errors import InputError, OffsetError
from clinlm.formats.files import PathLike, atomic_write_text, read_text_file, split_lines

_ENTITY_KEYS = ("start", "end", "label", "text")


def dumps_document(doc: Document) -> str:
    """One line (no newline) holding ``doc``."""
    return json.dumps(doc.to_dict(), ensure_ascii=False, allow_nan=False)


def dumps(docs: Iterable[Document]) -> str:
    return "".join(dumps_document(d) + "\n" for d in docs)


def _iter_chunks(docs: Iterable[Document]) -> Iterator[str]:
    for d in docs:
        try:
            yield dumps_document(d) + "\n"
        except (TypeError, ValueError) as e:
            raise InputError(f"document {d.id}: cannot be written as JSON ({e})") from None


def write(docs: Iterable[Document], path: PathLike) -> None:
    atomic_write_text(path, _iter_chunks(docs))


def parse_line(line: str, path: str = "<string>", lineno: int | None = None) -> Document:
    """One JSONL line -> Document, or ``InputError`` at ``path:lineno``."""
    try:
        d = json.loads(line)
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON: {e.msg} at column {e.colno}", path, lineno) from None
    if not isinstance(d, dict):
        raise InputError(f"expected a JSON object (one document), got {type(d).__name__}", path, lineno)
    for key in ("id", "text"):
        if key not in d:
            raise InputError(f"document has no {key!r} key", path, lineno)
    if not isinstance(d["text"], str):
        raise InputError(f"'text' must be a string, got {type(d['text']).__name__}", path, lineno)
    ents = d.get("entities") or []
    if not isinstance(ents, list):
        raise InputError("'entities' must be a list", path, lineno)
    for i, e in enumerate(ents):
        if not isinstance(e, dict):
            raise InputError(f"entity {i} must be a JSON object", path, lineno)
        missing = [k for k in _ENTITY_KEYS if k not in e]
        if missing:
            raise InputError(f"entity {i} has no {missing[0]!r} key", path, lineno)
        for k in ("start", "end"):
            if not isinstance(e[k], int) or isinstance(e[k], bool):
                raise InputError(f"entity {i}: {k!r} must be an integer, got {e[k]!r}", path, lineno)
        if e.get("attributes") is not None and not isinstance(e["attributes"], dict):
            raise InputError(f"entity {i}: 'attributes' must be a JSON object", path, lineno)
    if d.get("metadata") is not None and not isinstance(d["metadata"], dict):
        raise InputError("'metadata' must be a JSON object", path, lineno)
    _check_relations(d.get("relations"), len(ents), path, lineno)
    try:
        return Document.from_dict(d)
    except OffsetError as e:
        raise InputError(str(e), path, lineno) from None
    except (TypeError, ValueError) as e:
        raise InputError(f"bad value: {e}", path, lineno) from None


def _check_relations(rels: object, n_entities: int, path: str, lineno: int | None) -> None:
    """Relations refer to entities by their index in this line's ``entities`` list."""
    if rels is None:
        return
    if not isinstance(rels, list):
        raise InputError("'relations' must be a list", path, lineno)
    for i, r in enumerate(rels):
        if not isinstance(r, dict):
            raise InputError(f"relation {i} must be a JSON object", path, lineno)
        for k in ("label", "head", "tail"):
            if k not in r:
                raise InputError(f"relation {i} has no {k!r} key", path, lineno)
        for k in ("head", "tail"):
            v = r[k]
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < n_entities:
                raise InputError(
                    f"relation {i}: {k!r} must be the index of one of the {n_entities} entities, got {v!r}", path, lineno
                )
        if r.get("attributes") is not None and not isinstance(r["attributes"], dict):
            raise InputError(f"relation {i}: 'attributes' must be a JSON object", path, lineno)


def loads(text: str, path: str = "<string>") -> list[Document]:
    """Documents of a JSONL string (blank lines are skipped)."""
    return [
        parse_line(line, path, i)
        for i, line in enumerate(split_lines(text), 1)
        if line.strip()
    ]


def read(path: PathLike) -> list[Document]:
    return loads(read_text_file(path), str(path))


def iter_read(path: PathLike) -> Iterator[Document]:
    """Like :func:`read`, one document at a time (the file is still read at once)."""
    text = read_text_file(path)
    for i, line in enumerate(split_lines(text), 1):
        if line.strip():
            yield parse_line(line, str(path), i)

