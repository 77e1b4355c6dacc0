"""The bi-encoder: each text through the shared encoder alone, mean-pooled, compared by cosine.

Why: a sentence-embedding checkpoint (MiniLM from sentence-transformers, SapBERT-style models)
already scores similarity well with no training at all; a fresh regression head on ``[CLS]``
throws that away when only 90 pairs train it (BIOSSES). The bi-encoder keeps the pooling the
checkpoint was trained with and fine-tunes the encoder itself with a ranking loss (CoSENT), so a
few gold scores adjust it instead of replacing it. Its output ``score`` is the cosine (-1..1):
correlations do not depend on the scale.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Sequence

import torch
import torch.nn.functional as F

#: CoSENT's scale (Su, 2022): cosine gaps are multiplied by it before the log-sum-exp
COSENT_SCALE = 20.0


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the token vectors under ``mask`` (padding left out)."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


class BiEncoder(torch.nn.Module):
    """A Hugging Face encoder used twice; ``forward`` returns ``.logits`` = cosine, shape ``[B, 1]``,
    so the shared inference and training code treat it like a one-output head."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder
        self.config = encoder.config

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **extra) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state
        return mean_pool(hidden.float(), attention_mask)

    def forward(self, input_ids, attention_mask, input_ids_b, attention_mask_b, **_) -> SimpleNamespace:
        a = self.embed(input_ids, attention_mask)
        b = self.embed(input_ids_b, attention_mask_b)
        return SimpleNamespace(logits=F.cosine_similarity(a, b, dim=-1).unsqueeze(-1))

    def save_pretrained(self, output_dir, **kwargs) -> None:
        self.encoder.save_pretrained(output_dir, **kwargs)


def cosent_loss(cosine: torch.Tensor, gold: torch.Tensor, scale: float = COSENT_SCALE) -> torch.Tensor:
    """log(1 + sum over pairs (i, j) with gold_i > gold_j of exp(scale * (cos_j - cos_i))):
    penalises every pair the cosines rank against the gold order."""
    diff = scale * (cosine[None, :] - cosine[:, None])  # [i, j] = s(cos_j - cos_i)
    wrong = gold[:, None] > gold[None, :]
    diff = diff.masked_fill(~wrong, -1e4)
    return torch.logsumexp(torch.cat([torch.zeros(1, device=cosine.device), diff.flatten()]), dim=0)


def collate_pairs(batch: Sequence[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad the two sides apart (``input_ids``/``input_ids_b``), each with its own mask."""
    out: dict[str, torch.Tensor] = {}
    for side in ("", "_b"):
        seqs = [f["input_ids" + side] for f in batch]
        width = max(map(len, seqs))
        out["input_ids" + side] = torch.tensor([s + [pad_id] * (width - len(s)) for s in seqs], dtype=torch.long)
        out["attention_mask" + side] = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs], dtype=torch.long)
    if "labels" in batch[0]:
        out["labels"] = torch.tensor([float(f["labels"]) for f in batch])
    return out
