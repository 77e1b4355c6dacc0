"""What is not a concept, decided from the note's layout and ConText's own rule matches (never
from a list of concept words).

``ContextAnnotator(...).pipe(docs, clean=True)`` (what ``clinlm annotate`` and ``clinlm.load()``
do) applies, in this order:

1. :func:`split_at_breaks`: an entity that runs across a break of the layout (a line that
   starts a header, a sub-header, a list item or a paragraph; the end of a header) is cut
   there ("HISTORY\\nHypertension" -> "HISTORY", "Hypertension"); pieces are trimmed of
   spaces and punctuation, and a piece with no letter or digit is dropped; in a note with
   sections :func:`split_at_dashes` also cuts at a dash spaced on both sides ("CAP - cont
   ceftriaxone") and at a table's column gap ("Sodium        136"), and
   :func:`join_coordinated_modifiers` makes two adjectives (or an organ before a disease) that share
   a noun one entity ("auditory or visual hallucinations", "breast or ovarian cancer");
2. pieces inside a header or sub-header are dropped ("PHYSICAL EXAMINATION", "[FAMILY
   HISTORY]", "Lungs:" in "Lungs: clear"); then, word by word: :func:`split_at_causes` cuts
   "died of stroke" into "died" and "stroke"; :func:`drop_section_references` drops an entity that
   is only a section's abbreviated name used inline ("unless mentioned in HPI");
   :func:`drop_relatives` drops an entity that is only a relative and starts one after a leading
   relative ("mother died" -> "died");
   :func:`trim_edge_words` takes function and prescription words off an entity's edges ("died of
   a" -> "died", "inhaler PRN" -> "inhaler"); :func:`trim_values` takes a dose or result off its
   end ("Flagyl 500" -> "Flagyl") or a size off its start ("12-mm trocar" -> "trocar") and drops a bare
   measurement ("6 pounds"); in a note with sections :func:`join_salts` joins a drug with its salt
   or with a word that makes another concept of it (:data:`DRUG_HEADS`: "acetaminophen overdose"
   T037, "Lithium level" T058);
3. :func:`name_spans`: names of people are dropped: a capitalised word or two after a title
   ("Mrs. Torres", "Dr. X", "Doctor Kumar") or on a form line of a person ("Patient: Donna
   Torres", "Attending: John Smith, MD"), and every later capitalised use of those words
   ("Torres", "Donna");
4. :func:`trim_leading_cues`: an entity that starts with a forward cue ("No fracture", "no
   distress") starts after it, so the cue acts on what follows (ConText runs again on that note);
5. :func:`is_cue_word` over :func:`cue_spans`: a one-word entity inside the words of a ConText cue
   (negation, uncertainty, history, hypothetical, a cue that ends a scope or affirms:
   "denies", "no", "history" in "no history of", "positive" in "positive for", "endorses",
   "r/o"), a piece of a cue that starts or ends with a function word ("history of"), or an
   entity that is exactly a whole cue ("family history"), is a cue, not a concept, and is
   dropped. Relatives ("mother", "partner") and conditional cues ("on
   exertion") are left: those words are concepts too; so are longer concepts inside a cue
   ("differential diagnosis" in "differential diagnosis includes").

With a model that has T103 (the clinical lists of :mod:`clinlm.context.abbreviations` are in use),
:func:`add_listed_drugs` and :func:`add_dosed_drugs` add the drugs the model left out of a medication
list's lone names and before a dose ("6. Eliquis", "Lokelma 10 g TID").

The NER pipeline also reads a prior on labels from the layout's sections before decoding
(``resources/section_types.json``, :func:`load_section_types`): in a review of systems or an exam,
words lean towards T033 Finding over T038 Biologic Function, for a model with both labels.
"""
from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import replace
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from clinlm.context.layout import PROBLEM_TYPES, Layout, Vocabulary, normalize
from clinlm.document import Entity

#: ConText categories whose cue words are not concepts by themselves (plus any TERMINATE cue).
CUE_CATEGORIES = {"NEGATED_EXISTENCE", "POSSIBLE_EXISTENCE", "HISTORICAL", "HYPOTHETICAL", "AFFIRMED"}

_TRIM = " \t\r\n\u00a0\u2028\u2029\x0b\x0c\x1c\x1d\x1e\x85:;,.-\u2013\u2014*\u2022#|[]()"


# -- 1 and 2: the layout ---------------------------------------------------------------------------
def split_at_breaks(text: str, entities: Iterable[Entity], layout: Layout) -> list[Entity]:
    """Entities cut at the layout's breaks and trimmed; pieces inside headers and sub-headers,
    and pieces with no letter or digit, dropped. An entity that crosses nothing is returned as is."""
    out: list[Entity] = []
    for e in entities:
        cuts = layout.breaks_within(e.start, e.end)
        if not cuts and not layout.in_header(e.start, e.end):
            out.append(e)
            continue
        bounds = [e.start] + cuts + [e.end]
        for a, b in zip(bounds, bounds[1:]):
            a, b = _trim(text, a, b)
            if a >= b or not any(c.isalnum() for c in text[a:b]) or layout.in_header(a, b):
                continue
            out.append(e if (a, b) == (e.start, e.end) else _respan(e, text, a, b))
    return out


