"""clinlm: clinical language models for structured patient information."""
from __future__ import annotations

from clinlm.document import Document, Entity, Relation
from clinlm.errors import ClinlmError
from clinlm.tasks.ner.pipeline import NerPipeline, load
from clinlm.tasks.relation.pipeline import RelationPipeline, load_relations

__version__ = "0.1.0"

__all__ = [
    "Document", "Entity", "Relation", "ClinlmError", "NerPipeline", "RelationPipeline", "load", "load_relations",
    "__version__",
]
