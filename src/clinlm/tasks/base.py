"""One abstraction for every task: data -> examples -> model head -> metrics -> predictions.

A task is a small class; the trainer (``clinlm.training``) is shared by all of them.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F


class Task(ABC):
    """What the shared trainer needs to know about a task."""

    #: short name used by the CLI and in manifests (``ner``, ``re``, ``sts``, ``nli``, ``qa``)
    name: str
    #: the key of ``evaluate()``'s result that model selection maximises
    selection_metric: str

    @abstractmethod
    def read(self, path: str | Path) -> list[Any]:
        """Examples from a data file."""

    @abstractmethod
    def build(self, model_path: str, train_examples: Sequence[Any], seed: int = 42, **options) -> tuple[Any, Any]:
        """``(model, tokenizer)`` with a head for this task, from a base encoder or a checkpoint.
        New weights (the head) start from ``seed``: one seed, one run."""

    @abstractmethod
    def features(self, examples: Sequence[Any], model, tokenizer) -> list[dict[str, list[int]]]:
        """Training features: each a dict of equal-length id lists plus ``labels``."""

    @abstractmethod
    def evaluate(self, model, tokenizer, examples: Sequence[Any]) -> dict[str, Any]:
        """Metrics of the model on gold examples (includes ``selection_metric``)."""

    @abstractmethod
    def save(self, model, tokenizer, output_dir: Path, manifest: dict[str, Any]) -> None:
        """A Hugging Face checkpoint plus ``clinlm.json``."""

    def fit_baselines(self, base_model: str, train_examples: Sequence[Any]) -> dict[str, Any]:
        """What this task's no-training baselines learn from the training data (kept in
        ``clinlm.json`` under ``baselines``); none by default."""
        return {}

    def baselines(self, fitted: dict[str, Any], gold: Sequence[Any]) -> dict[str, dict[str, Any]]:
        """Each baseline's metrics on ``gold``, keyed by its name, to print beside the model's."""
        return {}

    def collate(self, batch: Sequence[dict[str, list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
        """Right-pad id lists; ``labels`` pad with -100 (ignored by the loss)."""
        width = max(len(f["input_ids"]) for f in batch)
        out: dict[str, torch.Tensor] = {}
        for key in batch[0]:
            fill = -100 if key == "labels" else (pad_id if key == "input_ids" else 0)
            vals = [f[key] for f in batch]
            if key == "labels" and not isinstance(vals[0], list):
                out[key] = torch.tensor(vals)
                continue
            out[key] = torch.tensor([v + [fill] * (width - len(v)) for v in vals], dtype=torch.long)
        out["attention_mask"] = torch.tensor(
            [[1] * len(f["input_ids"]) + [0] * (width - len(f["input_ids"])) for f in batch], dtype=torch.long
        )
        return out

    def loss(self, model, batch: dict[str, torch.Tensor], label_smoothing: float = 0.0) -> torch.Tensor:
        """Cross-entropy over ``labels`` (override for regression tasks)."""
        labels = batch.pop("labels")
        logits = model(**batch).logits
        return F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(),
            labels.reshape(-1),
            ignore_index=-100,
            label_smoothing=label_smoothing,
        )
