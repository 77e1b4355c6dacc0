"""Whole-note annotation speed: the transformers pipeline vs clinlm's torch and ONNX Runtime paths.

In one run, on one corpus of long notes (MTS-Dialog sections concatenated into notes of
500-3,000 words, plus MM-ST21pv-r test abstracts), with the shipped default model:
  - transformers ``pipeline("token-classification", aggregation_strategy="simple", stride=128)``,
    fp32, ``--hf-batch-size`` windows per forward (default 8);
  - clinlm fp32, bf16 autocast, bf16 weights and the default (auto: chosen per CPU kind), ONNX
    Runtime fp32 (fused graph) and int8 (dynamic quantization).
It first prints the CPU's model name, its flags that decide precision (avx2, avx512_bf16,
amx_bf16), its kind and what auto picks there; then, per row, the precision run, words/s, the ratio to the pipeline, the model GFLOP/s reached and its share of the
matmul peak measured in the same run (fp32 and bf16), padding overhead, and the share of
entities (exact span and label) identical to clinlm fp32 (|A and B| / |A or B|, and the share of
fp32's entities kept). ``--no-profile`` skips the profile of one default-path forward (time by
part: linear layers, attention, the rest, and the speed bound that follows); ``--no-margins``
skips the word-level study of where bf16 and fp32 disagree. ``--device cuda`` runs everything
on a GPU; ``--random-model gatortron-base`` measures GatorTron-base's shape with random weights.
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
import sys
import tempfile
import time
from pathlib import Path

import torch

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
STRIDE = 128


# -- corpus -----------------------------------------------------------------------------
def mts_files(folder: Path) -> list[Path]:
    """MTS-Dialog's CSV files in ``folder``; an error, not an empty corpus, when there are none
    (a CSV file given for the folder once gave a run of 0 notes without a word)."""
    from clinlm.errors import InputError

    if folder.is_file():
        raise InputError(f"--mts takes the folder holding MTS-Dialog's CSV files, not a file: {folder} "
                         f"(try --mts {folder.parent})")
    files = sorted(folder.glob("*.csv")) if folder.is_dir() else []
    if not files:
        raise InputError(f"--mts {folder}: no MTS-Dialog CSV files there (give the folder that holds them)")
    return files


def mts_notes(folder: Path, rng: random.Random, limit: int | None) -> list[str]:
    """MTS-Dialog sections, shuffled, joined under their headers into notes of 500-3,000 words."""
    sections = []
    for f in mts_files(folder):
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

    def hook_compiled(self, pipe) -> None:
        """Count around the compiled callable: a hook on the module would run inside the graph
        (a graph break on every forward)."""
        inner = pipe._run

        def counted(input_ids, attention_mask):
            self.add(input_ids.shape[0], input_ids.shape[1], int(attention_mask.sum()))
            return inner(input_ids=input_ids, attention_mask=attention_mask)

        pipe._run = counted

    def hook_ort(self, ort_model) -> None:
        inner = ort_model.logprobs

        def counted(ids, mask):
            self.add(ids.shape[0], ids.shape[1], int(mask.sum()))
            return inner(ids, mask)

        ort_model.logprobs = counted


def matmul_peak(dtype: torch.dtype, config, device: torch.device, seconds: float = 1.5) -> float:
    """Best GFLOP/s of the model's own FFN matmul ([8192 x hidden] @ [hidden x intermediate])."""
    h, i = config.hidden_size, config.intermediate_size
    a = torch.randn(8192, h, device=device).to(dtype)
    b = torch.randn(h, i, device=device).to(dtype)
    flop = 2 * 8192 * h * i
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    best = 0.0
    with torch.inference_mode():
        a @ b
        sync()
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t = time.perf_counter()
            a @ b
            sync()
            best = max(best, flop / (time.perf_counter() - t) / 1e9)
    return best


EAGER_ATTENTION = ("aten::bmm", "aten::baddbmm", "aten::_softmax")  # attention in models without SDPA


