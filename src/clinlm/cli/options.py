"""Options every `clinlm train|evaluate|predict TASK` command shares, declared once.

Each is an ``Annotated`` type; a command gives its own default (``epochs: Epochs = 3.0``), so the
flags, help and spelling stay the same across the five tasks.
"""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

Epochs = Annotated[float, typer.Option(help="Passes over the training data (fractions allowed).")]
LearningRate = Annotated[float, typer.Option("--learning-rate", "--lr", help="Peak learning rate (linear warmup and decay).")]
BatchSize = Annotated[int, typer.Option(min=1, help="Examples per update (before --grad-accum).")]
InferenceBatch = Annotated[int, typer.Option(min=1, help="Examples per forward pass.")]
NoteBatch = Annotated[int, typer.Option(min=1, help="Notes per batch.")]
WindowLength = Annotated[Optional[int], typer.Option(min=1, help="Window length in subwords (default: the model's).")]
WindowStride = Annotated[Optional[int], typer.Option(min=0, help="Overlap between windows in subwords (default: the model's).")]
GradAccum = Annotated[int, typer.Option("--grad-accum", help="Gradient accumulation steps.")]
Warmup = Annotated[float, typer.Option(help="Warmup as a share of all steps.")]
WeightDecay = Annotated[float, typer.Option(help="AdamW weight decay.")]
Seed = Annotated[int, typer.Option(help="Seed for initialisation, shuffling and holdouts.")]
EvalsPerEpoch = Annotated[int, typer.Option(help="Dev evaluations (and checkpoint selections) per epoch.")]
LayerDecay = Annotated[float, typer.Option(min=0.0, max=1.0, help="Layer-wise learning-rate decay: each encoder layer learns at this share of the rate of the layer above it (1: one rate for all).")]
AverageLast = Annotated[int, typer.Option(min=0, help="Also score the mean of the last N evaluated checkpoints on dev, and keep it if it is best (0: off).")]
Precision = Annotated[str, typer.Option(help="auto (per CPU kind: bf16 weights on AMX CPUs and GPUs, fp32 on AVX2-only CPUs), bf16-weights, autocast, fp32; bf16 and fp16 as before (autocast on CPU, cast weights on a GPU).")]
Device = Annotated[str, typer.Option(help="auto, cpu or cuda[:N].")]
Engine = Annotated[str, typer.Option(help="auto (clinlm's lean forward for local BERT and Megatron-BERT checkpoints, transformers' model otherwise) or transformers (always transformers' model).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print machine-readable results.")]


class DiscontinuousMode(str, Enum):
    """What the brat and BioC readers do with an annotation in several pieces (``0 5;8 10``)."""

    error = "error"
    merge = "merge"


Discontinuous = Annotated[DiscontinuousMode, typer.Option(
    help="brat/BioC annotations in several pieces: error (stop and name the line) or merge (take the covering span).")]


def train_args(**kw: Any):
    """The trainer's arguments (imported late: the CLI starts without torch)."""
    from clinlm.tasks.trainer import TrainArgs

    return TrainArgs(**kw)


def train_manifest(model: str, given: list[Path], files: list[Path] | None = None) -> dict[str, Any]:
    """What a checkpoint records about its making: clinlm version, base model and a fingerprint of
    the training data (``files``: the files behind ``given`` where those are folders)."""
    from clinlm import __version__
    from clinlm.manifest import fingerprint

    return {"clinlm_version": __version__, "base_model": model,
            "train_data": {"files": [str(f) for f in given], "fingerprint": fingerprint(files or given)}}
