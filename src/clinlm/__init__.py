"""clinlm: clinical language models for structured patient information.

``import clinlm`` is light: the pipelines (torch, transformers) load on first use of
:func:`load`, :func:`load_relations` or their classes, and submodules such as ``clinlm.formats``
on first attribute access.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from clinlm.document import Document, Entity, Relation
from clinlm.errors import ClinlmError

if TYPE_CHECKING:
    from clinlm.tasks.ner.pipeline import NerPipeline, load
    from clinlm.tasks.relation.pipeline import RelationPipeline, load_relations

__version__ = "0.1.0"

_LAZY = {
    "NerPipeline": "clinlm.tasks.ner.pipeline", "load": "clinlm.tasks.ner.pipeline",
    "RelationPipeline": "clinlm.tasks.relation.pipeline", "load_relations": "clinlm.tasks.relation.pipeline",
}
_SUBMODULES = {"context", "formats", "labels", "omop", "runtime", "tasks", "data", "metrics", "manifest", "text",
               "windows", "decoding", "document", "errors", "linking"}

__all__ = [
    "Document", "Entity", "Relation", "ClinlmError", "NerPipeline", "RelationPipeline", "load", "load_relations",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"clinlm.{name}")
    raise AttributeError(f"module 'clinlm' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)
