"""OMOP CDM: clinlm's entities as ``NOTE_NLP`` values (the mapping lives in :mod:`clinlm.omop.mapping`)."""
from __future__ import annotations

from clinlm.omop.mapping import (NOT_EXISTING, note_nlp_values, source_concept_id, term_exists, term_modifiers,
                                 term_temporal)

__all__ = ["NOT_EXISTING", "note_nlp_values", "source_concept_id", "term_exists", "term_modifiers", "term_temporal"]
