"""Names made comparable, and abbreviations a document defines.

:func:`normalize`: case folded, accents dropped, punctuation turned into spaces (a hyphen too:
"Non-Hodgkin" = "non hodgkin"), each word's plural made singular by suffix rules ("cancers" ->
"cancer", "deficiencies" -> "deficiency"), spaces collapsed. Vocabulary names and mentions go
through the same function, so a rule that is wrong for a word is wrong on both sides.

:func:`bag_key`: the normalized words sorted, without "of", "the" ..., so MeSH's inverted names
("Carcinoma, Ductal") meet the running text ("ductal carcinoma").

:func:`abbreviations`: Schwartz & Hearst (PSB 2003) short forms in parentheses after their long
form, "chronic kidney disease (CKD)"; a mention "CKD" elsewhere in the document is then linked as
"chronic kidney disease". (No maintained package implements it: PyPI's ``abbreviations`` was last
released in 2019 and scispaCy's detector needs nmslib, which does not build on Python >= 3.11.)
"""
from __future__ import annotations

import re
import unicodedata

_PUNCT = re.compile(r"[^\w]+|_")
_STOP = frozenset({"of", "the", "a", "an", "and", "or", "in", "with", "to", "by", "for", "on", "nos", "type"})
_KEEP_S = ("ss", "us", "is", "ys", "as", "os")


def _singular(w: str) -> str:
    if len(w) <= 3 or not w.isalpha() or not w.endswith("s"):
        return w
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith(("ches", "shes", "xes", "sses")):
        return w[:-2]
    if w.endswith(_KEEP_S):
        return w
    return w[:-1]


def normalize(name: str) -> str:
    """Lowercase, accents off, punctuation to spaces, plurals singular, single spaces."""
    s = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", name).casefold())
    s = "".join(c for c in s if not unicodedata.combining(c))
    return " ".join(_singular(w) for w in _PUNCT.sub(" ", s).split())


def bag_key(normalized: str) -> str:
    """The words of a normalized name, sorted, without function words."""
    words = [w for w in normalized.split() if w not in _STOP]
    return " ".join(sorted(words)) if words else normalized


# -- Schwartz & Hearst ------------------------------------------------------------------------------
_PAREN = re.compile(r"\(([^()]{1,12})\)")


def _short_form_ok(sf: str) -> bool:
    return (2 <= len(sf) <= 10 and sf[0].isalnum() and any(c.isupper() for c in sf)
            and len(sf.split()) <= 2)


def _long_form(sf: str, before: str) -> str | None:
    """The shortest end of ``before`` whose characters hold ``sf``'s in order, ``sf``'s first
    character at the start of a word (the Schwartz & Hearst matching)."""
    words = before.split()
    limit = min(len(sf) + 5, len(sf) * 2)
    words = words[-limit:]
    cand = " ".join(words)
    s, l = len(sf) - 1, len(cand) - 1
    low_sf, low = sf.lower(), cand.lower()
    while s >= 0:
        c = low_sf[s]
        if not c.isalnum():
            s -= 1
            continue
        while l >= 0 and (low[l] != c or (s == 0 and l > 0 and low[l - 1].isalnum())):
            l -= 1
        if l < 0:
            return None
        s -= 1
        l -= 1
    start = low.rfind(" ", 0, l + 1) + 1
    lf = cand[start:].strip(" ,;:")
    if not lf or len(lf) < len(sf) or lf.lower() == sf.lower():
        return None
    return lf


def abbreviations(text: str) -> dict[str, str]:
    """``{short form: long form}`` defined in ``text`` as "long form (SF)"; the first definition wins."""
    found: dict[str, str] = {}
    for m in _PAREN.finditer(text):
        sf = m.group(1).strip()
        if not _short_form_ok(sf) or sf in found:
            continue
        dot = text.rfind(". ", 0, m.start())
        sentence_start = dot + 2 if dot >= 0 else 0
        lf = _long_form(sf, text[sentence_start: m.start()])
        if lf:
            found[sf] = lf
    return found


def expand(mention: str, abbrevs: dict[str, str]) -> str:
    """``mention`` with every whole-word short form of ``abbrevs`` replaced by its long form."""
    if not abbrevs:
        return mention
    if mention in abbrevs:
        return abbrevs[mention]
    words = re.split(r"(\W+)", mention)
    changed = [abbrevs.get(w, w) for w in words]
    return "".join(changed)
