"""Batched inference shared by the pair and QA tasks: eval mode, no gradients, length-sorted batches."""
from __future__ import annotations

import contextlib
from typing import Any, Iterator, Sequence

import torch


def autocast(model):
    """bf16 autocast on a CUDA GPU that has it; plain fp32 elsewhere."""
    if model.device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def forward_batches(task, model, tokenizer, feats: Sequence[dict[str, Any]], batch_size: int) -> Iterator[tuple[list[int], Any]]:
    """``(indices into feats, model output)`` per batch; batches hold features of similar length
    (less padding). The model's train/eval mode is restored afterwards."""
    order = sorted(range(len(feats)), key=lambda i: len(feats[i]["input_ids"]))
    pad = tokenizer.pad_token_id or 0
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), autocast(model):
            for s in range(0, len(order), batch_size):
                idx = order[s : s + batch_size]
                batch = task.collate([feats[i] for i in idx], pad)
                yield idx, model(**{k: v.to(model.device) for k, v in batch.items()})
    finally:
        model.train(was_training)
