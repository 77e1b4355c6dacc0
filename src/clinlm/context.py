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

import json
import warnings
from dataclasses import replace as _replace
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from .document import Document, Entity
from .errors import ConfigError, InputError

RESOURCES = Path(__file__).parent / "resources"
PROJECT_CONTEXT_RULES = RESOURCES / "context_rules.json"
PROJECT_SECTION_RULES = RESOURCES / "section_rules.json"

#: The boolean attributes every entity gets, in this order.
FLAGS = ("negated", "uncertain", "historical", "hypothetical", "family", "conditional")

#: ConText modifier category -> the flag it sets on the concepts in its scope.
CATEGORY_FLAGS = {
    "NEGATED_EXISTENCE": "negated",
    "POSSIBLE_EXISTENCE": "uncertain",
    "HISTORICAL": "historical",
    "HYPOTHETICAL": "hypothetical",
    "FAMILY": "family",
    "CONDITIONAL": "conditional",
}

#: Section category -> the flag every concept in such a section gets (on top of ConText's).
#: Social history is left out on purpose ("smokes 1 ppd" is current); so are allergies.
SECTION_FLAGS = {
    "family_history": "family",
    "past_medical_history": "historical",
    "patient_instructions": "hypothetical",
    "patient_education": "hypothetical",
}

#: The i2b2/n2c2 2010 assertion vocabulary.
ASSERTIONS = ("present", "absent", "possible", "conditional", "hypothetical", "associated_with_someone_else")

#: Precedence of :func:`assertion_of`: the first flag that is set decides the label.
#: Someone else's problem is theirs whatever is said about it; a hypothetical or
#: conditional mention is not an assertion of existence; uncertainty wins over negation
#: ("cannot be ruled out", "not likely" hedge rather than deny). ``historical`` does not
#: change the label: in i2b2 a past problem of the patient is ``present``.
ASSERTION_PRECEDENCE = (
    ("family", "associated_with_someone_else"),
    ("hypothetical", "hypothetical"),
    ("conditional", "conditional"),
    ("uncertain", "possible"),
    ("negated", "absent"),
)

CONTEXT_RULE_KEYS = {"literal", "category", "pattern", "direction", "metadata", "allowed_types",
                     "excluded_types", "max_targets", "max_scope"}
SECTION_RULE_KEYS = {"literal", "category", "pattern", "metadata", "parents", "parent_required", "max_scope"}
DIRECTIONS = ("FORWARD", "BACKWARD", "BIDIRECTIONAL", "TERMINATE", "PSEUDO")


def assertion_of(attributes: Mapping[str, Any]) -> str:
    """The single i2b2 assertion label of a set of flags (see :data:`ASSERTION_PRECEDENCE`)."""
    for flag, label in ASSERTION_PRECEDENCE:
        if attributes.get(flag):
            return label
    return "present"


def context_attributes(categories: Iterable[str], section: str | None) -> dict[str, Any]:
    """Entity attributes from the ConText categories that modify it and its section."""
    on = {CATEGORY_FLAGS[c.upper()] for c in categories if c.upper() in CATEGORY_FLAGS}
    if section in SECTION_FLAGS:
        on.add(SECTION_FLAGS[section])
    attrs: dict[str, Any] = {flag: flag in on for flag in FLAGS}
    attrs["assertion"] = assertion_of(attrs)
    attrs["section"] = section
    return attrs


# -- rule files ----------------------------------------------------------------------------
def read_rules(path: str | Path, kind: str) -> list[dict[str, Any]]:
    """The rules of a medspaCy rule file, checked: ``kind`` is ``context`` or ``section``.

    Raises ``InputError`` naming the file (and the rule) on anything medspaCy would reject.
    """
    from .formats import read_text_file

    key, allowed = ("context_rules", CONTEXT_RULE_KEYS) if kind == "context" else ("section_rules", SECTION_RULE_KEYS)
    where = str(path)
    try:
        data = json.loads(read_text_file(path))
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON: {e.msg} at line {e.lineno} column {e.colno}", where) from None
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise InputError(f'expected a JSON object with a "{key}" list (medspaCy\'s rule format)', where)
    rules = data[key]
    for i, rule in enumerate(rules):
        what = f"rule {i}"
        if not isinstance(rule, dict):
            raise InputError(f"{what} must be a JSON object", where)
        if isinstance(rule.get("literal"), str):
            what += f" ({rule['literal']!r})"
        unknown = sorted(set(rule) - allowed)
        if unknown:
            raise InputError(f"{what} has unknown key {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}", where)
        for field in ("literal", "category"):
            if not isinstance(rule.get(field), str) or not rule[field].strip():
                raise InputError(f"{what} needs a non-empty string {field!r}", where)
        pattern = rule.get("pattern")
        if pattern is not None and not isinstance(pattern, (str, list)):
            raise InputError(f"{what}: 'pattern' must be a list of token patterns or a regular expression string", where)
        if kind == "context":
            direction = str(rule.get("direction", "BIDIRECTIONAL")).upper()
            if direction not in DIRECTIONS:
                raise InputError(f"{what}: direction {rule.get('direction')!r} is not one of {', '.join(DIRECTIONS)}", where)
            if direction not in ("TERMINATE", "PSEUDO") and rule["category"].upper() not in CATEGORY_FLAGS:
                raise InputError(
                    f"{what}: unknown category {rule['category']!r}; use one of {', '.join(CATEGORY_FLAGS)}", where
                )
            if rule.get("allowed_types") is not None and rule.get("excluded_types") is not None:
                raise InputError(f"{what}: give allowed_types or excluded_types, not both", where)
        elif any(c.isspace() for c in rule["category"]):
            raise InputError(f"{what}: section category {rule['category']!r} must be one word (no whitespace)", where)
        for field in ("max_scope", "max_targets"):
            value = rule.get(field)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
                raise InputError(f"{what}: {field!r} must be a positive integer", where)
    return rules


def _rule_file(path: str | Path | None, kind: str) -> Path | None:
    if path is None:
        return None
    p = Path(path)
    if not p.exists():
        raise InputError(f"{kind} rules file not found", str(p))
    if p.is_dir():
        raise InputError(f"expected a {kind} rules file (JSON) but this is a directory", str(p))
    return p


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
        self.rules_path = _rule_file(rules, "context")
        self.section_rules_path = _rule_file(section_rules, "section")
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
            from ._medspacy import build_pipeline

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
        from .spacy_adapter import to_spacy

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

    from .spacy_adapter import GROUP

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