#: Words no concept starts or ends with ("died of", "Inspection of the", "of surgery", "Mother had"),
#: pronouns, conjunctions and time words the model tags alone on whole notes ("his", "As", "that",
#: "recent", "any"), and verbs that report a result ("grew Streptococcus pneumoniae").
EDGE_WORDS = frozenset({"of", "for", "to", "with", "in", "on", "at", "by", "from", "the", "a", "an", "and", "or",
                        "is", "are", "was", "were", "be", "been", "has", "have", "had",
                        "he", "she", "him", "his", "her", "hers", "they", "them", "their", "we", "our", "you", "your",
                        "my", "me", "this", "that", "these", "those", "which", "who", "whom", "whose", "as", "but",
                        "if", "than", "then", "so", "over", "into", "about", "during", "within", "through", "after",
                        "before", "under", "any", "recent", "past", "current", "last", "former", "both", "either",
                        # "no other problems", "No one else is ill", "no known drug allergies", "no obvious
                        # deformity", "in no apparent distress", "was found to have" (whole MTS-Dialog notes)
                        "other", "one", "else", "anyone", "someone", "nobody", "known", "obvious", "apparent", "found", "well",
                        "appreciated", "appreciable", "once", "twice", "longer",  # "bumped his head once", "no longer"
                        # degree and manner adverbs ("she somewhat uncomfortable", "her leg was really swollen",
                        # "cannot walk and easily falls")
                        "very", "really", "just", "somewhat", "quite", "rather", "fairly", "pretty", "easily", "much",
                        "mildly", "moderately", "markedly", "slightly", "severely",  # "mildly distended": how much
                        "mod", "subj", "incr",  # telegraphic notes: "mod resp distress", "subj fevers", "incr sputum"
                        # verbs that report a result: "Blood cultures grew Streptococcus pneumoniae", "CT showed"
                        "grew", "grows", "showed", "shows", "revealed", "reveals", "demonstrated", "demonstrates",
                        "labeled", "labelled",  # a pathology report's "Received in formalin labeled with ..."
                        # "locking and pain since then"; a lone "No" of "No changes in bowel habits" (not "NO",
                        # nitric oxide: only the lower-case and capitalized forms are edge words)
                        "since", "until", "no", "not",
                        # the verbs of a problem-based plan ("COPD - cont albuterol", "hold metformin", telegraphic
                        # progress notes): what is done with a drug, not part of its name
                        "cont", "continue", "continued", "start", "started", "resume", "resumed", "hold", "held",
                        "stop", "stopped", "discontinue", "discontinued", "titrate", "titrated", "taper", "wean",
                        "discontinuing", "starting", "stopping", "holding", "continuing", "resuming",
                        "repeat",  # "repeat CT in 4 weeks": when again, not what
                        "trace",  # "trace b/l LE edema": how much, not what
                        "prior", "previous", "previously",  # "prior hospitalization": when, not what (ConText's cue)
                        # routes ("amoxicillin 1 g orally"): how a drug is given; ST21pv has no type for them, and
                        # the default model typed them T082 Spatial Concept ("intravenous", an adjective that also
                        # names concepts, "intravenous drug abuse", is dropped only alone: clinical_abbreviations.json)
                        "orally", "intravenously", "subcutaneously", "intramuscularly", "topically", "sublingually"})
#: Verbs of a course, cut from the end of a longer entity ("Return if the fever or shortness of breath
#: recurs") but kept alone: "Return if chest pain worsens" has "worsens" as a finding of its own.
COURSE_WORDS = frozenset({"recurs", "recur", "recurred", "persists", "persist", "persisted", "worsens", "worsened",
                          "occurs", "occur", "occurred",
                          # an exam's verdict after what was examined ("Left TM clear", "Elbows clear")
                          "clear", "intact"})
_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)?")


#: How often and by which route a drug is taken, as prescriptions write it ("PRN", "b.i.d.", "p.o.",
#: "q6h", "daily"): the model tags them after a drug name, and they are no concept of ST21pv.
_SIG = re.compile(r"(?<![\w.])(?:p\.r\.n\.?|prn|b\.i\.d\.?|bid|t\.i\.d\.?|tid|q\.i\.d\.?|qid|q\.d\.?|qd|"
                  r"q\.h\.s\.?|qhs|q\.?am|q\.?pm|p\.o\.?|po|q\d+h|q\d+-\d+h|daily|nightly|bedtime|"
                  r"sc|sq|subq|subcut|s\.c\.|im|i\.m\.|iv|i\.v\.|sliding[ -]scale)(?![\w])", re.IGNORECASE)


#: Answers that a system or a result is normal ("ENDOCRINE: Nonsignificant.", "Labs within normal limits"):
#: they name nothing, so an entity of only these words is no concept.
NORMAL_WORDS = frozenset({"normal", "nonsignificant", "non-significant", "unremarkable", "noncontributory",
                          "non-contributory", "wnl", "normal limits", "within normal limits",
                          # "SKIN: None significant.", "HEMATOLOGICAL: None significant." (MTS-Dialog reviews of systems)
                          "none", "none significant", "nothing significant",
                          # "ENT: Not remarkable." ("remarkable for X" is a cue: positive for)
                          "remarkable",
                          # "IMMUNOLOGIC: Negative; Negative for steroids" (a built note, 2026-12-07)
                          "negative", "neg"})


def _edge_word(w: str) -> bool:
    """``of``, ``The``; not ``A`` (vitamin A, hepatitis A) nor ``OR`` (the operating room)."""
    return (w in EDGE_WORDS or (len(w) > 1 and w[0].isupper() and w[1:].islower() and w.lower() in EDGE_WORDS)
            or w in _CAPITAL_EDGE_WORDS)


#: edge words notes write in capitals ("OTC hydrocortisone": over the counter)
_CAPITAL_EDGE_WORDS = frozenset({"OTC"})


#: Slashed abbreviations of cues that an entity never starts or ends with ("No h/o tobacco", "s/p
#: appendectomy", "c/o pain", "w/o fever"): ConText reads them; "h" and "o" are no words of a concept.
_SLASHED = re.compile(r"(?<![\w/])(?:h/o|s/p|c/o|w/o|w/|r/o|y/o)(?![\w/])", re.IGNORECASE)  # y/o: years old


def _sig_spans(text: str, a: int, b: int) -> list[tuple[int, int]]:
    """Prescription words (:data:`_SIG`) and slashed cue abbreviations (:data:`_SLASHED`) that overlap
    ``text[a:b]`` (looked for a little beyond it, so that "p" cut from "p.o." is found)."""
    lo, hi = max(0, a - 6), min(len(text), b + 6)
    return [m.span() for pattern in (_SIG, _SLASHED) for m in pattern.finditer(text, lo, hi)
            if m.start() < b and m.end() > a]


