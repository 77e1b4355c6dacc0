"""Clinical abbreviations a note uses without defining them ("HTN", "CABG", "SOB").

The default model learnt its types from PubMed abstracts, where every abbreviation is defined in
the text it appears in; a note never defines "HTN". Read as a new user would, a note written in
abbreviations came out with "HTN" typed T103 Chemical, "DM2" T017 Anatomical Structure, "A-fib"
T103, "CTAB" T103, and "HLD", "CAD" and "CABG" not tagged at all (2026-12-07).

``resources/clinical_abbreviations.json`` lists unambiguous ones with their ST21pv type, and, in a
note with sections, :func:`apply_abbreviations`

* gives an entity that is exactly a listed abbreviation (or its plural, "TIAs") the listed type;
* adds an entity for an occurrence that no entity overlaps, and replaces pieces of one ("N" of
  "N/V", "NT/" of ...) by the whole abbreviation; an entity that holds an abbreviation and more
  ("CHF exacerbation", "LE edema") is left as the model drew it;
* drops an entity that is exactly one listed as no concept (``"type": null``: "IV", a route).

Nothing is added or typed inside a header ("COLONOSCOPY REPORT" names the note). It leaves alone an
abbreviation the note defines in parentheses ("... (CP)"), where the
document says what it means, one followed by a ``not_before`` word ("CVA tenderness" is the
costovertebral angle), one marked ``before_number`` without a value after it (a lab: "K 4.1"),
one right after a drug's name ("Duraphen II DM": dextromethorphan, part of the product), and a
model whose labels lack a listed type (it is another label set).

``resources/clinical_terms.json`` adds common clinical terms whose type does not depend on the
sentence ("strokes" T038 in a review of systems, where the section leans the model to T033; "sputum"
T031). They match in any case and are never tested for a definition or a product's name; an entity
that is exactly one takes its type, and only a term marked ``add`` becomes an entity where the
model drew none (or replaces the pieces it drew: "congestive" + "heart failure", and a piece that runs
on only into a result: "Homans" + "sign negative" -> "Homans sign"); one marked
``"plural": false`` matches only as written. Its ``shapes`` type an entity by the form of its whole
text: one that ends in a procedure's suffix ("L5 kyphoplasty", "-ectomy") T058, one that starts with
an imaging test ("MRI brain") T058, one that ends in a device ("back brace") T074, one right before a
dose ("Nexium 40 mg") T103.
"""
from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from clinlm.context.concepts import DRUG, split_at_breaks, split_at_dashes
from clinlm.context.layout import Layout
from clinlm.context.rules import CLINICAL_ABBREVIATIONS, CLINICAL_TERMS, read_list
from clinlm.document import Entity
from clinlm.errors import ConfigError

#: what an added entity's ``attributes["source"]`` says: an abbreviation or a term of the lists
SOURCE, TERM_SOURCE = "abbreviation", "clinical term"
_PRODUCT_GAP = re.compile(r"[ \t]+(?:[IVX]{1,3}[ \t]+)?")
#: a lab value right after its name ("K 4.1", "Cr: 1.1", "Na 138,")
_VALUE_NEXT = re.compile(r"[ \t]*[:=]?[ \t]*[<>]?\d")


@dataclass(frozen=True)
class Abbreviations:
    """Abbreviation (or casefolded term) -> type (``None``: no concept), the words that make it mean
    something else, the pattern of the abbreviations (their case kept), the terms and the terms that
    may become entities the model did not draw; :meth:`find` reads both lists in a text."""

    types: dict[str, str | None]
    not_before: dict[str, frozenset[str]]
    pattern: re.Pattern
    terms: frozenset[str] = frozenset()
    adds: frozenset[str] = frozenset()
    singular: frozenset[str] = frozenset()
    shapes: tuple[tuple[re.Pattern, str, re.Pattern | None], ...] = ()
    before_number: frozenset[str] = frozenset()
    term_pattern: re.Pattern | None = None

    def find(self, text: str) -> list[tuple[int, int, str, bool, bool]]:
        """``(start, end, name, is_term, plural)`` of every listed abbreviation and term in ``text``; where
        two overlap the longer wins ("RUQ pain" the term over "RUQ", "sputum cx" the abbreviation over
        "sputum"), then the earlier."""
        found = [(m.start(), m.end(), m.group(1), False, bool(m.group(2))) for m in self.pattern.finditer(text)]
        if self.term_pattern is not None:
            found += [(m.start(), m.end(), " ".join(m.group(1).split()).casefold(), True, bool(m.group(2)))
                      for m in self.term_pattern.finditer(text)]
        chosen: list[tuple[int, int, str, bool, bool]] = []
        for f in sorted(found, key=lambda f: (f[0], f[0] - f[1])):  # one sweep: a long note has thousands
            if chosen and f[0] < chosen[-1][1]:
                if f[1] - f[0] > chosen[-1][1] - chosen[-1][0]:
                    chosen[-1] = f
                continue
            chosen.append(f)
        return chosen

    def usable_with(self, labels: Iterable[str]) -> bool:
        """Whether a model with these labels (``B-T038`` or ``T038``) has every type listed."""
        have = {label.split("-", 1)[-1] for label in labels}
        return {t for t in self.types.values() if t} | {t for _, t, _ in self.shapes} <= have


