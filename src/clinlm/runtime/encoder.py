"""A lean inference encoder for BERT-family token classifiers (``bert``, ``megatron-bert``).

Why clinlm carries its own forward for these two architectures, beside transformers:

- **Start-up.** Importing transformers' BERT module costs about 2 s per process (its lazy-import
  scan of every model folder, ``torch.distributed.tensor`` through its kernel hub, generation
  utilities), more than the rest of a one-note ``clinlm annotate`` together. This module needs
  torch and safetensors only.
- **Speed.** The three attention projections run as one matmul, and on CPU with bf16 weights the
  first FFN layer and its GELU run as one oneDNN call (``mkldnn._linear_pointwise``, the op torch.compile emits
  for the same pattern), which in bf16 halves that layer's cost (GELU alone took as long as its
  matmul on an AMX Xeon); the two output projections take their residual add the same way.

It reads the same ``config.json`` and ``model.safetensors`` as ``AutoModelForTokenClassification``
and computes the same function (tests compare logits with transformers, both architectures). It
is inference-only; training, other architectures and anything this module does not recognise in
a checkpoint go through transformers (:func:`supported` says which).
"""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn

from clinlm.errors import ModelError

ARCHITECTURES = {"bert": "post-ln", "megatron-bert": "pre-ln"}
_ACTIVATIONS = {"gelu": "none", "gelu_new": "tanh", "gelu_pytorch_tanh": "tanh"}


def read_config(path: str | Path) -> dict:
    """A local checkpoint's ``config.json`` as a dict (a one-line error if unreadable)."""
    file = Path(path) / "config.json"
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read the model config {file}: {exc}") from None


def supported(config: dict) -> bool:
    """Whether this module computes exactly what transformers would for ``config``."""
    return (
        config.get("model_type") in ARCHITECTURES
        and any(a.endswith("ForTokenClassification") for a in config.get("architectures") or [])
        and config.get("position_embedding_type", "absolute") == "absolute"
        and config.get("hidden_act", "gelu") in _ACTIVATIONS
        and not config.get("is_decoder", False)
        and not config.get("add_cross_attention", False)
        and isinstance(config.get("hidden_size"), int) and isinstance(config.get("num_attention_heads"), int)
        and config["num_attention_heads"] > 0 and config["hidden_size"] % config["num_attention_heads"] == 0
    )


def _cpu_autocast() -> bool:
    try:
        return torch.is_autocast_enabled("cpu")
    except TypeError:  # torch < 2.4
        return torch.is_autocast_cpu_enabled()


def _compiling() -> bool:
    """Inside ``torch.compile``'s tracing (``torch.compiler.is_compiling`` is torch >= 2.3; clinlm allows 2.1)."""
    check = getattr(getattr(torch, "compiler", None), "is_compiling", None)
    return bool(check()) if check is not None else False


def _namespace(config: dict) -> SimpleNamespace:
    """The config as attributes, as clinlm reads a transformers config (``id2label`` keyed by int)."""
    ns = SimpleNamespace(**config)
    ns.id2label = {int(k): v for k, v in config.get("id2label", {}).items()}
    ns.label2id = {k: int(v) for k, v in config.get("label2id", {}).items()}
    ns.num_labels = len(ns.id2label)
    ns.max_position_embeddings = config.get("max_position_embeddings", 512)
    return ns


class _Layer(nn.Module):
    def __init__(self, h: int, inter: int, eps: float):
        super().__init__()
        self.qkv = nn.Linear(h, 3 * h)
        self.attn_out = nn.Linear(h, h)
        self.ln_attn = nn.LayerNorm(h, eps=eps)
        self.ffn_in = nn.Linear(h, inter)
        self.ffn_out = nn.Linear(inter, h)
        self.ln_ffn = nn.LayerNorm(h, eps=eps)


