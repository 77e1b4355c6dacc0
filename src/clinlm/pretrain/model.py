"""The model pretraining starts from: an encoder checkpoint with its masked-LM head, or a new one.

- A checkpoint (BERT, RoBERTa, megatron-bert/GatorTron ...) is loaded with
  :func:`clinlm.runtime.loading.load_tokenizer` (GatorTron's cased vocabulary without a tokenizer
  config) and safetensors weights only. Its embedding matrix is never resized: GatorTron's has more
  rows than the vocabulary, and they stay.
- A checkpoint saved without masked-LM head weights (a plain ``BertModel``, a sentence-transformers
  model) gets a new head whose decoder is tied to the input embeddings; :func:`load_start` says so.
- ``--from-scratch`` builds an architecture (``bert-mini``, ``gatortron-base`` or a ``config.json``)
  around a given tokenizer, with freshly initialised weights.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from clinlm.errors import ConfigError, ModelError
from clinlm.runtime.loading import (
    check_model_location,
    check_vocab_fits,
    load_pretrained,
    load_tokenizer,
)
from clinlm.runtime.quiet import quiet_loading

#: Architectures ``--from-scratch --config NAME`` knows: BERT-mini (Turc et al. 2019) and GatorTron-base's shape.
PRESETS: dict[str, dict[str, Any]] = {
    "bert-mini": dict(model_type="bert", hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                      intermediate_size=1024, max_position_embeddings=512),
    "gatortron-base": dict(model_type="megatron-bert", hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                           intermediate_size=4096, max_position_embeddings=512),
}
_HEAD_PARTS = ("cls.", "lm_head", "predictions", "vocab_", "generator_")


@dataclass
class Start:
    """What pretraining starts from: model, tokenizer, a note on its head (None: pretrained) and its name."""

    model: Any
    tokenizer: Any
    head_note: str | None
    base: str


def check_tokenizer(tokenizer, where: str) -> None:
    if tokenizer.mask_token_id is None:
        raise ModelError(f"{where}: the tokenizer has no mask token, so masked-LM pretraining cannot use it")
    if tokenizer.cls_token_id is None or tokenizer.sep_token_id is None:
        raise ModelError(f"{where}: the tokenizer has no [CLS]/[SEP] (or <s>/</s>) tokens to pack sequences with")


def tie_head(model) -> None:
    """Tie the masked-LM decoder to the input embeddings (same matrix), whatever the config says."""
    out, emb = model.get_output_embeddings(), model.get_input_embeddings()
    if out is None:
        raise ModelError(f"{type(model).__name__} has no output embeddings to tie to the input embeddings")
    if out.weight is not emb.weight:
        if out.weight.shape != emb.weight.shape:
            raise ModelError("the masked-LM decoder and the input embeddings differ in shape; cannot tie them")
        out.weight = emb.weight
    model.config.tie_word_embeddings = True


@contextmanager
def _quiet_logs() -> Iterator[None]:
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def load_checkpoint(path_or_id: str, cased: bool | None = None) -> Start:
    """A masked-LM model and tokenizer from a checkpoint; a head added (tied) when it has none."""
    from transformers import AutoModelForMaskedLM

    check_model_location(path_or_id)
    tokenizer = load_tokenizer(path_or_id, cased=cased)
    check_tokenizer(tokenizer, path_or_id)
    try:
        with quiet_loading(), _quiet_logs():  # its load report lists the missing head; we say it in one line
            model, info = load_pretrained(AutoModelForMaskedLM, path_or_id, output_loading_info=True)
    except ValueError as exc:  # a config class with no masked-LM model (e.g. a causal LM)
        raise ModelError(f"{path_or_id} is not an encoder with a masked-LM form: {' '.join(str(exc).split())[:200]}") from None
    missing = [k for k in info.get("missing_keys", []) if any(p in k for p in _HEAD_PARTS)]
    note = None
    if missing:
        tie_head(model)
        note = (f"{path_or_id} has no masked-LM head weights: added a new head tied to the input embeddings "
                "(its transform starts untrained)")
    model.float()
    check_vocab_fits(model, tokenizer, path_or_id)
    return Start(model, tokenizer, note, path_or_id)


def scratch_config(config: str, tokenizer):
    """A model config from a preset name or a ``config.json``, sized to ``tokenizer``."""
    from transformers import AutoConfig

    if config in PRESETS:
        values = dict(PRESETS[config])
        vocab = len(tokenizer)
        if values["model_type"] == "megatron-bert":
            vocab = -(-vocab // 128) * 128  # Megatron pads the vocabulary to a multiple of 128
        values["vocab_size"] = vocab
    else:
        path = Path(config)
        if path.is_dir():
            path = path / "config.json"
        if not path.is_file():
            raise ConfigError(f"--config {config}: not a preset ({', '.join(PRESETS)}) and no such config.json")
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: cannot read the model config ({exc})") from None
        if not isinstance(values, dict) or "model_type" not in values:
            raise ConfigError(f"{path}: a model config needs a model_type (e.g. bert, roberta, megatron-bert)")
        values.setdefault("vocab_size", len(tokenizer))
    model_type = values.pop("model_type")
    values.pop("architectures", None)
    values["pad_token_id"] = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    try:
        cfg = AutoConfig.for_model(model_type, **values)
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"--config {config}: {exc}") from None
    if cfg.vocab_size < len(tokenizer):
        raise ConfigError(f"--config {config}: vocab_size {cfg.vocab_size} is smaller than the tokenizer's {len(tokenizer)} tokens")
    return cfg


def from_scratch(config: str, tokenizer_dir: str, seed: int, cased: bool | None = None) -> Start:
    """A freshly initialised masked-LM model (seeded) for ``tokenizer_dir``'s tokenizer."""
    from transformers import AutoModelForMaskedLM

    tokenizer = load_tokenizer(tokenizer_dir, cased=cased)
    check_tokenizer(tokenizer, tokenizer_dir)
    cfg = scratch_config(config, tokenizer)
    torch.manual_seed(seed)
    try:
        model = AutoModelForMaskedLM.from_config(cfg)
    except ValueError as exc:
        raise ConfigError(f"--config {config}: {type(cfg).__name__} has no masked-LM model ({exc})") from None
    tie_head(model)
    return Start(model.float(), tokenizer, None, f"scratch:{config}")