def profile_forward(peaks: dict, pipe, tokens: int = 8192):
    """Where one CPU forward of the default path spends its time (``tokens`` tokens in windows
    of the model's own length, torch profiler): the linear layers, attention and the rest, with
    each group's GFLOP/s; and the bound that follows: how much faster the forward could get if
    the linear layers ran at the full matmul peak and everything else stayed as measured."""
    from torch.profiler import ProfilerActivity, profile

    from clinlm.runtime.device import inference_autocast

    model, cfg = pipe.model, pipe.model.config
    width = pipe.max_length
    batch = max(1, tokens // width)
    ids = torch.randint(1000, cfg.vocab_size - 1, (batch, width))
    mask = torch.ones_like(ids)
    with torch.inference_mode(), inference_autocast(model, pipe.device, pipe.dtype):
        model(input_ids=ids, attention_mask=mask)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(3):
                model(input_ids=ids, attention_mask=mask)
    linear, attention = Flops(cfg).parts(3 * batch, width)
    flop = {"linear layers (addmm; FFN-in fused with GELU)": linear, "attention (SDPA, or bmm + softmax)": attention}
    seconds = dict.fromkeys(list(flop) + ["LayerNorm, GELU, residual adds", "dtype casts (autocast copies)",
                                          "everything else"], 0.0)
    for ev in prof.events():
        key = ev.name
        # addmm first copies the broadcast bias into its output: that copy is the linear layer's
        # work, not a dtype cast, so a copy is grouped with the nearest op above it that is one
        parent = ev.cpu_parent
        while key in ("aten::copy_", "aten::_to_copy") and parent is not None:
            if parent.name in ("aten::addmm", "aten::mm"):
                key = parent.name
            parent = parent.cpu_parent
        group = ("linear layers (addmm; FFN-in fused with GELU)" if key in ("aten::addmm", "aten::mm", "mkldnn::_linear_pointwise") else
                 "attention (SDPA, or bmm + softmax)" if "scaled_dot_product" in key or key in EAGER_ATTENTION else
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
    linear_sec = seconds["linear layers (addmm; FFN-in fused with GELU)"]
    bound = total / (total - linear_sec + linear / peak / 1e9)
    return dtype, rows, bound, f"{batch} x {width}"


def attention_kernels(peaks: dict, pipe, tokens: int = 8192, repeats: int = 5):
    """Attention alone at the default path's shape (heads, head size, window, dtype), through
    each CPU kernel torch offers: SDPA as torch dispatches it (its flash kernel on CPU), SDPA
    forced to its math path, and the unfused bmm + softmax + bmm. Best of ``repeats`` per kernel,
    as GFLOP/s and the share of this dtype's matmul peak, so each CPU kind says which is fastest."""
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    cfg, width = pipe.model.config, pipe.max_length
    heads, size = cfg.num_attention_heads, cfg.hidden_size // cfg.num_attention_heads
    batch = max(1, tokens // width)
    dtype = pipe.dtype if pipe.dtype in (torch.bfloat16, torch.float16) else torch.float32
    q, k, v = (torch.randn(batch, heads, width, size).to(dtype) for _ in range(3))
    flop = 4 * batch * heads * width * width * size  # QK^T and PV, 2 FLOPs a multiply-add

    def unfused():
        scores = torch.matmul(q, k.transpose(-1, -2)) * size ** -0.5
        return torch.matmul(torch.softmax(scores.float(), dim=-1).to(dtype), v)

    def sdpa_math():
        with sdpa_kernel(SDPBackend.MATH):
            return F.scaled_dot_product_attention(q, k, v)

    kernels = {"SDPA, torch's choice (flash on CPU)": lambda: F.scaled_dot_product_attention(q, k, v),
               "SDPA, math path": sdpa_math, "bmm + fp32 softmax + bmm": unfused}
    peak = peaks.get(str(dtype).replace("torch.", ""), peaks["float32"])
    rows = []
    with torch.inference_mode():
        for name, fn in kernels.items():
            fn()
            best = float("inf")
            for _ in range(repeats):
                t = time.perf_counter()
                fn()
                best = min(best, time.perf_counter() - t)
            rows.append((name, best * 1e3, flop / best / 1e9, 100 * flop / best / 1e9 / peak))
    return f"{batch} x {heads} heads x {width} tokens x head size {size}, {str(dtype).replace('torch.', '')}", rows


# -- systems ----------------------------------------------------------------------------
COMPILE_SECONDS: list[float] = []


def run_hf(model_dir: str, texts: list[str], batch_size: int, device: torch.device):
    from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForTokenClassification.from_pretrained(model_dir).float().eval()
    pipe = pipeline("token-classification", model=model, tokenizer=tok, aggregation_strategy="simple",
                    stride=STRIDE, batch_size=batch_size, device=0 if device.type == "cuda" else -1)
    pipe(texts[0][:2000])
    flops = Flops(model.config)
    flops.hook_torch(model)
    t = time.perf_counter()
    results = pipe(texts)
    seconds = time.perf_counter() - t
    ents = {(d, e["start"], e["end"], e["entity_group"]) for d, r in enumerate(results) for e in r}
    return seconds, ents, flops


def run_clinlm(path: str | None, texts: list[str], precision: str, device: torch.device, window: int | None = None,
               compile: bool = False, **load):
    """One clinlm system over the corpus; ``window`` overrides the model's window length
    (stride a quarter of it). ``compile``: a first pass over the whole corpus compiles every
    shape it meets (its seconds are recorded in ``COMPILE_SECONDS``), then the timed pass runs."""
    import clinlm
    from clinlm.runtime.onnx import OrtModel

    extra = {"max_length": window, "stride": window // 4} if window else {}
    pipe = clinlm.load(path, precision=precision, context=False, device=str(device), compile=compile, **extra, **load)
    t = time.perf_counter()
    if compile:
        list(pipe.pipe(texts, batch_size=32))
        COMPILE_SECONDS.append(time.perf_counter() - t)
    else:
        pipe(texts[0][:2000])
    flops = Flops(pipe.model.config)
    if isinstance(pipe.model, OrtModel):
        flops.hook_ort(pipe.model)
    elif compile:
        flops.hook_compiled(pipe)
    else:
        flops.hook_torch(pipe.model)
    t = time.perf_counter()
    docs = list(pipe.pipe(texts, batch_size=32))
    seconds = time.perf_counter() - t
    ents = {(d,) + e.key() for d, doc in enumerate(docs) for e in doc.entities}
    return seconds, ents, flops, str(pipe.dtype).replace("torch.", ""), pipe.precision.mode, pipe.precision.engine


def margin_study(texts: list[str], model_dir: str | None, device: torch.device, threshold: float = 0.05):
    """Why bf16 and fp32 disagree, at the word level: how many words change their best label,
    how many of those were near-ties in bf16 (top-two log-probability margin under
    ``threshold``), and how many windows hold such a near-tie (what re-running doubtful
    windows in fp32 would cost)."""
    import numpy as np

    import clinlm
    from clinlm.windows import encode, owners, plan

    p32 = clinlm.load(model_dir, precision="fp32", context=False, device=str(device))
    p16 = clinlm.load(model_dir, precision="bf16-weights", context=False, device=str(device))
    encs = encode(p32.tokenizer, texts)
    n = {"words": 0, "flips": 0, "flips_near": 0, "near": 0, "windows": 0, "doubtful": 0}
    for enc, a, b in zip(encs, p32.word_logprobs(encs), p16.word_logprobs(encs)):
        top2 = np.sort(b, axis=1)[:, -2:]
        near = top2[:, 1] - top2[:, 0] < threshold
        flip = a.argmax(axis=1) != b.argmax(axis=1)
        n["words"] += len(flip)
        n["flips"] += int(flip.sum())
        n["flips_near"] += int((flip & near).sum())
        n["near"] += int(near.sum())
        spans = plan(len(enc.input_ids), p32.content_length, p32.stride)
        own = owners(enc, spans)
        for j in range(len(spans)):
            mine = own == j
            if mine.any():
                n["windows"] += 1
                n["doubtful"] += bool(near[mine].any())
    return n


# GatorTron-base's shape (UFNLP/gatortron-base, megatron-bert, 345M parameters), for speed runs
# with random weights where the real checkpoint cannot be downloaded.
SIZES = {"gatortron-base": {"model_type": "megatron-bert", "hidden_size": 1024, "num_hidden_layers": 24,
                            "num_attention_heads": 16, "intermediate_size": 4096, "vocab_size": 50176}}


def random_model(size: str, out: Path) -> str:
    """A token-classification checkpoint of ``size`` with random weights and the shipped model's
    labels and tokenizer: right for speed, meaningless for entities."""
    from transformers import AutoConfig, AutoModelForTokenClassification

    import clinlm
    from clinlm import manifest

    base = clinlm.load(context=False)
    spec = dict(SIZES[size])
    labels = base.labels
    config = AutoConfig.for_model(spec.pop("model_type"), **spec, max_position_embeddings=512,
                                  id2label=dict(enumerate(labels)), label2id={lab: i for i, lab in enumerate(labels)})
    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_config(config)
    model.save_pretrained(out)
    base.tokenizer.save_pretrained(out)
    manifest.write(out, {"task": "ner", "labels": labels, "max_length": 512, "stride": STRIDE,
                         "decode": base.decode, "cased": base.manifest.get("cased", False)})
    params = sum(p.numel() for p in model.parameters())
    print(f"random {size} model: {params / 1e6:.0f}M parameters (random weights: its entities are noise; "
          "the agreement columns still measure precision effects)")
    return str(out)


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MB (VmRSS, VmHWM; ru_maxrss would
    carry the parent's peak across the spawn)."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields.get("VmRSS", float("nan")), fields.get("VmHWM", float("nan"))


def stream(n: int, notes: list[str], model_dir: str | None = None, device: str = "auto") -> None:
    """Annotate ``n`` notes (the corpus, cycled) as a lazy stream; memory should stay flat.
    Runs in a fresh process so the models of the speed runs do not count."""
    from rich.console import Console

    import clinlm

    out = Console(width=160)
    pipe = clinlm.load(model_dir, context=False, device=device)
    marks = sorted({m for m in (100, 1000, 2000, 5000, 10000) if m <= n} | {n})
    source = (t for t in itertools.islice(itertools.cycle(notes), n))
    t = time.perf_counter()
    for k, _doc in enumerate(pipe.pipe(source, batch_size=32), 1):
        if k in marks:
            cur, peak = rss_mb()
            out.print(f"stream: {k:>6} notes  {time.perf_counter() - t:8.1f} s  RSS {cur:7.0f} MB  peak RSS {peak:7.0f} MB")


def cpu_line(device: torch.device) -> str:
    """The CPU (or GPU) this run measures, the flags that decide precision, and auto's choice."""
    from clinlm.runtime.device import cpu_flags, cpu_kind, cpu_model_name, resolve_precision

    flags = cpu_flags()
    shown = ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in ("avx2", "avx512_bf16", "amx_bf16"))
    auto = resolve_precision("auto", device)
    gpu = f"; GPU {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""
    return f"CPU {cpu_model_name()} ({shown}; kind {auto.cpu}){gpu}; auto precision here: {auto.mode}"


def main() -> None:
    from clinlm.errors import ClinlmError

    try:
        run(parse_args())
    except ClinlmError as exc:  # one line and status 2, as the clinlm CLI does
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mts", type=Path, default=SHARED / "mts_dialog")
    ap.add_argument("--mm", type=Path, default=Path("/tmp/mmdata/test.jsonl"), help="MM-ST21pv-r test JSONL")
    ap.add_argument("--limit", type=int, default=None, help="at most this many notes from each source")
    ap.add_argument("--quick", action="store_true", help="smoke run: 4 MTS notes and 20 abstracts")
    ap.add_argument("--hf-batch-size", type=int, default=8)
    ap.add_argument("--device", default="auto", help="auto (CUDA when torch sees a GPU), cpu or cuda[:N]; every system "
                                                      "runs there, the transformers pipeline too")
    ap.add_argument("--model", default=None, help="token-classification checkpoint (default: the shipped model)")
    ap.add_argument("--random-model", choices=sorted(SIZES), help="speed only: random weights of this shape "
                                                                   "(gatortron-base: 345M, megatron-bert) instead of --model")
    ap.add_argument("--short-window", type=int, default=128, help="also run the default path with windows of this many "
                                                                   "tokens (stride a quarter): attention costs less, context is "
                                                                   "shorter; 0 skips")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile row (its first pass compiles)")
    ap.add_argument("--no-onnx", action="store_true", help="skip the ONNX Runtime rows (export takes long for big models)")
    ap.add_argument("--stream-notes", type=int, default=0)
    ap.add_argument("--stream-only", action="store_true", help="skip the speed table; only the --stream-notes memory run")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-profile", action="store_true", help="skip the profile of one default-path forward")
    ap.add_argument("--no-margins", action="store_true", help="skip the word-level study of bf16/fp32 differences")
    return ap.parse_args()


def run(args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table
    from transformers import AutoConfig

    from clinlm.runtime.device import cpu_kind, resolve_device
    from clinlm.tasks.ner.export import export
    from clinlm.tasks.ner.pipeline import DEFAULT_MODEL_DIR
    from clinlm.runtime.threads import inference_threads

    out = Console(width=160)
    device = resolve_device(args.device)
    limits = (4, 20) if args.quick else (args.limit, args.limit)
    notes = mts_notes(args.mts, random.Random(args.seed), limits[0])
    out.print(cpu_line(device))
    abstracts = mm_abstracts(args.mm, limits[1]) if args.mm.is_file() else []
    texts = notes + abstracts
    n_words = word_count(texts)
    out.print(f"corpus: {len(notes)} MTS-Dialog notes + {len(abstracts)} MM abstracts, {n_words:,} words; device {device}; "
              f"torch threads {torch.get_num_threads()} (clinlm: {inference_threads()})")
    tmp_dir = tempfile.TemporaryDirectory()  # exports and a random model live here until the run ends
    tmp = tmp_dir.name
    model_dir = random_model(args.random_model, Path(tmp) / "random") if args.random_model else args.model
    if args.stream_only:
        return stream_child(args.stream_notes or 10000, texts, model_dir, str(device))
    config = AutoConfig.from_pretrained(model_dir or str(DEFAULT_MODEL_DIR))
    peaks = {"float32": matmul_peak(torch.float32, config, device),
             "bfloat16": matmul_peak(torch.bfloat16, config, device)}
    out.print(f"matmul peak ({config.hidden_size} x {config.intermediate_size} FFN shape): "
              f"fp32 {peaks['float32']:.0f} GFLOP/s, bf16 {peaks['bfloat16']:.0f} GFLOP/s"
              + ("" if cpu_kind() in ("amx", "avx512_bf16") or device.type == "cuda" else
                 " (bf16 is emulated on this CPU: its rows are measured, and compared with the fp32 peak)"))

    rows = []
    seconds, hf_ents, flops = run_hf(model_dir or str(DEFAULT_MODEL_DIR), texts, args.hf_batch_size, device)
    rows.append((f"transformers pipeline (batch {args.hf_batch_size}, stride {STRIDE})", "fp32", "float32", seconds,
                 hf_ents, flops, "transformers"))
    # (row, checkpoint, precision, window override, compile, other clinlm.load options)
    systems = [("clinlm fp32", model_dir, "fp32", None, False), ("clinlm bf16 autocast", model_dir, "autocast", None, False),
               ("clinlm bf16 weights", model_dir, "bf16-weights", None, False),
               ("clinlm default (auto), before: transformers' model, 16,384-token batches", model_dir, "auto", None, False,
                {"engine": "transformers", "batch_tokens": 16384}),
               ("clinlm default (auto)", model_dir, "auto", None, False)]
    own_window = json.loads((Path(model_dir or DEFAULT_MODEL_DIR) / "clinlm.json").read_text()).get("max_length", 512)
    if args.short_window and args.short_window >= own_window:
        out.print(f"no short-window row: the model's own window is {own_window} subwords already")
    elif args.short_window:
        systems.append((f"clinlm default (auto), {args.short_window}-token windows, stride {args.short_window // 4}",
                        model_dir, "auto", args.short_window, False))
    if not args.no_compile:
        systems.append(("clinlm default (auto) + --compile, warm", model_dir, "auto", None, True))
    onnx_ok = not args.no_onnx and (device.type == "cpu" or cuda_onnx())
    if onnx_ok:
        systems.append(("clinlm ONNX Runtime", export(model_dir, Path(tmp) / "fp32"), "auto", None, False))
        if device.type == "cpu":  # dynamic int8 quantization is a CPU technique
            systems.append(("clinlm ONNX Runtime int8", export(model_dir, Path(tmp) / "int8", int8=True), "auto", None,
                            False))
    for name, path, precision, window, compiled, *load in systems:
        seconds, ents, flops, dtype, mode, engine = run_clinlm(path, texts, precision, device, window, compile=compiled,
                                                               **(load[0] if load else {}))
        rows.append((name, "onnx int8" if "int8" in name else f"onnx {mode}" if "ONNX" in name else mode,
                     "int8" if "int8" in name else dtype, seconds, ents, flops, engine))
    base_wps = n_words / rows[0][3]
    ref = rows[1][4]
    table = Table(title=f"annotating {n_words:,} words ({len(texts)} notes) on {device}, {cpu_line(device)}",
                  title_justify="left")
    for col in ("system", "engine", "precision", "compute", "words/s", "x pipeline", "model GFLOP/s", "% matmul peak",
                "padding", "entities", "same as fp32", "fp32 kept"):
        table.add_column(col, justify="left" if col in ("system", "engine", "precision", "compute") else "right")
    native_bf16 = cpu_kind() in ("amx", "avx512_bf16") or device.type == "cuda"
    for name, mode, dtype, seconds, ents, flops, engine in rows:
        gflops = flops.total / seconds / 1e9
        emulated = dtype == "bfloat16" and not native_bf16  # no bf16 peak to speak of: compare with fp32's
        peak = peaks["float32"] if emulated else peaks.get(dtype, peaks["float32"])
        same = len(ents & ref) / max(1, len(ents | ref))
        table.add_row(name, engine, mode, dtype, f"{n_words / seconds:,.0f}", f"{n_words / seconds / base_wps:.2f}", f"{gflops:.0f}",
                      f"{100 * gflops / peak:.0f}%" + (" (of fp32)" if dtype == "int8" or emulated else ""),
                      f"{100 * (flops.padded / max(1, flops.tokens) - 1):.1f}%", f"{len(ents):,}", f"{100 * same:.2f}%",
                      f"{100 * len(ents & ref) / max(1, len(ref)):.2f}%")
    out.print(table)
    if COMPILE_SECONDS:
        out.print(f"--compile: the first pass over the corpus, compiling every shape it met, took {COMPILE_SECONDS[0]:.1f} s "
                  f"({n_words / COMPILE_SECONDS[0]:,.0f} words/s); the row above is the second pass. Inductor's kernels are "
                  f"cached on disk (TORCHINDUCTOR_CACHE_DIR), so a later process pays less.")
    out.print("same as fp32 = |A and B| / |A or B| over (note, start, end, label); fp32 kept = share of clinlm fp32's "
              "entities found identically. padding = padded tokens run / real tokens - 1; model FLOPs counted on padded shapes. "
              "The pipeline's entities differ mostly by decoding (first-subword argmax, no Viterbi).")
    if not args.no_margins:
        m = margin_study(texts, model_dir, device)
        out.print(f"bf16 weights vs fp32 per word: {m['flips']:,} of {m['words']:,} words change their best label "
                  f"({100 * m['flips'] / max(1, m['words']):.2f}%); {100 * m['flips_near'] / max(1, m['flips']):.0f}% of those "
                  f"had a bf16 top-two margin under 0.05 (true of {100 * m['near'] / max(1, m['words']):.2f}% of all words); "
                  f"{100 * m['doubtful'] / max(1, m['windows']):.0f}% of the {m['windows']:,} windows hold such a word, so "
                  "re-running doubtful windows in fp32 would re-run that share.")
    if not onnx_ok and not args.no_onnx:
        out.print("ONNX Runtime rows skipped: onnxruntime has no CUDAExecutionProvider here (pip install onnxruntime-gpu).")
    if not args.no_profile and device.type == "cpu":
        import clinlm

        pipe = clinlm.load(model_dir, context=False, device="cpu")  # the default path, read by both studies below
        dtype, prof_rows, bound, shape = profile_forward(peaks, pipe)
        prof = Table(title=f"where a default-path forward ({dtype}, {shape} tokens, eager) spends its time",
                     title_justify="left")
        for col in ("part", "share of time", "GFLOP/s", "% matmul peak"):
            prof.add_column(col, justify="left" if col == "part" else "right")
        for group, share, gf, pct in prof_rows:
            prof.add_row(group, f"{share:.0f}%", "" if gf is None else f"{gf:.0f}", "" if pct is None else f"{pct:.0f}%")
        out.print(prof)
        default = next(r for r in rows if r[0] == "clinlm default (auto)")
        out.print(f"bound: with the linear layers at 100% of the {dtype} peak and everything else as measured, this forward "
                  f"would be x{bound:.2f} faster, so the default path could reach at most about "
                  f"x{n_words / default[3] / base_wps * bound:.2f} the pipeline at this window length.")
        shape, att_rows = attention_kernels(peaks, pipe)
        att = Table(title=f"attention alone, each CPU kernel torch offers ({shape}; best of 5)")
        for col in ("kernel", "ms", "GFLOP/s", "% matmul peak"):
            att.add_column(col, justify="left" if col == "kernel" else "right")
        for name, ms, gf, pct in att_rows:
            att.add_row(name, f"{ms:.1f}", f"{gf:.0f}", f"{pct:.0f}%")
        out.print(att)
    elif not args.no_profile:
        out.print("profile skipped: it reads torch's CPU profiler, so it runs only with --device cpu.")
    if args.stream_notes:
        stream_child(args.stream_notes, texts, model_dir, str(device))
    tmp_dir.cleanup()


def cuda_onnx() -> bool:
    try:
        import onnxruntime as ort
    except ImportError:
        return False
    return "CUDAExecutionProvider" in ort.get_available_providers()


def stream_child(n: int, texts: list[str], model_dir: str | None = None, device: str = "auto") -> None:
    import multiprocessing

    child = multiprocessing.get_context("spawn").Process(target=stream, args=(n, texts, model_dir, device))
    child.start()
    child.join()


if __name__ == "__main__":
    main()
