"""The relation classifier: any Hugging Face encoder (``AutoModel``, so ``megatron-bert`` too)
plus a linear head over the ``[CLS]`` state or over the two opening-marker states.

Saved as the encoder's ``save_pretrained`` files plus ``relation_head.safetensors``; the
labels, marker style and pooling live in ``clinlm.json`` beside them. This module also
turns one candidate pair into model inputs, the one encoding that training and inference share.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from clinlm.document import Document
from clinlm.errors import ConfigError, ModelError
from clinlm.runtime.loading import load_pretrained
from clinlm.tasks.relation.markers import crop, insert_markers, marker_pair

HEAD_FILE = "relation_head.safetensors"
POOLINGS = ("markers", "cls")


class RelationModel(nn.Module):
    """Encoder + dropout + linear layer; ``forward`` returns logits ``[batch, n_labels]``."""

    def __init__(self, encoder, n_labels: int, pooling: str = "markers", dropout: float = 0.1):
        super().__init__()
        if pooling not in POOLINGS:
            raise ConfigError(f"unknown pooling {pooling!r}; use one of {', '.join(POOLINGS)}")
        self.encoder = encoder
        self.pooling = pooling
        width = encoder.config.hidden_size * (2 if pooling == "markers" else 1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(width, n_labels)

    @property
    def config(self):
        return self.encoder.config

    @property
    def device(self) -> torch.device:
        return self.classifier.weight.device

    def forward(self, input_ids, attention_mask, head_pos, tail_pos, token_type_ids=None) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            rows = torch.arange(hidden.shape[0], device=hidden.device)
            pooled = torch.cat([hidden[rows, head_pos], hidden[rows, tail_pos]], dim=-1)
        return self.classifier(self.dropout(pooled))

    def save_pretrained(self, path: str | Path) -> None:
        from safetensors.torch import save_file

        self.encoder.save_pretrained(path)
        head = {f"classifier.{k}": v.detach().contiguous().cpu() for k, v in self.classifier.state_dict().items()}
        save_file(head, str(Path(path) / HEAD_FILE), metadata={"pooling": self.pooling})

    @classmethod
    def from_pretrained(cls, path: str | Path, n_labels: int, pooling: str) -> "RelationModel":
        from safetensors.torch import load_file
        from transformers import AutoModel

        head_file = Path(path) / HEAD_FILE
        if not head_file.is_file():
            raise ModelError(f"{path} is not a clinlm relation model (no {HEAD_FILE})")
        model = cls(load_pretrained(AutoModel, str(path)), n_labels, pooling)
        state = {k.split(".", 1)[1]: v for k, v in load_file(str(head_file)).items()}
        if state["weight"].shape != model.classifier.weight.shape:
            raise ModelError(f"{head_file}: the head does not fit {n_labels} labels with {pooling} pooling")
        model.classifier.load_state_dict(state)
        return model


def encode_pairs(
    tokenizer,
    docs_and_pairs: Sequence[tuple[Document, int, int]],
    style: str,
    max_length: int,
    special: tuple[Sequence[int], Sequence[int]],
    entity_types: Sequence[str] = (),
) -> list[dict[str, object]]:
    """Model inputs of candidate pairs ``(doc, i, j)`` (entity indices, ``i`` before ``j``):
    ``input_ids`` with the two mentions marked (``i`` as E1, ``j`` as E2) and cropped to
    ``max_length`` around them, and ``head_pos``/``tail_pos``, the opening markers' positions.
    A type not in ``entity_types`` (those the model was trained with) is marked as ``ENTITY``."""
    pre, post = special
    known = set(entity_types)

    def typ(label: str) -> str:
        return label if label in known else "ENTITY"

    budget = max_length - len(pre) - len(post)
    if budget < 8:
        raise ConfigError(f"max length {max_length} leaves no room for a marked pair")
    margin = 8 * budget  # characters of context kept on each side before tokenizing
    texts, marks = [], []
    for doc, i, j in docs_and_pairs:
        a, b = doc.entities[i], doc.entities[j]
        lo = max(0, min(a.start, b.start) - margin)
        hi = min(len(doc.text), max(a.end, b.end) + margin)
        m = insert_markers(
            doc.text[lo:hi],
            (a.start - lo, a.end - lo),
            (b.start - lo, b.end - lo),
            marker_pair(style, "E1", typ(a.label)),
            marker_pair(style, "E2", typ(b.label)),
        )
        texts.append(m.text)
        marks.append(m.markers)
    enc = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False)
    out = []
    for k, where in enumerate(marks):
        ids, offsets = enc["input_ids"][k], enc["offset_mapping"][k]
        starts = {s: t for t, (s, e) in enumerate(offsets) if e > s}
        try:
            toks = [starts[w] for w in where]
        except KeyError:
            raise ConfigError("the tokenizer splits the entity markers: add them to it as special tokens") from None
        keep = crop(len(ids), [(toks[0], toks[1] + 1), (toks[2], toks[3] + 1)], budget)
        pos = {t: n + len(pre) for n, t in enumerate(keep)}
        out.append(
            {
                "input_ids": list(pre) + [ids[t] for t in keep] + list(post),
                "head_pos": pos[toks[0]],
                "tail_pos": pos[toks[2]],
            }
        )
    return out
