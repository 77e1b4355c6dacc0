"""A note's layout: its lines, section headers, sub-headers, list items and paragraphs, as
character spans of the text (derived from the text alone, like everything but the entities).

Notes are not sentences. Clinicians write::

    HISTORY OF PRESENT ILLNESS                    <- a section header (level 1)
    Mrs. Torres is a 63-year-old woman ...

    [FAMILY HISTORY]                              <- bracketed header
    Mother: breast cancer                         <- sub-header (a relative) and its item
    Paternal grandfather: myocardial infarction

    REVIEW OF SYSTEMS
    - Cardiovascular: Denies chest pain           <- a list item whose sub-header is a body system
    - Psychiatric: Endorses depression

:func:`read_layout` splits a text into

* **lines** (every line of the text, in order, with its kind: ``header``, ``subheader``,
  ``item``, ``text`` or ``blank``; line breaks are ``\\r\\n`` and everything
  ``str.splitlines`` breaks on);
* **sections** (level 1): from a header to the next header; the text before the first
  header is in no section. A header is a line that is only a known header name (any case,
  with or without a colon, bracketed, numbered, bulleted), a line in capitals that is a
  header-like phrase ("PAST HISTORY", "GYN HISTORY:"), any bracketed line ("[PLAN]"), a
  known name followed by a colon and text on the same line ("HPI: 55-year-old man") or such a
  name with its colon after the end of a sentence ("... stable. Plan: follow up");
* **subsections** (level 2): from a sub-header ("Psychiatric:", "Lungs:", "- Cardiovascular:",
  "Neck" alone in an exam, "Mother:", "Paternal grandfather:", "DOB:") to the next sub-header,
  header or blank line; one whose sub-header has text after it on its line ends with that
  line (and the lines that continue it). Each has a ``role``: ``system`` (an exam or review
  of systems heading), ``relative`` (a family member), ``field`` (a form field: patient,
  date of birth, provider ...) or ``social`` (a part of a social history: "Education:",
  "Military History:", which elsewhere could start a patient-education section);
* **items** (lines starting with a bullet or a number, with the lines that continue them)
  and **paragraphs** (runs of non-blank lines).

Header names and categories are the section rules (medspaCy's ``section_patterns.json``,
clinlm's ``resources/section_rules.json``, a user's file; the literal of a rule, and its
pattern when that is a regular expression); sub-headers, header words, relatives and name
fields are ``resources/layout_rules.json``. A header that no rule names gets its name as
category ("GYN HISTORY" -> ``gyn_history``).

:meth:`Layout.breaks` are the offsets where a new block starts (a header, a sub-header, a
list item, a paragraph, a line after a line that ended a sentence or was short): ConText's
scope never crosses them and concepts are split at them (:mod:`clinlm.context.concepts`).
A line that continues the one before (a wrapped sentence) is no break.
"""
from __future__ import annotations

import json
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from clinlm.context.rules import CLINICAL_ABBREVIATIONS, PROJECT_SECTION_RULES, RESOURCES, read_list, read_rules

LAYOUT_RULES = RESOURCES / "layout_rules.json"
#: sections that list problems: there "4. COPD: stable" names a problem, not a sub-header
PROBLEM_SECTIONS = frozenset({"hospital_course", "observation_and_plan", "diagnoses", "past_medical_history", "problem_list"})
#: ST21pv's types of a problem (findings, diseases, injuries): what a problem list lists and what a note
#: joins with "and" / "or" (:func:`clinlm.context.concepts.split_at_coordinators`)
PROBLEM_TYPES = frozenset({"T033", "T038", "T037"})


def _problem_abbreviations() -> frozenset[str]:
    """The clinical abbreviations of a problem type ("COPD", "CHF"), from the list the abbreviations module
    reads (this module is below that one)."""
    rows = read_list(CLINICAL_ABBREVIATIONS, "abbreviations")["abbreviations"]
    return frozenset(r["abbreviation"] for r in rows if r["type"] in PROBLEM_TYPES)

