"""clinlm's context attributes as OMOP CDM ``NOTE_NLP`` values, defined in this one place.

* ``term_exists``: ``"N"`` when the concept is not asserted for the patient: negated,
  experienced by someone else (family), hypothetical or conditional; ``"Y"`` otherwise.
  Following the CDM, uncertainty alone keeps ``"Y"`` and is written to ``term_modifiers``
  (clinlm does not tell "rule out" from "possible": both are ``uncertain``).
* ``term_temporal``: ``"past"`` for a historical concept, else ``"present"``.
* ``term_modifiers``: the flags that are set, in :data:`clinlm.context.FLAGS` order, as
  ``name=true``, then ``section=...`` when the concept is under a section header, joined
  by commas, e.g. ``negated=true,family=true,section=family_history``.
* ``note_nlp_source_concept_id`` (with a user's map of linked concepts to OMOP concept ids): the
  entity's linked concept (:mod:`clinlm.linking`), 0 when unlinked or unmapped.
"""
from __future__ import annotations

from typing import Any, Mapping

from clinlm.context.attributes import FLAGS, assertion_of
from clinlm.document import Entity

#: Assertion labels for which the concept is not said to exist in the patient.
NOT_EXISTING = {"absent", "associated_with_someone_else", "hypothetical", "conditional"}


def term_exists(attributes: Mapping[str, Any]) -> str:
    label = attributes.get("assertion") or assertion_of(attributes)
    return "N" if label in NOT_EXISTING else "Y"


def term_temporal(attributes: Mapping[str, Any]) -> str:
    return "past" if attributes.get("historical") else "present"


def term_modifiers(attributes: Mapping[str, Any]) -> str:
    parts = [f"{flag}=true" for flag in FLAGS if attributes.get(flag) is True]
    if attributes.get("section"):
        parts.append(f"section={attributes['section']}")
    return ",".join(parts)


def source_concept_id(attributes: Mapping[str, Any], concept_map: Mapping[str, int]) -> int:
    """The OMOP concept id of an entity's linked concept (the best of ``attributes["concepts"]``,
    :mod:`clinlm.linking`) through a user's ``concept_map``, keyed ``VOCAB:ID`` or ``ID``; 0 (OMOP's
    "no matching concept") when the entity is not linked or the map lacks its concept."""
    concepts = attributes.get("concepts")
    if not isinstance(concepts, list) or not concepts or not isinstance(concepts[0], dict):
        return 0
    best = concepts[0]
    key = f"{best.get('vocab')}:{best.get('id')}"
    return int(concept_map.get(key, concept_map.get(str(best.get("id")), 0)))


def note_nlp_values(entity: Entity, concept_map: Mapping[str, int] | None = None) -> dict[str, Any]:
    """The ``NOTE_NLP`` columns clinlm can fill for one entity (``offset`` is ``start-end`` in characters);
    with a ``concept_map`` (linked concept -> OMOP concept id) also ``note_nlp_source_concept_id``."""
    a = entity.attributes
    values = {
        "lexical_variant": entity.text,
        "offset": f"{entity.start}-{entity.end}",
        "term_exists": term_exists(a),
        "term_temporal": term_temporal(a),
        "term_modifiers": term_modifiers(a),
    }
    if concept_map is not None:
        values["note_nlp_source_concept_id"] = source_concept_id(a, concept_map)
    return values
