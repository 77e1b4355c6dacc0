"""Assertion and section context for every concept clinlm finds.

:class:`ContextAnnotator` runs medspaCy's ConText algorithm and sectionizer over clinlm's
*own* entities (never medspaCy's target matcher) and writes into each
``entity.attributes``:

* six booleans, :data:`FLAGS`: ``negated``, ``uncertain``, ``historical``,
  ``hypothetical``, ``family`` (experienced by someone other than the patient) and
  ``conditional`` (only under some condition: "dyspnea on exertion");
* ``assertion``: one label of the i2b2/n2c2 2010 vocabulary (:data:`ASSERTIONS`), derived
  from the booleans by :func:`assertion_of` (the one place its precedence is defined);
* ``section``: the category of the section the concept is in (``"family_history"``,
  ``"past_medical_history"``, ``"medications"``, ``"observation_and_plan"``, ... as named by
  the section rules), or ``None`` before the first header / in a note without headers.

How it works, per note: medspaCy's tokenizer; PyRuSH clinical sentence splitting; the
sectionizer (a header starts a line or ends with a colon, and is its own sentence, so
"Past Medical History:" never acts as the cue "history" on the text below it); then
ConText, whose modifiers reach their targets within a sentence ("denies fever but
reports cough": "but" ends the scope, so cough is present). Section context then adds the
flags of :data:`SECTION_FLAGS`: under Family History a concept is ``family``, under Past
Medical History ``historical``, under patient instructions/education ``hypothetical``.

Rules: medspaCy's ~100 English ConText rules and ~140 section rules, plus clinlm's own
(``resources/context_rules.json``, ``resources/section_rules.json``: pseudo-negations such
as "no increase", "not only"; "s/p"; "cannot exclude"; conditional cues; more headers),
plus any user file in medspaCy's JSON format (``{"context_rules": [...]}`` /
``{"section_rules": [...]}``). ``replace=True`` makes a user file replace the default
rules of its kind instead of adding to them.
"""
from __future__ import annotations

import warnings
from dataclasses import replace as _replace
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from clinlm.document import Document, Entity
from clinlm.context.attributes import context_attributes
from clinlm.context.rules import PROJECT_CONTEXT_RULES, PROJECT_SECTION_RULES, read_rules, rule_file
from clinlm.errors import ConfigError


# -- the annotator -------------------------------------------------------------------------
class ContextAnnotator:
    """Assertion flags, an i2b2 assertion label and the section of every entity of a Document.

    ``ContextAnnotator(rules=None, section_rules=None, replace=False)``: ``rules`` and
    ``section_rules`` are medspaCy JSON rule files added to the defaults (or replacing the
    defaults of their kind with ``replace=True``). The files are checked now; the spaCy
    pipeline is built on first use (importing medspaCy takes seconds) and then reused.
    ``annotator(doc)`` returns a copy of ``doc`` whose entities carry the attributes;
    other attributes an entity already has are kept.
    """

    def __init__(self, rules: str | Path | None = None, section_rules: str | Path | None = None, replace: bool = False):
        if replace and rules is None and section_rules is None:
            raise ConfigError("replace_rules needs a context rules file or a section rules file to replace the defaults with")
        self.rules_path = rule_file(rules, "context")
        self.section_rules_path = rule_file(section_rules, "section")
        self.replace = replace
        self._user_context = read_rules(self.rules_path, "context") if self.rules_path else None
        self._user_sections = read_rules(self.section_rules_path, "section") if self.section_rules_path else None
        self._nlp = None

    def __repr__(self) -> str:
        return (f"ContextAnnotator(rules={self.rules_path}, section_rules={self.section_rules_path}, "
                f"replace={self.replace})")

    @property
    def nlp(self):
        """The spaCy pipeline (medspaCy tokenizer, PyRuSH, sectionizer, ConText), built once."""
        if self._nlp is None:
            from clinlm.context.medspacy_bridge import build_pipeline

            # (rules, source) in loading order; rules None: medspaCy's defaults of that kind
            context_files: list[tuple[Sequence[dict] | None, str]] = []
            section_files: list[tuple[Sequence[dict] | None, str]] = []
            if not (self.replace and self._user_context is not None):
                context_files += [(None, "default"), (read_rules(PROJECT_CONTEXT_RULES, "context"), str(PROJECT_CONTEXT_RULES))]
            if not (self.replace and self._user_sections is not None):
                section_files += [(None, "default"), (read_rules(PROJECT_SECTION_RULES, "section"), str(PROJECT_SECTION_RULES))]
            if self._user_context is not None:
                context_files.append((self._user_context, str(self.rules_path)))
            if self._user_sections is not None:
                section_files.append((self._user_sections, str(self.section_rules_path)))
            self._nlp = build_pipeline(context_files, section_files)
        return self._nlp

    def __call__(self, doc: Document) -> Document:
        return next(self.pipe([doc]))

    def pipe(self, docs: Iterable[Document]) -> Iterator[Document]:
        """Annotate a stream of Documents (copies are returned; the inputs are not changed)."""
        for doc in docs:
            if not isinstance(doc, Document):
                raise ConfigError(f"ContextAnnotator annotates Documents, not {type(doc).__name__}")
            if not doc.entities:
                yield doc.with_entities([])
                continue
            found = self.spacy_doc(doc)
            yield doc.with_entities(
                _replace(e, attributes={**e.attributes, **attrs}) for e, attrs in zip(doc.entities, _read(found))
            )

    def spacy_doc(self, doc: Document):
        """The spaCy ``Doc`` of ``doc`` after the context pipeline (entities in span group ``clinlm``)."""
        from clinlm.context.spacy_adapter import to_spacy

        sdoc = to_spacy(doc, self.nlp, ents=False)
        with warnings.catch_warnings():
            # spaCy's W036: the sectionizer's token-pattern matcher is empty (its rules are phrases)
            warnings.filterwarnings("ignore", message=r"\[W036\]")
            for _, proc in self.nlp.pipeline:
                sdoc = proc(sdoc)
        return sdoc


def _read(sdoc) -> list[dict[str, Any]]:
    """Per entity of the Document behind ``sdoc`` (in order), its context attributes."""
    from bisect import bisect_right

    from clinlm.context.spacy_adapter import GROUP

    entities: list[Entity] = sdoc._.clinlm_entities
    n = len(sdoc)
    sections = [(sdoc[s.title_start].idx if s.title_start < n else len(sdoc.text), s.category) for s in sdoc._.sections or []]
    starts = [c for c, _ in sections]
    categories: list[set[str]] = [set() for _ in entities]
    for span in sdoc.spans[GROUP] if GROUP in sdoc.spans else []:
        i = int(span.id_)
        categories[i].update(m.category for m in span._.modifiers)
    out = []
    for e, cats in zip(entities, categories):
        k = bisect_right(starts, e.start) - 1
        section = sections[k][1] if k >= 0 else None
        out.append(context_attributes(cats, section))
    return out


_DEFAULT: ContextAnnotator | None = None


def default_annotator() -> ContextAnnotator:
    """One shared annotator with the default rules (its pipeline is built once per process)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = ContextAnnotator()
    return _DEFAULT