#: Two capital letters joined by "&" ("H&H", "I & D"), or by "and" after no word or an article ("had a D and
#: C"; not "aspersclerotiorones A and B", "hepatitis B and C"): one letter alone is no concept.
_LETTER_PAIR = re.compile(r"(?<![\w&])(?P<amp>[A-Z]\s*&\s*[A-Z])(?![\w&])"
                          r"|(?:^|[^\w\s]\s*|(?<!\w)(?:[Aa]n?|[Tt]he)\s+)(?P<pair>[A-Z]\s+and\s+[A-Z])(?![\w&])", re.M)
#: A list number inside a line ("2. Bone fragment removed. 3. Ovarian cancer staging"): not the concept's.
_ENUMERATOR = re.compile(r"\d{1,2}[.)]\s+(?=[A-Za-z])")
#: Prefixes written with a hyphen ("re-consulted", "pre-op", "non-smoker"): alone they are no concept.
_PREFIXES = frozenset({"re", "pre", "post", "non", "anti", "co", "un", "sub", "semi", "multi", "de", "mid", "self", "pan"})


def trim_edge_words(text: str, entities: Iterable[Entity]) -> list[Entity]:
    """Entities without the function words (:data:`EDGE_WORDS`), prescription words ("PRN", "p.o."),
    slashed cue abbreviations ("h/o") and punctuation at their edges, nor a verb of a course
    or an exam's verdict (:data:`COURSE_WORDS`) at the end of a longer entity, nor a list number inside a line at the
    start; an entity of nothing else (or with no letter or digit at all), only a word of normality
    (:data:`NORMAL_WORDS`), a hyphenated prefix ("re" of "re-consulted") or one letter of a pair
    ("H&H"), is dropped. "Tylenol #" takes the number after it."""
    out: list[Entity] = []
    for e in entities:
        words = [m.span() for m in _WORD.finditer(text, e.start, e.end)]
        sig = _sig_spans(text, e.start, e.end)

        def edge(k: int) -> bool:
            a, b = words[k]
            return _edge_word(text[a:b]) or any(x <= a and b <= y for x, y in sig)

        i, j = 0, len(words)
        # a word joined by a hyphen is part of a compound ("over-the-counter", "follow-up"), not an edge word
        while i < j and edge(i) and text[words[i][1]:words[i][1] + 1] != "-":
            i += 1
        while j > i and ((edge(j - 1) and text[words[j - 1][0] - 1:words[j - 1][0]] != "-")
                         or (j - i > 1 and text[words[j - 1][0]:words[j - 1][1]].lower() in COURSE_WORDS)):
            j -= 1
        if i == j:  # only function words, or no word at all ("-" of a list item's bullet)
            continue
        a = e.start if i == 0 else words[i][0]
        b = e.end if j == len(words) else words[j - 1][1]
        if (a, b) != (e.start, e.end) or text[b - 1:b] == ".":
            a, b = _trim(text, a, b)
        while b > a + 1 and text[b - 1] in "-\u2013" and text[b:b + 1].isalnum():
            b -= 1  # cut inside a hyphenated word ("Amoxicillin-" of "Amoxicillin-clavulanate"); "intra- and" stays
        if b - a > 1 and text[b - 1] in "'\u2019":
            b -= 1  # "player'" of "player's", "bachelor'" of "bachelor's degree": the possessive is not the concept's
        while b - a > 1 and text[b - 1] == "/":
            b -= 1  # "nausea/" of "No nausea/vomiting": the slash joins two concepts
        while b - a > 1 and text[a] == "/":
            a += 1
        if text[b:b + 1] == "#" and text[b + 1:b + 2].isdigit():
            b += 1  # "Tylenol #" of "Tylenol #3": the number is part of the name
        if text[b - 1:b] == "#" and text[b:b + 1].isdigit():
            while b < len(text) and text[b].isdigit():
                b += 1
        if " ".join(text[a:b].lower().split()) in NORMAL_WORDS:
            continue
        if j - i == 1 and text[words[i][0]:words[i][1]] in ("A", "An", "The") and _OPENS.search(
                text, max(0, words[i][0] - 40), words[i][0]):
            continue  # an article that opens a list item or a sentence ("- A 6 mm polyp"), not vitamin A
        if text[a:b].lower() in _PREFIXES and text[b:b + 1] in ("-", "\u2013"):
            continue  # "re" of "re-consulted"
        if b - a == 1 and text[a].isalpha() and any(m.start(m.lastgroup) <= a < m.end(m.lastgroup) for m in
                                                     _LETTER_PAIR.finditer(text, max(0, a - 9), min(len(text), b + 9))):
            continue  # a letter of "H&H", "D and C", "I&D": half an abbreviation
        if number := _ENUMERATOR.match(text, a, b):
            a = number.end()  # "3. Ovarian cancer" of "... arm. 3. Ovarian cancer staging"
        out.append(e if (a, b) == (e.start, e.end) else _respan(e, text, a, b))
    return out


#: what comes right before a sentence's or a list item's first word (the start of a line, a bullet, a stop)
_OPENS = re.compile(r"(?:^|\n|[.!?:]\s)[ \t]*(?:[-*\u2022]|\d+[.)])?[ \t]*$")


#: a dash with space on both sides, inside a line: "1. CAP - cont ceftriaxone", "HTN - cont lisinopril"
_SPACED_DASH = re.compile(r"[ \t]+[-\u2013\u2014]+[ \t]+")
#: the gap between a table's columns ("Sodium        136      135-145"): three spaces or more, or a tab
_COLUMN_GAP = re.compile(r"[ ]{3,}|[ ]*\t[ \t]*")


