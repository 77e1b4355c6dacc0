"""clinlm's entities as OMOP CDM v5.4 ``NOTE_NLP`` values, defined in this one place.

* ``lexical_variant``: the entity's text (cut to 250 characters).
* ``snippet``: a window of the note around the entity, at most 250 characters, the entity in it
  (an entity longer than the column: its first 250 characters).
* ``"offset"``: the entity's start, in characters of ``note_text`` (Python string indices: code
  points); its end is ``end=`` in ``term_modifiers``.
* ``term_exists``: ``"N"`` when the concept is not asserted for the patient: negated,
  experienced by someone else (family), hypothetical or conditional; ``"Y"`` otherwise.
  Following the CDM, uncertainty alone keeps ``"Y"`` and is written to ``term_modifiers``
  (clinlm does not tell "rule out" from "possible": both are ``uncertain``).
* ``term_temporal``: ``"past"`` for a historical concept, else ``"present"``.
* ``term_modifiers``: ``negated=…,uncertain=…,hypothetical=…,conditional=…,subject=patient|family,
  section=…,score=…,end=…`` (``section`` and ``score`` only when known), cut to 2,000 characters.
* ``section_concept_id``: the section's category through :data:`SECTION_LOINC` (a LOINC
  document-section code) to the concept id of that code in the database's ``CONCEPT`` table, or
  a user's ``sections`` map; ``0`` where unknown.
* ``note_nlp_concept_id`` / ``note_nlp_source_concept_id``: from a user's concept map (see
  :class:`ConceptMap`), keyed by the entity's linked id or its label; ``0`` where unknown.

Text longer than its column is cut, never rejected; :class:`Cuts` counts the cuts per column.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Mapping

from clinlm.context.attributes import assertion_of
from clinlm.document import Entity
from clinlm.errors import InputError

#: Assertion labels for which the concept is not said to exist in the patient.
NOT_EXISTING = {"absent", "associated_with_someone_else", "hypothetical", "conditional"}

#: Character lengths of NOTE_NLP's text columns (OMOP CDM v5.4).
LENGTHS = {"snippet": 250, "offset": 50, "lexical_variant": 250, "nlp_system": 250, "term_exists": 1,
           "term_temporal": 50, "term_modifiers": 2000}

#: Section category (clinlm's section rules) -> LOINC document-section code. The OMOP concept id
#: of a code is looked up in the ``CONCEPT`` table (``vocabulary_id = 'LOINC'``) when the database
#: has one; a user's concept map (``"sections"``) overrides it.
SECTION_LOINC = {
    "chief_complaint": "10154-3",             # Chief complaint Narrative - Reported
    "history_of_present_illness": "10164-2",  # History of Present illness Narrative
    "past_medical_history": "11348-0",        # History of Past illness Narrative
    "family_history": "10157-6",              # History of family member diseases Narrative
    "social_history": "29762-2",              # Social history Narrative
    "family_and_social_history": "10157-6",   # (its family part)
    "medications": "10160-0",                 # History of Medication use Narrative
    "allergy": "48765-2",                     # Allergies and adverse reactions Document
    "review_of_systems": "10187-3",           # Review of systems Narrative - Reported
    "physical_exam": "29545-1",               # Physical findings Narrative
    "labs_and_studies": "30954-2",            # Relevant diagnostic tests/laboratory data Narrative
    "imaging": "18782-3",                     # Radiology Study observation (narrative)
    "procedures": "47519-4",                  # History of Procedures Document
    "immunizations": "11369-6",               # History of Immunization Narrative
    "hospital_course": "8648-8",              # Hospital course Narrative
    "diagnoses": "29548-5",                   # Diagnosis Narrative
    "observation_and_plan": "51847-2",        # Evaluation + Plan note (assessment and plan)
    "patient_instructions": "69730-0",        # Instructions
}

SNIPPET = LENGTHS["snippet"]


class Cuts(Counter):
    """How many values were cut to fit each column (``cuts["snippet"]``)."""

    def fit(self, column: str, value: str) -> str:
        limit = LENGTHS[column]
        if len(value) > limit:
            self[column] += 1
            return value[:limit]
        return value


def term_exists(attributes: Mapping[str, Any]) -> str:
    label = attributes.get("assertion") or assertion_of(attributes)
    return "N" if label in NOT_EXISTING else "Y"


def term_temporal(attributes: Mapping[str, Any]) -> str:
    return "past" if attributes.get("historical") else "present"


def _bool(value: Any) -> str:
    return "true" if value is True else "false"


def term_modifiers(attributes: Mapping[str, Any], score: float | None = None, end: int | None = None) -> str:
    """``negated=…,uncertain=…,hypothetical=…,conditional=…,subject=…[,section=…][,score=…][,end=…]``."""
    parts = [f"{flag}={_bool(attributes.get(flag))}" for flag in ("negated", "uncertain", "hypothetical", "conditional")]
    parts.append("subject=" + ("family" if attributes.get("family") is True else "patient"))
    if attributes.get("section"):
        parts.append(f"section={attributes['section']}")
    if score is not None:
        parts.append(f"score={score:.3f}")
    if end is not None:
        parts.append(f"end={end}")
    return ",".join(parts)


def snippet(text: str, start: int, end: int, width: int = SNIPPET) -> str:
    """At most ``width`` characters of ``text`` around ``[start, end)``, the entity in the middle
    (shifted to fit at the note's edges); an entity longer than ``width``: its first ``width``."""
    if end - start >= width:
        return text[start:start + width]
    room = width - (end - start)
    a = max(0, start - room // 2)
    b = min(len(text), end + (room - (start - a)))
    a = max(0, min(a, b - width))
    return text[a:b]


def note_nlp_values(entity: Entity) -> dict[str, Any]:
    """The ``NOTE_NLP`` columns that follow from one entity alone (no cutting, no concept ids)."""
    a = entity.attributes
    return {
        "lexical_variant": entity.text,
        "offset": str(entity.start),
        "term_exists": term_exists(a),
        "term_temporal": term_temporal(a),
        "term_modifiers": term_modifiers(a, entity.score, entity.end),
    }


class ConceptMap:
    """Entity → OMOP concept ids, and section → ``section_concept_id``.

    A JSON file ``{"concepts": {KEY: concept_id}, "source_concepts": {KEY: concept_id},
    "sections": {category: concept_id}}`` (every part optional). ``KEY`` is an entity's linked id
    (``attributes["concept_id"]`` or ``attributes["cui"]``, e.g. ``C0011849``) or its label
    (``T047``); the linked id is tried first. ``section_codes``: section category → concept id
    found in the database's ``CONCEPT`` table for :data:`SECTION_LOINC` (the file's ``sections``
    win). Unknown keys give ``0``, the CDM's "no matching concept".
    """

    def __init__(self, concepts: Mapping[str, int] | None = None, source_concepts: Mapping[str, int] | None = None,
                 sections: Mapping[str, int] | None = None):
        self.concepts = dict(concepts or {})
        self.source_concepts = dict(source_concepts or {})
        self.sections = dict(sections or {})

    @classmethod
    def read(cls, path: str | Path | None) -> "ConceptMap":
        if path is None:
            return cls()
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError("no such file", str(p)) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"not a JSON concept map: {exc}", str(p)) from None
        if not isinstance(data, dict) or set(data) - {"concepts", "source_concepts", "sections"}:
            raise InputError('a concept map is {"concepts": {...}, "source_concepts": {...}, "sections": {...}}', str(p))
        parts = {}
        for key in ("concepts", "source_concepts", "sections"):
            part = data.get(key) or {}
            if not isinstance(part, dict) or not all(isinstance(v, int) and not isinstance(v, bool)
                                                     for v in part.values()):
                raise InputError(f"{key!r} must map names to integer concept ids", str(p))
            parts[key] = {str(k): int(v) for k, v in part.items()}
        return cls(**parts)

    def with_sections(self, found: Mapping[str, int]) -> "ConceptMap":
        """This map with the section concept ids the database's vocabulary holds (the file's win)."""
        return ConceptMap(self.concepts, self.source_concepts, {**found, **self.sections})

    @staticmethod
    def _keys(entity: Entity) -> list[str]:
        a = entity.attributes
        return [str(a[k]) for k in ("concept_id", "cui") if a.get(k) is not None] + [entity.label]

    def concept(self, entity: Entity) -> int:
        return next((self.concepts[k] for k in self._keys(entity) if k in self.concepts), 0)

    def source_concept(self, entity: Entity) -> int:
        return next((self.source_concepts[k] for k in self._keys(entity) if k in self.source_concepts), 0)

    def section(self, category: str | None) -> int:
        return self.sections.get(category, 0) if category else 0


def note_nlp_rows(note_id: int, text: str, entities: list[Entity], nlp_system: str, concepts: ConceptMap,
                  cuts: Cuts, nlp_date: Any, nlp_datetime: Any) -> list[dict[str, Any]]:
    """Every ``NOTE_NLP`` column but ``note_nlp_id`` for the entities of one note, cut to fit."""
    system = cuts.fit("nlp_system", nlp_system)
    rows = []
    for e in entities:
        values = note_nlp_values(e)
        if e.end - e.start > SNIPPET:  # the window cannot hold the whole entity: a cut
            cuts["snippet"] += 1
        rows.append({
            "note_id": note_id,
            "section_concept_id": concepts.section(e.attributes.get("section")),
            "snippet": snippet(text, e.start, e.end),
            "offset": cuts.fit("offset", values["offset"]),
            "lexical_variant": cuts.fit("lexical_variant", values["lexical_variant"]),
            "note_nlp_concept_id": concepts.concept(e),
            "note_nlp_source_concept_id": concepts.source_concept(e),
            "nlp_system": system,
            "nlp_date": nlp_date,
            "nlp_datetime": nlp_datetime,
            "term_exists": cuts.fit("term_exists", values["term_exists"]),
            "term_temporal": cuts.fit("term_temporal", values["term_temporal"]),
            "term_modifiers": cuts.fit("term_modifiers", values["term_modifiers"]),
        })
    return rows