#: What ``str.splitlines`` breaks a line on (``\r\n`` is one break).
NEWLINE = re.compile(r"\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_MARKER = re.compile(r"(?:[-*+\u2022\u2023\u25e6\u25aa\u25cf\u25cb\u25a0\u25a1\u00b7\u2013\u2014>]|\(?\d{1,2}[.)]|\(?[a-zA-Z]\))(?=\s)\s*"
                     r"|[\u2022\u2023\u25e6\u25aa\u25cf\u25cb\u25a0\u25a1\u00b7]\s*")
_BRACKET = re.compile(r"\[\s*([^\[\]\r\n]{1,80}?)\s*\]\s*(:)?")
_COLON_LABEL = re.compile(r"([A-Za-z][^:\r\n]{0,60}?)\s*:(?![0-9/])")
_DASH_LABEL = re.compile(r"([A-Za-z][A-Za-z ,/&']{0,40}?)[ \t]+[-\u2013\u2014][ \t]+(?=\S)")
_WORD = re.compile(r"[A-Za-z][A-Za-z'/&\-]*")
_SENTENCE_END = re.compile(r"[.!?]['\")\]]*$")
_JOINERS = {"and", "or", "of", "with", "the", "a", "an", "to", "for", "in", "on", "at", "by", "from", "as", "but",
            "nor", "his", "her", "their", "which", "who", "that", "is", "was", "are", "were", "had", "has"}
_STANDALONE_MAX_WORDS = 6
_LABEL_MAX_WORDS = 6
_WRAP_LENGTH = 50  # a line at least this long that ends mid-sentence is a wrapped line: the next continues it

LINE_KINDS = ("header", "subheader", "item", "text", "blank")
ROLES = ("system", "relative", "field", "social")


def normalize(name: str) -> str:
    """The key a header or sub-header name is looked up by: lower case, single spaces, no colon."""
    return re.sub(r"\s+", " ", name.replace("\u00a0", " ")).strip().rstrip(":").strip().lower()


#: what joins two section names in one header ("SUBJECTIVE / INTERVAL EVENTS", "HPI/INTERVAL HISTORY")
_JOINED = re.compile(r"\s*[/&]\s*")


def slug(name: str) -> str:
    """Category of a header that no rule names: ``"GYN HISTORY"`` -> ``"gyn_history"``."""
    return re.sub(r"[^a-z0-9]+", "_", normalize(name)).strip("_") or "section"


# -- what the layout is made of ---------------------------------------------------------------
@dataclass(frozen=True)
class Line:
    start: int
    end: int  # the line's end, before its line break
    kind: str

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "kind": self.kind}


@dataclass(frozen=True)
class Section:
    """A section (level 1) or subsection (level 2): ``[start, end)`` from its header on."""

    start: int
    end: int
    level: int
    name: str  # the header as written, without brackets, bullet or colon
    category: str | None  # level 1: the section category; level 2: the role (system, relative, field, social)
    header_start: int
    header_end: int  # the header's span, bullet/brackets/colon included (the words a reader skips)

    @property
    def role(self) -> str | None:
        return self.category if self.level == 2 else None

    def to_dict(self) -> dict[str, Any]:
        key = "category" if self.level == 1 else "role"
        return {"start": self.start, "end": self.end, "name": self.name, key: self.category,
                "header": {"start": self.header_start, "end": self.header_end}}


@dataclass(frozen=True)
class Block:
    """A list item (``marker_end``: where its bullet/number ends) or a paragraph."""

    start: int
    end: int
    marker_end: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"start": self.start, "end": self.end}
        if self.marker_end is not None:
            d["marker_end"] = self.marker_end
        return d


