"""Fused attention for GatorTron's architecture (``megatron-bert``).

transformers runs megatron-bert self-attention eagerly: it materialises every ``[L x L]``
score matrix, scales, masks, softmaxes and multiplies it again, with no SDPA path (BERT has
one). torch's ``scaled_dot_product_attention`` computes the same function in one fused
kernel (flash/memory-efficient on CUDA, flash on CPU): the same maths with less memory
traffic, so GatorTron-sized models annotate and train faster on CPU and GPU alike.
:func:`fuse_attention` swaps it in for the plain encoder case and leaves everything else
(attention weights asked for, caches, cross-attention) to transformers' own code.
"""
from __future__ import annotations

import types

import torch
import torch.nn.functional as F

_EAGER_CLASSES = ("MegatronBertSelfAttention",)


def fuse_attention(model: torch.nn.Module) -> int:
    """Route eager self-attention layers of ``model`` through SDPA; returns how many were switched."""
    n = 0
    for module in model.modules():
        if type(module).__name__ in _EAGER_CLASSES and not hasattr(module, "_clinlm_eager_forward"):
            module._clinlm_eager_forward = module.forward
            module.forward = types.MethodType(_sdpa_forward, module)
            n += 1
    return n


def _sdpa_forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None, *args, **kwargs):
    """megatron-bert self-attention through SDPA; anything beyond plain encoding goes to the original."""
    if any(a is not None and a is not False for a in (*args, *kwargs.values())):
        return self._clinlm_eager_forward(hidden_states, attention_mask, *args, **kwargs)
    shape = (*hidden_states.shape[:-1], -1, self.attention_head_size)
    q = self.query(hidden_states).view(shape).transpose(1, 2)
    k = self.key(hidden_states).view(shape).transpose(1, 2)
    v = self.value(hidden_states).view(shape).transpose(1, 2)
    if attention_mask is not None and attention_mask.dtype != torch.bool:
        # the eager path's mask is additive: 0 where a key may be attended, a large negative elsewhere
        attention_mask = attention_mask == 0
    context = F.scaled_dot_product_attention(
        q, k, v, attn_mask=attention_mask, dropout_p=self.dropout.p if self.training else 0.0
    )
    context = context.transpose(1, 2).reshape(*hidden_states.shape[:-1], self.all_head_size)
    return context, None
