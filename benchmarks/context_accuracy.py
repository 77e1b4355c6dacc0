"""Accuracy of clinlm's assertion/section context per attribute, and its cost per note.

    python3 benchmarks/context_accuracy.py [--runs 20]

Per attribute (negated, uncertain, historical, hypothetical, family, conditional, the
assertion label, the section), the share of cases of tests/context_cases.py where it is
right, on:
  * the tuned suite (CASES: clinlm's rules were written while looking at these),
  * the held-out suite (HELDOUT: written after the rules were frozen: the honest number),
  * both suites with medspaCy's default ConText rules only (clinlm's rule file left out).
A case is fully right when every attribute is. Then the milliseconds the context step adds
to a note: examples/discharge_note.txt with 27 hand-placed concept spans, mean of --runs
runs after one warm-up (building the pipeline, about 5 s, is paid once per process).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from context_cases import CASES, HELDOUT  # noqa: E402

from clinlm.context import FLAGS, ContextAnnotator, assertion_of, default_annotator  # noqa: E402
from clinlm.document import Document  # noqa: E402

ATTRIBUTES = list(FLAGS) + ["assertion", "section"]

NOTE_TERMS = [
    "shortness of breath", "productive cough", "type 2 diabetes mellitus", "chronic kidney disease", "hypertension",
    "fever", "dyspnea", "chest pain", "infiltrate", "community-acquired pneumonia", "Blood cultures", "Streptococcus",
    "Influenza virus", "Myocardial infarction", "drug-eluting stent", "Osteoarthritis", "breast cancer", "stroke",
    "amoxicillin", "metformin", "lisinopril", "aspirin", "atorvastatin", "ceftriaxone", "azithromycin", "insulin",
    "creatinine",
]


def score(annotator: ContextAnnotator, cases) -> dict[str, float]:
    """Share of cases right per attribute, and of cases right on every attribute (``all``);
    per flag also ``found:FLAG`` (cases expecting it that got it) and ``extra:FLAG`` (cases
    that got it without expecting it)."""
    right = dict.fromkeys(ATTRIBUTES + ["all"], 0)
    counts: dict[str, int] = {}
    for case in cases:
        got = annotator(case.document()).entities[0].attributes
        want = {f: f in case.expected for f in FLAGS}
        want["assertion"] = assertion_of(want)
        want["section"] = case.section
        ok = [a for a in ATTRIBUTES if got[a] == want[a]]
        for a in ok:
            right[a] += 1
        right["all"] += len(ok) == len(ATTRIBUTES)
        for f in FLAGS:
            counts[f"want:{f}"] = counts.get(f"want:{f}", 0) + want[f]
            counts[f"found:{f}"] = counts.get(f"found:{f}", 0) + (want[f] and got[f])
            counts[f"extra:{f}"] = counts.get(f"extra:{f}", 0) + (got[f] and not want[f])
    out: dict = {a: n / len(cases) for a, n in right.items()}
    out.update(counts)
    return out


def note_document() -> Document:
    text = (ROOT / "examples" / "discharge_note.txt").read_text(encoding="utf-8")
    doc = Document("discharge_note", text)
    for term in NOTE_TERMS:
        i = text.index(term)
        doc.add(i, i + len(term), "T033")
    return doc


def ms_per_note(annotator: ContextAnnotator, runs: int) -> tuple[float, float, int, int]:
    doc = note_document()
    annotator(doc)  # warm-up: builds the pipeline
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        annotator(doc)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.mean(times), statistics.stdev(times) if runs > 1 else 0.0, len(doc.entities), len(doc.text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    import medspacy

    from clinlm.context.medspacy_bridge import DEFAULT_CONTEXT_RULES

    ours = default_annotator()
    medspacy_only = ContextAnnotator(rules=DEFAULT_CONTEXT_RULES, replace=True)
    rows = [
        (f"clinlm rules, tuned suite ({len(CASES)})", score(ours, CASES)),
        (f"clinlm rules, held-out ({len(HELDOUT)})", score(ours, HELDOUT)),
        (f"medspaCy rules only, tuned ({len(CASES)})", score(medspacy_only, CASES)),
        (f"medspaCy rules only, held-out ({len(HELDOUT)})", score(medspacy_only, HELDOUT)),
    ]
    names = ATTRIBUTES + ["all"]
    short = {"hypothetical": "hypoth.", "conditional": "condit.", "historical": "histor.", "uncertain": "uncert.",
             "assertion": "assert."}
    print(f"medspaCy {medspacy.__version__}; accuracy per attribute (share of cases right)")
    print(f"{'':40s}" + "".join(f"{short.get(n, n):>9s}" for n in names))
    for title, acc in rows:
        print(f"{title:40s}" + "".join(f"{acc[n]:9.3f}" for n in names))
    print("\nper flag: found/expected (cases expecting the flag that got it), +N wrongly set")
    print(f"{'':40s}" + "".join(f"{short.get(f, f):>11s}" for f in FLAGS))
    for title, acc in rows:
        cells = [f"{acc['found:' + f]}/{acc['want:' + f]} +{acc['extra:' + f]}" for f in FLAGS]
        print(f"{title:40s}" + "".join(f"{c:>11s}" for c in cells))
    mean, sd, n_ents, n_chars = ms_per_note(ours, args.runs)
    print(f"\ncontext step: {mean:.1f} ms per note (sd {sd:.1f}, {args.runs} runs) on examples/discharge_note.txt "
          f"({n_chars} characters, {n_ents} concepts)")


if __name__ == "__main__":
    main()