@dataclass
class Layout:
    """The layout of one text (see the module doc). Every span is ``[start, end)`` in the text."""

    length: int
    lines: list[Line] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    subsections: list[Section] = field(default_factory=list)
    items: list[Block] = field(default_factory=list)
    paragraphs: list[Block] = field(default_factory=list)
    breaks: list[int] = field(default_factory=list)  # sorted offsets where a block starts (see the module doc)

    # -- look-ups ----------------------------------------------------------------------------
    def section_at(self, offset: int) -> Section | None:
        return _at(self.sections, offset)

    def subsection_at(self, offset: int) -> Section | None:
        return _at(self.subsections, offset)

    def in_header(self, start: int, end: int) -> bool:
        """Whether ``[start, end)`` overlaps a header or sub-header."""
        for s in (self.section_at(start), self.subsection_at(start), self.section_at(end - 1),
                  self.subsection_at(end - 1)):
            if s is not None and start < s.header_end and s.header_start < end:
                return True
        return False

    def breaks_within(self, start: int, end: int) -> list[int]:
        """The breaks strictly inside ``(start, end)``."""
        i = bisect_right(self.breaks, start)
        out = []
        while i < len(self.breaks) and self.breaks[i] < end:
            out.append(self.breaks[i])
            i += 1
        return out

    # -- JSON ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON form (``Document.metadata["layout"]``): plain lists, ints and strings."""
        return {
            "sections": [s.to_dict() for s in self.sections],
            "subsections": [s.to_dict() for s in self.subsections],
            "items": [b.to_dict() for b in self.items],
            "paragraphs": [b.to_dict() for b in self.paragraphs],
            "lines": [ln.to_dict() for ln in self.lines],
            "breaks": list(self.breaks),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], length: int) -> "Layout":
        def sec(x: dict, level: int) -> Section:
            return Section(int(x["start"]), int(x["end"]), level, str(x["name"]),
                           x.get("category" if level == 1 else "role"), int(x["header"]["start"]),
                           int(x["header"]["end"]))

        return cls(
            length,
            [Line(int(x["start"]), int(x["end"]), str(x["kind"])) for x in d.get("lines", [])],
            [sec(x, 1) for x in d.get("sections", [])],
            [sec(x, 2) for x in d.get("subsections", [])],
            [Block(int(x["start"]), int(x["end"]), x.get("marker_end")) for x in d.get("items", [])],
            [Block(int(x["start"]), int(x["end"])) for x in d.get("paragraphs", [])],
            [int(b) for b in d.get("breaks", [])],
        )


#: a line that ends with one of these told its reader where it ends; no separator is needed after it
_CLOSING = frozenset(".!?;:,")


def open_breaks(text: str, layout: Layout) -> list[int]:
    """The breaks (:attr:`Layout.breaks`) that start a line after a line ending without punctuation: the
    items of a list without bullets ("Cholecystectomy" / "Right hip replacement"), a header without a
    colon, a bulleted item after one that ends with a word. A reader sees the line end there; a model
    that reads words and spaces does not, and reads the lines as one run-on sentence ("cholecystectomy
    right hip replacement family history mother colon cancer"). The NER pipeline shows it a sentence
    end at these offsets (:func:`clinlm.windows.encode`). Breaks inside a line (after a bullet, a
    sub-header's colon or an inline header) are not open breaks, nor is a wrapped line's end."""
    out = []
    for b in layout.breaks:
        j = b - 1
        while j >= 0 and text[j].isspace():
            j -= 1
        if j >= 0 and text[j] not in _CLOSING and NEWLINE.search(text, j + 1, b):
            out.append(b)
    return out


def _at(spans: Sequence[Section], offset: int) -> Section | None:
    lo, hi = 0, len(spans)
    while lo < hi:  # spans are sorted and do not overlap
        mid = (lo + hi) // 2
        if spans[mid].start <= offset:
            lo = mid + 1
        else:
            hi = mid
    k = lo - 1
    if k >= 0 and spans[k].start <= offset < spans[k].end:
        return spans[k]
    return None


