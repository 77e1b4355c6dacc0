"""Checkpoints a pretraining run can resume from, written so that a crash never leaves a broken one.

``OUTPUT/checkpoints/step-00001000/`` holds the weights (``model.safetensors`` and ``config.json``:
itself a loadable masked-LM checkpoint), the optimizer (``optimizer.pt``), the learning-rate
scheduler (``scheduler.pt``), the gradient scaler where fp16 uses one (``scaler.pt``), every rank's
RNG state (``rng.pt``) and ``state.json`` (step, tokens seen, held-out history, the settings that
shape the run). The data position is the step itself: the order of sequences is a function of it.

A checkpoint is written into a temporary folder beside the others and renamed into place once
complete; only then is the previous one removed, so the last good checkpoint survives a crash at any
moment. The ``.pt`` files are written with ``torch.save`` and read back with
``torch.load(weights_only=True)``, which restores tensors and plain containers and refuses to
unpickle anything else.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from clinlm.errors import ConfigError

FOLDER = "checkpoints"
STATE = "state.json"
_NAME = re.compile(r"step-(\d+)\Z")


def checkpoint_name(step: int) -> str:
    return f"step-{step:08d}"


def latest(output: Path) -> Path | None:
    """The newest complete checkpoint under ``output`` (a renamed folder holding ``state.json``)."""
    root = Path(output) / FOLDER
    if not root.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _NAME.match(p.name))
             and (p / STATE).is_file()]
    return max(found)[1] if found else None


def _fsync_tree(folder: Path) -> None:
    for f in folder.iterdir():
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())


def write(output: Path, step: int, model_files: Callable[[Path], None], tensors: dict[str, Any], state: dict[str, Any],
          keep: int = 1) -> Path:
    """Write checkpoint ``step`` atomically: ``model_files(folder)`` saves the weights there,
    ``tensors`` (name -> object of tensors and plain values) go to ``<name>.pt``, ``state`` to
    ``state.json``. Then all but the newest ``keep`` checkpoints are removed."""
    root = Path(output) / FOLDER
    root.mkdir(parents=True, exist_ok=True)
    final = root / checkpoint_name(step)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=root))
    try:
        model_files(tmp)
        for name, obj in tensors.items():
            torch.save(obj, tmp / f"{name}.pt")
        (tmp / STATE).write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        _fsync_tree(tmp)
        if final.exists():  # a checkpoint of the same step (a rerun): replace it
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    olds = sorted((int(m.group(1)), p) for p in root.iterdir() if (m := _NAME.match(p.name)) and p != final)
    for _, p in olds[: max(0, len(olds) - (keep - 1))]:
        shutil.rmtree(p, ignore_errors=True)
    for p in root.iterdir():  # temporary folders of killed writers
        if p.name.startswith(".step-") and p != tmp:
            shutil.rmtree(p, ignore_errors=True)
    return final


def read_state(folder: Path) -> dict[str, Any]:
    return json.loads((Path(folder) / STATE).read_text(encoding="utf-8"))


def load_tensors(folder: Path, name: str) -> Any:
    """A ``.pt`` file of the checkpoint, tensors and plain containers only (``weights_only=True``)."""
    path = Path(folder) / f"{name}.pt"
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)


def load_weights(folder: Path, model: torch.nn.Module) -> None:
    """The checkpoint's safetensors weights into ``model`` (tied weights are stored once)."""
    from safetensors.torch import load_file

    state = load_file(str(Path(folder) / "model.safetensors"))
    result = model.load_state_dict(state, strict=False)
    names = {n for n, _ in model.named_parameters()}  # a tied parameter is listed once, under its first name
    missing = [k for k in result.missing_keys if k in names]
    if missing or result.unexpected_keys:
        raise ConfigError(f"{folder}: the checkpoint does not fit the model (missing {missing[:3]}, "
                          f"unexpected {result.unexpected_keys[:3]})")


def compatible(saved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """Settings that differ between a checkpoint's run and this one (they would change the result)."""
    return [f"{k}: {saved.get(k)!r} then, {now.get(k)!r} now" for k in sorted(set(saved) | set(now))
            if saved.get(k) != now.get(k)]
