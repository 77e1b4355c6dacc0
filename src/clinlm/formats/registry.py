"""Which format a path holds, and reading or writing Documents by format name."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

from clinlm.document import Document
from clinlm.errors import ConfigError, InputError
from clinlm.formats import bioc_xml, brat, conll, html, jsonl, pubtator  # noqa: F401  (the submodules, for the registry)
from clinlm.formats.files import PathLike, read_text_file, split_lines

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
    official MedMentions file is ``corpus_pubtator.txt.gz``; :func:`read_documents` says what
    such a file looks like when it is not PubTator). A trailing ``.gz`` is ignored.
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

    ``options`` go to the format's reader (e.g. ``discontinuous="merge"`` for brat/bioc). A
    ``.txt`` guessed as PubTator that has no ``PMID|t|title`` line is an error that says what
    the file looks like instead (plain text, JSONL, CoNLL).
    """
    if format is None and _plain_txt(path) and guess_format(path) == "pubtator":
        text = read_text_file(path)
        _check_pubtator_txt(text, path)
        return pubtator.loads(text, str(path))
    return list(_module(format, path).read(path, **options))


def read_gold(path: PathLike, format: str | None = None, **options: Any) -> list[Document]:
    """Gold (or training) documents: :func:`read_documents`, and data that cannot be gold is an
    error naming the file instead of a score of 0 or a crash later: no documents at all, a brat
    ``.txt`` without its ``.ann``."""
    name = guess_format(path) if format is None else format
    if name == "brat":
        options = dict(options, require_ann=True)
    docs = read_documents(path, format, **options)
    if not docs:
        what = "folder" if Path(path).is_dir() else "file"
        raise InputError(f"no documents in this {what}; gold and training data need at least one", str(path))
    return docs


def _plain_txt(path: PathLike) -> bool:
    name = Path(path).name.lower()
    return name.endswith((".txt", ".txt.gz")) and not Path(path).is_dir()


_PUBTATOR_HEADER = re.compile(r"^[^|\t\n]+\|[ta]\|", re.M)
_CONLL_LINE = re.compile(r"\S.*[\t ](O|[BI]-\S+)\Z")


def _check_pubtator_txt(text: str, path: PathLike) -> None:
    """A ``.txt`` is read as PubTator (MedMentions' ``corpus_pubtator.txt``); say what it is when not."""
    if not text.lstrip("\ufeff").strip() or _PUBTATOR_HEADER.search(text):
        return
    lines = [ln.strip() for ln in split_lines(text) if ln.strip()][:50]
    if all(ln.startswith("{") for ln in lines):
        looks = "like JSONL (a JSON object per line): name it .jsonl"
    elif sum(bool(_CONLL_LINE.match(ln)) for ln in lines) >= 0.8 * len(lines):
        looks = "like CoNLL (a token and a BIO tag per line): name it .conll"
    else:
        stem = Path(path).name[: -len(".txt.gz")] if Path(path).name.lower().endswith(".gz") else Path(path).stem
        looks = (f"like plain text; gold data needs annotations: put a brat {stem}.ann beside it, "
                 "or use JSONL, PubTator or CoNLL (to tag plain notes, use `clinlm annotate`)")
    raise InputError(f"a .txt is read as PubTator, but this one has no 'PMID|t|title' line; it looks {looks}", str(path))


def write_documents(docs: Iterable[Document], path: PathLike, format: str | None = None) -> None:
    """Write ``docs`` to ``path`` atomically (brat: a directory of ``id.txt``/``id.ann`` pairs;
    ``format="html"``: a displaCy page)."""
    _module(format, path, WRITERS).write(docs, path)
