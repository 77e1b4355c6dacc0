"""Assertion and section context for every concept clinlm finds (see :mod:`clinlm.context.annotator`).

Inside, imports point down: ``attributes`` (the flags and the assertion label) and ``rules``
(rule files) stand alone; ``layout`` (a note's headers, sub-headers, list items, sections)
uses ``rules``; ``concepts`` (what is not a concept) uses ``layout``; ``spacy_adapter`` uses
``attributes``; ``medspacy_bridge`` uses ``rules`` and ``spacy_adapter``; ``annotator`` uses
them all.
"""
from __future__ import annotations

from clinlm.context.annotator import ContextAnnotator, default_annotator
from clinlm.context.attributes import (ASSERTION_PRECEDENCE, ASSERTIONS, CATEGORY_FLAGS, FLAGS, SECTION_FLAGS,
                                       assertion_of, context_attributes)
from clinlm.context.layout import Layout, read_layout
from clinlm.context.rules import PROJECT_CONTEXT_RULES, PROJECT_SECTION_RULES, read_rules

__all__ = [
    "ContextAnnotator", "default_annotator", "ASSERTIONS", "ASSERTION_PRECEDENCE", "CATEGORY_FLAGS", "FLAGS",
    "SECTION_FLAGS", "assertion_of", "context_attributes", "read_rules", "PROJECT_CONTEXT_RULES",
    "PROJECT_SECTION_RULES", "Layout", "read_layout",
]