class TokenClassifier(nn.Module):
    """``input_ids, attention_mask -> .logits`` of a BERT or Megatron-BERT token classifier."""

    def __init__(self, config: dict):
        super().__init__()
        self.config = _namespace(config)
        c = self.config
        self.layout = ARCHITECTURES[c.model_type]
        self.heads = c.num_attention_heads
        self.approximate = _ACTIVATIONS[getattr(c, "hidden_act", "gelu")]
        eps = getattr(c, "layer_norm_eps", 1e-12)
        h = c.hidden_size
        self.word = nn.Embedding(c.vocab_size, h)
        self.position = nn.Embedding(c.max_position_embeddings, h)
        self.token_type = nn.Embedding(getattr(c, "type_vocab_size", 2), h)
        # BERT normalises the embeddings; Megatron-BERT normalises at the end of the encoder
        self.ln = nn.LayerNorm(h, eps=eps)
        self.layers = nn.ModuleList(_Layer(h, c.intermediate_size, eps) for _ in range(c.num_hidden_layers))
        self.classifier = nn.Linear(h, c.num_labels)
        self.requires_grad_(False)
        self.eval()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.word

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> SimpleNamespace:
        b, n = input_ids.shape
        x = self.word(input_ids) + self.position.weight[:n] + self.token_type.weight[0]
        pre = self.layout == "pre-ln"
        if not pre:
            x = self.ln(x)
        mask = None
        if attention_mask is not None and (_compiling() or not bool(attention_mask.all())):
            mask = attention_mask.bool()[:, None, None, :]  # (a compiled graph keeps the mask: no data-dependent branch)
        for layer in self.layers:
            a = layer.ln_attn(x) if pre else x
            q, k, v = layer.qkv(a).view(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).transpose(1, 2).reshape(b, n, -1)
            x = self._linear_add(ctx, layer.attn_out, x)
            if not pre:
                x = layer.ln_attn(x)
            f = layer.ln_ffn(x) if pre else x
            x = self._linear_add(self._gelu_linear(f, layer.ffn_in), layer.ffn_out, x)
            if not pre:
                x = layer.ln_ffn(x)
        if pre:
            x = self.ln(x)
        return SimpleNamespace(logits=self.classifier(x))

    def _gelu_linear(self, x: torch.Tensor, linear: nn.Linear) -> torch.Tensor:
        """``gelu(linear(x))``, as one oneDNN call on CPU for bf16 weights (no autocast). In fp32,
        the precision of AVX2-only CPUs, torch's own matmul runs: with oneDNN capped at AVX2 its
        fused call took 95 ms against 57 ms for a 4,096 x 384 x 1,536 layer on one thread."""
        if _FUSED and _fusable(x, linear.weight):
            flat = x.reshape(-1, x.shape[-1])
            out = torch.ops.mkldnn._linear_pointwise(flat, linear.weight, linear.bias, "gelu", [], self.approximate)
            return out.view(*x.shape[:-1], -1)
        return F.gelu(linear(x), approximate=self.approximate)

    @staticmethod
    def _linear_add(x: torch.Tensor, linear: nn.Linear, residual: torch.Tensor) -> torch.Tensor:
        """``residual + linear(x)``, as one oneDNN call (the sum a post-op of the matmul) on CPU for
        bf16 weights, as :meth:`_gelu_linear`: the residual add was a separate pass over the
        activations, 0.5 ms of a 1.0 ms 8,192 x 384 x 384 layer on an AMX Xeon. The sum is rounded
        to bf16 once instead of twice."""
        if _FUSED_ADD and _fusable(x, linear.weight) and residual.dtype == torch.bfloat16:
            out = torch.ops.mkldnn._linear_pointwise.binary(
                x.reshape(-1, x.shape[-1]), residual.reshape(-1, residual.shape[-1]), linear.weight, linear.bias, "add")
            return out.view(residual.shape)
        return residual + linear(x)

    def save_pretrained(self, path: str | Path) -> None:
        """Copy the checkpoint this model was read from (its weights never change here)."""
        import shutil

        source = getattr(self, "source", None)
        if source is None:
            raise ModelError("this lean model was not read from a checkpoint folder; nothing to save")
        Path(path).mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "model.safetensors", "model.safetensors.index.json"):
            if (source / name).is_file():
                shutil.copyfile(source / name, Path(path) / name)
        index = source / "model.safetensors.index.json"
        if index.is_file():
            for shard in set(json.loads(index.read_text())["weight_map"].values()):
                shutil.copyfile(source / shard, Path(path) / shard)


