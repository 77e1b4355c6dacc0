"""What dropping what is not a concept (``clean``: header words, cue words, names, splits at list
items) costs on MedMentions ST21pv test, where ``clinlm evaluate ner`` runs without context.

    clinlm data medmentions --shared ../shared/data/medmentions --output /tmp/mmdata
    python3 benchmarks/mm_context_cost.py [--data /tmp/mmdata/test.jsonl] [--model DIR] [--limit N]

The default model tags the test documents once; its entities are then scored as they are
(what ``clinlm evaluate ner`` scores), after the context step without ``clean`` (attributes
only: the entities must not change) and with ``clean`` (what ``clinlm annotate`` and
``clinlm.load()`` give). Printed: seqeval strict and default micro F1 and exact-span F1 for
each, how many entities ``clean`` removed or changed, and which of those were right (a gold
entity with the same span and type), by text.
"""
from __future__ import annotations

import argparse
import time
from collections import Counter

from clinlm.context import default_annotator
from clinlm.formats import jsonl
from clinlm.tasks.ner.task import ner_scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="/tmp/mmdata/test.jsonl")
    parser.add_argument("--model", default=None)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()

    import clinlm

    gold = jsonl.read(args.data)[: args.limit]
    pipe = clinlm.load(args.model, context=False)
    t = time.perf_counter()
    raw = list(pipe.pipe([g.with_entities([]) for g in gold]))
    t_ner = time.perf_counter() - t
    ctx = default_annotator()
    t = time.perf_counter()
    plain = list(ctx.pipe(raw, clean=False))
    t_plain = time.perf_counter() - t
    t = time.perf_counter()
    cleaned = list(ctx.pipe(raw, clean=True))
    t_clean = time.perf_counter() - t
    print(f"{len(gold)} documents from {args.data}; NER {t_ner:.0f} s, context {t_plain:.0f} s, context + clean {t_clean:.0f} s")
    for name, pred in (("NER alone (clinlm evaluate ner)", raw), ("context, clean=False", plain),
                       ("context, clean=True (annotate)", cleaned)):
        s = ner_scores(gold, pred)
        print(f"{name:34s} strict F1 {s['strict']['f1']:.4f} (P {s['strict']['precision']:.4f} R {s['strict']['recall']:.4f})"
              f"  default F1 {s['default']['f1']:.4f}  span-exact F1 {s['span_exact']['f1']:.4f}  "
              f"entities {sum(len(d.entities) for d in pred)}")
    assert all([e.key() for e in a.entities] == [e.key() for e in b.entities] for a, b in zip(raw, plain))
    gone: Counter = Counter()
    gone_right: Counter = Counter()
    added_right = 0
    for g, r, c in zip(gold, raw, cleaned):
        gold_keys = {e.key() for e in g.entities}
        kept = {e.key() for e in c.entities}
        for e in r.entities:
            if e.key() not in kept:
                gone[e.text] += 1
                if e.key() in gold_keys:
                    gone_right[e.text] += 1
        added_right += sum(1 for e in c.entities if e.key() in gold_keys and e.key() not in {x.key() for x in r.entities})
    print(f"clean removed or changed {sum(gone.values())} entities ({sum(gone_right.values())} of them right); "
          f"its changed spans added {added_right} right ones")
    print("  removed/changed, most often:", ", ".join(f"{t!r} {n}" for t, n in gone.most_common(15)))
    print("  of which right:", ", ".join(f"{t!r} {n}" for t, n in gone_right.most_common(15)) or "none")


if __name__ == "__main__":
    main()
