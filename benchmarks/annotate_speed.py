"""Whole-note annotation speed: the transformers pipeline vs clinlm's torch and ONNX Runtime paths.

In one run, on one corpus of long notes (MTS-Dialog sections concatenated into notes of
500-3,000 words, plus MM-ST21pv-r test abstracts), with the shipped default model:
  - transformers ``pipeline("token-classification", aggregation_strategy="simple", stride=128)``,
    fp32, ``--hf-batch-size`` windows per forward (default 8);
  - clinlm fp32 and bf16 (torch), ONNX Runtime fp32 (fused graph) and int8 (dynamic quantization).
It prints words/s, the ratio to the pipeline, the model GFLOP/s reached and its share of the
matmul peak measured in the same run (fp32 and bf16), padding overhead, and the share of
entities (exact span and label) identical to clinlm fp32 (|A and B| / |A or B|, and the share of
fp32's entities kept). ``--no-profile`` skips the profile of one default-path forward (time by
part: linear layers, attention, the rest).
``--stream-notes N`` then streams N notes through clinlm and prints resident memory at
100/1k/2k/5k/10k notes (it should stay flat); `--stream-only` runs only that.

    python3 -m pip install -e ".[onnx]"
    nice python3 benchmarks/annotate_speed.py --quick          # smoke run, about a minute
    python3 benchmarks/annotate_speed.py --stream-notes 10000   # the full run (quiet machine)

A benchmark, not a test: keep it out of CI.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import json
import random
import tempfile
import time
from pathlib import Path

import torch

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
STRIDE = 128


# -- corpus -----------------------------------------------------------------------------
def mts_notes(folder: Path, rng: random.Random, limit: int | None) -> list[str]:
    """MTS-Dialog sections, shuffled, joined under their headers into notes of 500-3,000 words."""
    sections = []
    for f in sorted(folder.glob("*.csv")):
        with f.open(encoding="utf-8", newline="") as fh:
            sections += [(r["section_header"], r["section_text"]) for r in csv.DictReader(fh) if r["section_text"].strip()]
    rng.shuffle(sections)
    notes, cur, n, target = [], [], 0, rng.randint(500, 3000)
    for header, text in sections:
        cur.append(f"{header.upper()}:\n{text.strip()}")
        n += len(text.split())
        if n >= target:
            notes.append("\n\n".join(cur))
            cur, n, target = [], 0, rng.randint(500, 3000)
            if limit and len(notes) >= limit:
                break
    return notes


def mm_abstracts(path: Path, limit: int | None) -> list[str]:
    with path.open(encoding="utf-8") as fh:
        texts = [json.loads(line)["text"] for line in fh if line.strip()]
    return texts[:limit] if limit else texts


def word_count(texts) -> int:
    from clinlm.text import words

    return sum(len(words(t)) for t in texts)


# -- cost model -------------------------------------------------------------------------
class Flops:
    """Model FLOPs of the forward passes actually run (padded shapes), from the config."""

    def __init__(self, config):
        self.h, self.i = config.hidden_size, config.intermediate_size
        self.layers, self.labels = config.num_hidden_layers, config.num_labels
        self.total = 0.0
        self.tokens = 0
        self.padded = 0

    def parts(self, batch: int, width: int) -> tuple[float, float]:
        """(linear layers incl. the classifier, attention) FLOPs of one forward of ``[batch x width]``."""
        h, i = self.h, self.i
        linear = batch * width * (self.layers * 2 * (4 * h * h + 2 * h * i) + 2 * h * self.labels)
        attention = batch * self.layers * 2 * 2 * width * width * h
        return linear, attention

    def add(self, batch: int, width: int, real: int) -> None:
        self.total += sum(self.parts(batch, width))
        self.tokens += real
        self.padded += batch * width

    def hook_torch(self, model) -> None:
        def pre(_module, args, kwargs):
            ids = kwargs.get("input_ids", args[0] if args else None)
            mask = kwargs.get("attention_mask")
            self.add(ids.shape[0], ids.shape[1], int(mask.sum()) if mask is not None else ids.numel())

        model.register_forward_pre_hook(pre, with_kwargs=True)

    def hook_ort(self, ort_model) -> None:
        inner = ort_model.logprobs

        def counted(ids, mask):
            self.add(ids.shape[0], ids.shape[1], int(mask.sum()))
            return inner(ids, mask)

        ort_model.logprobs = counted


def matmul_peak(dtype: torch.dtype, seconds: float = 1.5) -> float:
    """Best GFLOP/s of an FFN-shaped matmul ([8192 x 384] @ [384 x 1536])."""
    a = torch.randn(8192, 384).to(dtype)
    b = torch.randn(384, 1536).to(dtype)
    flop = 2 * 8192 * 384 * 1536
    best = 0.0
    with torch.inference_mode():
        a @ b
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t = time.perf_counter()
            a @ b
            best = max(best, flop / (time.perf_counter() - t) / 1e9)
    return best


def profile_forward(peaks: dict, batch: int = 16, width: int = 512):
    """Where one forward of the default path spends its time ([batch x width] tokens, torch
    profiler): the linear layers, attention and the rest, with each group's GFLOP/s."""
    from torch.profiler import ProfilerActivity, profile

    import clinlm
    from clinlm.modeling import inference_autocast

    pipe = clinlm.load(context=False)
    model, cfg = pipe.model, pipe.model.config
    ids = torch.randint(1000, cfg.vocab_size - 1, (batch, width))
    mask = torch.ones_like(ids)
    with torch.inference_mode(), inference_autocast(model, pipe.device, pipe.dtype):
        model(input_ids=ids, attention_mask=mask)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(3):
                model(input_ids=ids, attention_mask=mask)
    linear, attention = Flops(cfg).parts(3 * batch, width)
    flop = {"linear layers (addmm)": linear, "attention (SDPA)": attention}
    seconds = dict.fromkeys(list(flop) + ["LayerNorm, GELU, residual adds", "dtype casts (autocast copies)",
                                          "everything else"], 0.0)
    for ev in prof.key_averages():
        key = ev.key
        group = ("linear layers (addmm)" if key in ("aten::addmm", "aten::mm") else
                 "attention (SDPA)" if "scaled_dot_product" in key else
                 "LayerNorm, GELU, residual adds" if key in ("aten::native_layer_norm", "aten::gelu", "aten::add") else
                 "dtype casts (autocast copies)" if key in ("aten::copy_", "aten::_to_copy") else "everything else")
        seconds[group] += ev.self_cpu_time_total / 1e6
    total = sum(seconds.values())
    dtype = str(pipe.dtype).replace("torch.", "")
    peak = peaks.get(dtype, peaks["float32"])
    rows = []
    for group, sec in seconds.items():
        gf = flop[group] / sec / 1e9 if group in flop and sec else None
        rows.append((group, 100 * sec / total, gf, None if gf is None else 100 * gf / peak))
    return dtype, rows


