"""Device and precision: which CPU units or GPU this process has, and the dtype to compute in."""
from __future__ import annotations

import contextlib
import platform
from pathlib import Path

import torch

from clinlm.errors import ModelError

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
    if not flags & {"avx512_bf16", "amx_bf16"}:
        return False
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


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
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        return torch.float16
    if precision != "auto":
        raise ModelError(f"unknown precision {precision!r}; use auto, bf16, fp16 or fp32")
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_supports_bf16() else torch.float32


def inference_autocast(model, device: torch.device, dtype: torch.dtype):
    """bf16/fp16 autocast for an fp32 model where ``dtype`` asks for it; a no-op otherwise
    (fp32, or a model already cast to ``dtype``)."""
    if dtype != torch.float32 and next(model.parameters()).dtype == torch.float32:
        return torch.autocast(device.type, dtype=dtype)
    return contextlib.nullcontext()