def split_at_dashes(text: str, entities: Iterable[Entity]) -> list[Entity]:
    """Entities cut at a dash spaced on both sides: in a note's problem-based plan it joins a problem to
    what is done about it ("CAP - cont ceftriaxone" came out as one T103 entity), and in a list a label to
    its text. A hyphen inside a word ("Amoxicillin-clavulanate", "A-fib") is no such dash. The gap between
    a table's columns cuts too ("Sodium        136      135-145" came out as one entity). For notes with
    sections only: tokenized abstracts space every hyphen ("immune - related")."""
    out: list[Entity] = []
    for e in entities:
        cuts = sorted((m.start(), m.end()) for rx in (_SPACED_DASH, _COLUMN_GAP) for m in rx.finditer(text, e.start, e.end)
                      if e.start < m.start() and m.end() < e.end)
        cuts = [c for i, c in enumerate(cuts) if i == 0 or c[0] >= cuts[i - 1][1]]  # a dash inside a gap: once
        if not cuts:
            out.append(e)
            continue
        out += _pieces(text, e, cuts)
    return out


def _pieces(text: str, e: Entity, cuts: Sequence[tuple[int, int]]) -> list[Entity]:
    """``e`` without the ``(start, end)`` separators inside it: its trimmed pieces that hold a letter or digit."""
    bounds = [e.start] + [x for c in cuts for x in c] + [e.end]
    out = []
    for a, b in zip(bounds[::2], bounds[1::2]):
        a, b = _trim(text, a, b)
        if a < b and any(c.isalnum() for c in text[a:b]):
            out.append(_respan(e, text, a, b))
    return out


#: the salt or release form that completes a drug's name ("metoprolol tartrate", "Toprol XL")
SALTS = frozenset({"succinate", "tartrate", "sulfate", "hydrochloride", "hcl", "citrate", "maleate", "besylate",
                   "mesylate", "fumarate", "acetate", "phosphate", "bromide", "gluconate", "carbonate", "sodium",
                   "potassium", "calcium", "magnesium", "xl", "sr", "er", "xr", "la", "cd", "odt"})  # not "CR": Cr
#: ST21pv's type of drugs (letters right after a drug's name belong to the product: "Duraphen II DM")
DRUG = "T103"
_SALT_AFTER = re.compile(r"[ \t]+([A-Za-z]+)\b")


#: a list item of a medication list that is one name alone ("6. Eliquis", "- Singulair.")
_LISTED_NAME = re.compile(r"[ \t]*([A-Z][A-Za-z]*(?:-[A-Za-z]+)?)[ \t]*\.?[ \t]*")
#: what a medication list's item may say that is no drug
_NOT_A_DRUG = frozenset({"none", "unknown", "see", "per", "nkda", "otc", "vitamins", "supplements", "herbals", "other"})
#: section categories whose items are drugs
MEDICATION_SECTIONS = frozenset({"medications"})


def add_listed_drugs(text: str, entities: Iterable[Entity], layout: Layout) -> list[Entity]:
    """Entities plus a T103 drug for every item of a medication list that is one capitalised name alone
    and that no entity touches: in a numbered list of fifteen brand names, "Eliquis" and "Singulair"
    were the two the model left out (2026-12-07). For notes with sections, a model that has T103."""
    def names() -> Iterator[tuple[int, int, int, int]]:
        for item in layout.items:
            start = item.marker_end if item.marker_end is not None else item.start
            section = layout.section_at(start)
            if section is None or section.category not in MEDICATION_SECTIONS:
                continue
            m = _LISTED_NAME.fullmatch(text, start, item.end)
            if m is None or len(m.group(1)) < 4 or m.group(1).lower() in _NOT_A_DRUG:
                continue
            if not layout.in_header(*m.span(1)):  # "4. MEDICATIONS" is the list's header
                yield item.start, item.end, *m.span(1)

    return _add_drugs(text, entities, names(), "medication list")


#: a capitalised name right before a drug's dose ("Lokelma 10 g TID")
_DOSED_NAME = re.compile(r"\b([A-Z][a-z]{3,}(?:-[A-Za-z]+)?)[ \t]+\d+(?:\.\d+)?[ \t]*(?:mg|mcg|g|units?|meq|mEq|"
                         r"tablets?|capsules?|puffs?)\b")
#: capitalised words that start a sentence about a dose without naming a drug ("Take 2 tablets", "Given 1 g")
_DOSE_VERBS = frozenset({"take", "takes", "taking", "took", "give", "given", "gave", "dose", "doses", "total", "received",
                         "receive", "increase", "increased", "decrease", "decreased", "reduce", "reduced", "change",
                         "changed", "switch", "switched", "add", "added", "then", "also", "about", "approximately",
                         "each", "every", "weight", "sodium", "protein", "fluid", "fluids", "carbohydrate", "fiber"})


def add_dosed_drugs(text: str, entities: Iterable[Entity]) -> list[Entity]:
    """Entities plus a T103 drug for a capitalised name right before a drug's dose that no entity touches:
    "Lokelma 10 g TID" (a drug newer than the model's data) was untagged (2026-12-07). Verbs and nutrients
    that come before an amount are not drugs ("Take 2 tablets", "Protein 60 g"). For notes with sections,
    a model that has T103."""
    names = ((*m.span(1), *m.span(1)) for m in _DOSED_NAME.finditer(text)
             if m.group(1).lower() not in _DOSE_VERBS and m.group(1).lower() not in EDGE_WORDS)
    return _add_drugs(text, entities, names, "name before a dose")


def _add_drugs(text: str, entities: Iterable[Entity], names: Iterable[tuple[int, int, int, int]],
               source: str) -> list[Entity]:
    """``entities`` plus a T103 drug at ``[a, b)`` for each ``(lo, hi, a, b)`` of ``names`` whose ``[lo, hi)``
    no entity touches, sorted; one sweep with a sorted index, not a scan per name."""
    out = sorted(entities, key=lambda e: (e.start, e.end))
    starts = [e.start for e in out]
    reach, furthest = [], -1  # reach[i]: the furthest end among out[:i + 1] (an entity may hold the next)
    for e in out:
        furthest = max(furthest, e.end)
        reach.append(furthest)
    added = []
    for lo, hi, a, b in names:
        i = bisect_left(starts, hi)
        if (i > 0 and reach[i - 1] > lo) or (i < len(out) and out[i].start < hi):
            continue
        added.append(Entity(a, b, DRUG, text[a:b], None, {"source": source}))
    return sorted(out + added, key=lambda e: (e.start, e.end))