# -- the vocabulary ------------------------------------------------------------------------------
#: when a section was written, before or after its name ("ADMISSION LABS", "EXAM AT DISCHARGE")
_WHEN = r"(?:discharge|admission|admit|admitting|transfer|presentation|arrival|initial|pertinent|interval)"
_WHEN_BEFORE = re.compile(r"^" + _WHEN + r"\s+(?=\S)", re.I)
_WHEN_AFTER = re.compile(r"\s+(?:at|on|upon|of|prior\s+to|before)\s+(?:the\s+)?" + _WHEN + r"$", re.I)


class Vocabulary:
    """Header names -> section category (from section rules) and the layout rules file."""

    def __init__(self, section_rules: Iterable[dict[str, Any]] = (), layout_rules: dict[str, Any] | None = None):
        self.headers: dict[str, str] = {}
        self.header_patterns: list[tuple[re.Pattern, str]] = []
        for rule in section_rules:  # later rules win (the project's over medspaCy's, a user's over both)
            key = normalize(str(rule["literal"]))
            if key:
                self.headers[key] = str(rule["category"])
            pattern = rule.get("pattern")
            if isinstance(pattern, str):
                try:
                    self.header_patterns.append((re.compile(pattern.rstrip(":") if pattern.endswith(":") else pattern,
                                                            re.I), str(rule["category"])))
                except re.error:
                    pass  # a spaCy-style regular expression Python cannot read: its literal still counts
        rules = layout_rules if layout_rules is not None else load_layout_rules()
        self.header_words = {w.lower() for w in rules.get("header_words", [])}
        self.section_references = {normalize(n) for n in rules.get("section_references", [])}
        self.location_types = set(rules.get("location_types", []))
        self.test_types = set(rules.get("test_types", []))
        self.result_words = {w.lower() for w in rules.get("result_words", [])}
        self.subheaders: dict[str, str] = {}
        for role, names in rules.get("subheaders", {}).items():
            if role == "system_words":
                continue
            for n in names:
                self.subheaders.setdefault(normalize(n), role)
        self.system_words = [w.lower() for w in rules.get("subheaders", {}).get("system_words", [])]
        self.name_fields = {normalize(n) for n in rules.get("name_fields", [])}
        self.problem_abbreviations = _problem_abbreviations()
        self.name_titles = list(rules.get("name_titles", []))
        self.name_suffixes = list(rules.get("name_suffixes", []))
        self.possession = {w.lower() for w in rules.get("possession", [])}
        self.reporting = {w.lower() for w in rules.get("reporting", [])}
        self.relative_skip = {w.lower() for w in rules.get("relative_skip", [])}
        self.relatives = {n for n, r in self.subheaders.items() if r == "relative"}
        self.relative_words = {w for n in self.relatives for w in n.split()}
        known = sorted((k for k in self.headers if len(k) >= 3), key=len, reverse=True)
        self._inline = re.compile(r"(?<![A-Za-z])(" + "|".join(re.escape(k).replace(r"\ ", r"\s+") for k in known)
                                  + r")\s*:(?![0-9/])", re.I) if known else None
        systems = sorted((k for k, r in self.subheaders.items() if r != "field" and len(k) >= 3), key=len, reverse=True)
        names = "|".join(re.escape(k).replace(r"\ ", r"\s+") for k in systems)
        self._inline_sub = re.compile(r"(?<![A-Za-z])([A-Z][A-Z/&\-]+(?:[ ][A-Z/&\-]+){0,3}" + (f"|(?i:{names})" if names
                                      else "") + r")\s*:(?![0-9/])")

    def header(self, name: str) -> str | None:
        """The section category of a header's name; a name the rules lack is tried again without
        when its section was written ("PHYSICAL EXAM AT DISCHARGE", "LABS ON ADMISSION", "DISCHARGE
        EXAM" are an exam, labs and an exam), and a name of two joined by a slash or an ampersand
        takes the first part's that the rules know ("SUBJECTIVE / INTERVAL EVENTS", "HPI/INTERVAL
        HISTORY" are the present illness)."""
        found = self._header(name)
        if found is None:
            bare = _WHEN_AFTER.sub("", _WHEN_BEFORE.sub("", name.strip().rstrip(":").strip()))
            if bare and bare != name.strip().rstrip(":").strip():
                found = self._header(bare)
        if found is None and _JOINED.search(name):
            # parts of three letters or more: "h/o", "A&O" and "N/V" hold SOAP's one-letter headers
            found = next((c for part in _JOINED.split(name)
                          if len(part.strip()) >= 3 and (c := self.header(part)) is not None), None)
        return found

    def _header(self, name: str) -> str | None:
        key = normalize(name)
        if key in self.headers:
            return self.headers[key]
        for pattern, category in self.header_patterns:
            if pattern.fullmatch(key) or pattern.fullmatch(name.strip().rstrip(":").strip()):
                return category
        return None

    def subheader(self, name: str, bulleted: bool = False) -> str | None:
        key = normalize(name)
        role = self.subheaders.get(key)
        if role is None and bulleted and any(w in key for w in self.system_words):
            role = "system"  # "- General Examination:", "- Auscultation of Lungs:"
        return role

    def has_header_word(self, name: str) -> bool:
        return any(w.lower() in self.header_words for w in _WORD.findall(name))


