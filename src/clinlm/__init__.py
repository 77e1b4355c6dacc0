"""clinlm: clinical language models for structured patient information."""
from __future__ import annotations

from .document import Document, Entity, Relation
from .errors import ClinlmError
from .pipeline import NerPipeline, load
from .relation_pipeline import RelationPipeline, load_relations

__version__ = "0.1.0"

__all__ = [
    "Document", "Entity", "Relation", "ClinlmError", "NerPipeline", "RelationPipeline", "load", "load_relations",
    "__version__",
]
