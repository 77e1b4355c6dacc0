"""What every command module shares: the consoles, reading notes from paths or stdin, writing a
format to stdout, and keeping transformers quiet. Public on purpose: command modules import these."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterator, List

from rich.console import Console

from clinlm.document import Document
from clinlm.errors import InputError

out = Console()


err = Console(stderr=True)


DOC_SUFFIXES = {".jsonl", ".pubtator", ".conll", ".bio", ".iob", ".ann", ".xml", ".gz"}


def quiet_transformers() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


# -- annotate ---------------------------------------------------------------------------
def read_inputs(paths: List[str]) -> Iterator[Document]:
    """Documents from files, directories (every .txt inside) and ``-`` (stdin), lazily."""
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
            for d in read_documents(path):
                yield d.with_entities([])
        else:
            yield Document(path.stem, read_text_file(path))


def write_stdout(docs: Iterator[Document], format: str) -> None:
    if format == "brat":
        raise InputError("brat output needs --output DIR")
    from clinlm.formats import WRITERS

    sys.stdout.write(WRITERS[format].dumps(list(docs)))
