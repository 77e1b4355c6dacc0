"""OMOP CDM: clinlm's entities as ``NOTE_NLP`` values (:mod:`clinlm.omop.mapping`, one place), and
the database job NOTE → NOTE_NLP (:mod:`clinlm.omop.job`, :mod:`clinlm.omop.schema`; SQLAlchemy,
the ``clinlm[omop]`` extra, imported only there)."""
from __future__ import annotations

from clinlm.omop.mapping import (LENGTHS, NOT_EXISTING, SECTION_LOINC, ConceptMap, Cuts, note_nlp_rows, note_nlp_values,
                                 snippet, term_exists, term_modifiers, term_temporal)

__all__ = ["LENGTHS", "NOT_EXISTING", "SECTION_LOINC", "ConceptMap", "Cuts", "note_nlp_rows", "note_nlp_values",
           "snippet", "term_exists", "term_modifiers", "term_temporal"]
