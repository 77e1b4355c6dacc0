"""Loading encoders and tokenizers from a local directory or a hub id, with GatorTron's quirks.

- GatorTron's hub repos (``megatron-bert``) have no ``tokenizer_config.json``, so a
  tokenizer would lowercase their cased vocabulary: we detect a cased vocabulary
  and keep case unless told otherwise.
- Their embedding matrix (50,176 rows) is larger than the vocabulary (50,101):
  embeddings are never resized to the tokenizer.

Weights are loaded from safetensors only (:func:`load_pretrained`): a pickled
``pytorch_model.bin`` can run code when it is loaded, so clinlm never opens one.
"""
from __future__ import annotations

from pathlib import Path


from clinlm.errors import ModelError

_ROBERTA_LIKE = {"roberta", "xlm-roberta", "camembert", "longformer", "bart", "deberta", "gpt2", "mpnet"}


def check_model_location(path_or_id: str) -> None:
    """Fail early, in words, for a local path that is missing or holds no model."""
    p = Path(path_or_id)
    looks_local = p.exists() or path_or_id.startswith((".", "/", "~")) or path_or_id.count("/") != 1
    if not looks_local:
        return  # a hub id such as UFNLP/gatortron-base: transformers resolves it
    if not p.is_dir():
        raise ModelError(f"model directory not found: {path_or_id}")
    if not (p / "config.json").is_file():
        raise ModelError(f"{path_or_id} is not a Hugging Face model directory (no config.json)")


#: Files that hold safetensors weights (one file, or the index of a sharded checkpoint).
SAFE_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
#: Weights clinlm will not load: pickles (and other frameworks' files).
OTHER_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json", "tf_model.h5", "flax_model.msgpack")


def check_weights(path_or_id: str) -> None:
    """A local model directory must hold safetensors weights; say so in one line, naming the
    pickle found and how to convert it, instead of transformers' ``OSError``."""
    p = Path(path_or_id)
    if not p.is_dir() or any((p / name).is_file() for name in SAFE_WEIGHTS):
        return
    found = next((p / name for name in OTHER_WEIGHTS if (p / name).is_file()), None)
    if found is not None:
        raise ModelError(
            f"{found}: clinlm loads safetensors weights only (a pickle can run code when loaded); if you trust "
            "this file, convert it once: load it in transformers (e.g. AutoModelForTokenClassification"
            f".from_pretrained('{p}')) and call .save_pretrained('{p}', safe_serialization=True), "
            "which writes model.safetensors"
        )
    raise ModelError(f"{p}: no model weights here (a config but no model.safetensors); clinlm loads safetensors weights only")


def load_pretrained(auto_class, path_or_id: str | Path, **kwargs):
    """``auto_class.from_pretrained(path_or_id, use_safetensors=True, **kwargs)``: weights from
    safetensors only, and a missing or refused weights file as a one-line :class:`ModelError`."""
    from clinlm.runtime.quiet import quiet_loading

    check_weights(str(path_or_id))
    try:
        with quiet_loading():  # a library call draws no "Loading weights" bar on the caller's terminal
            return auto_class.from_pretrained(path_or_id, use_safetensors=True, **kwargs)
    except OSError as exc:  # e.g. a hub repo with pickled weights only, or no network
        reason = " ".join(str(exc).split())
        raise ModelError(f"cannot load the weights of {path_or_id} (clinlm loads safetensors weights only): {reason}") from None


def _has_tokenizer_config(path_or_id: str) -> bool:
    try:
        from transformers.utils import cached_file

        return cached_file(path_or_id, "tokenizer_config.json", _raise_exceptions_for_missing_entries=False) is not None
    except Exception:
        return (Path(path_or_id) / "tokenizer_config.json").is_file()


def lowercases(tokenizer) -> bool:
    normalizer = tokenizer.backend_tokenizer.normalizer
    return normalizer is not None and normalizer.normalize_str("AbC") == "abc"


def vocabulary_is_cased(tokenizer) -> bool:
    """A vocabulary is cased when a noticeable share of its plain tokens hold capitals."""
    vocab = [t for t in tokenizer.get_vocab() if not (t.startswith("[") or t.startswith("<"))]
    upper = sum(1 for t in vocab if any(c.isupper() for c in t))
    return bool(vocab) and upper / len(vocab) > 0.02


def load_tokenizer(path_or_id: str, cased: bool | None = None):
    """A fast tokenizer; ``cased=None`` trusts tokenizer_config.json, else detects case from the vocabulary."""
    from transformers import AutoConfig, AutoTokenizer

    check_model_location(path_or_id)
    kwargs: dict = {}
    try:
        model_type = AutoConfig.from_pretrained(path_or_id).model_type
    except Exception as exc:  # noqa: BLE001 - reported in words
        raise ModelError(f"cannot read the model config of {path_or_id}: {exc}") from None
    if model_type in _ROBERTA_LIKE:
        kwargs["add_prefix_space"] = True
    if cased is not None:
        kwargs["do_lower_case"] = not cased
    try:
        tok = AutoTokenizer.from_pretrained(path_or_id, use_fast=True, **kwargs)
    except Exception as exc:  # noqa: BLE001
        raise ModelError(f"cannot load a tokenizer from {path_or_id}: {exc}") from None
    if not getattr(tok, "is_fast", False):
        raise ModelError(f"{path_or_id} has no fast tokenizer; clinlm needs one to map words to subwords")
    if cased is None and not _has_tokenizer_config(path_or_id) and lowercases(tok) and vocabulary_is_cased(tok):
        # GatorTron-style repo: cased vocab.txt with no tokenizer_config.json
        tok = AutoTokenizer.from_pretrained(path_or_id, use_fast=True, do_lower_case=False, **kwargs)
    return tok


def check_vocab_fits(model, tokenizer, where: str) -> None:
    rows = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > rows:
        raise ModelError(
            f"{where}: the tokenizer has {len(tokenizer)} tokens but the model embeds only {rows}; "
            "they do not belong together"
        )