def load_layout_rules(path: str | Path = LAYOUT_RULES) -> dict[str, Any]:
    from clinlm.formats import read_text_file

    return json.loads(read_text_file(path))


_DEFAULT_VOCABULARY: Vocabulary | None = None


def default_vocabulary() -> Vocabulary:
    """medspaCy's section rules plus clinlm's, and the layout rules (built once)."""
    global _DEFAULT_VOCABULARY
    if _DEFAULT_VOCABULARY is None:
        from clinlm.context.rules import MEDSPACY_SECTION_RULES

        rules = list(read_rules(MEDSPACY_SECTION_RULES, "section")) if MEDSPACY_SECTION_RULES.is_file() else []
        _DEFAULT_VOCABULARY = Vocabulary(rules + list(read_rules(PROJECT_SECTION_RULES, "section")))
    return _DEFAULT_VOCABULARY


# -- reading a text ------------------------------------------------------------------------------
@dataclass
class _Raw:
    """One line as parsed: its marker, header/sub-header (if any) and where its content starts."""

    start: int
    end: int
    kind: str = "text"
    marker_end: int | None = None
    label_start: int = 0
    label_end: int = 0  # the header span (bullet, brackets and colon included)
    name: str = ""
    category: str | None = None  # header: section category; subheader: role
    content: bool = False  # text follows the header on the same line


def _is_caps(s: str) -> bool:
    letters = [c for c in s if c.isalpha()]
    return len(letters) >= 2 and all(not c.islower() for c in letters)


def read_layout(text: str, vocabulary: Vocabulary | None = None) -> Layout:
    """The :class:`Layout` of ``text`` (``vocabulary`` default: :func:`default_vocabulary`)."""
    vocab = vocabulary if vocabulary is not None else default_vocabulary()
    letters = [c for c in text if c.isalpha()]
    upper = sum(1 for c in letters if c.isupper())
    caps_note = len(letters) >= 200 and upper > 0.6 * len(letters)  # a note all in capitals: capitals say nothing
    raws: list[_Raw] = []
    pos = 0
    for m in NEWLINE.finditer(text):
        raws.append(_Raw(pos, m.start()))
        pos = m.end()
    if pos < len(text):  # the last line, unless the text ends with a line break (as str.splitlines)
        raws.append(_Raw(pos, len(text)))
    current: str | None = None  # category of the section the line is in
    for r in raws:
        _parse_line(text, r, vocab, caps_note, current)
        if r.kind == "header":
            current = r.category
    _read_as_a_report(raws)
    layout = Layout(len(text))
    layout.lines = [Line(r.start, r.end, r.kind) for r in raws]
    _structure(text, raws, vocab, layout)
    return layout