#: a word after a drug's name that makes the two one concept of another type: a poisoning by the drug
#: (ST21pv T037 Injury or Poisoning: "acetaminophen overdose", "lithium toxicity"; MM train types "X
#: toxicity" T037 3 of 3) or the laboratory test of its level (T058: "Acetaminophen level 182",
#: "digoxin level")
DRUG_HEADS = {**{w: "T037" for w in ("overdose", "overdoses", "toxicity", "poisoning", "intoxication")},
              **{w: "T058" for w in ("level", "levels")}}


def join_salts(text: str, entities: Iterable[Entity]) -> list[Entity]:
    """A drug's name with its salt or release form after it as one entity: "metoprolol tartrate" came out
    as two T103 entities, "Toprol XL" as "Toprol" alone. The drug must be T103 and the next word a form of
    :data:`SALTS`, or a word of :data:`DRUG_HEADS`, which gives the whole its type ("acetaminophen
    overdose" came out as a drug and a T038 "overdose"); an entity that was that word alone goes into the
    drug's. For notes with sections."""
    ordered = sorted(entities, key=lambda e: (e.start, e.end))
    out: list[Entity] = []
    k = 0
    while k < len(ordered):
        e = ordered[k]
        m = _SALT_AFTER.match(text, e.end) if e.label == DRUG else None
        word = m.group(1).lower() if m else ""
        if word in SALTS or word in DRUG_HEADS:
            nxt = ordered[k + 1] if k + 1 < len(ordered) else None
            if nxt is None or nxt.start >= m.end() or (nxt.start, nxt.end) == m.span(1):
                joined = _respan(e, text, e.start, m.end())
                out.append(replace(joined, label=DRUG_HEADS[word]) if word in DRUG_HEADS else joined)
                k += 2 if nxt is not None and (nxt.start, nxt.end) == m.span(1) else 1
                continue
        out.append(e)
        k += 1
    return out


_SENTENCE_END = re.compile(r"[.!?]+[ \t]+(?=[A-Z])")
#: words whose period ends no sentence ("Dr. Smith", "vs. Placebo")
_TITLES = frozenset({"dr", "mr", "mrs", "ms", "st", "vs", "no", "approx", "jr", "sr", "prof", "fig"})


def split_at_sentence_ends(text: str, entities: Iterable[Entity]) -> list[Entity]:
    """Entities cut where a sentence ends inside them ("strict I/O. Echo" of "Continue strict I/O. Echo
    ordered." was one T058 entity): a period, then a capital. Not after a title ("Dr. Smith") or an
    initial ("E. Coli", "S. aureus"). For notes with sections, as the dashes."""
    out: list[Entity] = []
    for e in entities:
        cuts = []
        for m in _SENTENCE_END.finditer(text, e.start, e.end):
            word = text[e.start:m.start()].split()[-1:]  # the token the period ends ("I/O", "Dr", "E")
            if m.start() > e.start and m.end() < e.end and word and len(word[0]) > 1 and word[0].lower() not in _TITLES:
                cuts.append((m.start(), m.end()))
        if not cuts:
            out.append(e)
            continue
        out += _pieces(text, e, cuts)
    return out


_CAUSE = re.compile(r"\b(died|dies|passed away|deceased)\s+(?:of|from)\s+", re.IGNORECASE)


def split_at_causes(text: str, entities: Iterable[Entity]) -> list[Entity]:
    """"died of stroke" is two concepts, the death and its cause: the entity is cut around "of"/"from"
    ("died", "stroke"), each piece keeping the label."""
    out: list[Entity] = []
    for e in entities:
        found = _CAUSE.search(text, e.start, e.end)
        if found is None or found.end() >= e.end:
            out.append(e)
            continue
        for a, b in ((e.start, found.end(1)), (found.end(), e.end)):
            a, b = _trim(text, a, b)
            if a < b:
                out.append(_respan(e, text, a, b))
    return out


_COORDINATOR = re.compile(r"\s+(?:and/or|and|or)\s+")


def split_at_coordinators(text: str, entities: Iterable[Entity]) -> list[Entity]:
    """A problem entity cut at "and" / "or" inside it: "shortness of breath and productive" of "shortness
    of breath and productive cough" was one T033 entity beside "cough". A last piece that ends right
    before the next entity, one space between, modifies it and joins it ("productive cough", with that
    entity's type). Problems only (T033, T038, T037), in notes with sections."""
    ordered = sorted(entities, key=lambda e: (e.start, e.end))
    out: list[Entity] = []
    k = 0
    while k < len(ordered):
        e = ordered[k]
        k += 1
        cuts = [m.span() for m in _COORDINATOR.finditer(text, e.start, e.end)] if e.label in PROBLEM_TYPES else []
        if not cuts:
            out.append(e)
            continue
        pieces = _pieces(text, e, cuts)
        nxt = ordered[k] if k < len(ordered) else None
        if pieces and nxt is not None and pieces[-1].end == e.end and text[e.end:nxt.start] == " ":
            last = pieces.pop()
            out += pieces
            out.append(_respan(nxt, text, last.start, nxt.end))
            k += 1
            continue
        out += pieces
    return out


#: an adjective's ending ("auditory", "visual", "cervical", "suicidal", "hepatic", "obstructive") or a common
#: adjective of another shape ("Acute and chronic cholecystitis", "upper and lower extremity weakness"), or an organ
#: naming a kind of disease ("breast or ovarian cancer", "head and neck cancer")
_ORGANS = frozenset({"breast", "colon", "lung", "skin", "bone", "liver", "kidney", "bladder", "head", "neck"})
_ADJECTIVE = (r"(?:[A-Za-z]+(?:al|ic|ive|ous|ary|ory|ar|ian)|(?i:acute|severe|mild|moderate|diffuse|benign|malignant|upper|lower|"
              + "|".join(sorted(_ORGANS)) + "))")
