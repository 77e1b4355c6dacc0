"""Dataset builders: corpus files in, ready-to-train JSONL splits out."""
from __future__ import annotations

from .medmentions import build_official, build_reconstructed

__all__ = ["build_official", "build_reconstructed"]