def _fusable(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether a oneDNN fused linear call applies: CPU, bf16 input and weights, outside autocast
    (which casts per op) and outside torch.compile (Inductor fuses by itself)."""
    return (x.device.type == "cpu" and x.dtype == weight.dtype == torch.bfloat16
            and not _cpu_autocast() and not _compiling())


def _fused_available() -> bool:
    try:
        return hasattr(torch.ops.mkldnn, "_linear_pointwise") and torch.backends.mkldnn.is_available()
    except (AttributeError, RuntimeError):
        return False


_FUSED = _fused_available()
_FUSED_ADD = _FUSED and hasattr(torch.ops.mkldnn._linear_pointwise, "binary")


def _tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    index = path / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        out: dict[str, torch.Tensor] = {}
        for shard in shards:
            out.update(load_file(path / shard))
        return out
    return load_file(path / "model.safetensors")


def _state_dict(raw: dict[str, torch.Tensor], config: dict) -> dict[str, torch.Tensor] | None:
    """transformers' parameter names -> this module's (the projections concatenated), or
    ``None`` when a tensor is missing or left over (a checkpoint this module does not know)."""
    raw = dict(raw)
    pre = ARCHITECTURES[config["model_type"]] == "pre-ln"

    def take(name: str) -> torch.Tensor:
        return raw.pop(name)

    try:
        out = {
            "word.weight": take("bert.embeddings.word_embeddings.weight"),
            "position.weight": take("bert.embeddings.position_embeddings.weight"),
            "token_type.weight": take("bert.embeddings.token_type_embeddings.weight"),
            "classifier.weight": take("classifier.weight"),
            "classifier.bias": take("classifier.bias"),
        }
        ln = "bert.encoder.ln" if pre else "bert.embeddings.LayerNorm"
        out["ln.weight"], out["ln.bias"] = take(f"{ln}.weight"), take(f"{ln}.bias")
        for i in range(config["num_hidden_layers"]):
            p, q = f"bert.encoder.layer.{i}.", f"layers.{i}."
            for kind in ("weight", "bias"):
                out[q + "qkv." + kind] = torch.cat([take(f"{p}attention.self.{m}.{kind}") for m in ("query", "key", "value")])
                out[q + "attn_out." + kind] = take(f"{p}attention.output.dense.{kind}")
                out[q + "ffn_in." + kind] = take(f"{p}intermediate.dense.{kind}")
                out[q + "ffn_out." + kind] = take(f"{p}output.dense.{kind}")
                out[q + "ln_attn." + kind] = take(f"{p}attention.ln.{kind}" if pre else f"{p}attention.output.LayerNorm.{kind}")
                out[q + "ln_ffn." + kind] = take(f"{p}ln.{kind}" if pre else f"{p}output.LayerNorm.{kind}")
    except KeyError:
        return None
    raw.pop("bert.embeddings.position_ids", None)  # a buffer some checkpoints carry
    return out if not raw else None


def load(path: str | Path) -> TokenClassifier | None:
    """The lean model of a local checkpoint folder, in fp32; ``None`` where transformers must load it."""
    path = Path(path)
    config = read_config(path)
    if not supported(config):
        return None
    state = _state_dict(_tensors(path), config)
    if state is None:
        return None
    model = TokenClassifier(config)
    try:
        model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    except RuntimeError:  # shapes that disagree with the config: transformers reports it in its words
        return None
    model.source = path
    return model
