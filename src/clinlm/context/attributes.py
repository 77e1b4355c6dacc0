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


#: Precedence of :func:`assertion_of`: the first entry whose flag is set, and none of whose
#: ``unless`` flags is, decides the label. Someone else's problem is theirs whatever is said
#: about it; a hypothetical mention is not an assertion of existence; a denied problem is
#: absent even under a condition ("denies dyspnea on exertion": not there on exertion
#: either), unless the denial is hedged; a conditional mention is not an assertion of
#: existence; uncertainty wins over negation ("cannot be ruled out", "not likely" hedge
#: rather than deny). ``historical`` does not change the label: in i2b2 a past problem of
#: the patient is ``present``.
ASSERTION_PRECEDENCE = (
    ("family", "associated_with_someone_else", ()),
    ("hypothetical", "hypothetical", ()),
    ("negated", "absent", ("uncertain",)),
    ("conditional", "conditional", ()),
    ("uncertain", "possible", ()),
    ("negated", "absent", ()),
)


def assertion_of(attributes: Mapping[str, Any]) -> str:
    """The single i2b2 assertion label of a set of flags (see :data:`ASSERTION_PRECEDENCE`)."""
    for flag, label, unless in ASSERTION_PRECEDENCE:
        if attributes.get(flag) and not any(attributes.get(u) for u in unless):
            return label
    return "present"


def context_attributes(categories: Iterable[str], section: str | None, flags: Iterable[str] = (),
                       section_flag: bool = True) -> dict[str, Any]:
    """Entity attributes from the ConText categories that modify it, its section, and any other
    ``flags`` its place in the note sets (a family-history line: ``family``). ``section_flag=False``
    keeps the section's name but not its flag (a sentence about the patient under a family header)."""
    on = {CATEGORY_FLAGS[c.upper()] for c in categories if c.upper() in CATEGORY_FLAGS}
    if section in SECTION_FLAGS and section_flag:
        on.add(SECTION_FLAGS[section])
    on.update(f for f in flags if f in FLAGS)
    attrs: dict[str, Any] = {flag: flag in on for flag in FLAGS}
    attrs["assertion"] = assertion_of(attrs)
    attrs["section"] = section
    return attrs
