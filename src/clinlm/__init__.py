"""clinlm: clinical language models for structured patient information."""
from __future__ import annotations

from .document import Document, Entity
from .errors import ClinlmError
from .pipeline import NerPipeline, load

__version__ = "0.1.0"

__all__ = ["Document", "Entity", "ClinlmError", "NerPipeline", "load", "__version__"]
