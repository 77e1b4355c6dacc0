"""File helpers every format shares: strict UTF-8 with gzip, line splitting, atomic writes,
and JSON files whose errors name a line.

Atomic writes and note text: the output is first written to a hidden temporary file beside
it, ``.<name>.clinlm-<pid>-<host>-<random>.tmp`` (mode 0600: it holds note text), then
renamed over the target. A failure or SIGTERM removes it (:func:`removed_on_sigterm`); only
SIGKILL or a crash can leave it, and the next clinlm write into the same folder on the same
machine (``<host>`` is a hash of the host name) removes it once process ``<pid>`` has ended
(:func:`remove_stale_temps`). A replaced file keeps its mode; a symbolic link at the target
is refused rather than replaced by a file (which would cut the link) or written through
(which would change a file elsewhere).
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import stat
import tempfile
import threading
import zlib
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator

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

    The chunks may come from a generator that raises midway (or SIGTERM may arrive): then
    the temporary file is removed and an existing ``path`` is left untouched. A replaced
    file keeps its mode; a new one gets ``0666 & ~umask``.
    """
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise InputError("cannot write: the folder does not exist", str(parent))
    mode = replaced_mode(p, 0o666 & ~umask())
    remove_stale_temps(parent)
    with removed_on_sigterm():
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(p.name), suffix=".tmp", dir=parent)
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
            os.chmod(tmp, mode)
            os.replace(tmp, p)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise


def replaced_mode(p: Path, default: int) -> int:
    """The permission bits ``p`` has (it is about to be replaced), or ``default`` for a new file.

    A symbolic link or a directory at ``p`` is refused: ``os.replace`` would cut the link or fail.
    """
    if p.is_symlink():
        raise InputError(
            f"will not replace a symbolic link (to {os.readlink(p)}); write to its target or remove the link",
            str(p),
        )
    if p.is_dir():
        raise InputError("cannot write a file here: a directory has this name", str(p))
    try:
        return stat.S_IMODE(p.stat().st_mode)
    except FileNotFoundError:
        return default


@lru_cache(maxsize=1)
def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


#: ``.<name>.clinlm-<pid>-<host>-<random>.tmp``, as :func:`temp_prefix` and ``mkstemp`` make them.
_TEMP = re.compile(r"\..*\.clinlm-([0-9]{1,10})-([0-9a-f]{8})-[a-z0-9_]+\.tmp\Z", re.S)


def temp_prefix(name: str) -> str:
    """Prefix of a temporary file or folder for target ``name``: it names this process, so a
    later write can tell a leftover (its process is gone) from a write in progress."""
    return f".{name}.clinlm-{os.getpid()}-{_host_tag()}-"


def _running(pid: int) -> bool:
    if os.name != "posix" or pid == os.getpid():
        return True  # no cheap liveness check elsewhere: never remove
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # alive under another user (or not a pid we can judge)
    return True


def remove_stale_temps(folder: Path) -> None:
    """Remove what a killed clinlm write (SIGKILL, a crash) left in ``folder``: temporary files
    (and brat's temporary folders) made on this machine by a process that no longer runs."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        m = _TEMP.match(entry.name)
        if m is None or m.group(2) != _host_tag() or _running(int(m.group(1))):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
        except OSError:
            pass  # gone already, or not ours to remove


@contextmanager
def removed_on_sigterm() -> Iterator[None]:
    """While the block runs, SIGTERM raises ``SystemExit(143)`` instead of killing at once, so
    the ``except``/``finally`` clauses that remove temporary files (note text) run, and the
    process still ends with 143 (128 + SIGTERM). Only in the main thread (where Python runs
    signal handlers) and only over the default action: a handler the program installed, or
    SIGTERM ignored, is left alone. The previous handler is restored afterwards."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return

    def terminate(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """A new temporary folder beside ``out`` to write a folder output into, named as
    :func:`temp_prefix` says and removed if the block fails or SIGTERM arrives; on success the
    block moves it into place (renamed, or merged file by file). Missing parent folders are made, as
    ``save_pretrained`` makes a checkpoint's (``--output idx/medic`` with no ``idx`` yet)."""
    parent = out.parent if str(out.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", str(parent)) from None
    remove_stale_temps(parent)
    with removed_on_sigterm():
        tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(out.name), suffix=".tmp", dir=parent))
        try:
            yield tmp
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
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
