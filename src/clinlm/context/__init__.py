"""Assertion and section context for every concept clinlm finds (see :mod:`clinlm.context.annotator`).

Inside, imports point down: ``attributes`` (the flags and the assertion label) and ``rules``
(rule files) stand alone; ``spacy_adapter`` uses ``attributes``; ``medspacy_bridge`` uses
``rules`` and ``spacy_adapter``; ``annotator`` uses them all; ``spacy_component`` wraps a
pipeline for spaCy users.
"""
from __future__ import annotations

from clinlm.context.annotator import ContextAnnotator, default_annotator
from clinlm.context.attributes import (ASSERTION_PRECEDENCE, ASSERTIONS, CATEGORY_FLAGS, FLAGS, SECTION_FLAGS,
                                       assertion_of, context_attributes)
from clinlm.context.rules import PROJECT_CONTEXT_RULES, PROJECT_SECTION_RULES, read_rules

__all__ = [
    "ContextAnnotator", "default_annotator", "ASSERTIONS", "ASSERTION_PRECEDENCE", "CATEGORY_FLAGS", "FLAGS",
    "SECTION_FLAGS", "assertion_of", "context_attributes", "read_rules", "PROJECT_CONTEXT_RULES",
    "PROJECT_SECTION_RULES",
]
