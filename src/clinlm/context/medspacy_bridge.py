"""The medspaCy side of :mod:`clinlm.context`, imported on first use (medspaCy takes seconds to import).

The pipeline is ``spacy.blank("en")`` with medspaCy's clinical tokenizer and three components:

* ``clinlm_pyrush``: PyRuSH clinical sentence splitting (ConText's scope is the sentence),
  with the boundaries set in linear time (PyRuSH's own spaCy component is quadratic);
* ``clinlm_layout``: more sentence starts where the note's layout (``doc._.clinlm_layout``, a
  :class:`clinlm.context.layout.Layout`) starts a block: a header, a sub-header, a list item,
  a paragraph, and the text after a header; so a cue never reaches across a line of a list
  ("- Cardiovascular: Denies chest pain" does not negate "- Psychiatric: depression") and a
  header ("Past Medical History:") is never the cue "history" for the text below it;
* ``clinlm_context``: medspaCy's ConText reading the span group ``clinlm``, run sentence by
  sentence. ConText compares every modifier with every other one in the document, which is
  quadratic; scopes never leave a sentence, so running it per sentence gives the same
  edges in linear time (a one-megabyte note has tens of thousands of modifiers).

Sections come from the layout, not from medspaCy's sectionizer (whose header rules the layout
reads: :mod:`clinlm.context.layout`).
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import types
import warnings
from bisect import bisect_left, bisect_right
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

from clinlm.errors import InputError


class _Deferred(types.ModuleType):
    """A stand-in for a module that is imported on its first attribute read (the import
    machinery reads only ``__spec__``, which a plain module object has, and ``__path__``, which
    imports the real one when a submodule is asked for)."""

    def __getattr__(self, attr: str):
        real = sys.modules.get(self.__name__)
        if real is None or real is self:
            sys.modules.pop(self.__name__, None)
            real = importlib.import_module(self.__name__)
        return getattr(real, attr)


def _defer_import(name: str) -> None:
    """Leave a module that importing medspaCy pulls in, and clinlm never uses, to load on first
    use: medspaCy imports QuickUMLS at import time, which imports NLTK (1.5-1.8 s of the CLI's
    start-up); spaCy imports langcodes (language-tag tables) and, for its download and
    validate commands, requests (together about 0.07 s on an AMD EPYC Zen 4)."""
    spec = None if name in sys.modules else importlib.util.find_spec(name)
    if spec is not None:
        stand_in = _Deferred(name)
        stand_in.__file__ = spec.origin  # inspect.getmodule reads every module's __file__
        sys.modules[name] = stand_in


for _name in ("nltk", "langcodes", "requests"):
    _defer_import(_name)
# Importing medSpaCy runs ``warnings.filterwarnings("ignore")`` for the whole process; keep the user's filters.
with warnings.catch_warnings():
    import spacy
    from spacy.language import Language

    import medspacy  # noqa: F401  (registers medspaCy's factories and extensions)
    from medspacy.context import ConText, ConTextGraph, ConTextModifier, ConTextRule
    from medspacy.custom_tokenizer import create_medspacy_tokenizer
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

for _name in ("clinlm_layout", "clinlm_cues"):  # the note's Layout; cue matches found before ConText ran
    if not spacy.tokens.Doc.has_extension(_name):
        spacy.tokens.Doc.set_extension(_name, default=None)


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
        _set_sent_starts(doc, [i for i in starts if not _after_initial(doc, i)])
        return doc


def _after_initial(doc, i: int) -> bool:
    """Whether token ``i`` goes on a name after its initial ("C. difficile", "E. coli", "S. aureus"):
    a lower-case word right after one capital letter and its stop, where RuSH ends a sentence."""
    if i < 1 or not doc[i].text[:1].islower():
        return False
    prev = doc[i - 1]
    if prev.text == "." and i >= 2:
        letter = doc[i - 2]
        return len(letter.text) == 1 and letter.text.isupper() and letter.idx + 1 == prev.idx
    return len(prev.text) == 2 and prev.text[0].isupper() and prev.text[1] == "."


@Language.factory("clinlm_layout")
class LayoutSentences:
    """A sentence starts at every break of the note's layout (``doc._.clinlm_layout``), on top of
    PyRuSH's: the first token at or after each break offset."""

    def __init__(self, nlp, name: str):
        pass

    def __call__(self, doc):
        layout = doc._.clinlm_layout
        if layout is None or not layout.breaks or not len(doc):
            return doc
        idx = [t.idx for t in doc]
        starts = {t.i for t in doc if t.is_sent_start}
        for b in layout.breaks:
            k = bisect_left(idx, b)
            if k < len(doc):
                starts.add(k)
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
            starts = [s.start for s in doc.sents]
            targets_of: dict[int, list] = defaultdict(list)
            for span in spans:
                first = bisect_right(starts, span.start) - 1
                last = bisect_right(starts, span.end - 1) - 1
                for k in range(first, last + 1):
                    targets_of[k].append(span)
            modifiers_of: dict[int, list] = defaultdict(list)
            found = doc._.clinlm_cues if doc._.clinlm_cues is not None else self.cue_matches(doc, set(targets_of))
            for k, rule, start, end in found:
                if k not in targets_of:
                    continue
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


    def cue_matches(self, doc, sentences: set[int] | None = None) -> list[tuple[int, Any, int, int]]:
        """``(sentence index, rule, start token, end token)`` of every cue in the given sentences (all by
        default), each within its sentence: a match across a sentence start (": no" after a sub-header
        "Extremities:") is matched again inside each sentence it touched, and a backward cue that
        starts with a colon and has words after it ("X-ray: No fracture") is read without the colon
        (": no" is for "Fevers: no.")."""
        matcher = self._ConText__matcher  # ConText keeps its MedspacyMatcher private
        sents = list(doc.sents)
        starts = [s.start for s in sents]
        wanted = set(range(len(sents))) if sentences is None else sentences
        matches, redo = [], set()
        for match in matcher(doc):
            k, last = bisect_right(starts, match[1]) - 1, bisect_right(starts, match[2] - 1) - 1
            if k == last:
                matches.append((k, match))
            else:
                redo.update(range(k, last + 1))
        if redo:
            matches = [(k, m) for k, m in matches if k not in redo]
            for k in sorted(redo & wanted):
                offset = sents[k].start
                matches += [(k, (mid, s + offset, e + offset)) for mid, s, e in matcher(sents[k].as_doc())]
        out = []
        for k, (match_id, start, end) in matches:
            if k not in wanted:
                continue
            rule = matcher.rule_map[self.nlp.vocab[match_id].text]
            if rule.direction.upper() == "BACKWARD" and doc[start].text == ":" and end < sents[k].end and doc[end].is_alpha:
                rest = doc[start + 1:sents[k].end].as_doc()
                out += [(k, matcher.rule_map[self.nlp.vocab[mid].text], start + 1, start + 1 + e0)
                        for mid, s0, e0 in matcher(rest) if s0 == 0]
                continue
            out.append((k, rule, start, end))
        return out