#: "auditory or " / "cervical and " right before an entity whose first word is an adjective too
_MODIFIER_BEFORE = re.compile(r"(?<![\w-])(" + _ADJECTIVE + r")\s+(?:and/or|and|or)\s+$")
_FIRST_ADJECTIVE = re.compile(_ADJECTIVE + r"\s+\S")


def join_coordinated_modifiers(text: str, entities: Iterable[Entity]) -> list[Entity]:
    """Two adjectives sharing one noun as one entity: "auditory or visual hallucinations" came out as
    "auditory" (T038) and "visual hallucinations", "No cervical or supraclavicular lymphadenopathy" as
    "supraclavicular lymphadenopathy" alone, so the first adjective was a concept of its own or lost.
    An entity whose first word is an adjective takes in an adjective and "and"/"or" right before it (the
    adjective an entity of one word or no entity), keeping its own type. For notes with sections."""
    ordered = sorted(entities, key=lambda e: (e.start, e.end))
    out: list[Entity] = []
    for e in ordered:
        reach = max(0, e.start - 40)
        m = _MODIFIER_BEFORE.search(text, max(text.rfind("\n", reach, e.start) + 1, reach), e.start)
        if (m is None or m.group(1).lower() in NORMAL_WORDS or not _FIRST_ADJECTIVE.match(text, e.start, e.end)
                or (m.group(1).lower() in _ORGANS and e.label not in PROBLEM_TYPES)):  # not "skin and subcutaneous tissues"
            out.append(e)
            continue
        prev = out[-1] if out else None
        if prev is not None and prev.end > m.start(1):
            if (prev.start, prev.end) != m.span(1):  # the adjective is part of a longer entity: leave both
                out.append(e)
                continue
            out.pop()
        out.append(_respan(e, text, m.start(1), e.end))
    return out


#: Units and forms a dose or a measurement ends with ("20 mg", "1 tablet", "18 mcg", "98.6 F").
_UNITS = (r"(?:mg|mcg|\u00b5g|ug|g|gm|grams?|kg|ml|mL|cc|L|units?|iu|IU|meq|mEq|mmol|mmHg|"
          r"tablets?|tabs?|capsules?|caps?|puffs?|drops?|sprays?|patch(?:es)?|%|pounds?|lbs?|cm|mm|inch(?:es)?|c?Gy|"
          r"pk-yrs?|pack-years?|pack years?|d|days?|wks?|weeks?|hrs?|hours?)")
# a unit may follow its number after a hyphen ("25-mg", "10-mEq" in notes)
_MEASURE = re.compile(r"\d+(?:[.,]\d+)?(?:\s*|-)" + _UNITS)
#: whole digits, decimals, unit (a percentage too: "PD-L1 60%." of a diagnosis line; a blood pressure's "146/80")
_VALUE = re.compile(r"\s+(\d+)([.,]\d*)?(?:/\d+)?((?:\s*|-)" + _UNITS + r"\b[^\n]*|\s*%[^\n]*)?$")
_NUMBER = re.compile(r"[\d.,/%+\-\s]+")
_UNIT = re.compile(_UNITS)
#: a lab result's flag in parentheses: high, low, critical, abnormal
_FLAG = re.compile(r"\((?:H|L|HH|LL|A|C)\)")
#: a size before what it measures ("12-mm trocar", "2 cm nodule", "18-gauge catheter")
_LEADING_SIZE = re.compile(r"\d+(?:[.,]\d+)?(?:\s*|-)(?:mm|cm|inch(?:es)?|Fr|French|gauge)\s+(?=[A-Za-z])")
#: a count after a test or a dose ("Troponin negative x2", "x 3 days"): no concept alone
_COUNT = re.compile(r"[x\u00d7]\s?\d+", re.IGNORECASE)
#: the same at an entity's end ("Duonebs x3", "Trop neg x 2")
_TRAILING_COUNT = re.compile(r"[ \t]+" + _COUNT.pattern + "$", re.IGNORECASE)
#: an age written short ("51y/o", "72 yo", "45 y.o."): the model read "o" of "y/o" as an entity
_AGE = re.compile(r"(?<![\w/])(?:\d{1,3}\s*-?\s*(?:y/o|y\.o\.?|yo|yrs?(?:[\s-]*old)?|years?[\s-]*old|y)|[1-9]0'?s)(?![\w/])",
                  re.IGNORECASE)  # and a decade of life ("died in his 60s")
_AFTER_NUMBER = re.compile(r"\d(?:\s*|-)(?:[A-Za-z\u00b5]+/)?$")  # before a unit of a number ("75 mcg", "820 mcg/g")
_VALUE_GOES_ON = re.compile(r"(?:[.,]\d|\s*/\s*\d|(?:\s*|-)" + _UNITS + r"\b|\s?%)")  # "hydrocortisone 1" of "1% cream"


