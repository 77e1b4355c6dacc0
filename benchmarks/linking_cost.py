"""What linking adds to annotation time per note, measured side by side in one run.

    python3 benchmarks/linking_cost.py [--index DIR] [--model DIR] [--notes N] [--rounds R]

Notes: the example notes, the hand-written whole notes (``benchmarks/whole_notes/dev``) and, when
``../shared/data/mts_dialog`` is there, MTS-Dialog validation note sections, up to ``--notes``. Index:
``--index DIR``, or MEDIC (``../shared/data/vocab``) built into a temporary folder. The same pipeline
(``clinlm.load()``: NER + context) annotates every note without and with the linker, alternating
``--rounds`` times (the order swapped each round), and the linker is also timed alone on the annotated
notes. Printed: ms per note each way, the linker's own ms per note and per entity, and the ratio.
"""
from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def notes(limit: int) -> list[str]:
    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "examples").glob("*.txt"))]
    texts += [p.read_text(encoding="utf-8") for p in sorted((ROOT / "benchmarks" / "whole_notes" / "dev").glob("*.txt"))]
    mts = SHARED / "mts_dialog" / "MTS-Dialog-ValidationSet.csv"
    if mts.is_file():
        with open(mts, encoding="utf-8", newline="") as f:
            texts += [row["section_text"] for row in csv.DictReader(f) if len(row["section_text"]) > 200]
    return texts[:limit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", default=None)
    parser.add_argument("--model", default=None)
    parser.add_argument("--notes", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    import clinlm
    from clinlm.linking import LinkIndex, Linker, read_vocabulary

    index = args.index
    if index is None:
        index = str(Path(tempfile.mkdtemp()) / "medic")
        t = time.perf_counter()
        LinkIndex.build(read_vocabulary(SHARED / "vocab" / "medic_06Jul2012.txt")).save(index)
        print(f"built MEDIC index in {time.perf_counter() - t:.1f} s")
    linker = Linker.load(index)
    texts = notes(args.notes)
    pipe = clinlm.load(args.model)
    list(pipe.pipe(texts[:2]))  # warm-up
    linker.candidates(["warm up"])
    linker.index.exact, linker.index.bags  # noqa: B018 (built once, at the first note of a run)
    plain_s, linked_s, alone_s = [], [], []
    n_ents = 0
    for r in range(args.rounds):
        for with_link in ((False, True) if r % 2 == 0 else (True, False)):
            pipe.linkers = [linker] if with_link else []
            t = time.perf_counter()
            docs = list(pipe.pipe(texts))
            (linked_s if with_link else plain_s).append(time.perf_counter() - t)
        pipe.linkers = []
        for d in docs:
            for e in d.entities:
                e.attributes.pop("concepts", None)
        t = time.perf_counter()
        linker.link_documents(docs)
        alone_s.append(time.perf_counter() - t)
        n_ents = sum(len(d.entities) for d in docs)
    n = len(texts)
    plain, linked, alone = (statistics.median(x) * 1000 / n for x in (plain_s, linked_s, alone_s))
    print(f"{n} notes, {n_ents / n:.1f} entities a note, {sum(map(len, texts)) / n:.0f} characters a note; "
          f"index {linker.index.vocab}: {len(linker.index.ids):,} concepts, {len(linker.index.keys):,} names")
    print(f"annotate without linking {plain:.1f} ms/note, with linking {linked:.1f} ms/note "
          f"(+{(linked - plain) / plain:.1%}, medians of {args.rounds} rounds)")
    print(f"the linker alone: {alone:.1f} ms/note, {alone * n / max(n_ents, 1):.2f} ms/entity, "
          f"{alone / plain:.1%} of annotation without linking")


if __name__ == "__main__":
    main()
