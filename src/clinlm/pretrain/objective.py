"""The masked-LM loss as one module, computed only where it is needed.

A masked-LM head projects every position onto the whole vocabulary (30-50k logits per token), and
for a small encoder that projection costs as much as the encoder itself; only the ~15% chosen
positions are scored, so :class:`MaskedLMObjective` runs the encoder, gathers the chosen positions
and applies the head to those alone. It returns the *summed* cross-entropy and leaves the division
to the caller, which divides by the number of predicted tokens in the whole effective batch (all
micro-batches, all ranks): the gradient is then the same however the batch is split.

Being one module, it is what DDP or FSDP wraps, so their hooks see every parameter (the tied
embeddings and decoder included) in one forward.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


class MaskedLMObjective(torch.nn.Module):
    """``forward(input_ids, attention_mask, positions, labels) -> summed loss`` for a
    ``*ForMaskedLM`` model; ``positions`` index the flattened ``[batch * length]`` tokens."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model
        prefix = getattr(model, "base_model_prefix", "")
        heads = [name for name, _ in model.named_children() if name != prefix]
        # BERT/megatron-bert: bert + cls; RoBERTa: roberta + lm_head. Anything else: the full forward.
        self.head_name = heads[0] if prefix and hasattr(model, prefix) and len(heads) == 1 else None

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None, positions: torch.Tensor,
                labels: torch.Tensor) -> torch.Tensor:
        if self.head_name is None:
            logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits
            selected = logits.reshape(-1, logits.shape[-1]).index_select(0, positions)
        else:
            base = getattr(self.model, self.model.base_model_prefix)
            hidden = base(input_ids=input_ids, attention_mask=attention_mask)[0]
            picked = hidden.reshape(-1, hidden.shape[-1]).index_select(0, positions)
            selected = getattr(self.model, self.head_name)(picked)
        return F.cross_entropy(selected.float(), labels, reduction="sum")