#: a header only an imaging report has, a title that names an imaging test, and the headers whose
#: category a report changes
_REPORT_HEADER = "technique"
_REPORT_TITLE = re.compile(r"\b(?:echocardiogra\w*|ultrasound|sonogra\w*|ct|mri|x-?ray|radiograph\w*|angiogra\w*|"
                           r"mammogra\w*|imaging)\b", re.IGNORECASE)
_REPORT_SECTIONS = frozenset({"findings", "examination", "exam", "comparison", "comparisons", "measurements"})


def _read_as_a_report(raws: list[_Raw]) -> None:
    """In an imaging report (it has a TECHNIQUE header, or its first header names an imaging test:
    "TRANSTHORACIC ECHOCARDIOGRAM REPORT") its FINDINGS, EXAMINATION, COMPARISON and MEASUREMENTS are the
    imaging's, not a physical exam's or the labs' ("EXAMINATION: CT ABDOMEN AND PELVIS" was an exam), and
    its INDICATION the history that asked for it."""
    headers = [(r, normalize(r.name or "")) for r in raws if r.kind == "header"]
    if not headers or not (any(name == _REPORT_HEADER for _, name in headers)
                           or (_REPORT_TITLE.search(headers[0][1]) and "report" in headers[0][1])):
        return
    for r, name in headers:
        if name in _REPORT_SECTIONS:
            r.category = "imaging"
        elif name in ("indication", "indications"):
            r.category = "history_of_present_illness"  # why the test was done: as "CLINICAL INDICATION" is


def _parse_line(text: str, r: _Raw, vocab: Vocabulary, caps_note: bool, current: str | None) -> None:
    line = text[r.start:r.end]
    stripped = line.strip()
    if not stripped:
        r.kind = "blank"
        return
    p = r.start + (len(line) - len(line.lstrip()))
    m = _MARKER.match(text, p, r.end)
    marker = m is not None and m.end() < r.end  # a bullet alone on its line is text
    if marker:
        r.marker_end = m.end()
        p = m.end()
    rest_end = r.start + len(line.rstrip())
    rest = text[p:rest_end]
    label = _label(rest, vocab)
    if label is not None:
        name, span_len, colon, bracketed, content = label
        kind, category = _classify(name, colon, content, bracketed, bool(marker), vocab, caps_note, current)
        if kind is not None:
            r.kind, r.category, r.name, r.content = kind, category, name.strip(), content
            r.label_start, r.label_end = (r.start + len(line) - len(line.lstrip())), p + span_len
            return
    r.kind = "item" if marker else "text"


def _label(rest: str, vocab: Vocabulary) -> tuple[str, int, bool, bool, bool] | None:
    """``(name, span length, has colon, bracketed, text follows)`` of a line's possible header."""
    m = _BRACKET.match(rest)
    if m:
        return m.group(1), m.end(), m.group(2) is not None, True, bool(rest[m.end():].strip())
    m = _COLON_LABEL.match(rest)
    if m and len(_WORD.findall(m.group(1))) <= _LABEL_MAX_WORDS and ". " not in m.group(1):
        if len(m.group(1).strip()) == 1 and rest[m.end():].lstrip()[:1].isdigit():
            return None  # "P: 84" is a pulse, not SOAP's plan ("S: Feels better" is the subjective part)
        return m.group(1), m.end(), True, False, bool(rest[m.end():].strip())
    m = _DASH_LABEL.match(rest)
    if m and vocab.subheader(m.group(1)) is not None:  # "Mother - colon cancer", "Lungs - clear"
        return m.group(1), m.end(), True, False, bool(rest[m.end():].strip())
    words = rest.split()
    if (0 < len(words) <= _STANDALONE_MAX_WORDS and len(rest) <= 60 and any(c.isalpha() for c in rest)
            and rest[-1] not in ".!?;,"):
        return rest, len(rest), False, False, False
    return None


