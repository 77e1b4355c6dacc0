"""File helpers every format shares: strict UTF-8 with gzip, line splitting, atomic writes,
and JSON files whose errors name a line."""
from __future__ import annotations

import gzip
import json
import os
import tempfile
import zlib
from pathlib import Path
from typing import Any, Iterable

from clinlm.errors import InputError

PathLike = str | os.PathLike


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
        mode = 0o666 & ~umask()
        os.chmod(tmp, mode)
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def line_of(raw: str, key: str) -> int | None:
    """1-based line of the first occurrence of JSON string ``key`` in ``raw`` (for error messages)."""
    at = raw.find(json.dumps(key))
    return raw.count("\n", 0, at) + 1 if at >= 0 else None


def load_json(path: Path):
    raw = read_text_file(path)
    try:
        return raw, json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", str(path), exc.lineno) from None
