"""Device and precision: which CPU units or GPU this process has, and how to compute on it.

Inference precision is chosen per CPU kind because the best choice differs: with AMX (and on
GPUs) keeping fp32 weights under autocast spends most of a forward copying weights to bf16,
so the weights are cast once at load; on AVX2-only CPUs bf16 is emulated and fp32 is fastest.
"""
from __future__ import annotations

import contextlib
import platform
from dataclasses import dataclass
from pathlib import Path

import torch

from clinlm.errors import ModelError

# --precision values for inference. bf16 and fp16 are the older spellings, kept working:
# autocast on CPU (fp32 weights), half weights on a GPU, as before.
PRECISIONS = ("auto", "bf16-weights", "autocast", "fp32", "bf16", "fp16")
MODES = ("bf16-weights", "autocast", "fp32")
CPU_KINDS = ("amx", "avx512_bf16", "avx2", "apple-arm64", "other")
# avx512_bf16 without AMX: measured on an AMD EPYC Zen 5 (2 cores), one 8 x 512 MiniLM forward:
# bf16 weights 1.23 s, autocast 1.33 s. Change it here if a benchmark on such a CPU says otherwise.
AVX512_BF16_CHOICE = "bf16-weights"
AUTO_BY_KIND = {"amx": "bf16-weights", "avx512_bf16": AVX512_BF16_CHOICE, "avx2": "fp32",
                "apple-arm64": "autocast", "other": "fp32"}
BF16_FLAGS = {"avx512_bf16", "amx_bf16"}
REPORTED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_flags() -> set[str]:
    """The CPU feature flags Linux reports (empty elsewhere or when unreadable)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def cpu_supports_bf16(flags: set[str] | None = None) -> bool:
    """True when this CPU has native bf16 matrix instructions (avx512_bf16 or AMX) and torch's
    oneDNN can use them. Without them bf16 is emulated and several times slower than fp32."""
    if platform.system() == "Darwin":
        return platform.machine() == "arm64"
    flags = cpu_flags() if flags is None else flags
    return bool(flags & BF16_FLAGS) and onednn_bf16()


def cpu_model_name() -> str:
    """The CPU's model name as Linux reports it (``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def cpu_kind(flags: set[str] | None = None) -> str:
    """Which of :data:`CPU_KINDS` this CPU is, from its flags (read from /proc/cpuinfo when
    ``None``; torch's own capability check where those are unreadable) and oneDNN's bf16 check."""
    if flags is None:
        if platform.system() == "Darwin" and platform.machine() == "arm64":
            return "apple-arm64"
        flags = cpu_flags() or _torch_flags()
    if flags & BF16_FLAGS and onednn_bf16():
        return "amx" if "amx_bf16" in flags else "avx512_bf16"
    return "avx2" if "avx2" in flags else "other"


def _torch_flags() -> set[str]:
    """What torch's dispatcher says the CPU has, where /proc/cpuinfo cannot be read."""
    cap = torch.backends.cpu.get_cpu_capability().lower()  # "avx2", "avx512", "default", ...
    if not cap.startswith("avx"):
        return set()
    return {"avx2", "avx512f"} if "avx512" in cap else {"avx2"}


