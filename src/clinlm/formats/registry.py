"""Which format a path holds, and reading or writing Documents by format name."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from clinlm.document import Document
from clinlm.errors import ConfigError
from clinlm.formats import bioc_xml, brat, conll, html, jsonl, pubtator  # noqa: F401  (the submodules, for the registry)
from clinlm.formats.files import PathLike

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
