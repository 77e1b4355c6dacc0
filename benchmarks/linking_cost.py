"""What linking adds to annotation time per note, measured side by side in one run.

    python3 benchmarks/linking_cost.py [--index DIR] [--model DIR] [--notes N] [--rounds R]

Notes: the example notes, the hand-written whole notes (``benchmarks/whole_notes/dev``) and, when
``../shared/data/mts_dialog`` is there, MTS-Dialog note sections over 200 characters (validation,
then training: up to 416 notes in all), up to ``--notes``. Over more notes, more mention texts come
round again: the cold pass is what a corpus of that many notes costs, first note to last. Index:
``--index DIR``, or MEDIC (``../shared/data/vocab``) built into a temporary folder. The same pipeline
(``clinlm.load()``: NER + context) annotates every note without and with the linker, alternating
``--rounds`` times (the order swapped each round), and the linker is also timed alone on the annotated
notes. Printed: ms per note each way, the linker's own ms per note and per entity, and the ratio.

With an embedding cache in the index (dense re-ranking), the linked pass runs twice a round: with
the re-ranker's query cache emptied first (``cold``: every mention text new to the encoder, as on a
service's first notes) and kept (``warm``: mention texts seen before are not encoded again). Mentions
found by their exact name are never encoded; the share of entities that needed the encoder is printed.
``--labels T038,T033,T037`` links only entities of those labels, as ``clinlm annotate --link
DIR=T038,T033,T037`` does (a disease vocabulary such as MEDIC for the disease-like labels).
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
    for name in ("MTS-Dialog-ValidationSet.csv", "MTS-Dialog-TrainingSet.csv"):
        mts = SHARED / "mts_dialog" / name
        if mts.is_file() and len(texts) < limit:
            with open(mts, encoding="utf-8", newline="") as f:
                texts += [row["section_text"] for row in csv.DictReader(f) if len(row["section_text"]) > 200]
    return texts[:limit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", default=None)
    parser.add_argument("--model", default=None)
    parser.add_argument("--notes", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--labels", default=None, help="comma-separated entity labels to link (default: all)")
    args = parser.parse_args()

    import clinlm
    from clinlm.linking import LinkIndex, Linker, read_vocabulary

    index = args.index
    if index is None:
        index = str(Path(tempfile.mkdtemp()) / "medic")
        t = time.perf_counter()
        LinkIndex.build(read_vocabulary(SHARED / "vocab" / "medic_06Jul2012.txt")).save(index)
        print(f"built MEDIC index in {time.perf_counter() - t:.1f} s")
    labels = args.labels.split(",") if args.labels else None
    linker = Linker.load(index, labels=labels)
    dense = linker.dense
    texts = notes(args.notes)
    pipe = clinlm.load(args.model)
    list(pipe.pipe(texts[:2]))  # warm-up
    linker.candidates(["warm up"])
    linker.index.exact, linker.index.bags  # noqa: B018 (built once, at the first note of a run)
    passes = ["plain", "cold", "warm"] if dense is not None else ["plain", "warm"]
    times: dict[str, list[float]] = {p: [] for p in passes}
    alone_s: list[float] = []
    again_s: list[float] = []
    encoded = 0
    for r in range(args.rounds):
        for name in (passes if r % 2 == 0 else passes[1:] + passes[:1]):
            if name == "cold":
                dense._queries.clear()
            pipe.linkers = [] if name == "plain" else [linker]
            t = time.perf_counter()
            docs = list(pipe.pipe(texts))
            times[name].append(time.perf_counter() - t)
            if name == "cold":
                encoded = len(dense._queries)
        pipe.linkers = []
        for d in docs:
            for e in d.entities:
                e.attributes.pop("concepts", None)
        if dense is not None:
            dense._queries.clear()
        t = time.perf_counter()
        linker.link_documents(docs)
        alone_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        linker.link_documents(docs)  # again: every mention text is in the query cache now
        again_s.append(time.perf_counter() - t)
    n = len(texts)
    n_ents = sum(len(d.entities) for d in docs)
    n_linked = sum(1 for d in docs for e in d.entities if labels is None or e.label in labels)
    ms = {name: statistics.median(v) * 1000 / n for name, v in times.items()}
    alone = statistics.median(alone_s) * 1000 / n
    plain = ms["plain"]
    print(f"{n} notes, {n_ents / n:.1f} entities a note ({n_linked / n:.1f} linked: labels "
          f"{args.labels or 'all'}), {sum(map(len, texts)) / n:.0f} characters a note; index {linker.index.vocab}: "
          f"{len(linker.index.ids):,} concepts, {len(linker.index.keys):,} names, "
          f"{'dense re-ranking w=' + format(dense.weight, '.2f') if dense is not None else 'lexical only'}")
    print(f"annotate without linking {plain:.1f} ms/note (median of {args.rounds} rounds)")
    for name in passes[1:]:
        what = {"cold": "query cache emptied first", "warm": "mention texts seen before not encoded again"}[name]
        if dense is None:
            what = "lexical"
        print(f"  with linking, {name} ({what}): {ms[name]:.1f} ms/note, +{(ms[name] - plain) / plain:.1%}")
    if dense is not None:
        print(f"  distinct mention texts the encoder read in a cold pass: {encoded:,} of {n_linked:,} linked entities "
              f"({encoded / max(n_linked, 1):.0%}); the rest were exact names or repeats")
    again = statistics.median(again_s) * 1000 / n
    print(f"the linker alone, timed on the annotated notes (the steadier figure on a shared machine: the passes "
          f"above differ by the noise of whole annotation runs):")
    print(f"  {'cold' if dense is not None else 'lexical'}: {alone:.1f} ms/note, "
          f"{alone * n / max(n_linked, 1):.2f} ms/linked entity, {alone / plain:.1%} of annotation without linking")
    if dense is not None:
        print(f"  warm: {again:.1f} ms/note, {again * n / max(n_linked, 1):.2f} ms/linked entity, "
              f"{again / plain:.1%} of annotation without linking")


if __name__ == "__main__":
    main()
