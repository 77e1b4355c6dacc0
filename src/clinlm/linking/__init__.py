"""Concept linking: typed spans -> concepts of a vocabulary the user holds (see ARCHITECTURE.md).

``read_vocabulary`` reads MEDIC, CTD, UMLS MRCONSO(+MRSTY), RxNorm, OBO, OBO-JSON and TSV/CSV files
into a :class:`Vocabulary`; ``LinkIndex.build(vocab).save(dir)`` writes an index; ``Linker.load(dir)``
links entities (``attributes["concepts"]``). ``clinlm.load(..., linker=dir)`` runs it after NER.
Imports are light: scikit-learn loads when an index is built or searched.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clinlm.linking.index import LinkIndex
    from clinlm.linking.linker import Linker, load_linker, read_type_map
    from clinlm.linking.vocab import VOCAB_FORMATS, Concept, Vocabulary, read_vocabulary

# Loaded on first use (numpy, SciPy): ``clinlm --help`` imports this package's commands.
_LAZY = {"LinkIndex": "index", "Linker": "linker", "load_linker": "linker", "read_type_map": "linker",
         "VOCAB_FORMATS": "vocab", "Concept": "vocab", "Vocabulary": "vocab", "read_vocabulary": "vocab"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"clinlm.linking.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Concept", "Vocabulary", "read_vocabulary", "VOCAB_FORMATS", "LinkIndex", "Linker", "load_linker",
           "read_type_map"]