# -- systems ----------------------------------------------------------------------------
def run_hf(model_dir: str, texts: list[str], batch_size: int):
    from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForTokenClassification.from_pretrained(model_dir).float().eval()
    pipe = pipeline("token-classification", model=model, tokenizer=tok, aggregation_strategy="simple",
                    stride=STRIDE, batch_size=batch_size, device=-1)
    pipe(texts[0][:2000])
    flops = Flops(model.config)
    flops.hook_torch(model)
    t = time.perf_counter()
    results = pipe(texts)
    seconds = time.perf_counter() - t
    ents = {(d, e["start"], e["end"], e["entity_group"]) for d, r in enumerate(results) for e in r}
    return seconds, ents, flops


def run_clinlm(path: str | None, texts: list[str], precision: str = "auto"):
    import clinlm
    from clinlm.onnx_backend import OrtModel

    pipe = clinlm.load(path, precision=precision, context=False)
    pipe(texts[0][:2000])
    flops = Flops(pipe.model.config)
    if isinstance(pipe.model, OrtModel):
        flops.hook_ort(pipe.model)
    else:
        flops.hook_torch(pipe.model)
    t = time.perf_counter()
    docs = list(pipe.pipe(texts, batch_size=32))
    seconds = time.perf_counter() - t
    ents = {(d,) + e.key() for d, doc in enumerate(docs) for e in doc.entities}
    return seconds, ents, flops, str(pipe.dtype).replace("torch.", "")


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MB (VmRSS, VmHWM; ru_maxrss would
    carry the parent's peak across the spawn)."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields.get("VmRSS", float("nan")), fields.get("VmHWM", float("nan"))


def stream(n: int, notes: list[str]) -> None:
    """Annotate ``n`` notes (the corpus, cycled) as a lazy stream; memory should stay flat.
    Runs in a fresh process so the models of the speed runs do not count."""
    from rich.console import Console

    import clinlm

    out = Console(width=160)
    pipe = clinlm.load(context=False)
    marks = sorted({m for m in (100, 1000, 2000, 5000, 10000) if m <= n} | {n})
    source = (t for t in itertools.islice(itertools.cycle(notes), n))
    t = time.perf_counter()
    for k, _doc in enumerate(pipe.pipe(source, batch_size=32), 1):
        if k in marks:
            cur, peak = rss_mb()
            out.print(f"stream: {k:>6} notes  {time.perf_counter() - t:8.1f} s  RSS {cur:7.0f} MB  peak RSS {peak:7.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mts", type=Path, default=SHARED / "mts_dialog")
    ap.add_argument("--mm", type=Path, default=Path("/tmp/mmdata/test.jsonl"), help="MM-ST21pv-r test JSONL")
    ap.add_argument("--limit", type=int, default=None, help="at most this many notes from each source")
    ap.add_argument("--quick", action="store_true", help="smoke run: 4 MTS notes and 20 abstracts")
    ap.add_argument("--hf-batch-size", type=int, default=8)
    ap.add_argument("--stream-notes", type=int, default=0)
    ap.add_argument("--stream-only", action="store_true", help="skip the speed table; only the --stream-notes memory run")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-profile", action="store_true", help="skip the profile of one default-path forward")
    args = ap.parse_args()
    from rich.console import Console
    from rich.table import Table

    from clinlm.onnx_backend import export
    from clinlm.pipeline import DEFAULT_MODEL_DIR
    from clinlm.threads import inference_threads

    out = Console(width=160)
    limits = (4, 20) if args.quick else (args.limit, args.limit)
    notes = mts_notes(args.mts, random.Random(args.seed), limits[0])
    abstracts = mm_abstracts(args.mm, limits[1]) if args.mm.is_file() else []
    texts = notes + abstracts
    n_words = word_count(texts)
    out.print(f"corpus: {len(notes)} MTS-Dialog notes + {len(abstracts)} MM abstracts, {n_words:,} words; "
              f"torch threads {torch.get_num_threads()} (clinlm: {inference_threads()})")
    if args.stream_only:
        return stream_child(args.stream_notes or 10000, texts)
    peaks = {"float32": matmul_peak(torch.float32), "bfloat16": matmul_peak(torch.bfloat16)}
    out.print(f"matmul peak: fp32 {peaks['float32']:.0f} GFLOP/s, bf16 {peaks['bfloat16']:.0f} GFLOP/s")

    rows = []
    seconds, hf_ents, flops = run_hf(str(DEFAULT_MODEL_DIR), texts, args.hf_batch_size)
    rows.append((f"transformers pipeline (batch {args.hf_batch_size}, stride {STRIDE})", "float32", seconds, hf_ents, flops))
    with tempfile.TemporaryDirectory() as tmp:
        onnx32 = export(None, Path(tmp) / "fp32")
        onnx8 = export(None, Path(tmp) / "int8", int8=True)
        for name, path, precision in (("clinlm", None, "fp32"), ("clinlm", None, "bf16"), ("clinlm", None, "auto"),
                                      ("clinlm ONNX Runtime", onnx32, "auto"), ("clinlm ONNX Runtime int8", onnx8, "auto")):
            seconds, ents, flops, dtype = run_clinlm(path, texts, precision)
            label = name if precision != "auto" or path else "clinlm default (auto)"
            rows.append((f"{label} {precision if precision != 'auto' else ''}".strip(),
                         "int8" if "int8" in name else dtype, seconds, ents, flops))
    base_wps = n_words / rows[0][2]
    ref = rows[1][3]
    table = Table(title=f"annotating {n_words:,} words ({len(texts)} notes)", title_justify="left")
    for col in ("system", "compute", "words/s", "x pipeline", "model GFLOP/s", "% matmul peak", "padding",
                "entities", "same as fp32", "fp32 kept"):
        table.add_column(col, justify="left" if col in ("system", "compute") else "right")
    for name, dtype, seconds, ents, flops in rows:
        gflops = flops.total / seconds / 1e9
        peak = peaks.get(dtype, peaks["float32"])
        same = len(ents & ref) / max(1, len(ents | ref))
        table.add_row(name, dtype, f"{n_words / seconds:,.0f}", f"{n_words / seconds / base_wps:.2f}", f"{gflops:.0f}",
                      f"{100 * gflops / peak:.0f}%" + (" (of fp32)" if dtype == "int8" else ""),
                      f"{100 * (flops.padded / max(1, flops.tokens) - 1):.1f}%", f"{len(ents):,}", f"{100 * same:.2f}%",
                      f"{100 * len(ents & ref) / max(1, len(ref)):.2f}%")
    out.print(table)
    out.print("same as fp32 = |A and B| / |A or B| over (note, start, end, label); fp32 kept = share of clinlm fp32's "
              "entities found identically. padding = padded tokens run / real tokens - 1; model FLOPs counted on padded shapes. "
              "The pipeline's entities differ mostly by decoding (first-subword argmax, no Viterbi).")
    if not args.no_profile:
        dtype, prof_rows = profile_forward(peaks)
        prof = Table(title=f"where a default-path forward ({dtype}, 16 x 512 tokens) spends its time", title_justify="left")
        for col in ("part", "share of time", "GFLOP/s", "% matmul peak"):
            prof.add_column(col, justify="left" if col == "part" else "right")
        for group, share, gf, pct in prof_rows:
            prof.add_row(group, f"{share:.0f}%", "" if gf is None else f"{gf:.0f}", "" if pct is None else f"{pct:.0f}%")
        out.print(prof)
    if args.stream_notes:
        stream_child(args.stream_notes, texts)


def stream_child(n: int, texts: list[str]) -> None:
    import multiprocessing

    child = multiprocessing.get_context("spawn").Process(target=stream, args=(n, texts))
    child.start()
    child.join()


if __name__ == "__main__":
    main()
