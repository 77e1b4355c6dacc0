"""What every command module shares: the consoles, reading notes from paths or stdin, writing a
format to stdout, and keeping transformers quiet. Public on purpose: command modules import these."""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, List, Optional

from rich.console import Console
from rich.markup import escape

from clinlm.document import Document
from clinlm.errors import InputError

out = Console()


err = Console(stderr=True)


def esc(value: object) -> str:
    """``value`` as literal text in rich markup (console messages, table cells and titles): file
    names, paths, document ids, labels and entity text may hold ``[bold]`` or ``[/]``."""
    return escape(str(value))


DOC_SUFFIXES = {".jsonl", ".pubtator", ".conll", ".bio", ".iob", ".ann", ".xml", ".gz"}


def quiet_transformers() -> None:
    """transformers' warnings and progress bars off for a command. Through the environment, which
    transformers reads when it is imported: a command that never needs it (``clinlm annotate`` on
    the lean encoder) does not pay its import (about 0.6 s)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if "transformers" not in sys.modules:
        return
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def reader_options(path: Path, discontinuous: str = "error") -> dict:
    """The ``read_documents`` options a file takes: only the brat and BioC readers know ``discontinuous``."""
    from clinlm.formats import guess_format

    return {"discontinuous": discontinuous} if guess_format(path) in ("brat", "bioc") else {}


@contextmanager
def flag_hints() -> Iterator[None]:
    """Readers advise the Python keyword (``discontinuous='merge'``); on the command line it is a flag."""
    try:
        yield
    except InputError as exc:
        message = str(exc)
        if "discontinuous" not in message or "--discontinuous" in message:
            raise
        if "discontinuous='merge'" in message:
            message = message.replace("discontinuous='merge'", "--discontinuous merge")
        else:
            message += " (--discontinuous merge takes the covering span)"
        new = InputError(message)
        new.path, new.line = exc.path, exc.line
        raise new from None


def check_output(output: Optional[Path], format: str) -> None:
    """Fail before any work when ``--output`` cannot take ``format``: a file format needs a file in
    an existing folder, brat a directory (or a new name)."""
    if output is None:
        return
    if format == "brat":
        if output.exists() and not output.is_dir():
            raise InputError("brat output must be a directory, but a file is there", str(output))
    elif output.is_dir():
        raise InputError(f"--output is a directory; {format} output goes to a file (give a file name)", str(output))
    parent = output.parent if str(output.parent) else Path(".")
    if not parent.is_dir():
        raise InputError("cannot write: the folder does not exist", str(parent))
    if not os.access(parent, os.W_OK):
        raise InputError("cannot write: the folder is not writable", str(parent))


def check_format_fits(docs: Iterable[Document], format: str) -> None:
    """Fail before any work for texts ``format`` cannot hold: PubTator's title and abstract are
    single lines, so a note with a line break cannot be written (jsonl keeps every text exactly)."""
    if format != "pubtator":
        return
    from clinlm.formats import pubtator

    for doc in docs:
        first = min((i for i in (doc.text.find("\n"), doc.text.find("\r")) if i >= 0), default=-1)
        if first >= 0:
            raise InputError(f"--format pubtator cannot hold line breaks (PubTator's title and abstract are single "
                             f"lines), and document {doc.id} has one at character {first}; use --format jsonl, "
                             "which keeps the text exactly")
        pubtator.dumps_document(doc.with_entities([]))  # the id too


# -- annotate ---------------------------------------------------------------------------
def read_inputs(paths: List[str], discontinuous: str = "error") -> Iterator[Document]:
    """Documents from files, directories (every .txt inside) and ``-`` (stdin), lazily.
    ``discontinuous``: what brat/BioC files do with annotations in several pieces (see :func:`reader_options`)."""
    from clinlm.formats import decode_utf8, read_documents, read_text_file

    for p in paths:
        if p == "-":
            yield Document("stdin", decode_utf8(sys.stdin.buffer.read(), "<stdin>"))
            continue
        path = Path(p)
        if path.is_dir():
            files = sorted(f for f in path.rglob("*.txt") if f.is_file())
            if not files:
                raise InputError("no .txt files in this directory", str(path))
            for f in files:
                yield Document(str(f.relative_to(path).with_suffix("")), read_text_file(f))
        elif not path.exists():
            raise InputError("no such file or directory", str(path))
        elif path.suffix.lower() in DOC_SUFFIXES:
            with flag_hints():
                docs = read_documents(path, **reader_options(path, discontinuous))
            for d in docs:
                yield d.with_entities([])
        else:
            yield Document(path.stem, read_text_file(path))


def write_stdout(docs: Iterator[Document], format: str) -> None:
    if format == "brat":
        raise InputError("brat output needs --output DIR")
    from clinlm.formats import WRITERS

    sys.stdout.write(WRITERS[format].dumps(list(docs)))
