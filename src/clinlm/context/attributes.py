"""What an entity's context attributes are: six flags, the i2b2 assertion label derived from
them (:func:`assertion_of`, the one place its precedence is defined), and the flags a section adds."""
from __future__ import annotations

from typing import Any, Iterable, Mapping

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