def onednn_bf16() -> bool:
    """Whether torch's oneDNN computes bf16 natively on this CPU (not emulated)."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@dataclass(frozen=True)
class Precision:
    """How inference computes: ``mode`` (one of :data:`MODES`), the half or full ``dtype`` it
    computes in, the CPU ``kind`` it was chosen for, and what was asked for (recorded in every
    output's metadata, so a result says how it was computed)."""

    mode: str
    dtype: torch.dtype
    cpu: str
    device: str
    requested: str = "auto"
    backend: str = "torch"
    #: whose forward runs on torch: clinlm's lean encoder (``"lean"``) or transformers' model
    engine: str = "transformers"

    def metadata(self) -> dict[str, str]:
        return {"precision": self.mode, "dtype": str(self.dtype).replace("torch.", ""), "requested": self.requested,
                "backend": self.backend, "engine": self.engine, "cpu": self.cpu, "device": self.device}


def resolve_precision(precision: str, device: torch.device, kind: str | None = None) -> Precision:
    """The inference precision for ``--precision`` on ``device``; ``kind`` fakes the CPU kind.

    ``auto``: bf16 weights on GPUs and AMX CPUs, :data:`AVX512_BF16_CHOICE` on avx512_bf16 CPUs,
    fp32 on AVX2-only CPUs (bf16 is emulated there). ``bf16``/``fp16``: autocast on CPU, half
    weights on a GPU (their meaning before ``bf16-weights`` and ``autocast`` existed)."""
    if precision not in PRECISIONS:
        raise ModelError(f"unknown precision {precision!r}; use {', '.join(PRECISIONS)}")
    kind = cpu_kind() if kind is None else kind
    cuda = device.type == "cuda"
    half = torch.bfloat16 if not cuda or torch.cuda.is_bf16_supported() else torch.float16
    if precision == "auto":
        mode = "bf16-weights" if cuda else AUTO_BY_KIND.get(kind, "fp32")
    elif precision in ("bf16", "fp16"):
        mode = "bf16-weights" if cuda else "autocast"
        half = torch.bfloat16 if precision == "bf16" else torch.float16
    else:
        mode = precision
    return Precision(mode, torch.float32 if mode == "fp32" else half, kind, device.type, precision)


def cast_weights(model: torch.nn.Module, precision: Precision) -> torch.nn.Module:
    """Cast ``model`` once for ``precision``: the half type for ``bf16-weights`` (LayerNorm and the
    classifier stay fp32: their reductions and the final logits are where bf16 rounding shows),
    fp32 otherwise (autocast casts per forward)."""
    if precision.mode != "bf16-weights":
        return model.float()
    model.to(precision.dtype)
    for module in model.modules():
        if isinstance(module, torch.nn.LayerNorm):
            module.float()
            if precision.device != "cpu":  # CPU LayerNorm takes bf16 input with fp32 weights; CUDA's does not
                _fp32_island(module, back=True)
    classifier = getattr(model, "classifier", None)
    if isinstance(classifier, torch.nn.Module):
        _fp32_island(classifier.float(), back=False)
    return model


def _fp32_island(module: torch.nn.Module, back: bool) -> None:
    """Run ``module`` in fp32 inside a half model: its input is cast up and, when ``back``, its
    output cast back to the input's type (the classifier's logits stay fp32 for the log-softmax)."""
    inner = module.forward

    def forward(x: torch.Tensor, *args, **kwargs):
        out = inner(x.float(), *args, **kwargs)
        return out.to(x.dtype) if back else out

    module.forward = forward


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ModelError(f"unknown device {device!r}; use auto, cpu or cuda[:N]") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelError("--device cuda was asked for but no CUDA GPU is available")
    return dev


def resolve_dtype(precision: str, device: torch.device) -> torch.dtype:
    """``auto`` picks bf16 where the hardware computes it natively (CUDA with bf16, CPUs with
    avx512_bf16/AMX), fp16 on older GPUs, else fp32; ``fp32``/``bf16``/``fp16`` force one."""
    if precision == "fp32":
        return torch.float32
    if precision in ("bf16", "bf16-weights", "autocast"):  # training always autocasts
        return torch.bfloat16
    if precision == "fp16":
        return torch.float16
    if precision != "auto":
        raise ModelError(f"unknown precision {precision!r}; use {', '.join(PRECISIONS)}")
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_supports_bf16() else torch.float32


def inference_autocast(model, device: torch.device, dtype: torch.dtype):
    """bf16/fp16 autocast for an fp32 model where ``dtype`` asks for it; a no-op otherwise
    (fp32, or a model already cast to ``dtype``)."""
    if dtype != torch.float32 and next(model.parameters()).dtype == torch.float32:
        return torch.autocast(device.type, dtype=dtype)
    return contextlib.nullcontext()
