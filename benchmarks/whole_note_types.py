"""Types on whole clinical notes: are drugs T103, exam findings T033, procedures T058?

    python3 benchmarks/whole_note_types.py [--model DIR ...]     # several models side by side

Three hand-written notes (``benchmarks/whole_notes/types/note_*.txt``: an ED note on pneumonia
and COPD, a cardiology consult for atrial fibrillation with brand names, a DKA discharge summary)
and ``gold.tsv``: each term's expected ST21pv type and its kind (drug, disease, finding, procedure,
injury, bacterium), written with the notes before any model read them. Every occurrence of a
term (case-insensitive, whole words) is scored: *right* when an entity overlapping it has the
gold type, *wrong type* when entities overlap it with other types only, *untagged* when none.

A development probe for choosing a model (it has steered the choice), not a test set. It is
what the MedMentions figures cannot show: PubMed-trained models typed drug names before a dose
as T058 and exam findings as anatomy on notes. ``drug before a dose`` is the drug occurrences
followed by an amount ("lisinopril 20 mg"), the case clinicians see most.

By default the notes go through the whole pipeline, as a user's do (context and clean: a type
may be read from the section, see ``clinlm.context.concepts.retype_by_section``); ``--model-only``
scores the model's own types.

Printed per model: share right per kind, over all occurrences, and the wrong ones (term, found
type) so a reader can judge them.
"""
from __future__ import annotations

import argparse
import re
from collections import Counter, defaultdict
from pathlib import Path

FOLDER = Path(__file__).resolve().parent / "whole_notes" / "types"
DOSE = re.compile(r"\s+\d+(?:\.\d+)?\s*(?:mg|mcg|g|units?|puffs?|ml|meq)\b", re.IGNORECASE)


def read_gold(path: Path) -> list[tuple[str, str, str]]:
    """``(term, type, kind)`` rows of gold.tsv, comments skipped."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise SystemExit(f"{path}:{number}: expected term, type, kind separated by tabs")
        rows.append((parts[0], parts[1], parts[2]))
    return rows


def occurrences(texts: dict[str, str], gold: list[tuple[str, str, str]]):
    """Every whole-word, case-insensitive occurrence of every gold term: (note, start, end, term, type, kind)."""
    for name, text in texts.items():
        for term, label, kind in gold:
            for m in re.finditer(rf"(?<!\w){re.escape(term)}(?!\w)", text, re.IGNORECASE):
                yield name, m.start(), m.end(), term, label, kind


def score(docs: dict, texts: dict[str, str], gold: list[tuple[str, str, str]]) -> dict:
    """Right / wrong type / untagged counts per kind, and the wrong occurrences."""
    counts: dict[str, Counter] = defaultdict(Counter)
    wrong = []
    for name, start, end, term, label, kind in occurrences(texts, gold):
        found = {e.label for e in docs[name].entities if e.start < end and start < e.end}
        outcome = "right" if label in found else "wrong" if found else "untagged"
        keys = [kind, "all"] + (["drug before a dose"] if kind == "drug" and DOSE.match(texts[name], end) else [])
        for key in keys:
            counts[key][outcome] += 1
        if outcome != "right":
            wrong.append((term, label, "/".join(sorted(found)) or "untagged"))
    return {"counts": counts, "wrong": wrong}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", default=None, help="model folder (repeatable; default: shipped)")
    ap.add_argument("--show", type=int, default=30, help="wrong occurrences to list per model")
    ap.add_argument("--section-prior", type=float, default=None,
                    help="log-odds of the section prior on labels (default: the shipped one; 0 turns it off)")
    ap.add_argument("--model-only", action="store_true",
                    help="the model's types alone (no context: no sections, so no type read from a section)")
    args = ap.parse_args()

    import clinlm
    from clinlm.document import Document

    gold = read_gold(FOLDER / "gold.tsv")
    texts = {p.stem: p.read_text(encoding="utf-8") for p in sorted(FOLDER.glob("note_*.txt"))}
    results = {}
    for model in args.model or [None]:
        pipe = clinlm.load(model, context=not args.model_only)  # by default what a user gets
        if args.section_prior is not None:
            pipe.section_prior = args.section_prior
        docs = {d.id: d for d in pipe.pipe([Document(n, t) for n, t in texts.items()], batch_size=1)}
        results[model or "default"] = score(docs, texts, gold)

    kinds = ["drug", "drug before a dose", "finding", "disease", "procedure", "injury", "bacterium", "all"]
    print(f"{len(texts)} notes, {len(gold)} terms; share of occurrences typed right (n)\n")
    print("| kind | " + " | ".join(results) + " |")
    print("|---|" + "---:|" * len(results))
    for kind in kinds:
        cells = []
        for r in results.values():
            c = r["counts"].get(kind, Counter())
            n = sum(c.values())
            cells.append(f"{c['right'] / n:.2f} ({n}; {c['untagged']} untagged)" if n else "—")
        print(f"| {kind} | " + " | ".join(cells) + " |")
    for name, r in results.items():
        print(f"\n{name}: not right (term, gold, found)")
        for (term, label, found), k in Counter(r["wrong"]).most_common(args.show):
            print(f"  {term:<22} {label}  {found}{f'  ×{k}' if k > 1 else ''}")


if __name__ == "__main__":
    main()
