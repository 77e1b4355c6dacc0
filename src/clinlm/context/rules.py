"""ConText and section rule files (medspaCy's JSON formats): where clinlm's own live, and checking
a user's file so that a bad rule is a ``file: message`` error before any model loads."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from clinlm.context.attributes import CATEGORY_FLAGS
from clinlm.errors import ConfigError, InputError

RESOURCES = Path(__file__).parent / "resources"


PROJECT_CONTEXT_RULES = RESOURCES / "context_rules.json"


PROJECT_SECTION_RULES = RESOURCES / "section_rules.json"


CLINICAL_ABBREVIATIONS = RESOURCES / "clinical_abbreviations.json"
CLINICAL_TERMS = RESOURCES / "clinical_terms.json"


def read_list(path: str | Path, key: str) -> dict:
    """A list file of :mod:`clinlm.context.abbreviations` (abbreviations, terms) at ``path``: every row
    of its ``key`` list has a type. The layout reads the abbreviations too, so the reader lives here."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        missing = next((r for r in data[key] if "type" not in r), None)
        if missing is not None:
            raise KeyError(f"no type for {missing}")
        return data
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a clinical {key[:-1]} list ({exc})") from None


def _medspacy_resources() -> Path:
    """medspaCy's English rule files, found without importing medspaCy (which takes seconds)."""
    import importlib.util

    spec = importlib.util.find_spec("medspacy")
    origin = spec.origin if spec is not None and spec.origin else None
    return Path(origin).resolve().parents[1] / "resources" / "en" if origin else RESOURCES / "missing-medspacy"


MEDSPACY_RESOURCES = _medspacy_resources()
MEDSPACY_CONTEXT_RULES = MEDSPACY_RESOURCES / "context_rules.json"
MEDSPACY_SECTION_RULES = MEDSPACY_RESOURCES / "section_patterns.json"


CONTEXT_RULE_KEYS = {"literal", "category", "pattern", "direction", "metadata", "allowed_types",
                     "excluded_types", "max_targets", "max_scope"}


SECTION_RULE_KEYS = {"literal", "category", "pattern", "metadata", "parents", "parent_required", "max_scope"}


DIRECTIONS = ("FORWARD", "BACKWARD", "BIDIRECTIONAL", "TERMINATE", "PSEUDO")


# -- rule files ----------------------------------------------------------------------------
def read_rules(path: str | Path, kind: str) -> list[dict[str, Any]]:
    """The rules of a medspaCy rule file, checked: ``kind`` is ``context`` or ``section``.

    Raises ``InputError`` naming the file (and the rule) on anything medspaCy would reject.
    """
    from clinlm.formats import read_text_file

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


def rule_file(path: str | Path | None, kind: str) -> Path | None:
    if path is None:
        return None
    p = Path(path)
    if not p.exists():
        raise InputError(f"{kind} rules file not found", str(p))
    if p.is_dir():
        raise InputError(f"expected a {kind} rules file (JSON) but this is a directory", str(p))
    return p