def _load(rules: Sequence[dict[str, Any]] | None, default: Path, kind: str) -> Sequence[dict[str, Any]]:
    if rules is not None:
        return rules
    from clinlm.context.rules import read_rules

    return read_rules(default, kind)


#: Categories of cues that end a negation's scope (and no other): clinlm's ``AFFIRMED`` cues
#: ("endorses", "reports", "admits to", "positive for"), PSEUDO rules that modify nothing.
NEGATION_ENDED_BY = {"AFFIRMED"}


def _add(component, rule_cls, files, kind: str, default: Path) -> None:
    for rules, source in files:
        where = str(default) if rules is None else source
        for i, d in enumerate(_load(rules, default, kind)):
            try:
                rule = rule_cls.from_dict(dict(d))
                if kind == "context" and rule.category.upper() == "NEGATED_EXISTENCE":
                    rule.terminated_by = set(rule.terminated_by) | NEGATION_ENDED_BY
                component.add([rule])
            except Exception as exc:  # noqa: BLE001  (spaCy/medspaCy raise several kinds on a bad pattern)
                msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise InputError(f"{kind} rule {i} ({d.get('literal')!r}) cannot be used: {msg}", where) from None


@spacy.registry.tokenizers("clinlm_medspacy_tokenizer")
def _medspacy_tokenizer():
    """medspaCy's clinical tokenizer as the pipeline's own (``spacy.blank("en")`` would first build
    English's default tokenizer, 0.2 s of start-up, only for medspaCy to replace it): medspaCy reads
    the language's defaults and the default tokenizer's ``token_match``, which is
    ``Defaults.token_match``."""
    def make(nlp: Language):
        stand_in = types.SimpleNamespace(Defaults=nlp.Defaults, vocab=nlp.vocab,
                                         tokenizer=types.SimpleNamespace(token_match=nlp.Defaults.token_match))
        return create_medspacy_tokenizer(stand_in)

    return make


def build_pipeline(context_files) -> Language:
    """The spaCy pipeline for :class:`clinlm.context.ContextAnnotator`.

    ``context_files``: ``(rules, source)`` pairs in loading order, where ``rules`` ``None``
    means medspaCy's default ConText rules.
    """
    nlp = spacy.blank("en", config={"nlp": {"tokenizer": {"@tokenizers": "clinlm_medspacy_tokenizer"}}})
    nlp.max_length = 10**9  # no parser or statistical NER here: spaCy's 1M-character guard does not apply
    nlp.add_pipe("clinlm_pyrush", config={"rules_path": str(RUSH_RULES)})
    nlp.add_pipe("clinlm_layout")
    context = nlp.add_pipe("clinlm_context", config={"rules": None, "input_span_type": "group", "span_group_name": GROUP})
    _add(context, ConTextRule, context_files, "context", DEFAULT_CONTEXT_RULES)
    return nlp