def trim_values(text: str, entities: Iterable[Entity], numbers: bool = True) -> list[Entity]:
    """Entities without a value at their end: the dose after a drug ("Flagyl 500" in "Flagyl 500 mg",
    "Trizivir 1 tablet") and the result after a test ("Sodium 133", "BP 138" of "BP 138/82", "lactate 1"
    of "lactate 1.8"). A number is a value when a unit, a decimal or "/" follows it, or when it has two
    digits or more; a single digit alone stays part of a name ("caspase 3", "type 1"). An entity that
    is only a measurement ("6 pounds", "20 mg") is dropped, and so is a unit alone right after its number
    ("mcg" of "Levothyroxine 75 mcg", tagged T103 by a model that left the number out); with
    ``numbers`` (a note with sections: "heart rate was reduced to the 70") one that is only a number
    or a piece of an age written short ("o" of "51y/o"), and a size before what it measures is cut off
    ("12-mm trocar"); an abstract's number may name a compound ("led to the discovery of 35": MedMentions types it T103)."""
    out: list[Entity] = []
    for e in entities:
        if _MEASURE.fullmatch(text, e.start, e.end) or (numbers and _NUMBER.fullmatch(text, e.start, e.end)):
            continue
        if (_UNIT.fullmatch(text, e.start, e.end - (text[e.end - 1:e.end] == "."))
                and _AFTER_NUMBER.search(text, max(0, e.start - 12), e.start)):
            continue
        if numbers and _COUNT.fullmatch(text, e.start, e.end):
            continue
        if numbers and _FLAG.fullmatch(text, max(0, e.start - 1), min(len(text), e.end + 1)):
            continue  # a result's flag: "(H)" of "Creatinine 1.3 (H)"
        if numbers and any(m.start() <= e.start and e.end <= m.end()
                           for m in _AGE.finditer(text, max(0, e.start - 12), min(len(text), e.end + 6))):
            continue  # a piece of an age ("o" of "51y/o")
        size = _LEADING_SIZE.match(text, e.start, e.end) if numbers else None
        if size and size.end() < e.end:
            e = _respan(e, text, size.end(), e.end)  # "12-mm trocar": how big, not what
        count = _TRAILING_COUNT.search(text, e.start, e.end)
        if numbers and count and count.start() > e.start:
            e = _respan(e, text, e.start, count.start())  # "Duonebs x3": how many times, not what
        found = _VALUE.search(text, e.start, e.end)  # "$" is the entity's end
        if found and found.start() > e.start:
            whole, decimals, unit = found.groups()
            # a point the number does not go on after ("caspase 3.") is the sentence's, not a decimal; one it
            # does ("potassium 4." of "potassium 4.2": the entity ends inside the value) is
            point = decimals in (".", ",") and not unit
            if point and not text[e.end:e.end + 1].isdigit():
                decimals = None
            if decimals or unit or len(whole) > 1 or _VALUE_GOES_ON.match(text, e.end):
                e = _respan(e, text, e.start, found.start())
        out.append(e)
    return out


def drop_section_references(text: str, entities: Iterable[Entity], references: frozenset[str] | set[str],
                            layout: Layout) -> list[Entity]:
    """In a note with sections, entities that are exactly the abbreviated name of a section ("unless
    otherwise mentioned in HPI", "see PMH"; the layout rules' ``section_references``) dropped: they
    point at a section and are not concepts. Inside a header they are gone already (step 2). Text
    without sections (an abstract) keeps them: there "ROS" is reactive oxygen species (MedMentions
    dev annotates it T103 three times)."""
    if not layout.sections:
        return list(entities)
    return [e for e in entities if normalize(e.text) not in references]


def drop_relatives(text: str, entities: Iterable[Entity], relatives: frozenset[str] | set[str]) -> list[Entity]:
    """Entities without a family member: one that is only a relative ("Mother", "paternal
    grandfather") is the subject of a concept (ConText's FAMILY cue), not a concept, and dropped;
    one that starts with a relative starts after it ("mother died" -> "died")."""
    out: list[Entity] = []
    for e in entities:
        words = [m.span() for m in _WORD.finditer(text, e.start, e.end)]
        lead = next((k for k in range(len(words), 0, -1)
                     if " ".join(text[a:b].lower() for a, b in words[:k]) in relatives), 0)
        if words and lead == len(words):
            continue
        if lead:
            a, b = _trim(text, words[lead][0], e.end)
            e = _respan(e, text, a, b)
        out.append(e)
    return out


def load_section_types(path: str | Path | None = None) -> tuple[dict[str, dict[str, str]], float]:
    """Section -> {model label: label it leans to}, and the prior's strength in log-odds
    (``resources/section_types.json`` by default)."""
    import json

    from clinlm.context.rules import RESOURCES

    data = json.loads(Path(path or RESOURCES / "section_types.json").read_text(encoding="utf-8"))
    return dict(data["sections"]), float(data["prior"])


def section_types_for(labels: Iterable[str], rules: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """``rules`` if the model's entity labels include every label they name, else none: a model with
    another label scheme (BC5CDR's Chemical/Disease, a user's own) is left as it is."""
    have = set(labels)
    named = {x for mapping in rules.values() for pair in mapping.items() for x in pair}
    return rules if named and named <= have else {}


def _respan(e: Entity, text: str, a: int, b: int) -> Entity:
    """``e`` moved to ``text[a:b]`` (its attributes copied, not shared)."""
    return replace(e, start=a, end=b, text=text[a:b], attributes=dict(e.attributes))


def _trim(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a] in _TRIM:
        a += 1
    while b > a and text[b - 1] in _TRIM and not (text[b - 1] == "." and _abbreviation(text, a, b)):
        b -= 1
    while b > a and text[b - 1] in _TRIM.replace(".", ""):
        b -= 1
    return a, b


def _abbreviation(text: str, a: int, b: int) -> bool:
    """``Dr.``, ``b.i.d.``: a dot that belongs to the word before it; not after an acronym in capitals
    ("possible SBP." at the end of a sentence)."""
    word = text[a:b].split()[-1] if text[a:b].split() else ""
    if word.count(".") == 1 and word.endswith(".") and len(word) > 2 and word[:-1].isupper():
        return False
    return len(word) <= 4 or word.count(".") > 1


# -- 3: names of people --------------------------------------------------------------------------
def name_spans(text: str, layout: Layout, vocabulary: Vocabulary) -> list[tuple[int, int]]:
    """Character spans of people's names (see the module doc), sorted."""
    titles = "|".join(re.escape(t) for t in vocabulary.name_titles)
    suffixes = "|".join(re.escape(s) for s in sorted(vocabulary.name_suffixes, key=len, reverse=True))
    cap = r"[A-Z][a-zA-Z'\-]*[a-z][a-zA-Z'\-]*|[A-Z](?![a-zA-Z])"
    spans: list[tuple[int, int]] = []
    words: set[str] = set()
    if titles:
        # after a title an all-capital word is a name too ("Dr. XYZ", the placeholder of de-identified notes)
        first = rf"{cap}|[A-Z][A-Z'\-]+(?![a-zA-Z])"
        titled = re.compile(rf"\b(?:{titles})\.?[ \t]+((?:{first})(?:(?:(?<=\b[A-Z])\.)?[ \t]+(?!(?:{titles})\b)(?:[A-Z]\.[ \t]+)?(?:{cap}))?)")
        for m in titled.finditer(text):
            spans.append((m.start(), m.end()))
            words.update(w for w in re.findall(r"[A-Za-z'\-]{2,}", m.group(1)))
    full = re.compile(rf"^(?:(?:{titles})\.?\s+)?(?:{cap})(?:[,.]?[ \t]+(?:{cap})){{0,3}}(?:,?[ \t]+(?:{suffixes}))?[ \t.]*$"
                      if titles else rf"^(?:{cap})(?:,?[ \t]+(?:{cap})){{0,3}}[ \t.]*$")
    for sub in layout.subsections:
        if sub.role != "field" or sub.name.lower() not in vocabulary.name_fields:
            continue
        line_end = text.find("\n", sub.header_end)
        line_end = len(text) if line_end < 0 else line_end
        a, b = _trim(text, sub.header_end, min(sub.end, line_end))
        if a < b and full.match(text[a:b].strip()):
            spans.append((a, b))
            words.update(w for w in re.findall(r"[A-Za-z'\-]{2,}", text[a:b])
                         if w not in vocabulary.name_titles and w not in vocabulary.name_suffixes
                         and w.strip(".") not in vocabulary.name_suffixes)
    words = {w for w in words if w[0].isupper() and w not in vocabulary.name_titles}
    if words:
        again = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + r")\b")
        spans += [(m.start(), m.end()) for m in again.finditer(text)]
    return _merge(spans)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def inside_any(start: int, end: int, spans: Sequence[tuple[int, int]]) -> bool:
    """Whether ``[start, end)`` lies within one of the sorted, non-overlapping ``spans``."""
    from bisect import bisect_right

    k = bisect_right(spans, (start, float("inf"))) - 1
    return k >= 0 and spans[k][0] <= start and end <= spans[k][1]


