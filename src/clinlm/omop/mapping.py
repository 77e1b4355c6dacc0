"""clinlm's context attributes as OMOP CDM ``NOTE_NLP`` values, defined in this one place.

* ``term_exists``: ``"N"`` when the concept is not asserted for the patient: negated,
  experienced by someone else (family), hypothetical or conditional; ``"Y"`` otherwise.
  Following the CDM, uncertainty alone keeps ``"Y"`` and is written to ``term_modifiers``
  (clinlm does not tell "rule out" from "possible": both are ``uncertain``).
* ``term_temporal``: ``"past"`` for a historical concept, else ``"present"``.
* ``term_modifiers``: the flags that are set, in :data:`clinlm.context.FLAGS` order, as
  ``name=true``, then ``section=...`` when the concept is under a section header, joined
  by commas, e.g. ``negated=true,family=true,section=family_history``.
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


def note_nlp_values(entity: Entity) -> dict[str, Any]:
    """The ``NOTE_NLP`` columns clinlm can fill for one entity (``offset`` is ``start-end`` in characters)."""
    a = entity.attributes
    return {
        "lexical_variant": entity.text,
        "offset": f"{entity.start}-{entity.end}",
        "term_exists": term_exists(a),
        "term_temporal": term_temporal(a),
        "term_modifiers": term_modifiers(a),
    }
