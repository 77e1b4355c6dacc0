"""One family of errors, with messages written for users.

The CLI catches ``ClinlmError`` and prints its message as one line with a non-zero
exit; anything else is a bug and keeps its traceback.
"""
from __future__ import annotations


class ClinlmError(Exception):
    """Base of every error clinlm raises on purpose."""


class InputError(ClinlmError):
    """Bad input data: a file, a line in it, or a text."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
        self.path = path
        self.line = line


class OffsetError(InputError):
    """Entity offsets that do not match the document text."""


class ModelError(ClinlmError):
    """A model directory or hub id that cannot be used for the task."""


class ConfigError(ClinlmError):
    """Options that do not fit together."""
