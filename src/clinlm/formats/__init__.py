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

The file helpers live in :mod:`clinlm.formats.files` (the format modules import them from
there), the format registry in :mod:`clinlm.formats.registry`; this package re-exports both.
"""
from __future__ import annotations

from clinlm.formats import bioc_xml, brat, conll, html, jsonl, pubtator
from clinlm.formats.files import (PathLike, atomic_write_text, decode_utf8, read_bytes, read_text_file,
                                  split_lines)
from clinlm.formats.registry import FORMATS, WRITERS, guess_format, read_documents, read_gold, write_documents

__all__ = [
    "FORMATS", "WRITERS", "read_documents", "read_gold", "write_documents", "guess_format", "read_text_file", "read_bytes",
    "decode_utf8", "atomic_write_text", "split_lines", "PathLike",
    "bioc_xml", "brat", "conll", "html", "jsonl", "pubtator",
]
