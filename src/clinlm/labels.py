"""Label sets: the 21 MedMentions ST21pv semantic types and BIO tag helpers."""
from __future__ import annotations

from typing import Iterable, Sequence

#: The 21 UMLS semantic types of MedMentions ST21pv, id -> name.
ST21PV_TYPES: dict[str, str] = {
    "T005": "Virus",
    "T007": "Bacterium",
    "T017": "Anatomical Structure",
    "T022": "Body System",
    "T031": "Body Substance",
    "T033": "Finding",
    "T037": "Injury or Poisoning",
    "T038": "Biologic Function",
    "T058": "Health Care Activity",
    "T062": "Research Activity",
    "T074": "Medical Device",
    "T082": "Spatial Concept",
    "T091": "Biomedical Occupation or Discipline",
    "T092": "Organization",
    "T097": "Professional or Occupational Group",
    "T098": "Population Group",
    "T103": "Chemical",
    "T168": "Food",
    "T170": "Intellectual Product",
    "T201": "Clinical Attribute",
    "T204": "Eukaryote",
}

OUTSIDE = "O"


def type_name(label: str) -> str:
    """Human name of a label, e.g. ``T047`` -> itself, ``T005`` -> ``Virus``."""
    return ST21PV_TYPES.get(label, label)


def bio_labels(types: Iterable[str]) -> list[str]:
    """``O`` then ``B-X``, ``I-X`` for each type, in sorted type order (stable ids)."""
    out = [OUTSIDE]
    for t in sorted(set(types)):
        out += [f"B-{t}", f"I-{t}"]
    return out


def types_of(bio: Iterable[str]) -> list[str]:
    """Entity types named by a BIO label list."""
    return sorted({tag[2:] for tag in bio if tag != OUTSIDE})


def split_tag(tag: str) -> tuple[str, str | None]:
    """``"B-T005"`` -> ``("B", "T005")``; ``"O"`` -> ``("O", None)``."""
    if tag == OUTSIDE or len(tag) < 3 or tag[1] != "-" or tag[0] not in "BIES":
        return (OUTSIDE, None)
    return (tag[0], tag[2:])


def repair_bio(tags: Sequence[str]) -> list[str]:
    """Make a tag sequence valid IOB2: an ``I-X`` that does not continue an ``X`` starts one."""
    out: list[str] = []
    prev_type: str | None = None
    for tag in tags:
        prefix, typ = split_tag(tag)
        if prefix == "I" and prev_type != typ:
            prefix = "B"
        if prefix in ("B", "I"):
            out.append(f"{prefix}-{typ}")
            prev_type = typ
        else:
            out.append(OUTSIDE)
            prev_type = None
    return out


def tag_spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Entities of a *valid* IOB2 sequence as ``(first, last_exclusive, type)`` index spans."""
    spans: list[tuple[int, int, str]] = []
    start: int | None = None
    typ: str | None = None
    for i, tag in enumerate(tags):
        prefix, t = split_tag(tag)
        if start is not None and not (prefix == "I" and t == typ):
            spans.append((start, i, typ))  # type: ignore[arg-type]
            start, typ = None, None
        if prefix in ("B", "I") and start is None:
            start, typ = i, t
    if start is not None:
        spans.append((start, len(tags), typ))  # type: ignore[arg-type]
    return spans
