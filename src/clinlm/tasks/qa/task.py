"""Extractive QA (SQuAD/emrQA layout): long contexts read in overlapping windows; answers are
predicted as subword spans and mapped back to exact character offsets in the context."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from clinlm import manifest as manifest_io
from clinlm.tasks.qa.data import QaExample, read_squad
from clinlm.errors import ConfigError, InputError, ModelError
from clinlm.tasks.qa.metrics import squad_scores
from clinlm.runtime.loading import check_model_location, check_vocab_fits, load_pretrained, load_tokenizer
from clinlm.tasks.base import Task
from clinlm.tasks.inference import forward_batches

Offsets = list  # per token: (start, end) char offsets into the context, or None outside it


@dataclass
class QaWindow:
    example: int  # index of its example
    input_ids: list[int]
    token_type_ids: list[int] | None
    offsets: Offsets


def char_to_token_span(offsets: Offsets, start: int, end: int) -> tuple[int, int] | None:
    """Tokens ``(first, last)`` covering characters ``[start, end)`` when the window holds all of
    them; ``None`` when the answer lies (even partly) outside the window."""
    ctx = [i for i, o in enumerate(offsets) if o is not None]
    if not ctx or offsets[ctx[0]][0] > start or offsets[ctx[-1]][1] < end:
        return None
    first = next(i for i in ctx if offsets[i][1] > start)
    last = max(i for i in ctx if offsets[i][0] < end)
    return (first, last) if first <= last else None


def token_to_char_span(offsets: Offsets, first: int, last: int) -> tuple[int, int]:
    return offsets[first][0], offsets[last][1]


def best_span(start_logits: np.ndarray, end_logits: np.ndarray, offsets: Offsets, max_answer_tokens: int) -> tuple[float, int, int] | None:
    """The highest ``start + end`` score over context token spans of at most ``max_answer_tokens``:
    ``(score, first, last)``, or ``None`` when the window holds no context token."""
    ctx = np.array([o is not None for o in offsets])
    if not ctx.any():
        return None
    s = np.where(ctx, start_logits[: len(offsets)], -np.inf)
    e = np.where(ctx, end_logits[: len(offsets)], -np.inf)
    scores = s[:, None] + e[None, :]
    n = len(offsets)
    band = np.triu(np.ones((n, n), dtype=bool)) & ~np.triu(np.ones((n, n), dtype=bool), k=max_answer_tokens)
    scores = np.where(band, scores, -np.inf)
    first, last = np.unravel_index(int(np.argmax(scores)), scores.shape)
    return float(scores[first, last]), int(first), int(last)


class QaTask(Task):
    name = "qa"
    selection_metric = "f1"

    def __init__(self, max_length: int = 384, stride: int = 128, max_answer_tokens: int = 30, batch_size: int = 32):
        if stride >= max_length // 2:
            raise ConfigError(f"--stride ({stride}) must be under half of --max-length ({max_length})")
        self.max_length = max_length
        self.stride = stride
        self.max_answer_tokens = max_answer_tokens
        self.batch_size = batch_size

    def read(self, path: str | Path, require_answers: bool = True) -> list[QaExample]:
        return read_squad(path, require_answers)

    # -- model ---------------------------------------------------------------------------
    def build(self, model_path: str, train_examples: Sequence[QaExample], seed: int = 42, **_) -> tuple[Any, Any]:
        from transformers import AutoModelForQuestionAnswering

        check_model_location(model_path)
        tokenizer = load_tokenizer(model_path)
        torch.manual_seed(seed)  # the new head starts the same on every run
        model = load_pretrained(AutoModelForQuestionAnswering, model_path)
        model.float()
        check_vocab_fits(model, tokenizer, model_path)
        self.max_length = min(self.max_length, getattr(model.config, "max_position_embeddings", self.max_length))
        self.stride = min(self.stride, self.max_length // 2 - 1)
        return model, tokenizer

    def load(self, model_dir: str | Path) -> tuple[Any, Any]:
        from transformers import AutoModelForQuestionAnswering

        check_model_location(str(model_dir))
        man = manifest_io.read(model_dir)
        if man.get("task") != "qa":
            raise ModelError(f"{model_dir} is a {man.get('task') or 'non-clinlm'} checkpoint, not qa")
        self.max_length, self.stride = man.get("max_length", self.max_length), man.get("stride", self.stride)
        self.max_answer_tokens = man.get("max_answer_tokens", self.max_answer_tokens)
        return load_pretrained(AutoModelForQuestionAnswering, model_dir), load_tokenizer(str(model_dir))

    # -- windows -------------------------------------------------------------------------
    def windows(self, tokenizer, examples: Sequence[QaExample]) -> list[QaWindow]:
        """Overlapping windows (``stride`` subwords shared) over each context, question first."""
        questions = [self._clip_question(tokenizer, e.question) for e in examples]
        enc = tokenizer(questions, [e.context for e in examples], truncation="only_second", max_length=self.max_length,
                        stride=self.stride, return_overflowing_tokens=True, return_offsets_mapping=True)
        out = []
        for w in range(len(enc["input_ids"])):
            seq = enc.sequence_ids(w)
            offsets = [tuple(o) if s == 1 else None for o, s in zip(enc["offset_mapping"][w], seq)]
            types = enc["token_type_ids"][w] if "token_type_ids" in enc else None
            out.append(QaWindow(enc["overflow_to_sample_mapping"][w], enc["input_ids"][w], types, offsets))
        return out

    def _clip_question(self, tokenizer, question: str) -> str:
        """A question longer than a quarter of the window is cut (at a subword boundary) so that
        every window keeps room for the context."""
        enc = tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)
        limit = self.max_length // 4
        return question if len(enc["input_ids"]) <= limit else question[: enc["offset_mapping"][limit - 1][1]]

    def features(self, examples: Sequence[QaExample], model, tokenizer) -> list[dict[str, Any]]:
        """One feature a window; a window that does not hold the (first) answer points at [CLS]."""
        feats = []
        for win in self.windows(tokenizer, examples):
            ex = examples[win.example]
            if not ex.answers:
                raise InputError(f"training question {ex.id} has no answer")
            span = char_to_token_span(win.offsets, ex.answers[0].start, ex.answers[0].end) or (0, 0)
            f: dict[str, Any] = {"input_ids": win.input_ids, "labels": list(span)}
            if win.token_type_ids is not None:
                f["token_type_ids"] = win.token_type_ids
            feats.append(f)
        return feats

    def collate(self, batch: Sequence[dict[str, Any]], pad_id: int) -> dict[str, torch.Tensor]:
        out = super().collate([{k: v for k, v in f.items() if k != "labels"} for f in batch], pad_id)
        if "labels" in batch[0]:
            out["labels"] = torch.tensor([f["labels"] for f in batch], dtype=torch.long)
        return out

    def loss(self, model, batch: dict[str, torch.Tensor], label_smoothing: float = 0.0) -> torch.Tensor:
        labels = batch.pop("labels")
        out = model(**batch)
        start = F.cross_entropy(out.start_logits.float(), labels[:, 0], label_smoothing=label_smoothing)
        end = F.cross_entropy(out.end_logits.float(), labels[:, 1], label_smoothing=label_smoothing)
        return (start + end) / 2

    # -- prediction and metrics -------------------------------------------------------------
    def predict(self, model, tokenizer, examples: Sequence[QaExample]) -> list[dict[str, Any]]:
        """``{"id", "answer", "start", "end", "score"}`` per question: the best span over all of
        its windows, as character offsets into its context (``context[start:end] == answer``)."""
        wins = self.windows(tokenizer, examples)
        best: list[tuple[float, int, int] | None] = [None] * len(examples)
        feats = [{"input_ids": w.input_ids, **({"token_type_ids": w.token_type_ids} if w.token_type_ids else {})} for w in wins]
        for idx, out in forward_batches(self, model, tokenizer, feats, self.batch_size):
            starts, ends = out.start_logits.float().cpu().numpy(), out.end_logits.float().cpu().numpy()
            for w, sl, el in zip((wins[i] for i in idx), starts, ends):
                span = best_span(sl, el, w.offsets, self.max_answer_tokens)
                if span is None:
                    continue
                cs, ce = token_to_char_span(w.offsets, span[1], span[2])
                if best[w.example] is None or span[0] > best[w.example][0]:
                    best[w.example] = (span[0], cs, ce)
        preds = []
        for ex, b in zip(examples, best):
            score, cs, ce = b if b is not None else (float("-inf"), 0, 0)
            preds.append({"id": ex.id, "answer": ex.context[cs:ce], "start": cs, "end": ce, "score": round(score, 4)})
        return preds

    def evaluate(self, model, tokenizer, examples: Sequence[QaExample]) -> dict[str, Any]:
        gold = [e for e in examples if e.answers]
        if not gold:
            raise InputError("no answered questions to score")
        return self.score(gold, self.predict(model, tokenizer, gold))

    def score(self, gold: Sequence[QaExample], preds: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return squad_scores([[a.text for a in e.answers] for e in gold], [p["answer"] for p in preds])

    def save(self, model, tokenizer, output_dir: Path, manifest: dict[str, Any]) -> None:
        model.save_pretrained(output_dir)
        tokenizer.save_pretrained(output_dir)
        man = dict(manifest, task="qa", max_length=self.max_length, stride=self.stride, max_answer_tokens=self.max_answer_tokens)
        manifest_io.write(output_dir, man)