def _classify(name: str, colon: bool, content: bool, bracketed: bool, bulleted: bool, vocab: Vocabulary,
              caps_note: bool, current: str | None) -> tuple[str | None, str | None]:
    """``("header", category)``, ``("subheader", role)`` or ``(None, None)``."""
    category = vocab.header(name)
    role = vocab.subheader(name, bulleted and category is None)  # "- General Examination:", not "6. PHYSICAL EXAM"
    caps = _is_caps(name) and not caps_note
    if bracketed:
        return "header", category or slug(name)
    if not content:  # the header is the whole line
        if role is not None and (category is None or current in ("physical_exam", "review_of_systems")):
            return "subheader", role
        if category is not None and (colon or len(normalize(name)) > 2):
            return "header", category
        if caps and (colon or vocab.has_header_word(name)) and not any(ch.isdigit() for ch in name):
            return "header", slug(name)
        if colon and vocab.has_header_word(name) and not bulleted:
            return "header", slug(name)
        return (None, None)
    if not colon:
        return (None, None)
    if role is not None and (category is None or current in ("physical_exam", "review_of_systems")
                             or (role == "social" and current == "social_history")):
        return "subheader", role  # "Vitals: BP 138/82" inside an exam; "Education: ..." in a social history
    if category is not None:
        return "header", category
    if caps and len(name.split()) <= 4:
        if current in PROBLEM_SECTIONS and name.strip() in vocab.problem_abbreviations:
            return (None, None)  # "4. COPD: No wheezing" in a hospital course is a problem and what was done
        return "subheader", "system"  # "MSK: Negative myalgia", "HEENT: normocephalic"
    return (None, None)


def _continues(text: str, prev: _Raw, line: _Raw) -> bool:
    """Whether ``line`` continues ``prev`` (a wrapped sentence) rather than starting a new block."""
    if line.kind != "text" or prev.kind == "blank":
        return False
    if prev.kind in ("header", "subheader") and not prev.content:
        return False
    before = text[prev.start:prev.end].rstrip()
    first = text[line.start:line.end].lstrip()[:1]
    if not before or _SENTENCE_END.search(before) or before.endswith(":"):
        return False
    if first.islower():
        return True
    last = before.split()[-1].lower() if before.split() else ""
    if before[-1] in ",(-/&+" or last in _JOINERS:
        return True
    return len(before) >= _WRAP_LENGTH