def drop_names(text: str, entities: Iterable[Entity], names: Sequence[tuple[int, int]]) -> list[Entity]:
    """Entities that are not (inside) a person's name; one that starts with a name starts after it
    ("Dr. XYZ's clinic" -> "clinic")."""
    out: list[Entity] = []
    for e in entities:
        if inside_any(e.start, e.end, names):
            continue
        lead = next((b for a, b in names if a <= e.start < b < e.end), None)
        if lead is not None:
            lead += 2 if text[lead:lead + 2] in ("'s", "\u2019s") else 0
            a, b = _trim(text, lead, e.end)
            if a >= b or not any(c.isalnum() for c in text[a:b]):
                continue
            e = _respan(e, text, a, b)
        out.append(e)
    return out


# -- 4 and 5: ConText cue words ---------------------------------------------------------------------
def cue_spans(sdoc, matches: Iterable[tuple[int, int, str, str]]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """``(cues, leading)`` from ConText's cue ``matches`` in ``sdoc`` (``(start token, end token,
    category, direction)``): character spans of the cues whose words are not concepts
    (:data:`CUE_CATEGORIES`, cues that end a scope, and the family cues "family history", "FHx"),
    sorted; and of those the forward and affirming ones, which may start an entity that goes on
    past them ("No fracture", "Endorses depression")."""
    cues, leading = set(), set()
    for s, t, category, direction in matches:
        if s >= t:
            continue
        direction, category = str(direction).upper(), str(category).upper()
        if category == "FAMILY":
            if direction == "PSEUDO" or not any(w.lower_ in ("history", "hx", "fhx") for w in sdoc[s:t]):
                continue  # relatives ("mother", "partner", "family") are concepts too
        elif not (direction == "TERMINATE" or category in CUE_CATEGORIES) or (direction == "PSEUDO"
                                                                              and category != "AFFIRMED"):
            continue
        span = (sdoc[s].idx, sdoc[t - 1].idx + len(sdoc[t - 1].text))
        cues.add(span)
        if (direction == "FORWARD" and category != "FAMILY") or category == "AFFIRMED":
            leading.add(span)
    return sorted(cues), sorted(leading)


def is_cue_word(e: Entity, cues: Sequence[tuple[int, int]]) -> bool:
    """Whether ``e`` is a cue word, not a concept: one word inside a cue ("denies", "history" of "no
    history of"), a fragment of a cue that starts or ends with a function word ("history of"), or
    exactly a whole cue ("family history", "positive for")."""
    words = e.text.lower().split()
    fragment = len(words) <= 1 or words[0] in _FUNCTION_WORDS or words[-1] in _FUNCTION_WORDS  # "history of"
    return any((a <= e.start and e.end <= b and fragment) or (a, b) == (e.start, e.end)
               for a, b in _starting_near(cues, e.start))


_FUNCTION_WORDS = {"of", "for", "to", "with", "without", "in", "on", "at", "by", "from", "the", "a", "an", "and", "or",
                   "any", "no", "not"}


def _starting_near(spans: Sequence[tuple[int, int]], offset: int, reach: int = 200) -> list[tuple[int, int]]:
    """The sorted ``spans`` that start within ``reach`` characters before ``offset`` or at it (a cue
    is a few words: this keeps the look-up logarithmic on megabyte notes)."""
    from bisect import bisect_left, bisect_right

    return list(spans[bisect_left(spans, (offset - reach, -1)):bisect_right(spans, (offset, float("inf")))])


def trim_leading_cues(text: str, entities: Sequence[Entity], leading: Sequence[tuple[int, int]]) -> list[Entity]:
    """Entities that start with a forward cue ("No fracture", "no distress") start after it instead,
    so the cue acts on the concept; the others are returned as they are."""
    out = []
    for e in entities:
        cue = next(((a, b) for a, b in _starting_near(leading, e.start) if a <= e.start < b < e.end), None)
        if cue is not None:
            a = cue[1]
            while a < e.end and text[a] in _TRIM:
                a += 1
            if a < e.end and any(c.isalnum() for c in text[a:e.end]):
                out.extend(trim_edge_words(text, [_respan(e, text, a, e.end)]))  # "history| of present illness"
                continue
        out.append(e)
    return out
