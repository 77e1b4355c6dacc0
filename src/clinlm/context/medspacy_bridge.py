"""The medspaCy side of :mod:`clinlm.context`, imported on first use (medspaCy takes seconds to import).

The pipeline is ``spacy.blank("en")`` with medspaCy's clinical tokenizer and three components:

* ``clinlm_pyrush``: PyRuSH clinical sentence splitting (ConText's scope is the sentence),
  with the boundaries set in linear time (PyRuSH's own spaCy component is quadratic);
* ``clinlm_sectionizer``: medspaCy's Sectionizer, where a header must start a line or end
  with a colon (so "no known allergies" mid-sentence is not the header "Allergies"), and
  is made its own sentence;
* ``clinlm_context``: medspaCy's ConText reading the span group ``clinlm``, run sentence by
  sentence. ConText compares every modifier with every other one in the document, which is
  quadratic; scopes never leave a sentence, so running it per sentence gives the same
  edges in linear time (a one-megabyte note has tens of thousands of modifiers).
"""
from __future__ import annotations

import warnings
from bisect import bisect_right
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

from clinlm.errors import InputError

# Importing medSpaCy runs ``warnings.filterwarnings("ignore")`` for the whole process; keep the user's filters.
with warnings.catch_warnings():
    import spacy
    from spacy.language import Language

    import medspacy  # noqa: F401  (registers medspaCy's factories and extensions)
    from medspacy.context import ConText, ConTextGraph, ConTextModifier, ConTextRule
    from medspacy.custom_tokenizer import create_medspacy_tokenizer
    from medspacy.section_detection import Sectionizer, SectionRule
    from medspacy.section_detection.util import is_start_line
    from PyRuSH.RuSH import RuSH

import numpy
from loguru import logger
from spacy.attrs import SENT_START

logger.disable("PyRuSH")  # PyRuSH logs every sentence boundary at DEBUG level through loguru

from clinlm.context.spacy_adapter import GROUP  # noqa: E402

RESOURCES = Path(medspacy.__file__).resolve().parents[1] / "resources" / "en"
DEFAULT_CONTEXT_RULES = RESOURCES / "context_rules.json"
DEFAULT_SECTION_RULES = RESOURCES / "section_patterns.json"
RUSH_RULES = RESOURCES / "rush_rules.tsv"


def _set_sent_starts(doc, starts) -> None:
    """Mark exactly the tokens ``starts`` (sorted token indices) as sentence starts, in linear time.

    (spaCy's ``token.is_sent_start = ...`` scans the whole Doc on every assignment, which makes
    PyRuSH's own spaCy glue and the sectionizer's header boundaries quadratic in the note length.)
    """
    arr = numpy.full((len(doc), 1), -1, dtype="int64")
    arr[list(starts), 0] = 1
    if len(doc):
        arr[0, 0] = 1
    doc.from_array([SENT_START], arr.astype("uint64"))  # spaCy's attribute arrays are uint64 (-1 wraps)


@Language.factory("clinlm_pyrush", default_config={"rules_path": None, "max_repeat": 50})
class PyRuSHSentences:
    """PyRuSH's clinical sentence boundaries (RuSH rules), set on the Doc in linear time.

    A token starts a sentence where a RuSH sentence begins; the whitespace between two
    sentences is a sentence of its own (as in PyRuSH's spaCy component).
    """

    def __init__(self, nlp, name: str, rules_path: str | None, max_repeat: int):
        self.rush = RuSH(rules=str(rules_path or RUSH_RULES), max_repeat=max_repeat, auto_fix_gaps=True)

    def __call__(self, doc):
        if not len(doc):
            return doc
        spans = self.rush.segToSentenceSpans(doc.text)
        begins = [s.begin for s in spans]
        ends = [s.end for s in spans]
        starts, prev = [], None
        for tok in doc:
            k = bisect_right(begins, tok.idx) - 1
            where = k if k >= 0 and tok.idx < ends[k] else ("gap", k)
            if where != prev:
                starts.append(tok.i)
                prev = where
        _set_sent_starts(doc, starts)
        return doc


