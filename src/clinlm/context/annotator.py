"""Assertion and section context for every concept clinlm finds.

:class:`ContextAnnotator` reads the note's layout (:mod:`clinlm.context.layout`), runs
medspaCy's ConText algorithm over clinlm's *own* entities (never medspaCy's target matcher)
and writes into each ``entity.attributes``:

* six booleans, :data:`FLAGS`: ``negated``, ``uncertain``, ``historical``,
  ``hypothetical``, ``family`` (experienced by someone other than the patient) and
  ``conditional`` (only under some condition: "dyspnea on exertion");
* ``assertion``: one label of the i2b2/n2c2 2010 vocabulary (:data:`ASSERTIONS`), derived
  from the booleans by :func:`assertion_of` (the one place its precedence is defined);
* ``section``: the category of the section the concept is in (``"family_history"``,
  ``"past_medical_history"``, ``"medications"``, ``"observation_and_plan"``, ... as named by
  the section rules), or ``None`` before the first header / in a note without headers.

The layout itself goes into ``doc.metadata["layout"]`` (:meth:`Layout.to_dict`: sections,
subsections, list items, paragraphs, lines, all as character offsets), so writers (JSONL,
HTML) show it; it is recomputed from the text on every run.

How it works, per note: the layout (headers in capitals or not, with or without a colon,
bracketed, numbered; sub-headers of exam and review-of-systems lists; relatives' lines; list
items; paragraphs); medspaCy's tokenizer; PyRuSH clinical sentence splitting, plus a
sentence start at every break of the layout (so a cue never reaches into the next list item,
sub-header or header, and a header is never a cue for the text below it); then ConText,
whose modifiers reach their targets within a sentence ("denies fever but reports cough":
"but" ends the scope, so cough is present). Then:

* the section of a concept is the layout's section (a header to the next header);
  :data:`SECTION_FLAGS` adds a flag per section: under Family History a concept is
  ``family``, under Past Medical History ``historical``, under patient
  instructions/education ``hypothetical``; a sentence about the patient under a family header
  ("She is currently on methadone maintenance") is not ``family`` by the section
  (:func:`_patient_sentence`);
* the place of a negated finding is not negated ("No lymphadenopathy in the neck": the neck is
  present; :func:`_negated_locations`), a test's result is not its absence ("Cardiac work-up has
  been negative": present), and a condition does not reach back over a list ("pain, snapping,
  difficulty with ambulation": only the last item); the types come from ``location_types`` and
  ``test_types`` of ``resources/layout_rules.json``;
* a concept on a relative's line ("Paternal grandfather: myocardial infarction") is ``family``;
* outside a family history section a relative ("his wife", "mother") makes a concept
  ``family`` only when the sentence says the relative has it: the words after the relative
  (skipping "'s", "and father", "maternal" ...) start with "has", "had", "with", "died",
  "is", "was", ... (``possession`` in ``resources/layout_rules.json``): "Mother had breast
  cancer" is family, "his wife got him into barre classes" is not; nor is what a relative
  reports ("the mother has also reported irregular breathing") or what a later clause says
  of the patient ("the brother is sick, and the patient has had no diarrhea").

With ``clean=True`` (:meth:`ContextAnnotator.pipe`) what is not a concept is dropped first
(:mod:`clinlm.context.concepts`): words of headers and sub-headers, pieces of an entity
across a list item or header (the entity is split there), names of people, and ConText cue
words ("denies", "no", "history", "positive").

Rules: medspaCy's ~100 English ConText rules and ~140 section rules, plus clinlm's own
(``resources/context_rules.json``, ``resources/section_rules.json``: pseudo-negations such
as "no increase", "not only"; "s/p"; "cannot exclude"; conditional cues; scope ends such as
"endorses", "reports"; more headers), plus any user file in medspaCy's JSON format
(``{"context_rules": [...]}`` / ``{"section_rules": [...]}``). ``replace=True`` makes a user
file replace the default rules of its kind instead of adding to them.
"""
from __future__ import annotations

import re
import warnings
from bisect import bisect_right
from dataclasses import replace as _replace
from functools import partial
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from clinlm.context import concepts
from clinlm.context.abbreviations import Abbreviations, apply_abbreviations
from clinlm.context.attributes import context_attributes
from clinlm.context.layout import Layout, Vocabulary, load_layout_rules, read_layout
from clinlm.context.rules import (MEDSPACY_SECTION_RULES, PROJECT_CONTEXT_RULES, PROJECT_SECTION_RULES, read_rules,
                                  rule_file)
