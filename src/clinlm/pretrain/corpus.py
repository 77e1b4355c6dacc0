"""The pretraining corpus: which files it is made of, what one document is, and a stream of its text.

What counts as a document (stated once, here and in the README):

- a plain text file (``.txt``, ``.text``; any other name given explicitly on the command line) is
  **one document**, blank lines and all: a note stays whole, so it lands on one side of the held-out
  split and its paragraphs are never split between training and evaluation;
- each line of a JSONL file (``.jsonl``, ``.ndjson``) is one document: the string under its text field
  (``--text-field``, default ``text``, which is where clinlm's own Document JSONL keeps the note);
- a member of an archive (``.tar``, ``.tar.gz``, ``.tgz``, ``.zip``) is read as the file it is, text or
  JSONL by its name; members of other kinds (XML, JSON, PDF ...) are skipped and counted.

``.gz`` is gunzipped on the fly. A directory contributes every such file below it, in sorted order.
Text is streamed in blocks of about a megabyte cut at whitespace, so a file larger than memory is no
problem, and no text from the corpus ever appears in an error message: errors name files and lines.
"""
from __future__ import annotations

import codecs
import gzip
import hashlib
import json
import tarfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from clinlm.errors import InputError

TEXT_SUFFIXES = (".txt", ".text")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".zip")
#: Text is handed on in blocks of about this many characters, cut at whitespace.
BLOCK_CHARS = 1 << 20


@dataclass(frozen=True)
class Source:
    """One corpus file: where it is, how it is read, and the sha256 of its bytes."""

    path: Path
    kind: str  # "text", "jsonl" or "archive"
    sha256: str


@dataclass
class Block:
    """A piece of one document's text; ``last`` closes the document."""

    doc_key: str  # hex digest that decides the document's side of the held-out split
    text: str
    last: bool


@dataclass
class ReadStats:
    """What reading found besides text: archive members of other kinds (counted, never named)."""

    skipped_members: int = 0


def _name_kind(name: str) -> str | None:
    """``archive``, ``jsonl`` or ``text`` by a file's name (``.gz`` looked through), else None."""
    low = name.lower()
    if low.endswith(ARCHIVE_SUFFIXES):
        return "archive"
    low = low.removesuffix(".gz")
    if low.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if low.endswith(TEXT_SUFFIXES):
        return "text"
    return None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except PermissionError:
        raise InputError("cannot read file: permission denied", str(path)) from None
    except OSError as e:
        raise InputError(f"cannot read file: {e.strerror or e}", str(path)) from None
    return h.hexdigest()


def find_sources(inputs: Sequence[str | Path]) -> list[Source]:
    """The corpus files behind ``inputs`` (files and directories), in a fixed order, each hashed.
    A file given by name is read even with an unknown suffix (as plain text)."""
    if not inputs:
        raise InputError("no corpus given: pass --text FILE_OR_DIR")
    sources: list[Source] = []
    for given in inputs:
        p = Path(given)
        if p.is_dir():
            found = [f for f in sorted(p.rglob("*")) if f.is_file() and _name_kind(f.name)]
            if not found:
                raise InputError("no corpus files in this directory (looked for .txt, .text, .jsonl, .ndjson, their "
                                 ".gz, .tar, .tar.gz, .tgz and .zip)", str(p))
            sources += [Source(f, _name_kind(f.name) or "text", _sha256(f)) for f in found]
        elif p.is_file():
            sources.append(Source(p, _name_kind(p.name) or "text", _sha256(p)))
        elif p.exists():
            raise InputError("not a regular file or directory", str(p))
        else:
            raise InputError("no such file or directory", str(p))
    return sources


def fingerprint(sources: Sequence[Source]) -> str:
    """sha256 over the contents of the corpus files in reading order (names do not count, so a moved
    corpus keeps its fingerprint and its token cache)."""
    h = hashlib.sha256(b"clinlm-corpus-1")
    for s in sources:
        h.update(f"\n{s.kind}:{s.sha256}".encode())
    return "sha256:" + h.hexdigest()


def heldout(doc_key: str, fraction: float) -> bool:
    """Whether a document belongs to the held-out slice: its key's first 64 bits as a number in
    [0, 1) below ``fraction``. The same document always lands on the same side, whatever the order."""
    return fraction > 0 and int(doc_key[:16], 16) / 2**64 < fraction