def _alternation(names: Iterable[str]) -> str:
    """Longest first, so "congestive heart failure" wins over "heart failure"; spaces or tabs between
    words (never a line break: a list's lines are separate items)."""
    return "|".join(r"[ \t]+".join(map(re.escape, n.split())) for n in sorted(names, key=len, reverse=True))


def _shapes(rows: Iterable[dict], where: str | Path) -> tuple[tuple[re.Pattern, str, re.Pattern | None], ...]:
    try:
        return tuple((re.compile(r["pattern"], re.IGNORECASE), r["type"],
                      re.compile(r["after"], re.IGNORECASE) if r.get("after") else None) for r in rows)
    except (re.error, KeyError, TypeError) as exc:
        raise ConfigError(f"{where}: a shape cannot be used ({exc})") from None


def load_abbreviations(path: str | Path = CLINICAL_ABBREVIATIONS,
                       terms: str | Path | None = CLINICAL_TERMS) -> Abbreviations:
    """The abbreviations of ``path`` and the clinical terms of ``terms`` (defaults: the project's lists;
    ``terms=None``: abbreviations only)."""
    rows = read_list(path, "abbreviations")["abbreviations"]
    types = {r["abbreviation"]: r["type"] for r in rows}
    not_before = {r["abbreviation"]: frozenset(w.lower() for w in r.get("not_before", ())) for r in rows}
    before_number = frozenset(r["abbreviation"] for r in rows if r.get("before_number"))
    listed = read_list(terms, "terms") if terms is not None else {"terms": []}
    shapes = _shapes(listed.get("shapes", []), terms or "")
    folded = {" ".join(r["term"].split()).casefold(): r for r in listed["terms"]}
    if clash := sorted(k for k in folded if k in types):
        raise ConfigError(f"{terms}: {clash[0]!r} is an abbreviation too; list it once")
    types.update({k: r["type"] for k, r in folded.items()})
    not_before.update({k: frozenset(w.lower() for w in r.get("not_before", ())) for k, r in folded.items()})
    # whole tokens only: no letter or digit on either side ("MI" of "MIs" through the plural, never of "MIRA");
    # abbreviations keep their case, terms match in any case; each pattern: the name, then a plural "s"
    edge, end = r"(?<![A-Za-z0-9])", r"(?![A-Za-z0-9])"
    pattern = re.compile(edge + "(" + _alternation(t for t in types if t not in folded) + r")(s?)" + end)
    term_pattern = re.compile(edge + "(?i:(" + _alternation(folded) + r")(s?))" + end) if folded else None
    adds = frozenset(k for k, r in folded.items() if r.get("add"))
    singular = frozenset(k for k, r in folded.items() if r.get("plural") is False)
    return Abbreviations(types, not_before, pattern, frozenset(folded), adds, singular, shapes, before_number,
                         term_pattern)


def _defined(text: str, abbreviation: str) -> bool:
    """Whether the text defines the letters itself, as Schwartz and Hearst find definitions: "cerebral
    palsy (CP)" (a word of the few before the parentheses starts with the abbreviation's first letter) or
    "CP (chest pain)" (two or more words in the parentheses, the first with that letter). "CAP (RLL)",
    a place in parentheses, and "HTN (controlled)" define nothing."""
    first = abbreviation[0].lower()
    esc = re.escape(abbreviation)
    for m in re.finditer(r"\(\s*" + esc + r"s?\s*\)", text):
        before = re.findall(r"[A-Za-z][\w'-]*", text[max(0, m.start() - 120):m.start()])
        if any(w[0].lower() == first for w in before[-min(len(abbreviation) + 5, 2 * len(abbreviation)):]
               if w != abbreviation):
            return True
    for m in re.finditer(esc + r"s?\s*\(\s*([^()]{1,80})\)", text):
        inside = m.group(1).split()
        if len(inside) >= 2 and inside[0][0].lower() == first:
            return True
    return False


def _product(text: str, e: Entity, start: int, abbreviations: Abbreviations) -> bool:
    """Whether ``e``, right before ``start``, is a drug's name the letters at ``start`` belong to: a word of
    three letters or more ("Duraphen"), not a piece the model cut ("p" of "s/p") nor an abbreviation of
    the list the model typed as a drug ("HTN" before "DM" in "HTN DM CAD")."""
    return (e.label == DRUG and sum(c.isalpha() for c in e.text) >= 3 and bool(_PRODUCT_GAP.fullmatch(text, e.end, start))
            and not abbreviations.pattern.fullmatch(text, e.start, e.end))


