"""Concept linking: typed spans -> concepts of a vocabulary the user holds (see ARCHITECTURE.md).

``read_vocabulary`` reads MEDIC, CTD, UMLS MRCONSO(+MRSTY), RxNorm, OBO, OBO-JSON and TSV/CSV files
into a :class:`Vocabulary`; ``LinkIndex.build(vocab).save(dir)`` writes an index; ``Linker.load(dir)``
links entities (``attributes["concepts"]``). ``clinlm.load(..., linker=dir)`` runs it after NER.
Imports are light: scikit-learn loads when an index is built or searched.
"""
from __future__ import annotations

from clinlm.linking.index import LinkIndex
from clinlm.linking.linker import Linker, load_linker, read_type_map
from clinlm.linking.vocab import VOCAB_FORMATS, Concept, Vocabulary, read_vocabulary

__all__ = ["Concept", "Vocabulary", "read_vocabulary", "VOCAB_FORMATS", "LinkIndex", "Linker", "load_linker",
           "read_type_map"]