# -- reading ----------------------------------------------------------------------------------------
def _decoded(raw: BinaryIO, where: str) -> Iterator[str]:
    """Strict UTF-8 text of a binary stream in blocks of about :data:`BLOCK_CHARS` characters, each cut
    after whitespace so that no word is split between two blocks."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    buf, offset = "", 0
    while True:
        try:
            data = raw.read(BLOCK_CHARS)
        except (OSError, EOFError, zlib.error) as e:
            raise InputError(f"cannot read: {e}", where) from None
        try:
            text = decoder.decode(data, final=not data)
        except UnicodeDecodeError as e:
            raise InputError(f"not valid UTF-8 (byte offset {offset + e.start})", where) from None
        if offset == 0:
            text = text.removeprefix("\ufeff")
        offset += len(data)
        buf += text
        if not data:
            if buf:
                yield buf
            return
        if len(buf) >= BLOCK_CHARS:
            cut = max(buf.rfind(" "), buf.rfind("\n"), buf.rfind("\t"), buf.rfind("\r"))
            if cut < 0:  # a megabyte without whitespace: cut it anyway
                yield buf
                buf = ""
            else:
                yield buf[: cut + 1]
                buf = buf[cut + 1:]


def _maybe_gunzip(raw: BinaryIO, name: str) -> BinaryIO:
    return gzip.GzipFile(fileobj=raw, mode="rb") if name.lower().endswith(".gz") else raw


def _text_blocks(raw: BinaryIO, doc_key: str, where: str) -> Iterator[Block]:
    """A whole file as one document (blocks of whitespace alone carry no tokens and are dropped)."""
    pending: str | None = None
    for text in _decoded(raw, where):
        if not text.strip():
            continue
        if pending is not None:
            yield Block(doc_key, pending, False)
        pending = text
    if pending is not None:
        yield Block(doc_key, pending, True)


def _jsonl_blocks(raw: BinaryIO, text_field: str, where: str) -> Iterator[Block]:
    for lineno, line in enumerate(raw, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except UnicodeDecodeError:
            raise InputError("not valid UTF-8", where, lineno) from None
        except json.JSONDecodeError as e:
            raise InputError(f"invalid JSON: {e.msg} at column {e.colno}", where, lineno) from None
        if not isinstance(obj, dict):
            raise InputError(f"expected a JSON object, got {type(obj).__name__}", where, lineno)
        if text_field not in obj:
            raise InputError(f"no {text_field!r} field (choose the field with --text-field)", where, lineno)
        text = obj[text_field]
        if not isinstance(text, str):
            raise InputError(f"{text_field!r} must be a string, got {type(text).__name__}", where, lineno)
        if text.strip():
            yield Block(hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(), text, True)


def _file_blocks(raw: BinaryIO, name: str, kind: str, doc_key: str, text_field: str, where: str) -> Iterator[Block]:
    stream = _maybe_gunzip(raw, name)
    if kind == "jsonl":
        yield from _jsonl_blocks(stream, text_field, where)
    else:
        yield from _text_blocks(stream, doc_key, where)


def _member_key(source: Source, member: str) -> str:
    return hashlib.sha256(f"{source.sha256}/{member}".encode()).hexdigest()


def _archive_blocks(source: Source, text_field: str, stats: ReadStats) -> Iterator[Block]:
    path = source.path
    try:
        if path.name.lower().endswith(".zip"):
            with zipfile.ZipFile(path) as zf:
                for info in zf.infolist():
                    kind = None if info.is_dir() else _name_kind(info.filename)
                    if kind in (None, "archive"):
                        stats.skipped_members += not info.is_dir()
                        continue
                    with zf.open(info) as raw:
                        yield from _file_blocks(raw, info.filename, kind, _member_key(source, info.filename), text_field,
                                                f"{path}!{info.filename}")
        else:
            with tarfile.open(path, "r|*") as tf:
                for member in tf:
                    kind = _name_kind(member.name) if member.isfile() else None
                    if kind in (None, "archive"):
                        stats.skipped_members += member.isfile()
                        continue
                    raw = tf.extractfile(member)
                    if raw is not None:
                        yield from _file_blocks(raw, member.name, kind, _member_key(source, member.name), text_field,
                                                f"{path}!{member.name}")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as e:
        raise InputError(f"not a readable archive ({type(e).__name__})", str(path)) from None
    except OSError as e:
        raise InputError(f"cannot read archive: {e.strerror or e}", str(path)) from None


def blocks(sources: Sequence[Source], text_field: str = "text", stats: ReadStats | None = None) -> Iterator[Block]:
    """Every document of the corpus as blocks of text, in order; empty documents are left out."""
    stats = stats if stats is not None else ReadStats()
    for source in sources:
        if source.kind == "archive":
            yield from _archive_blocks(source, text_field, stats)
            continue
        try:
            raw = open(source.path, "rb")
        except OSError as e:
            raise InputError(f"cannot read file: {e.strerror or e}", str(source.path)) from None
        with raw:
            yield from _file_blocks(raw, source.path.name, source.kind, source.sha256, text_field, str(source.path))
