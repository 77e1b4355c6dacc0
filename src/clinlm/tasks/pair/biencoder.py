"""The bi-encoder: each text through the shared encoder alone, mean-pooled, compared by cosine.

Why: a sentence-embedding checkpoint (MiniLM from sentence-transformers, SapBERT-style models)
already scores similarity well with no training at all; a fresh regression head on ``[CLS]``
throws that away when only 90 pairs train it (BIOSSES). The bi-encoder keeps the pooling the
checkpoint was trained with and fine-tunes the encoder itself with a ranking loss (CoSENT), so a
few gold scores adjust it instead of replacing it. Its output ``score`` is the cosine (-1..1):
correlations do not depend on the scale.
"""
from __future__ import annotations

from contextlib import contextmanager

from types import SimpleNamespace
from typing import TYPE_CHECKING, Sequence

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    import numpy as np

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


def load_bi_encoder(model_path: str) -> tuple[BiEncoder, object]:
    """A bi-encoder over the checkpoint's encoder (no head), with its tokenizer, in fp32."""
    from transformers import AutoModel

    from clinlm.runtime.loading import check_model_location, check_vocab_fits, load_pretrained, load_tokenizer

    check_model_location(str(model_path))
    tokenizer = load_tokenizer(str(model_path))
    encoder = load_pretrained(AutoModel, model_path, add_pooling_layer=False)
    encoder.float()
    check_vocab_fits(encoder, tokenizer, str(model_path))
    return BiEncoder(encoder), tokenizer


def cosines(model: BiEncoder, tokenizer, pairs: Sequence[tuple[str, str]], max_length: int = 128,
            batch_size: int = 64) -> list[float]:
    """Cosine of each ``(text_a, text_b)`` pair, in input order."""
    max_length = min(max_length, getattr(model.config, "max_position_embeddings", max_length))
    out: list[float] = []
    with evaluating(model):
        for s in range(0, len(pairs), batch_size):
            chunk = pairs[s : s + batch_size]
            enc = [{"input_ids": tokenizer(a, truncation=True, max_length=max_length)["input_ids"],
                    "input_ids_b": tokenizer(b, truncation=True, max_length=max_length)["input_ids"]} for a, b in chunk]
            batch = collate_pairs(enc, tokenizer.pad_token_id or 0)
            out += model(**{k: v.to(model.device) for k, v in batch.items()}).logits[:, 0].tolist()
    return out


@contextmanager
def evaluating(model):
    """``model`` in eval mode under ``torch.inference_mode`` for the block, its training mode restored after."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield model
    finally:
        model.train(was_training)


#: Padded tokens in one batch of :func:`embed_texts` (batch rows x the longest text's tokens).
EMBED_TOKENS = 1024


def embed_texts(model, tokenizer, texts: Sequence[str], max_length: int = 32, batch_size: int = 256,
                progress=None) -> np.ndarray:
    """L2-normalized mean-pooled embeddings of ``texts`` by a :class:`BiEncoder` (or any module with ``embed`` and ``config``), float32, input order.

    Texts are tokenized once, sorted by their number of tokens and batched up to ``batch_size`` rows
    and :data:`EMBED_TOKENS` padded tokens: names and mentions are mostly a few tokens long, and one
    wide batch padded to its longest text spent three quarters of its time on padding."""
    import numpy as np

    out = np.zeros((len(texts), int(model.config.hidden_size)), dtype=np.float32)
    if not len(texts):
        return out
    ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    lengths = np.array([len(x) for x in ids])
    order = np.argsort(lengths, kind="stable")
    with evaluating(model):
        s = 0
        while s < len(order):
            width = int(lengths[order[min(s + batch_size, len(order)) - 1]])
            idx = order[s: s + max(1, min(batch_size, EMBED_TOKENS // max(width, 1)))]
            enc = tokenizer.pad({"input_ids": [ids[i] for i in idx]}, return_tensors="pt")
            vec = model.embed(enc["input_ids"].to(model.device), enc["attention_mask"].to(model.device))
            out[idx] = torch.nn.functional.normalize(vec.float(), dim=-1).cpu().numpy()
            s += len(idx)
            if progress:
                progress(s, len(order))
    return out
