"""Resident memory of one process annotating notes in batches of varying shape, with and without
giving the heap's free memory back after each batch (``clinlm.runtime.memory``), side by side.

    python3 benchmarks/heap_trim.py [--notes 2500] [--every 250]

Each mode runs in a fresh subprocess over the same seeded sequence of MTS-Dialog note sections in
groups of 1-6 (as `clinlm serve`'s micro-batches vary), printing resident memory every ``--every``
notes. Why it matters: a long-lived server whose memory creeps up gets killed or recycled.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def rss_mib() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 2 ** 20


def child(trim: bool, n: int, every: int) -> None:
    from serve_load import load_notes

    import clinlm
    from clinlm.runtime.memory import release_free_memory

    notes = load_notes("sections", 300)
    pipe = clinlm.load()
    rng = random.Random(1)
    done, marks = 0, []
    while done < n:
        k = rng.randint(1, 6)
        list(pipe.pipe([rng.choice(notes) for _ in range(k)], batch_size=32))
        if trim:
            release_free_memory()
        if (done + k) // every != done // every:
            marks.append(rss_mib())
        done += k
    print(json.dumps(marks))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--notes", type=int, default=2500)
    ap.add_argument("--every", type=int, default=250)
    ap.add_argument("--child", choices=("plain", "trim"), default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child == "trim", args.notes, args.every)
        return
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), "unknown CPU")
    print(f"{args.notes} notes in groups of 1-6, resident MiB every {args.every}; {cpu}")
    for mode in ("plain", "trim"):
        out = subprocess.run([sys.executable, __file__, "--child", mode, "--notes", str(args.notes),
                              "--every", str(args.every)], capture_output=True, text=True, check=True)
        marks = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{mode:>6}: {' -> '.join(map(str, marks))} MiB ({marks[-1] / marks[0] - 1:+.1%} from the first mark)")


if __name__ == "__main__":
    main()