from clinlm.document import Document, Entity
from clinlm.errors import ConfigError, InputError

#: how many notes' layouts an annotator keeps (a batch of the NER pipeline reads each note's layout several times)
LAYOUTS_KEPT = 256


# -- the annotator -------------------------------------------------------------------------
class ContextAnnotator:
    """Assertion flags, an i2b2 assertion label and the section of every entity of a Document.

    ``ContextAnnotator(rules=None, section_rules=None, replace=False)``: ``rules`` and
    ``section_rules`` are medspaCy JSON rule files added to the defaults (or replacing the
    defaults of their kind with ``replace=True``). The files are checked now; the spaCy
    pipeline is built on first use (importing medspaCy takes seconds) and then reused.
    ``annotator(doc)`` returns a copy of ``doc`` whose entities carry the attributes (other
    attributes an entity already has are kept) and whose ``metadata["layout"]`` is the note's
    layout; ``annotator(doc, clean=True)`` also drops what is not a concept first.
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
        self._vocabulary: Vocabulary | None = None
        self._layouts: dict[str, Layout] = {}  # the last notes' layouts, oldest first (see :meth:`layout`)

    def __repr__(self) -> str:
        return (f"ContextAnnotator(rules={self.rules_path}, section_rules={self.section_rules_path}, "
                f"replace={self.replace})")

    @property
    def nlp(self):
        """The spaCy pipeline (medspaCy tokenizer, PyRuSH, layout sentence starts, ConText), built once."""
        if self._nlp is None:
            from clinlm.context.medspacy_bridge import build_pipeline

            # (rules, source) in loading order; rules None: medspaCy's defaults
            context_files: list[tuple[Sequence[dict] | None, str]] = []
            if not (self.replace and self._user_context is not None):
                context_files += [(None, "default"), (read_rules(PROJECT_CONTEXT_RULES, "context"), str(PROJECT_CONTEXT_RULES))]
            if self._user_context is not None:
                context_files.append((self._user_context, str(self.rules_path)))
            self._nlp = build_pipeline(context_files)
        return self._nlp

    @property
    def vocabulary(self) -> Vocabulary:
        """Header names and categories (section rules: medspaCy's, clinlm's, the user's) and the layout rules."""
        if self._vocabulary is None:
            rules: list[dict] = []
            if not (self.replace and self._user_sections is not None):
                if MEDSPACY_SECTION_RULES.is_file():
                    rules += read_rules(MEDSPACY_SECTION_RULES, "section")
                rules += read_rules(PROJECT_SECTION_RULES, "section")
            if self._user_sections is not None:
                for i, rule in enumerate(self._user_sections):
                    _check_pattern(rule, i, str(self.section_rules_path))
                rules += self._user_sections
            self._vocabulary = Vocabulary(rules, load_layout_rules())
        return self._vocabulary

    def layout(self, text: str) -> Layout:
        """The layout of ``text`` under this annotator's section rules. The last :data:`LAYOUTS_KEPT` notes'
        layouts are kept (in memory only), so that the NER pipeline's steps (block breaks, section prior)
        and this annotator read a note once, not once each."""
        found = self._layouts.get(text)
        if found is None:
            found = read_layout(text, self.vocabulary)
            if len(self._layouts) >= LAYOUTS_KEPT:
                del self._layouts[next(iter(self._layouts))]
            self._layouts[text] = found
        return found

    def __call__(self, doc: Document, *, clean: bool = False) -> Document:
        return next(self.pipe([doc], clean=clean))

    def pipe(self, docs: Iterable[Document], *, clean: bool = False,
             abbreviations: Abbreviations | None = None) -> Iterator[Document]:
        """Annotate a stream of Documents (copies are returned; the inputs are not changed).

        ``clean``: drop what is not a concept first (:mod:`clinlm.context.concepts`: words of
        headers and sub-headers, entities split at list items and headers, names of people,
        ConText cue words); without it every entity comes back with its offsets unchanged.
        ``abbreviations`` (with ``clean``, in a note with sections): type, add or drop the clinical
        abbreviations the note leaves undefined first, and its common clinical terms last
        (:mod:`clinlm.context.abbreviations`); the caller passes them only for a model whose labels have
        their types.
        """
        for doc in docs:
            if not isinstance(doc, Document):
                raise ConfigError(f"ContextAnnotator annotates Documents, not {type(doc).__name__}")
            layout = self.layout(doc.text)
            metadata = {**doc.metadata, "layout": layout.to_dict()}
            entities = list(doc.entities)
            abbreviate = terms = ()
            if abbreviations is not None and layout.sections:
                listed = partial(apply_abbreviations, abbreviations=abbreviations, found=abbreviations.find(doc.text))
                abbreviate = (partial(listed, layout=layout, kinds="abbreviations"),)
                terms = (partial(listed, layout=layout, kinds="terms"), partial(concepts.add_listed_drugs, layout=layout),
                         concepts.add_dosed_drugs)
            if clean and (entities or abbreviate):
                # abstracts space their hyphens, and their sentences are the model's own
                dashes = ((concepts.split_at_dashes, concepts.split_at_sentence_ends, concepts.split_at_coordinators,
                           concepts.join_coordinated_modifiers) if layout.sections else ())
                salts = (concepts.join_salts,) if layout.sections else ()
                for step in (*abbreviate, partial(concepts.split_at_breaks, layout=layout), *dashes,
                             concepts.split_at_causes,
                             partial(concepts.drop_section_references, references=self.vocabulary.section_references,
                                     layout=layout),
                             partial(concepts.drop_relatives, relatives=self.vocabulary.relatives),
                             concepts.trim_edge_words, partial(concepts.trim_values, numbers=bool(layout.sections)),
                             *salts, *terms):
                    entities = step(doc.text, entities)
                names = concepts.name_spans(doc.text, layout, self.vocabulary)
                entities = concepts.drop_names(doc.text, entities, names)
            if not entities:
                yield Document(doc.id, doc.text, [], metadata)
                continue
            found = self.spacy_doc(Document(doc.id, doc.text, entities, metadata), layout,
                                   before_context=self._trim_leading_cues if clean else None)
            annotated = [_replace(e, attributes={**e.attributes, **attrs})
                         for e, attrs in zip(found._.clinlm_entities, _read(found, layout, self.vocabulary))]
            if clean:
                graph = found._.context_graph
                cues, _ = concepts.cue_spans(found, ((*m.modifier_span, m.category, m.direction)
                                                     for m in (graph.modifiers if graph is not None else ())))
                annotated = [e for e in annotated if not concepts.is_cue_word(e, cues)]
                if terms:  # what ConText's cue words hid ("Negative EKG"): types only, attributes kept
                    annotated = listed(doc.text, annotated, kinds="retype")
            yield Document(doc.id, doc.text, annotated, metadata)

    def spacy_doc(self, doc: Document, layout: Layout | None = None, before_context=None):
        """The spaCy ``Doc`` of ``doc`` after the context pipeline (entities in span group ``clinlm``,
        the layout in ``doc._.clinlm_layout``); ``before_context(sdoc)`` runs just before ConText."""
        from clinlm.context.spacy_adapter import to_spacy

        nlp = self.nlp
        sdoc = to_spacy(doc, nlp, ents=False)
        sdoc._.clinlm_layout = layout if layout is not None else self.layout(doc.text)
        with warnings.catch_warnings():
            # spaCy's W036: ConText's token-pattern matcher is empty when every rule is a phrase
            warnings.filterwarnings("ignore", message=r"\[W036\]")
            for name, proc in nlp.pipeline:
                if name == "clinlm_context" and before_context is not None:
                    before_context(sdoc)
                sdoc = proc(sdoc)
        return sdoc

    def _trim_leading_cues(self, sdoc) -> None:
        """Entities that start with a cue start after it ("No fracture" -> "fracture"), so ConText, which
        runs next, lets the cue act on them; ConText's own matcher finds the cues."""
        from clinlm.context.spacy_adapter import add_spans

        matches = self.nlp.get_pipe("clinlm_context").cue_matches(sdoc)
        sdoc._.clinlm_cues = matches  # ConText reuses them (the tokens and sentences do not change)
        _, leading = concepts.cue_spans(sdoc, ((s, e, r.category, r.direction) for _, r, s, e in matches))
        entities = sdoc._.clinlm_entities
        trimmed = concepts.trim_leading_cues(sdoc.text, entities, leading)
        if trimmed != entities:
            add_spans(sdoc, trimmed, ents=False)


def _check_pattern(rule: dict, i: int, where: str) -> None:
    """A section rule's ``pattern`` string must be a regular expression (a token pattern list is
    matched by its literal: the layout reads text, not tokens)."""
    import re

    pattern = rule.get("pattern")
    if isinstance(pattern, str):
        try:
            re.compile(pattern)
        except re.error as e:
            raise InputError(f"section rule {i} ({rule.get('literal')!r}) cannot be used: {e}", where) from None


def _read(sdoc, layout: Layout, vocabulary: Vocabulary) -> list[dict[str, Any]]:
    """Per entity of the Document behind ``sdoc`` (in order), its context attributes."""
    from clinlm.context.spacy_adapter import GROUP

    entities: list[Entity] = sdoc._.clinlm_entities
    categories: list[set[str]] = [set() for _ in entities]
    sections = [layout.section_at(e.start) for e in entities]
    patients = [False] * len(entities)
    spans = sorted(sdoc.spans[GROUP] if GROUP in sdoc.spans else [], key=lambda s: (s.start, s.end))
    located = _negated_locations(spans, entities, vocabulary)
    text = sdoc.text  # once: a spaCy Doc builds its text anew on every read
    for span in spans:
        i = int(span.id_)
        section = sections[i].category if sections[i] is not None else None
        if section == "family_history":
            patients[i] = _patient_sentence(span, sections[i], vocabulary)
        if _relative_clause_before(text, span, vocabulary):
            categories[i].add("FAMILY")
        for m in span._.modifiers:
            if (m.category.upper() == "FAMILY" and (section != "family_history" or patients[i])
                    and not _relative_has(span, m, vocabulary)):
                continue
            if m.category.upper() == "NEGATED_EXISTENCE" and (
                    i in located or (entities[i].label in vocabulary.test_types
                                     and (_is_result(sdoc, m, vocabulary) or _test_found_it(text, span, m)))):
                continue
            if m.category.upper() == "CONDITIONAL" and _listed_before(span, m):
                continue
            categories[i].add(m.category)
    out = []
    starts = [ln.start for ln in layout.lines]
    led = _conditionally_led(text, layout)
    for e, cats, sec, patient in zip(entities, categories, sections, patients):
        sub = layout.subsection_at(e.start)
        flags = ("family",) if sub is not None and sub.role == "relative" and e.start >= sub.header_end else ()
        if led[bisect_right(starts, e.start) - 1]:
            flags += ("hypothetical",)
        out.append(context_attributes(cats, sec.category if sec is not None else None, flags,
                                      section_flag=not patient))
    return out


#: a line that leads into a list of what to watch for ("Call 911 or go to the emergency room if you have:")
_CONDITIONAL_LEAD = re.compile(r"\b(?:if|should|whenever|call|return|seek)\b[^\n]*:[ \t]*$", re.IGNORECASE)


def _conditionally_led(text: str, layout: Layout) -> list[bool]:
    """Per line of ``layout``, whether it is a list item whose list a conditional line leads into: "Call
    911 ... if you have:" then "- Chest pain or pressure" (the chest pain was present: each item is a
    sentence of its own, out of reach of the lead's "if"). One pass over the lines."""
    out, lead = [], False
    for ln in layout.lines:
        if ln.kind == "text":
            lead = bool(_CONDITIONAL_LEAD.search(text, ln.start, ln.end))
        elif ln.kind not in ("item", "blank"):
            lead = False
        out.append(lead and ln.kind == "item")
    return out


_PATIENT = {"patient", "pt"}
_CLAUSE = {",", ";", "and", "but", "while", "whereas", "although"}
#: words between a relative and its verb that change nothing ("the mother has also reported ...")
_ADVERBS = {"also", "just", "recently", "further", "then", "already", "previously", "first", "initially",
            "repeatedly", "since", "now", "later", "been", "being"}  # "his son has been helping him with ..."
_SUBJECTS = {"he", "she"}
#: words after "is"/"was" that say where a relative is ("his son is at the bedside"), not what the relative has
_WHERE = {"at", "here", "there", "present", "beside", "outside", "by", "accompanying", "available"}
#: words that bring a relative into a sentence besides the relatives' names of the layout rules
_FAMILY_WORDS = {"family", "familial", "relative", "relatives", "sibling", "siblings"}


#: words that put a concept where another is ("no erythema of the pharynx", "no masses in the abdomen")
_LOCATING = {"in", "of", "on", "at", "over", "to", "with", "within", "along", "around", "throughout", "involving",
             "into", "near", "across", "behind", "under", "above", "below", "beneath", "about", "from"}
#: words that may stand between the preposition and the place ("in the left", "of his")
_PLACE_FILLERS = {"the", "a", "an", "his", "her", "their", "its", "both", "either", "bilateral", "left", "right"}
_PLACE_JOINERS = {"and", "or", ",", "/", "nor"}
#: words of an exam's verb that may come before the preposition ("No lymphadenopathy was appreciated in the neck")
_SEEN = {"is", "are", "was", "were", "been", "appreciated", "noted", "seen", "found", "felt", "palpated", "palpable",
         "present", "identified", "detected", "visualized", "demonstrated", "evident", "elicited"}


def _listed_before(target, modifier) -> bool:
    """Whether a condition ("with ambulation", "on exertion") reaches back past a comma to ``target``:
    in "continued pain, snapping, malalignment, difficulty with ambulation" only the last item is
    conditional, not the items listed before it ("dyspnea on exertion" has no comma between)."""
    start, _ = modifier.modifier_span
    return target.end <= start and any(t.text in (",", ";") for t in target.doc[target.end:start])


#: a test named as where a finding was looked for ("No retinopathy on last dilated eye exam", "no fracture on CT")
_INSTRUMENT_BEFORE = re.compile(r"\b(?:on|per|by)\s+(?:(?:the|a|an|his|her|their|last|latest|recent|prior|previous|"
                                r"repeat|today's|most|initial|follow-up)\s+){0,3}$", re.IGNORECASE)


def _test_found_it(text: str, target, modifier) -> bool:
    """Whether a test comes after the finding a negation denies, as where it was looked for: "No
    retinopathy on last dilated eye exam" denies the retinopathy, not the exam (it was done)."""
    doc = target.doc
    if modifier.modifier_span[1] > target.start:
        return False
    return _INSTRUMENT_BEFORE.search(text, doc[modifier.modifier_span[1]].idx, target.start_char) is not None


def _is_result(sdoc, modifier, vocabulary: Vocabulary) -> bool:
    """Whether a negation cue is a test's result ("has been negative", "negative", "unremarkable"),
    not a list of what the patient has not had ("Negative for steroids, chemotherapy")."""
    start, end = modifier.modifier_span
    words = [t.lower_ for t in sdoc[start:end]]
    return any(w in vocabulary.result_words for w in words) and not {"for", "of", "on"} & set(words)


def _negated_locations(spans, entities: Sequence[Entity], vocabulary: Vocabulary) -> set[int]:
    """Entities of a location type (``location_types`` of the layout rules) that a negation
    reaches only as the place of a negated finding: "No lymphadenopathy in the neck" negates the
    lymphadenopathy, not the neck. A location qualifies when the entity just before it in its
    sentence is negated by the same cue and either is a finding with only a preposition between
    them (and "the", "left", ..., or an exam's verb before it: "was appreciated in"), or is itself
    such a location joined by "and"/"or"/"," ("no masses in the abdomen or pelvis")."""
    if not vocabulary.location_types:
        return set()
    out: set[int] = set()

    def cues(span) -> set[tuple[int, int]]:
        return {tuple(m.modifier_span) for m in span._.modifiers if m.category.upper() == "NEGATED_EXISTENCE"}

    for before, span in zip(spans, spans[1:]):
        i, j = int(before.id_), int(span.id_)
        if entities[j].label not in vocabulary.location_types or before.sent.start != span.sent.start:
            continue
        if not cues(before) & cues(span) or before.end > span.start:
            continue
        gap = [t.lower_ for t in span.doc[before.end:span.start] if not t.is_space]
        words = [w for w in gap if w not in _PLACE_FILLERS]
        if entities[i].label not in vocabulary.location_types:
            ok = bool(words) and words[-1] in _LOCATING and all(w in _SEEN for w in words[:-1])
        else:
            ok = i in out and len(words) == 1 and words[0] in _PLACE_JOINERS
        if ok:
            out.add(j)
    return out


def _patient_sentence(target, section, vocabulary: Vocabulary) -> bool:
    """Whether the sentence of ``target`` is about the patient although it stands under a family
    history header: it opens with "The patient"/"Pt" (not "The patient's mother"), or with "He"/"She"
    when the sentence before it in the section names no relative ("Mother had a stroke. She also
    had diabetes": the mother's). Notes often file social history under such a header ("FAM/SOCHX":
    "She is currently on methadone maintenance"), and the section alone must not make it a relative's."""
    sent = target.sent
    low = [t.lower_ for t in sent if not (t.is_punct or t.is_space)][:3]
    k = 1 + (low[:1] == ["the"])
    if low[k - 1:k] and low[k - 1] in _PATIENT:
        return low[k:k + 1] not in (["'s"], ["’s"], ["s"])
    if not (low and low[0] in _SUBJECTS):
        return False
    before = sent
    while before.start > 0:  # the sentence before, past any of spaces only
        before = target.doc[before.start - 1].sent
        if any(not (t.is_punct or t.is_space) for t in before):
            break
    if before.start == sent.start or before.end_char <= section.header_end:
        return True  # the first sentence under the header
    return not any(t.lower_ in vocabulary.relative_words or t.lower_ in _FAMILY_WORDS for t in before)


#: "her husband, who has " right before a concept (a few words between at most)
_RELATIVE_CLAUSE = re.compile(r"(\w+)\s*,\s*(?:who|that)\s+(?:has|had|have|suffers\s+from|suffered\s+from)\s+"
                              r"(?:[\w'-]+\s+){0,3}$", re.IGNORECASE)


def _relative_clause_before(text: str, target, vocabulary: Vocabulary) -> bool:
    """Whether ``target`` is what a relative's clause says the relative has: "Lives with her husband, who
    has dementia" (the dementia was the patient's: "Lives with her husband" is no family cue, and "who
    has" ends one). Not "The patient, who has diabetes, presents": the word before the comma must be a
    relative's."""
    sent = target.sent
    m = _RELATIVE_CLAUSE.search(text, max(sent.start_char, target.start_char - 80), target.start_char)
    return m is not None and m.group(1).lower() in vocabulary.relative_words


def _relative_has(target, modifier, vocabulary: Vocabulary) -> bool:
    """Whether a FAMILY cue says its relative has ``target`` (see the module doc). A cue that is
    not a relative's word ("family history", "FHx") always does."""
    doc = target.doc
    start, end = modifier.modifier_span
    words = [t.lower_ for t in doc[start:end]]
    relative_like = vocabulary.relative_words | {"family", "families", "fam", "relative", "relatives"}
    if not words or words[0] not in relative_like or any(w in ("history", "hx", "fhx") for w in words):
        return True
    skip = vocabulary.relative_skip | relative_like
    if end <= target.start:  # the relative comes first: "Mother had ...", "his wife got him into ..."
        words = [t.lower_ for t in doc[end:target.start]]
        for j, w in enumerate(words):
            if w in _PATIENT and j and (words[j - 1] in _CLAUSE or (words[j - 1] == "the" and j > 1 and words[j - 2] in _CLAUSE)):
                return False  # "the brother is sick, and the patient has had no diarrhea": the patient's clause
        patient_next = [j + 1 < len(words) and (words[j + 1] in _PATIENT or words[j + 1:j + 3] == ["the", "patient"])
                        for j in range(len(words))]
        between = [w for j, w in enumerate(words) if w not in skip and w not in _ADVERBS
                   and not (w == "of" and patient_next[j])]  # "the mother of the patient has ..."
        if not between:
            return True  # "mother's diabetes"
        if between[0] not in vocabulary.possession:
            return False  # "his wife got him into ..."
        # "her husband has noticed that she snores": the relative reports, the patient has it
        verb, after = between[0], between[1] if len(between) > 1 else None
        if verb in ("has", "had", "have", "is", "was", "are", "were") and after in vocabulary.reporting:
            return False
        # "The patient's son is at the bedside and confirmed his history": where the relative is, not what
        return not (verb in ("is", "was", "are", "were") and after in _WHERE)
    between = doc[target.end:start]  # the concept comes first: "diabetes in his mother"
    return all(t.lower_ in skip or t.lower_ in ("in", "of", "on", "a", "an") for t in between)


_DEFAULT: ContextAnnotator | None = None


def default_annotator() -> ContextAnnotator:
    """One shared annotator with the default rules (its pipeline is built once per process)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = ContextAnnotator()
    return _DEFAULT
