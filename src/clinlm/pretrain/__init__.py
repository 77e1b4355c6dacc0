"""Continued masked-LM pretraining on an institution's own text (``clinlm pretrain``).

``corpus`` (files → documents → text blocks, held-out split), ``tokens`` (the on-disk token cache),
``packing`` (sequences and their order), ``masking`` (whole-word masking), ``model`` (the starting
point), ``objective`` (the loss module), ``plan`` (phases, batch, budget, schedule), ``checkpoints``
(atomic, resumable), ``distributed`` (torchrun, DDP, FSDP), ``run`` (the loop) and ``commands``.

``clinlm.pretrain.pretrain`` and ``PretrainArgs`` are :mod:`clinlm.pretrain.run`'s, imported on
first use so that the command line starts without torch.
"""
from __future__ import annotations

from typing import Any

__all__ = ["PretrainArgs", "pretrain"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from clinlm.pretrain import run

        return getattr(run, name)
    raise AttributeError(f"module 'clinlm.pretrain' has no attribute {name!r}")
