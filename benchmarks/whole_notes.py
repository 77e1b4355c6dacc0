"""Whole clinical notes (headers, review-of-systems and exam lists, family history lines) through
``clinlm.load()``: sections, assertion and what is not a concept, on notes as clinicians write them.

    python3 benchmarks/whole_notes.py [--model DIR] [--runs 3]
    python3 benchmarks/whole_notes.py --draft NOTE.txt      # the model's raw entities, to judge by hand

Two kinds of notes:

* **built** from MTS-Dialog's note sections (``benchmarks/whole_notes_build.py``, regenerated
  under /tmp every run, never copied here): 40 development notes from its training set and 40
  held-out notes from its validation and test sets. What is true by construction (each
  section's span and category, header lines, system sub-headers) is scored over *every*
  entity the model finds: share with the right section, entities inside headers, entities
  across line items, "Endorses X"/"Positive for X" labelled absent, problems (T033, T037,
  T038) in family history sections labelled family (by construction, though MTS-Dialog's FAM/SOCHX
  sections also hold sentences about the patient, which the pipeline leaves the patient's: the
  problems it lists as "family:" below 1.0 are worth reading, not all errors);
* **hand-written** notes (``benchmarks/whole_notes/{dev,heldout}/*.txt``) in several layouts,
  and hand judgments (``judgments.tsv`` in each folder) of the entities the default model
  finds in them and in some built notes: whether each is a concept (and its exact span:
  pieces of an entity across lines are judged apart), its section, its assertion and, where
  clear, its type. The held-out folder was written after the rules were frozen and run once.

``judgments.tsv``: ``note  start  end  text  verdict  section  assertion  type``; ``verdict`` is
``keep`` (a concept with exactly this span), ``drop`` (not a concept: no entity may lie within
the span) or ``split`` (no entity may have exactly this span: it runs across lines or past or
short of the concept; the right spans have rows of their own); ``section`` is a category or ``-`` for none; ``type`` may be
empty. A note name ``mts_dev_07`` is a built note.

Printed: accuracy per attribute on the judgments (concept, section, assertion, type, all
three of concept/section/assertion: strict, exact spans), the lenient concept accuracy (a kept
concept counts when any entity overlaps it; split rows left out) and its type accuracy, the built-notes figures, and the time ``clinlm.load()``
takes per note with the layout steps next to it (the added time ratio: reading the layout and
dropping what is not a concept, over the rest of the pipeline, in one run).
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from whole_notes_build import OUT, SHARED, build  # noqa: E402

from clinlm.document import Document  # noqa: E402

HAND = ROOT / "benchmarks" / "whole_notes"
PROBLEMS = {"T033", "T037", "T038"}
AFFIRM = re.compile(r"\b(endorses|endorsed|positive for|reports|reported|admits to|admits)\b", re.I)
NEGATION = re.compile(r"\b(no|not|denies|denied|deny|negative|without|never|none|free of|absent)\b", re.I)
STRUCTURAL_LINE = re.compile(r"^\s*(?:$|[-*\u2022\d]|\[|[A-Za-z][A-Za-z /&,]{0,40}:)")


# -- notes --------------------------------------------------------------------------------------------
def built_notes(part: str) -> list[tuple[str, str, dict]]:
    folder = OUT / part
    if not folder.is_dir() or not any(folder.glob("*.txt")):
        build(SHARED, OUT)
    return [(p.stem, p.read_text(encoding="utf-8"), json.loads(p.with_suffix(".json").read_text(encoding="utf-8")))
            for p in sorted(folder.glob("*.txt"))]


def hand_notes(part: str) -> list[tuple[str, str]]:
    return [(p.stem, p.read_text(encoding="utf-8")) for p in sorted((HAND / part).glob("*.txt"))]


def read_judgments(part: str) -> list[dict]:
    path = HAND / part / "judgments.tsv"
    rows = []
    if not path.is_file():
        return rows
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        cols += [""] * (8 - len(cols))
        note, start, end, text, verdict, section, assertion, typ = cols[:8]
        if verdict not in ("keep", "drop", "split"):
            raise SystemExit(f"{path}:{n}: verdict must be keep, drop or split, not {verdict!r}")
        rows.append({"note": note, "start": int(start), "end": int(end), "text": text.replace("\\n", "\n"),
                     "verdict": verdict,
                     "section": None if section in ("-", "") else section, "assertion": assertion or None,
                     "type": typ or None, "where": f"{path.name}:{n}"})
    return rows


# -- scoring ------------------------------------------------------------------------------------------
def score_judgments(rows: list[dict], docs: dict[str, Document], texts: dict[str, str]) -> dict:
    right: Counter = Counter()
    counts: Counter = Counter()
    wrong: list[str] = []
    for r in rows:
        text = texts[r["note"]]
        if text[r["start"]:r["end"]] != r["text"]:
            raise SystemExit(f"{r['where']}: the note has {text[r['start']:r['end']]!r} at {r['start']}:{r['end']}, "
                             f"not {r['text']!r}")
        ents = docs[r["note"]].entities
        counts["judgments"] += 1
        if r["verdict"] == "drop":
            ok = not any(r["start"] <= e.start and e.end <= r["end"] for e in ents)
            right["concept"] += ok
            right["all"] += ok
            right["lenient"] += ok
            counts["drop"] += 1
            if not ok:
                wrong.append(f"{r['note']} {r['text']!r}: kept, should be dropped")
            continue
        if r["verdict"] == "split":
            ok = not any((e.start, e.end) == (r["start"], r["end"]) for e in ents)
            right["concept"] += ok
            right["all"] += ok
            counts["split"] += 1
            if not ok:
                wrong.append(f"{r['note']} {r['text']!r}: not split")
            continue
        counts["keep"] += 1
        near = [e for e in ents if e.start < r["end"] and r["start"] < e.end]
        if near:  # lenient: an entity overlaps the concept, whatever its span
            right["lenient"] += 1
            if r["type"]:
                best = max(near, key=lambda e: min(e.end, r["end"]) - max(e.start, r["start"]))
                right["lenient_type"] += best.label == r["type"]
                counts["lenient_typed"] += 1
        match = [e for e in ents if (e.start, e.end) == (r["start"], r["end"])]
        if not match:
            wrong.append(f"{r['note']} {r['text']!r}: missing (dropped or cut)")
            continue
        e = match[0]
        right["concept"] += 1
        got_section = e.attributes.get("section")
        got_assertion = e.attributes.get("assertion")
        ok_section = got_section == r["section"]
        ok_assertion = got_assertion == r["assertion"]
        right["section"] += ok_section
        right["assertion"] += ok_assertion
        right["kept_all"] += ok_section and ok_assertion
        right["all"] += ok_section and ok_assertion
        if r["type"]:
            counts["typed"] += 1
            right["type"] += e.label == r["type"]
            if e.label != r["type"]:
                wrong.append(f"{r['note']} {r['text']!r}: type {e.label} (want {r['type']})")
        if not (ok_section and ok_assertion):
            wrong.append(f"{r['note']} {r['text']!r}: section {got_section} (want {r['section']}), "
                         f"assertion {got_assertion} (want {r['assertion']})")
    n = counts["judgments"]
    found = counts["keep"] - sum(1 for w in wrong if w.endswith("missing (dropped or cut)"))
    return {"n": n, "keep": counts["keep"], "drop": counts["drop"] + counts["split"], "found": found,
            "concept": right["concept"] / n if n else 0.0,
            "section": right["section"] / found if found else 0.0,
            "assertion": right["assertion"] / found if found else 0.0,
            "type": right["type"] / counts["typed"] if counts["typed"] else 0.0, "typed": counts["typed"],
            "all": right["all"] / n if n else 0.0, "wrong": wrong,
            "lenient": right["lenient"] / (counts["keep"] + counts["drop"]) if counts["keep"] + counts["drop"] else 0.0,
            "lenient_type": right["lenient_type"] / counts["lenient_typed"] if counts["lenient_typed"] else 0.0}


def score_built(notes: list[tuple[str, str, dict]], docs: dict[str, Document]) -> dict:
    c: Counter = Counter()
    examples: dict[str, list[str]] = defaultdict(list)
    for name, text, truth in notes:
        sections = truth["sections"]
        heads = [tuple(h) for h in truth["headers"]] + [tuple(h) for h in truth["subheaders"]]
        for e in docs[name].entities:
            c["entities"] += 1
            want = next((s["category"] for s in sections if s["start"] <= e.start < s["end"]), None)
            got = e.attributes.get("section")
            c["with_section"] += got is not None
            c["right_section"] += got == want
            if got != want and len(examples["section"]) < 8:
                examples["section"].append(f"{name} {e.text!r}: {got} (want {want})")
            if any(e.start < b and a < e.end for a, b in heads):
                c["in_header"] += 1
                if len(examples["in_header"]) < 8:
                    examples["in_header"].append(f"{name} {e.text!r}")
            if _crosses(text, e.start, e.end):
                c["crossing"] += 1
                if len(examples["crossing"]) < 8:
                    examples["crossing"].append(f"{name} {e.text!r}")
            if e.label in PROBLEMS and want == "family_history":
                c["family_problems"] += 1
                c["family_labelled"] += e.attributes.get("family") is True
                if e.attributes.get("family") is not True and len(examples["family"]) < 8:
                    examples["family"].append(f"{name} {e.text!r}")
        c.update(_affirmed(text, docs[name], examples))
    return {"c": c, "examples": examples}


def _crosses(text: str, start: int, end: int) -> bool:
    """Whether ``[start, end)`` runs across a line break into a line that starts an item, a sub-header,
    a header or a paragraph (judged by the line's own look, not by clinlm's layout)."""
    for m in re.finditer(r"\r\n|[\n\r\u2028]", text[start:end]):
        nxt = text[start + m.end(): text.find("\n", start + m.end()) if text.find("\n", start + m.end()) >= 0 else None]
        prev_end = text[:start + m.start()].rstrip()
        if STRUCTURAL_LINE.match(nxt) or nxt.strip() == "" or nxt.strip().isupper() or prev_end.endswith((".", ":")):
            return True
    return False


def _affirmed(text: str, doc: Document, examples) -> Counter:
    """Entities after "Endorses"/"Positive for"/"Reports"/"Admits to" on their line with no negation between."""
    c: Counter = Counter()
    for e in doc.entities:
        line_start = max(text.rfind("\n", 0, e.start) + 1, 0)
        before = text[line_start:e.start]
        cues = list(AFFIRM.finditer(before))
        if not cues:
            continue
        after_cue = before[cues[-1].end():]
        if NEGATION.search(after_cue) or re.search(r"[.;]", after_cue):
            continue
        c["affirmed"] += 1
        a = e.attributes.get("assertion")
        c["affirmed_absent"] += a == "absent"
        c["affirmed_conditional"] += a == "conditional"
        if a == "absent" and len(examples["affirmed_absent"]) < 8:
            examples["affirmed_absent"].append(f"{doc.id} {e.text!r}: {before[-60:]!r}")
    return c


def share(a: int, b: int) -> str:
    return f"{a}/{b} = {a / b:.3f}" if b else f"{a}/0"


# -- main -------------------------------------------------------------------------------------------------
def draft(pipe, path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    doc = next(pipe.pipe([Document(path.stem, text)]))
    for e in doc.entities:
        line = text[max(text.rfind("\n", 0, e.start) + 1, 0):e.start]
        print(f"{path.stem}\t{e.start}\t{e.end}\t{e.text}\t\t\t\t{e.label}\t# ...{line[-40:]!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--runs", type=int, default=3, help="timing runs over the development notes (0: judgments only)")
    parser.add_argument("--draft", type=Path, default=None, help="print the model's raw entities of a note and stop")
    parser.add_argument("--show", type=int, default=12, help="wrong judgments to show per set")
    parser.add_argument("--part", choices=("dev", "heldout", "both"), default="both")
    parser.add_argument("--section-prior", type=float, default=None,
                        help="log-odds of the section prior on labels (default: the shipped one; 0 turns it off)")
    args = parser.parse_args()

    import clinlm

    if args.draft is not None:
        draft(clinlm.load(args.model, context=False), args.draft)
        return
    pipe = clinlm.load(args.model)
    if args.section_prior is not None:
        pipe.section_prior = args.section_prior
    raw = clinlm.load(args.model, context=False)
    print(f"clinlm {getattr(clinlm, '__version__', '?')}, model {args.model or 'default'}\n")
    for part in (("dev", "heldout") if args.part == "both" else (args.part,)):
        built = built_notes(part)
        hand = hand_notes(part)
        texts = {n: t for n, t, _ in built} | dict(hand)
        # one note at a time, as --draft reads them (batching notes changes bf16 numerics a little)
        docs = {d.id: d for d in pipe.pipe([Document(n, t) for n, t in texts.items()], batch_size=1)}
        rows = read_judgments(part)
        title = "development (rules tuned on these)" if part == "dev" else "held-out (written after the rules froze)"
        print(f"== {title}: {len(built)} built notes, {len(hand)} hand-written notes")
        if rows:
            j = score_judgments(rows, docs, texts)
            print(f"hand judgments: {j['n']} ({j['keep']} concepts, {j['drop']} not concepts/split), "
                  f"{len({r['note'] for r in rows})} notes")
            print(f"  concept (kept or dropped right, exact span) {j['concept']:.3f}; of the {j['found']} concepts "
                  f"found: section {j['section']:.3f}, assertion {j['assertion']:.3f}, type {j['type']:.3f} "
                  f"({j['typed']} typed)")
            print(f"  all attributes right (concept, span, section, assertion) {j['all']:.3f}")
            print(f"  lenient (a concept overlapped by an entity, a non-concept untouched; split rows aside) "
                  f"{j['lenient']:.3f}; type of the most overlapping entity {j['lenient_type']:.3f}")
            for w in j["wrong"][:args.show]:
                print(f"    wrong: {w}")
            if len(j["wrong"]) > args.show:
                print(f"    ... {len(j['wrong']) - args.show} more")
        b = score_built(built, docs)
        c = b["c"]
        print(f"built notes: {c['entities']} entities")
        print(f"  right section {share(c['right_section'], c['entities'])}; with a section "
              f"{share(c['with_section'], c['entities'])}")
        print(f"  inside headers/sub-headers {c['in_header']}; across line items {c['crossing']}")
        print(f"  after Endorses/Positive for/Reports/Admits to: absent {share(c['affirmed_absent'], c['affirmed'])}, "
              f"conditional {c['affirmed_conditional']}")
        print(f"  problems in family history sections labelled family {share(c['family_labelled'], c['family_problems'])}")
        for k, ex in b["examples"].items():
            for x in ex[:4]:
                print(f"    {k}: {x}")
        hand_docs = [docs[n] for n, _ in hand]
        ents = sum(len(d.entities) for d in hand_docs)
        a: Counter = Counter()
        for d in hand_docs:
            a.update(_affirmed(d.text, d, defaultdict(list)))
        print(f"hand-written notes: {ents} entities, with a section "
              f"{share(sum(1 for d in hand_docs for e in d.entities if e.attributes.get('section')), ents)}, "
              f"across line items {sum(_crosses(d.text, e.start, e.end) for d in hand_docs for e in d.entities)}; "
              f"after Endorses/Positive for/Reports/Admits to: absent {share(a['affirmed_absent'], a['affirmed'])}, "
              f"conditional {a['affirmed_conditional']}\n")
    if args.runs > 0:  # --runs 0: the judgments only
        timing(pipe, raw, [Document(n, t) for n, t, _ in built_notes("dev")] + [Document(n, t) for n, t in hand_notes("dev")],
               args.runs)


def timing(pipe, raw, docs: list[Document], runs: int) -> None:
    """Per note, in one run: NER alone; the context step without and with ``clean``; reading the layout
    alone. The added time is the layout plus what ``clean`` adds; the rest is NER plus the context step
    without the layout."""
    ctx = pipe.context
    list(pipe.pipe(docs[:2]))  # warm-up
    ner, plain, cleaned, lay = [], [], [], []
    has_layout = hasattr(ctx, "layout")
    for _ in range(runs):
        t = time.perf_counter()
        tagged = list(raw.pipe(docs))
        ner.append(time.perf_counter() - t)
        t = time.perf_counter()
        list(ctx.pipe(tagged, clean=False) if has_layout else ctx.pipe(tagged))
        plain.append(time.perf_counter() - t)
        t = time.perf_counter()
        list(ctx.pipe(tagged, clean=True) if has_layout else ctx.pipe(tagged))
        cleaned.append(time.perf_counter() - t)
        t = time.perf_counter()
        for d in tagged if has_layout else []:
            ctx.layout(d.text).to_dict()
        lay.append(time.perf_counter() - t)
    n = len(docs)
    m = {k: statistics.median(v) / n * 1000 for k, v in (("ner", ner), ("plain", plain), ("clean", cleaned),
                                                          ("layout", lay))}
    added = m["layout"] + m["clean"] - m["plain"]
    base = m["ner"] + m["plain"] - m["layout"]
    print(f"time per note ({n} development notes, median of {runs} runs): NER {m['ner']:.1f} ms; context step "
          f"{m['plain']:.1f} ms without clean, {m['clean']:.1f} ms with clean; reading the layout {m['layout']:.2f} ms")
    print(f"added time per note (layout + clean) {added:.1f} ms over {base:.1f} ms: ratio {added / base:.4f}")


if __name__ == "__main__":
    main()
