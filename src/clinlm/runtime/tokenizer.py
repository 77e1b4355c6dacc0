"""A checkpoint's ``tokenizer.json`` through the ``tokenizers`` library alone.

transformers' ``AutoTokenizer`` wraps the same Rust tokenizer, but importing it costs about
1 s per process. For BERT-family WordPiece checkpoints whose ``tokenizer.json`` already says
everything (:func:`load` checks), this adapter offers the small part of transformers' fast
tokenizer API that clinlm's annotation uses, with the same ids and word alignment (tested
against ``AutoTokenizer``). Everything else (training, other tokenizers, GatorTron repos without
``tokenizer_config.json``) goes through transformers.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Sequence

_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
_CLASSES = {"BertTokenizer", "BertTokenizerFast"}


class Batch(dict):
    """``{"input_ids": [...]}`` plus ``word_ids(i)``, as transformers' ``BatchEncoding``."""

    def __init__(self, encodings):
        super().__init__(input_ids=[e.ids for e in encodings])
        self.encodings = encodings

    def word_ids(self, i: int = 0) -> list[int | None]:
        return self.encodings[i].word_ids


class FastTokenizer:
    """The subset of ``PreTrainedTokenizerFast`` clinlm's inference calls."""

    is_fast = True

    def __init__(self, path: Path, backend, config: dict):
        self.path = path
        self.backend_tokenizer = backend
        self.config = config
        self.pad_token_id = backend.token_to_id(config.get("pad_token") or "[PAD]")

    def __call__(self, text: str | Sequence, *, is_split_into_words: bool = False, add_special_tokens: bool = True,
                 **_ignored) -> Batch:
        single = isinstance(text, str) or (is_split_into_words and text and isinstance(text[0], str))
        batch = [text] if single else list(text)
        encodings = self.backend_tokenizer.encode_batch(batch, is_pretokenized=is_split_into_words,
                                                        add_special_tokens=add_special_tokens)
        out = Batch(encodings)
        if single:
            out["input_ids"] = out["input_ids"][0]
        return out

    def tokenize(self, text: str) -> list[str]:
        return self.backend_tokenizer.encode(text, add_special_tokens=False).tokens

    def get_vocab(self) -> dict[str, int]:
        return self.backend_tokenizer.get_vocab(with_added_tokens=True)

    def __len__(self) -> int:
        return self.backend_tokenizer.get_vocab_size(with_added_tokens=True)

    def save_pretrained(self, path: str | Path) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        for name in _FILES:
            if (self.path / name).is_file():
                shutil.copyfile(self.path / name, Path(path) / name)


def _lowercases(backend) -> bool | None:
    normalizer = backend.normalizer
    return None if normalizer is None else normalizer.normalize_str("AbC") == "abc"


def load(path: str | Path, cased: bool | None = None) -> FastTokenizer | None:
    """The adapter for a local BERT WordPiece checkpoint whose ``tokenizer.json`` agrees with its
    ``tokenizer_config.json`` (and with ``cased``, when given); ``None`` where transformers must
    load the tokenizer."""
    path = Path(path)
    if not ((path / "tokenizer.json").is_file() and (path / "tokenizer_config.json").is_file()):
        return None
    try:
        config = json.loads((path / "tokenizer_config.json").read_text(encoding="utf-8"))
        from tokenizers import Tokenizer

        backend = Tokenizer.from_file(str(path / "tokenizer.json"))
    except Exception:  # noqa: BLE001 - transformers will report it in its own words
        return None
    lower = _lowercases(backend)
    if config.get("tokenizer_class") not in _CLASSES or lower is None:
        return None
    if config.get("do_lower_case", lower) != lower or (cased is not None and cased == lower):
        return None
    backend.no_truncation()  # a note is windowed by clinlm, never cut by the tokenizer
    backend.no_padding()
    return FastTokenizer(path, backend, config)
