"""Build time, peak memory, index size and query time of a linking index for a UMLS-size vocabulary.

    python3 benchmarks/linking_scale.py [--names 3000000] [--queries 2000] [--workdir /tmp/linkscale]

A synthetic vocabulary (no real terms): ``--names`` names in concepts of 1 to 5 names (3 on average),
each name 1 to 5 pseudo-words drawn with Zipf-like frequencies from 200,000 pseudo-words of 3 to 11
letters drawn with English letter frequencies, written as a TSV (id, name, synonyms). Each stage runs in its own process so its peak
resident memory (``ru_maxrss``) is its own: (1) ``clinlm link build`` (read + index + write);
(2) load the index and link ``--queries`` names with a typo each. Printed: seconds, peak memory,
index size on disk, ms per query.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

LETTERS = "etaoinshrdlcumwfgypbvkjxqz"
# English letter frequencies (per cent), in LETTERS' order
FREQ = np.array([12.7, 9.1, 8.2, 7.5, 7.0, 6.7, 6.3, 6.1, 6.0, 4.3, 4.0, 2.8, 2.8, 2.4, 2.4, 2.2, 2.0, 2.0, 1.9,
                 1.5, 1.0, 0.8, 0.15, 0.15, 0.1, 0.07])


def make_vocab(path: Path, n_names: int, seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    n_words = 200_000
    lengths = rng.integers(3, 12, n_words)
    letters = rng.choice(len(LETTERS), (n_words, 12), p=FREQ / FREQ.sum())
    words = ["".join(LETTERS[c] for c in letters[i, : lengths[i]]) for i in range(n_words)]
    zipf = 1.0 / np.arange(1, n_words + 1) ** 0.9
    zipf /= zipf.sum()
    per_name = rng.integers(1, 6, n_names)
    picks = rng.choice(n_words, int(per_name.sum()), p=zipf)
    sizes = rng.integers(1, 6, n_names)  # names per concept, 3 on average
    n_concepts = 0
    with open(path, "w", encoding="utf-8") as f:
        f.write("id\tname\tsynonyms\n")
        at = name_i = 0
        while name_i < n_names:
            k = min(int(sizes[n_concepts]), n_names - name_i)
            names = []
            for _ in range(k):
                n = int(per_name[name_i])
                names.append(" ".join(words[w] for w in picks[at: at + n]))
                at += n
                name_i += 1
            f.write(f"SYN:{n_concepts:08d}\t{names[0]}\t{'|'.join(names[1:])}\n")
            n_concepts += 1
    return n_concepts


def stage_build(vocab: str, out: str) -> None:
    from clinlm.linking import LinkIndex, read_vocabulary

    t = time.perf_counter()
    v = read_vocabulary(vocab)
    t_read = time.perf_counter() - t
    idx = LinkIndex.build(v)
    t_build = time.perf_counter() - t - t_read
    idx.save(out)
    t_all = time.perf_counter() - t
    print(json.dumps({"read_s": t_read, "build_s": t_build, "total_s": t_all, "concepts": len(v),
                      "names": v.n_names(), "distinct": len(idx.keys),
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def stage_query(vocab: str, index: str, n: int) -> None:
    from clinlm.linking import Linker

    rng = np.random.default_rng(1)
    with open(vocab, encoding="utf-8") as f:
        lines = f.readlines()[1:]
    picked = [lines[i].split("\t")[1] for i in rng.integers(0, len(lines), n)]
    queries = []
    for q in picked:  # one typo each: a letter replaced
        i = int(rng.integers(0, len(q)))
        queries.append(q[:i] + "x" + q[i + 1:])
    t = time.perf_counter()
    linker = Linker.load(index)
    linker.index.exact, linker.index.bags  # noqa: B018
    t_load = time.perf_counter() - t
    t = time.perf_counter()
    found = linker.candidates(queries)
    t_q = time.perf_counter() - t
    hit = sum(bool(f) and f[0]["name"] == p for f, p in zip(found, picked))
    print(json.dumps({"load_s": t_load, "ms_per_query": 1000 * t_q / n, "typo_top1_name": hit / n,
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def run(*args: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, env=env)
    if r.returncode:
        sys.exit(r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--names", type=int, default=3_000_000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--workdir", default="/tmp/linkscale")
    parser.add_argument("--stage", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--vocab", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--index", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage == "build":
        return stage_build(args.vocab, args.index)
    if args.stage == "query":
        return stage_query(args.vocab, args.index, args.queries)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    vocab, index = work / f"synthetic_{args.names}.tsv", work / f"index_{args.names}"
    t = time.perf_counter()
    n_concepts = make_vocab(vocab, args.names)
    print(f"synthetic vocabulary: {args.names:,} names, {n_concepts:,} concepts, "
          f"{vocab.stat().st_size / 2**20:.0f} MiB TSV, written in {time.perf_counter() - t:.0f} s")
    b = run("--stage", "build", "--vocab", str(vocab), "--index", str(index))
    size = sum(f.stat().st_size for f in index.iterdir()) / 2**20
    print(f"build: read {b['read_s']:.0f} s + index and write {b['build_s'] + b['total_s'] - b['read_s'] - b['build_s']:.0f} s"
          f" = {b['total_s']:.0f} s; peak memory {b['peak_mb']:,.0f} MiB; index {size:,.0f} MiB on disk "
          f"({b['distinct']:,} distinct names)")
    q = run("--stage", "query", "--vocab", str(vocab), "--index", str(index), "--queries", str(args.queries))
    print(f"query: load {q['load_s']:.1f} s, {q['ms_per_query']:.2f} ms per query ({args.queries} names with a typo; "
          f"top-1 is the typo'd name {q['typo_top1_name']:.1%}), peak memory {q['peak_mb']:,.0f} MiB")


if __name__ == "__main__":
    main()