def _shaped(text: str, e: Entity, shapes: Sequence[tuple[re.Pattern, str, re.Pattern | None]]) -> Entity:
    """``e`` with the type of the first shape its whole text has ("L5 kyphoplasty" ends in a procedure) and,
    where the shape says what must follow, the text after it has ("Nexium 40 mg": a drug before its dose)."""
    kind = next((t for rx, t, after in shapes if rx.fullmatch(e.text) and (after is None or after.match(text, e.end))),
                e.label)
    return e if kind == e.label else Entity(e.start, e.end, kind, e.text, e.score, dict(e.attributes))


#: a test's result, written after it ("Homans sign negative", "drug screen positive for ...")
_RESULTS = frozenset({"negative", "positive", "neg", "pos", "normal", "abnormal"})


def _result_after(text: str, e: Entity, start: int, end: int) -> bool:
    """Whether ``e`` runs past a term only by a result word: "sign negative" of "Homans sign negative" is a
    piece of the term "Homans sign" and its result, so the term replaces it."""
    return e.start >= start and text[end:e.end].strip().lower() in _RESULTS


def apply_abbreviations(text: str, entities: Sequence[Entity], abbreviations: Abbreviations,
                        layout: Layout | None = None, kinds: str = "both",
                        found: Sequence[tuple[int, int, str, bool, bool]] | None = None) -> list[Entity]:
    """``entities`` with the listed abbreviations of ``text`` typed, added or dropped (see the module doc).
    With the note's ``layout``, entities are first cut at its breaks and spaced dashes, as cleaning cuts
    them later: "P: CHF" across "A/P:" and its text is "P" and "CHF" there, and "CHF" is the
    abbreviation; so is "CAP" of "CAP - cont" in a problem-based plan. ``kinds``: ``"abbreviations"``,
    ``"terms"``, ``"both"`` or ``"retype"`` (both, but only an entity that is exactly one changes: its
    type, or it is dropped when listed as no concept, "Pt" that cleaning cut out of "CP. Pt"). Cleaning applies the abbreviations first, the terms once edge words are off ("past
    pneumonias"), and retypes after ConText has taken its cue words off ("Negative EKG"). ``found``:
    ``abbreviations.find(text)`` when the caller has it (the three passes of a note read it once)."""
    out = split_at_dashes(text, split_at_breaks(text, entities, layout)) if layout is not None else list(entities)
    out.sort(key=lambda e: (e.start, e.end))
    starts = [e.start for e in out]  # kept in step with ``out``: a long note has thousands of matches
    defined: dict[str, bool] = {}
    listed: set[tuple[int, int]] = set()  # spans a list entry typed: shapes leave them
    for start, end, name, term, plural in abbreviations.find(text) if found is None else found:
        if kinds in ("terms", "abbreviations") and kinds != ("terms" if term else "abbreviations"):
            continue
        retype_only = kinds == "retype"
        if layout is not None and layout.in_header(start, end):
            continue  # "COLONOSCOPY REPORT" names the note: the header's words are no concept
        if term and plural and name in abbreviations.singular:
            continue  # "palpations" is "palpitations" misspelt, not the exam's palpation
        if not term:
            if name not in defined:
                defined[name] = _defined(text, name)
            if defined[name]:
                continue
        after = text[end:end + 40].split(None, 1)
        if after and after[0].lower().strip(".,;:") in abbreviations.not_before[name]:
            continue
        if name in abbreviations.before_number and not _VALUE_NEXT.match(text, end):
            continue  # "K 4.1" is potassium; a "K" without its value may be anything
        kind = abbreviations.types[name]
        lo = hi = bisect_left(starts, start)
        while lo > 0 and out[lo - 1].end > start:
            lo -= 1
        while hi < len(out) and out[hi].start < end:
            hi += 1
        if not term and kind is not None and lo > 0 and _product(text, out[lo - 1], start, abbreviations):
            continue  # "Duraphen II DM", "Robitussin DM": a product's name, not diabetes ("heparin SQ" is a route)
        touching = out[lo:hi]
        if any((e.start < start or e.end > end) and not (term and _result_after(text, e, start, end)) for e in touching):
            continue  # an entity holds the letters and more: the model's span stands
        exact = next((e for e in touching if (e.start, e.end) == (start, end)), None)
        if term and exact is None and name not in abbreviations.adds:
            continue  # a term the model did not draw as one entity, and not one to add
        if retype_only and exact is None:
            continue  # retyping changes only an entity that is exactly one (and drops one listed as no concept)
        listed.add((start, end))
        del out[lo:hi], starts[lo:hi]
        if kind is None:
            continue
        if exact is not None:
            new = Entity(start, end, kind, exact.text, exact.score, dict(exact.attributes))
        else:
            new = Entity(start, end, kind, text[start:end], None, {"source": TERM_SOURCE if term else SOURCE})
        out.insert(lo, new)
        starts.insert(lo, start)
    if kinds != "abbreviations" and abbreviations.shapes:
        out = [_shaped(text, e, abbreviations.shapes) if (e.start, e.end) not in listed else e for e in out]
    return sorted(out, key=lambda e: (e.start, e.end))
