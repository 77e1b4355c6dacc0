"""Readers and writers between corpus files and :class:`~clinlm.document.Document`.

Every format module (``jsonl``, ``pubtator``, ``conll``, ``brat``, ``bioc_xml``) has
``read(path, ...) -> list[Document]`` and ``write(docs, path)``; the line-based ones
also have ``loads``/``dumps`` for strings. Common rules:

* files are decoded as strict UTF-8 (:func:`read_text_file`); a name ending in
  ``.gz`` is (de)compressed transparently, for reading and writing;
* a malformed line raises :class:`~clinlm.errors.InputError` as ``path:line: message``;
* writes are atomic: the output is written to a temporary file in the same folder
  and moved over the target with ``os.replace``, so a failure never leaves a
  half-written or corrupted file behind (see :func:`atomic_write_text`).
"""
from __future__ import annotations

import gzip
import os
import tempfile
import zlib
from pathlib import Path
from typing import Any, Iterable

from ..document import Document
from ..errors import ConfigError, InputError

PathLike = str | os.PathLike

__all__ = [
    "FORMATS",
    "WRITERS",
    "read_documents",
    "write_documents",
    "guess_format",
    "read_text_file",
    "read_bytes",
    "atomic_write_text",
    "split_lines",
]


# --- low-level helpers (defined before the format modules are imported: they use them) ---


def read_bytes(path: PathLike) -> bytes:
    """The bytes of a file, gunzipped when its name ends in ``.gz``."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise InputError("file not found", str(p)) from None
    except IsADirectoryError:
        raise InputError("expected a file but this is a directory", str(p)) from None
    except OSError as e:
        raise InputError(f"cannot read file: {e.strerror or e}", str(p)) from None
    if p.name.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise InputError(f"not a valid gzip file ({e})", str(p)) from None
    return data


def decode_utf8(data: bytes, path: PathLike) -> str:
    """Decode strictly; on a bad byte raise ``InputError`` naming its line and column."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise InputError(
            f"not valid UTF-8: byte 0x{data[e.start]:02x} at column {col} (byte offset {e.start})",
            str(path),
            line,
        ) from None


def read_text_file(path: PathLike) -> str:
    """A file's text, strict UTF-8, newlines untouched (``\\r\\n`` stays), gzip handled."""
    return decode_utf8(read_bytes(path), path)


def split_lines(text: str) -> list[str]:
    """Lines of a line-based file: split on ``\\n`` only (never on U+2028 etc.), a
    trailing ``\\r`` removed (CRLF files), a leading BOM dropped. Line ``i`` of the
    file is element ``i - 1``."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def atomic_write_text(path: PathLike, chunks: Iterable[str]) -> None:
    """Write ``chunks`` as UTF-8 to ``path`` atomically (gzip when it ends in ``.gz``).

    The chunks may come from a generator that raises midway: then the temporary
    file is removed and an existing ``path`` is left untouched.
    """
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise InputError("cannot write: the folder does not exist", str(parent))
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=parent)
    try:
        with os.fdopen(fd, "wb") as raw:
            out: Any = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) if p.name.endswith(".gz") else raw
            try:
                for chunk in chunks:
                    try:
                        out.write(chunk.encode("utf-8"))
                    except UnicodeEncodeError as e:
                        raise InputError(
                            f"cannot write text with a lone surrogate (U+{ord(chunk[e.start]):04X}); it is not valid Unicode",
                            str(p),
                        ) from None
            finally:
                if out is not raw:
                    out.close()
            raw.flush()
            os.fsync(raw.fileno())
        mode = 0o666 & ~_umask()
        os.chmod(tmp, mode)
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --- the formats ---

from . import bioc_xml, brat, conll, html, jsonl, pubtator  # noqa: E402  (they import the helpers above)

#: Format name -> module with ``read(path, **options)`` and ``write(docs, path)``.
FORMATS: dict[str, Any] = {
    "jsonl": jsonl,
    "pubtator": pubtator,
    "conll": conll,
    "brat": brat,
    "bioc": bioc_xml,
}

#: Formats that can be written: all of the above, and ``html`` (a displaCy page; output only).
WRITERS: dict[str, Any] = {**FORMATS, "html": html}

_SUFFIXES = [
    (".jsonl", "jsonl"),
    (".pubtator", "pubtator"),
    (".conll", "conll"),
    (".bio", "conll"),
    (".iob", "conll"),
    (".ann", "brat"),
    (".xml", "bioc"),
]


def guess_format(path: PathLike) -> str:
    """The format a path's name (or being a directory) implies.

    A directory or ``.ann`` -> brat; ``.jsonl``; ``.pubtator``; ``.conll``/``.bio``/``.iob``;
    ``.xml`` -> bioc; ``.txt`` -> brat when a sibling ``.ann`` exists, else pubtator (the
    official MedMentions file is ``corpus_pubtator.txt.gz``). A trailing ``.gz`` is ignored.
    """
    p = Path(path)
    if p.is_dir():
        return "brat"
    name = p.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    for suffix, fmt in _SUFFIXES:
        if name.endswith(suffix):
            return fmt
    if name.endswith(".txt"):
        stem = p.name[: -len(".txt.gz")] if p.name.lower().endswith(".gz") else p.name[: -len(".txt")]
        if (p.parent / f"{stem}.ann").exists() or (p.parent / f"{stem}.ann.gz").exists():
            return "brat"
        return "pubtator"
    raise ConfigError(
        f"cannot tell the format of {str(p)!r} from its name; pass a format, one of: {', '.join(FORMATS)}"
    )


def _module(format: str | None, path: PathLike, formats: dict[str, Any] = FORMATS) -> Any:
    name = guess_format(path) if format is None else format
    if name not in formats:
        raise ConfigError(f"unknown format {name!r}; choose one of: {', '.join(formats)}")
    return formats[name]


def read_documents(path: PathLike, format: str | None = None, **options: Any) -> list[Document]:
    """Read every document of ``path``; ``format`` is guessed from the name when not given.

    ``options`` go to the format's reader (e.g. ``discontinuous="merge"`` for brat/bioc).
    """
    return list(_module(format, path).read(path, **options))


def write_documents(docs: Iterable[Document], path: PathLike, format: str | None = None) -> None:
    """Write ``docs`` to ``path`` atomically (brat: a directory of ``id.txt``/``id.ann`` pairs;
    ``format="html"``: a displaCy page)."""
    _module(format, path, WRITERS).write(docs, path)