def _structure(text: str, raws: list[_Raw], vocab: Vocabulary, layout: Layout) -> None:
    breaks: set[int] = set()
    headers: list[_Raw] = []
    block_end: dict[int, int] = {}  # line index -> end offset of the block it starts (line + continuations)
    starts: list[int] = []  # index of the line starting each block
    cont = [False] * len(raws)
    for i, r in enumerate(raws):
        if r.kind == "blank":
            continue
        if i > 0 and _continues(text, raws[i - 1], r):
            cont[i] = True
            block_end[starts[-1]] = r.end
            continue
        starts.append(i)
        block_end[i] = r.end
        breaks.add(r.start + (len(text[r.start:r.end]) - len(text[r.start:r.end].lstrip())))
        if r.marker_end is not None:
            breaks.add(r.marker_end)  # an item's text starts after its bullet or number
        if r.kind in ("header", "subheader"):
            headers.append(r)
            breaks.add(r.label_start)
            if r.content:
                breaks.add(r.label_end + (len(text[r.label_end:r.end]) - len(text[r.label_end:r.end].lstrip())))
    # inline headers: a known name and its colon after the end of a sentence ("... stable. Plan: ..."), and
    # inline sub-headers ("CONSTITUTIONAL: No fever. RESPIRATORY: No cough", "... Cardiovascular: No edema")
    limit: dict[int, int] = {}  # id(header) -> where a header with text after it on its line stops at the latest
    for i in starts:
        r = raws[i]
        if r.kind == "subheader" and r.content:
            limit[id(r)] = block_end[i]
    inline: list[_Raw] = []
    for i in starts:
        r = raws[i]
        lo = r.label_end if r.kind in ("header", "subheader") else (r.marker_end or r.start)
        hi = block_end[i]
        found = []
        if vocab._inline is not None:
            found += [(m, "header") for m in vocab._inline.finditer(text, lo, hi)]
        found += [(m, "subheader") for m in vocab._inline_sub.finditer(text, lo, hi)]
        taken = lo  # where the last inline header of this block ended
        for m, kind in sorted(found, key=lambda x: x[0].start()):
            name = m.group(1)
            # after the end of a sentence, or first on a header's line ("PHYSICAL EXAM: LYMPH: No nodes")
            first = r.kind == "header" and m.start() >= lo and not text[lo:m.start()].strip()
            if m.start() < taken or not (first or re.search(r"[.!?;]['\")]*\s*$", text[max(lo, m.start() - 8):m.start()])):
                continue
            if kind == "header":
                if vocab.subheader(name) is not None:
                    continue
                h = _Raw(r.start, r.end, "header", None, m.start(), m.end(), name, vocab.header(name), True)
            else:
                if vocab.header(name) is not None and vocab.subheader(name) is None:
                    continue
                h = _Raw(r.start, r.end, "subheader", None, m.start(), m.end(), name,
                         vocab.subheader(name) or "system", True)
                limit[id(h)] = hi
            inline.append(h)
            taken = m.end()
            rest = text[m.end():hi]
            breaks.update((m.start(), m.end() + len(rest) - len(rest.lstrip())))
    headers = sorted(headers + inline, key=lambda h: h.label_start)
    level1 = [h for h in headers if h.kind == "header"]
    for k, h in enumerate(level1):
        end = level1[k + 1].label_start if k + 1 < len(level1) else len(text)
        layout.sections.append(Section(h.label_start, end, 1, _clean_name(h.name), h.category, h.label_start,
                                       h.label_end))
    # subsections: to the next header, sub-header or blank line; with text after the sub-header, to the block's end
    next_stop = sorted([h.label_start for h in headers] + [r.start for r in raws if r.kind == "blank"])
    for r in headers:
        if r.kind != "subheader":
            continue
        k = bisect_right(next_stop, r.label_start)
        end = next_stop[k] if k < len(next_stop) else len(text)
        if id(r) in limit:
            end = min(end, limit[id(r)])
        end = _rstrip_to(text, r.label_start, end)
        layout.subsections.append(Section(r.label_start, max(end, r.label_end), 2, _clean_name(r.name), r.category,
                                          r.label_start, r.label_end))
    # items and paragraphs
    for i in starts:
        r = raws[i]
        if r.marker_end is not None:
            layout.items.append(Block(r.start + (len(text[r.start:r.end]) - len(text[r.start:r.end].lstrip())),
                                      block_end[i], r.marker_end))
    para_start = None
    last_end = 0
    for r in raws:
        if r.kind == "blank":
            if para_start is not None:
                layout.paragraphs.append(Block(para_start, last_end))
                para_start = None
            continue
        if para_start is None:
            para_start = r.start + (len(text[r.start:r.end]) - len(text[r.start:r.end].lstrip()))
        last_end = r.start + len(text[r.start:r.end].rstrip())
    if para_start is not None:
        layout.paragraphs.append(Block(para_start, last_end))
    layout.breaks = sorted(b for b in breaks if 0 < b < len(text))


def _clean_name(name: str) -> str:
    return re.sub(r"\s+", " ", name).strip().rstrip(":").strip()


def _rstrip_to(text: str, start: int, end: int) -> int:
    while end > start and text[end - 1].isspace():
        end -= 1
    return end