@Language.factory("clinlm_sectionizer")
class LineSectionizer(Sectionizer):
    """medspaCy's Sectionizer where, with ``require_start_line``, a header may also end with a
    colon mid-line, and ``apply_sentence_boundary`` is done in linear time."""

    def filter_start_lines(self, doc, matches):
        return [m for m in matches if is_start_line(m[1], doc, self.newline_pattern) or doc[m[2] - 1].text.endswith(":")]

    def __call__(self, doc):
        apply, self._apply_sentence_boundary = self._apply_sentence_boundary, False
        try:
            doc = super().__call__(doc)
        finally:
            self._apply_sentence_boundary = apply
        if apply and doc.has_annotation("SENT_START"):
            starts = {t.i for t in doc if t.is_sent_start}
            for section in doc._.sections:
                if section.category is not None:
                    starts.add(section.title_start)
                    if section.title_end < len(doc):
                        starts.add(section.title_end)
            _set_sent_starts(doc, sorted(starts))
        return doc


@Language.factory("clinlm_context")
class SentenceContext(ConText):
    """medspaCy's ConText, run one sentence at a time (same edges, linear time).

    With a global ``max_scope`` (windows that may cross sentences) it falls back to
    medspaCy's own whole-document pass.
    """

    def __call__(self, doc, targets: str | None = None):
        if self.max_scope is not None:
            return super().__call__(doc, targets)
        if targets:
            spans = list(getattr(doc._, targets))
        elif self.input_span_type == "ents":
            spans = list(doc.ents)
        else:
            spans = list(doc.spans[self.span_group_name]) if self.span_group_name in doc.spans else []
        graph = ConTextGraph(targets=spans, prune_on_modifier_overlap=self.prune_on_target_overlap)
        if spans:
            matcher = self._ConText__matcher  # ConText keeps its MedspacyMatcher private
            starts = [s.start for s in doc.sents]
            targets_of: dict[int, list] = defaultdict(list)
            for span in spans:
                first = bisect_right(starts, span.start) - 1
                last = bisect_right(starts, span.end - 1) - 1
                for k in range(first, last + 1):
                    targets_of[k].append(span)
            modifiers_of: dict[int, list] = defaultdict(list)
            for match_id, start, end in matcher(doc):
                k = bisect_right(starts, start) - 1
                if k in targets_of:
                    rule = matcher.rule_map[self.nlp.vocab[match_id].text]
                    modifiers_of[k].append(ConTextModifier(rule, start, end, doc, max_scope=self.max_scope))
            for k, modifiers in modifiers_of.items():
                part = ConTextGraph(targets=targets_of[k], modifiers=modifiers,
                                    prune_on_modifier_overlap=self.prune_on_target_overlap)
                part.update_scopes()
                part.apply_modifiers()
                graph.modifiers.extend(part.modifiers)
                graph.edges.extend(part.edges)
        for target, modifier in graph.edges:
            target._.modifiers += (modifier,)
        if self.context_attributes_mapping:
            self.set_context_attributes(graph.edges)
        doc._.context_graph = graph
        return doc


def _load(rules: Sequence[dict[str, Any]] | None, default: Path, kind: str) -> Sequence[dict[str, Any]]:
    if rules is not None:
        return rules
    from clinlm.context.rules import read_rules

    return read_rules(default, kind)


def _add(component, rule_cls, files, kind: str, default: Path) -> None:
    for rules, source in files:
        where = str(default) if rules is None else source
        for i, d in enumerate(_load(rules, default, kind)):
            try:
                component.add([rule_cls.from_dict(dict(d))])
            except Exception as exc:  # noqa: BLE001  (spaCy/medspaCy raise several kinds on a bad pattern)
                msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise InputError(f"{kind} rule {i} ({d.get('literal')!r}) cannot be used: {msg}", where) from None


def build_pipeline(context_files, section_files) -> Language:
    """The spaCy pipeline for :class:`clinlm.context.ContextAnnotator`.

    ``context_files``/``section_files``: ``(rules, source)`` pairs in loading order, where
    ``rules`` ``None`` means medspaCy's default rules of that kind.
    """
    nlp = spacy.blank("en")
    nlp.max_length = 10**9  # no parser or statistical NER here: spaCy's 1M-character guard does not apply
    nlp.tokenizer = create_medspacy_tokenizer(nlp)
    nlp.add_pipe("clinlm_pyrush", config={"rules_path": str(RUSH_RULES)})
    sectionizer = nlp.add_pipe("clinlm_sectionizer", config={
        "rules": None, "require_start_line": True, "apply_sentence_boundary": True, "span_attrs": None,
        "input_span_type": "group", "span_group_name": GROUP})
    context = nlp.add_pipe("clinlm_context", config={"rules": None, "input_span_type": "group", "span_group_name": GROUP})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "Duplicate section title ...": merging is what we want
        _add(sectionizer, SectionRule, section_files, "section", DEFAULT_SECTION_RULES)
    _add(context, ConTextRule, context_files, "context", DEFAULT_CONTEXT_RULES)
    return nlp
