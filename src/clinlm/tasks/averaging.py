"""Weight averaging of fine-tuned checkpoints: a "model soup" (Wortsman et al., ICML 2022).

Why: checkpoints fine-tuned from the same pretrained encoder with different recipes (a longer
schedule, extra corpora, another loss weight) usually sit in one basin of the loss, so the mean
of their weights often scores better than each of them, and unlike an ensemble it costs nothing
at inference: one model of the same size and speed. The shipped default model is such a mean
(``MODEL_CARD.md``). Checkpoints from different pretrained starts do not average; clinlm cannot
tell that from the files, so always score the result on dev data before using it.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Sequence

import torch

from clinlm import manifest as manifest_io
from clinlm.errors import ConfigError
from clinlm.formats.files import umask

WEIGHTS = "model.safetensors"
#: config entries that differ between equal architectures (the writer's version, a source path)
_VOLATILE = {"_name_or_path", "transformers_version", "torch_dtype", "dtype"}


def _config(path: Path) -> dict[str, Any]:
    file = path / "config.json"
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the model config {file}: {exc}") from None


def _check_folder(path: Path) -> None:
    if not path.is_dir():
        raise ConfigError(f"not a checkpoint folder: {path}")
    if (path / "model.safetensors.index.json").is_file():
        raise ConfigError(f"{path} is a sharded checkpoint; averaging takes single-file checkpoints ({WEIGHTS})")
    if not (path / WEIGHTS).is_file():
        raise ConfigError(f"{path} has no {WEIGHTS} (clinlm reads weights as safetensors only)")


def _normalised(weights: Sequence[float] | None, n: int) -> list[float]:
    if weights is None:
        return [1.0 / n] * n
    if len(weights) != n:
        raise ConfigError(f"{len(weights)} weights for {n} checkpoints: give one weight per checkpoint")
    if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
        raise ConfigError("weights must be finite, none negative, and not all zero")
    total = float(sum(weights))
    return [w / total for w in weights]


def average_checkpoints(models: Sequence[str | Path], output: str | Path,
                        weights: Sequence[float] | None = None) -> dict[str, Any]:
    """Write the weighted mean of ``models``' weights to ``output`` and return its manifest entry.

    Every checkpoint must have the same architecture, labels and tensor shapes (a one-line
    error names the first difference). Floating-point tensors are averaged in fp32 and stored in
    the first model's dtype; integer buffers must be equal. The tokenizer, config and
    ``clinlm.json`` come from the first model; its recorded metrics and training run are dropped
    (they are not this model's) and ``averaged`` records the inputs and weights. ``output`` must not exist
    yet (or be empty): nothing is half-written, the folder appears complete or not at all.
    """
    from safetensors.torch import load_file, save_file

    paths = [Path(m) for m in models]
    if len(paths) < 2:
        raise ConfigError("averaging needs at least two checkpoints")
    out = Path(output)
    if any(out.resolve() == p.resolve() for p in paths):
        raise ConfigError(f"the output {out} is one of the checkpoints being averaged")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"the output {out} already exists and is not empty: choose a new folder")
    for p in paths:
        _check_folder(p)
    share = _normalised(weights, len(paths))

    first = {k: v for k, v in _config(paths[0]).items() if k not in _VOLATILE}
    for p in paths[1:]:
        other = {k: v for k, v in _config(p).items() if k not in _VOLATILE}
        for key in sorted(set(first) | set(other)):
            if first.get(key) != other.get(key):
                raise ConfigError(f"{p / 'config.json'} differs from {paths[0] / 'config.json'} in {key!r}: "
                                  "only checkpoints of one architecture and label set average")

    base = load_file(paths[0] / WEIGHTS)
    total = {k: v.float() * share[0] if v.is_floating_point() else v for k, v in base.items()}
    for p, w in zip(paths[1:], share[1:]):
        state = load_file(p / WEIGHTS)
        if set(state) != set(base):
            diff = sorted(set(state) ^ set(base))[0]
            raise ConfigError(f"{p / WEIGHTS} and {paths[0] / WEIGHTS} hold different tensors (e.g. {diff!r})")
        for k, v in state.items():
            if v.shape != base[k].shape:
                raise ConfigError(f"tensor {k!r} has shape {tuple(v.shape)} in {p} but {tuple(base[k].shape)} in {paths[0]}")
            if base[k].is_floating_point():
                total[k] += v.float() * w
            elif not torch.equal(v, base[k]):
                raise ConfigError(f"the integer tensor {k!r} differs between {p} and {paths[0]}")
    mean = {k: v.to(base[k].dtype).contiguous() for k, v in total.items()}

    entry = {"models": [str(p) for p in paths], "weights": [round(w, 6) for w in share]}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        tmp.chmod(0o777 & ~umask())  # mkdtemp's folder is private; the result is an ordinary folder
        for item in paths[0].iterdir():
            if item.is_file() and item.name not in (WEIGHTS, manifest_io.MANIFEST):
                shutil.copyfile(item, tmp / item.name)
        save_file(mean, tmp / WEIGHTS, metadata={"format": "pt"})
        man = manifest_io.read(paths[0])
        man.pop("metrics", None)  # the first model's scores and training run are not this model's;
        man.pop("training", None)  # each input's clinlm.json keeps its own
        man["averaged"] = entry
        manifest_io.write(tmp, man)
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return entry


def interpolate(model: torch.nn.Module, start: torch.nn.Module, weight: float) -> torch.nn.Module:
    """``model``'s weights replaced, in place, by ``weight * model + (1 - weight) * start``: WiSE-FT
    (Wortsman et al., CVPR 2022), the fine-tuned weights mixed with those they started from.

    Why: fine-tuned on a few dozen examples, an encoder that already did the task untrained (a
    sentence-embedding model on similarity) fits them and loses some of what it knew; the mixture
    usually keeps both. ``start`` must have the same parameters (the model as built before
    training); integer buffers are left as they are."""
    if not 0.0 <= weight <= 1.0:
        raise ConfigError(f"the interpolation weight must lie in [0, 1], not {weight}")
    start_state = start.state_dict()
    with torch.no_grad():
        for name, value in model.state_dict().items():
            if name not in start_state or start_state[name].shape != value.shape:
                raise ConfigError(f"cannot interpolate: {name!r} differs between the fine-tuned and the starting model")
            if value.is_floating_point():
                value.mul_(weight).add_(start_state[name].to(value.dtype), alpha=1.0 - weight)
    return model
