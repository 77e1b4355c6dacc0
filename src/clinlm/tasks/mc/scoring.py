"""Zero-shot multiple choice: score each option's text as a continuation of the question.

- causal LMs: the log-likelihood of the option's tokens given the prompt;
- encoders (BERT, GatorTron): the masked-LM pseudo-log-likelihood (Salazar et al. 2020) of the
  option's tokens, each masked in turn with the prompt and the rest of the option visible.

The answer is the option with the highest log-probability per token (``normalize="mean"``, the
default: a sum favours options of fewer tokens, each token adding a negative term), the highest
sum (``normalize="sum"``), or the highest pointwise mutual information with the question
(``normalize="pmi"``: the summed log-probability after the question minus the one after a bare
"Answer:"; Holtzman et al. 2021, "Surface Form Competition"): a small model prefers options that are
likely anywhere (common words, short phrases), and PMI asks which option the *question* makes more
likely. It scores every option twice. Both plain accuracies are always reported (``accuracy_per_token``,
``accuracy_sum``; ``accuracy_pmi`` too when PMI is chosen; ``accuracy`` is the selected one's), as is chance.
An encoder saved without its masked-LM head (e.g. a sentence-transformers model) gets a
randomly initialised head, seeded (``seed``) so that runs agree: ``mlm_head`` says so and its
scores sit near chance; the CLI refuses such a model unless told ``--allow-random-head``.
Pseudo-log-likelihoods apply the masked-LM head (and the log-softmax over the vocabulary) at the
masked position of each copy only.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from clinlm.runtime.attention import fuse_attention
from clinlm.tasks.mc.data import LETTERS, McQuestion
from clinlm.errors import ConfigError, ModelError
from clinlm.runtime.loading import check_model_location, load_pretrained, load_tokenizer
from clinlm.runtime.device import resolve_device

PROMPT = "Question: {question}\nAnswer:"
NULL_PROMPT = "Answer:"  # PMI's baseline: the option with no question
SCORINGS = ("auto", "pll", "causal")
NORMALIZATIONS = ("mean", "sum", "pmi")
RANDOM_HEAD = "random (seed {seed}; the checkpoint has no masked-LM head weights)"


def check_normalize(normalize: str) -> None:
    if normalize not in NORMALIZATIONS:
        raise ConfigError(f"unknown normalize {normalize!r}; use one of {', '.join(NORMALIZATIONS)}")


def choose(logprobs: Sequence[tuple[float, int]], normalize: str = "mean",
           null: Sequence[tuple[float, int]] | None = None) -> int:
    """The index of the best option: highest log-probability per token (``mean``), summed (``sum``) or
    summed minus its summed log-probability without the question (``pmi``, needs ``null``); the first on ties."""
    check_normalize(normalize)
    if normalize == "pmi":
        if null is None or len(null) != len(logprobs):
            raise ConfigError("normalize 'pmi' needs each option's log-probability without the question")
        return max(range(len(logprobs)), key=lambda i: logprobs[i][0] - null[i][0])
    if normalize == "sum":
        return max(range(len(logprobs)), key=lambda i: logprobs[i][0])
    return max(range(len(logprobs)), key=lambda i: logprobs[i][0] / max(1, logprobs[i][1]))


def _mlm_parts(model) -> tuple[Any, Any] | None:
    """``(encoder, masked-LM head)`` of a ``*ForMaskedLM`` whose head maps hidden states to logits
    (BERT, megatron-bert/GatorTron: ``cls``; RoBERTa family: ``lm_head``), else None."""
    base = getattr(model, getattr(model, "base_model_prefix", "") or "", None)
    head = getattr(model, "cls", None)
    if head is None:
        head = getattr(model, "lm_head", None)
    if isinstance(base, torch.nn.Module) and isinstance(head, torch.nn.Module) and base is not model:
        return base, head
    return None


@dataclass
class OptionScorer:
    model: Any
    tokenizer: Any
    scoring: str  # "pll" or "causal"
    max_length: int = 128
    batch_size: int = 64
    mlm_head: str = "pretrained"

    def logprobs(self, question: str, options: Sequence[str]) -> list[tuple[float, int]]:
        """``(summed log-probability, token count)`` of each option after the prompt."""
        return self._options(PROMPT.format(question=question), options)

    def null_logprobs(self, options: Sequence[str]) -> list[tuple[float, int]]:
        """The same for each option after a bare "Answer:" (PMI's baseline)."""
        return self._options(NULL_PROMPT, options)

    @torch.inference_mode()
    def _options(self, prompt: str, options: Sequence[str]) -> list[tuple[float, int]]:
        if self.scoring == "causal":
            ctx = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
            conts = [self.tokenizer(" " + o.strip(), add_special_tokens=False)["input_ids"] for o in options]
            return self._causal(ctx, [c or [self.tokenizer.unk_token_id or 0] for c in conts])
        return [self._pll(prompt, o.strip()) for o in options]

    def _fit(self, ctx: list[int], cont: list[int], specials: int) -> tuple[list[int], list[int]]:
        """Cut the prompt from the left (and an option longer than half the room from the right) to fit."""
        room = self.max_length - specials
        if len(ctx) + len(cont) > room:
            cont = cont[: max(1, room // 2, room - len(ctx))]
        return ctx[max(0, len(ctx) - (room - len(cont))):], cont

    def _pll(self, prompt: str, option: str) -> tuple[float, int]:
        """Prompt and option as a text pair (``[CLS] prompt [SEP] option [SEP]``), the prompt cut
        from the left; each option token is masked in turn and scored."""
        tok = self.tokenizer
        side, tok.truncation_side = tok.truncation_side, "left"
        try:
            enc = tok(prompt, option or tok.unk_token, truncation="longest_first", max_length=self.max_length)
        finally:
            tok.truncation_side = side
        ids = enc["input_ids"]
        positions = [i for i, s in enumerate(enc.sequence_ids()) if s == 1]
        extra = {"token_type_ids": enc["token_type_ids"]} if "token_type_ids" in enc else {}
        parts = _mlm_parts(self.model)
        device = self.model.device
        total = 0.0
        for s in range(0, len(positions), self.batch_size):
            chunk = positions[s : s + self.batch_size]
            batch = torch.tensor([ids] * len(chunk))
            rows, cols = torch.arange(len(chunk)), torch.tensor(chunk)
            batch[rows, cols] = tok.mask_token_id
            more = {k: torch.tensor([v] * len(chunk), device=device) for k, v in extra.items()}
            rows, cols = rows.to(device), cols.to(device)
            if parts is not None:  # the head (vocabulary projection) at the masked positions only
                encoder, head = parts
                hidden = encoder(input_ids=batch.to(device), **more)[0]
                logits = head(hidden[rows, cols])
            else:  # an unknown head layout: every position's logits, but the log-softmax at the masked ones only
                logits = self.model(input_ids=batch.to(device), **more).logits[rows, cols]
            logp = logits.float().log_softmax(-1)
            target = torch.tensor([ids[p] for p in chunk], device=device)
            total += float(logp.gather(1, target[:, None]).double().sum())
        return total, len(positions)

    def _causal(self, ctx: list[int], conts: list[list[int]]) -> list[tuple[float, int]]:
        bos = [self.tokenizer.bos_token_id] if self.tokenizer.bos_token_id is not None else []
        rows = []
        for cont in conts:
            c, o = self._fit(ctx, cont, len(bos))
            rows.append((bos + c, o))
        width = max(len(c) + len(o) for c, o in rows)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = torch.tensor([c + o + [pad] * (width - len(c) - len(o)) for c, o in rows])
        mask = torch.tensor([[1] * (len(c) + len(o)) + [0] * (width - len(c) - len(o)) for c, o in rows])
        logp = self.model(input_ids=ids.to(self.model.device), attention_mask=mask.to(self.model.device)).logits.float().log_softmax(-1)
        out = []
        for r, (c, o) in enumerate(rows):
            # the token at position p is predicted by the logits at p - 1
            out.append((sum(float(logp[r, len(c) + j - 1, t]) for j, t in enumerate(o)), len(o)))
        return out


def load_scorer(model_path: str, scoring: str = "auto", device: str = "auto", max_length: int = 128,
                seed: int = 42) -> OptionScorer:
    """An encoder (pseudo-log-likelihood) or causal LM (log-likelihood) to score options with.
    Weights the checkpoint lacks (a masked-LM head) are initialised from ``seed``, so runs agree."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForMaskedLM

    if scoring not in SCORINGS:
        raise ConfigError(f"unknown scoring {scoring!r}; use one of {', '.join(SCORINGS)}")
    check_model_location(model_path)
    config = AutoConfig.from_pretrained(model_path)
    if scoring == "auto":
        causal = any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in (config.architectures or []))
        scoring = "causal" if causal or getattr(config, "is_decoder", False) else "pll"
    tokenizer = load_tokenizer(model_path)
    head = "pretrained"
    if scoring == "pll" and tokenizer.mask_token_id is None:
        raise ModelError(f"{model_path} has no [MASK] token: pseudo-log-likelihood needs a masked LM (try --scoring causal)")
    with torch.random.fork_rng(devices=[]):  # missing weights are drawn on the CPU: seeded, the caller's generator untouched
        torch.manual_seed(seed)
        if scoring == "causal":
            model = load_pretrained(AutoModelForCausalLM, model_path)
        else:
            model, info = load_pretrained(AutoModelForMaskedLM, model_path, output_loading_info=True)
            if any("predictions" in k or "lm_head" in k or "decoder" in k for k in info.get("missing_keys", [])):
                head = RANDOM_HEAD.format(seed=seed)
    fuse_attention(model)  # GatorTron's MLM scores every option: fused attention pays off here too
    model.to(resolve_device(device)).eval()
    limit = getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", max_length)
    return OptionScorer(model, tokenizer, scoring, min(max_length, limit), mlm_head=head)


def sample(questions: Sequence[McQuestion], limit: int | None, seed: int = 42) -> list[McQuestion]:
    """A seeded sample of ``limit`` questions (all of them when ``limit`` is None or larger)."""
    if limit is None or limit >= len(questions):
        return list(questions)
    return random.Random(seed).sample(list(questions), limit)


def predict_mc(scorer: OptionScorer, questions: Sequence[McQuestion], on_progress: Callable[[], None] | None = None,
               normalize: str = "mean") -> list[dict[str, Any]]:
    """Each question's chosen option by ``normalize`` (``prediction``, ``option``), the choices of
    both plain normalizations (``prediction_per_token``, ``prediction_sum``; ``prediction_pmi`` with
    PMI), and every option's summed log-probability (``logprobs``; ``null_logprobs`` with PMI) and
    token count (``tokens``)."""
    check_normalize(normalize)
    preds = []
    for q in questions:
        lp = scorer.logprobs(q.question, q.options)
        null = scorer.null_logprobs(q.options) if normalize == "pmi" else None
        best, total, per_token = choose(lp, normalize, null), choose(lp, "sum"), choose(lp, "mean")
        pred = {"id": q.id, "prediction": LETTERS[best], "option": q.options[best],
                "prediction_per_token": LETTERS[per_token], "prediction_sum": LETTERS[total],
                "logprobs": [round(x, 4) for x, _ in lp], "tokens": [n for _, n in lp]}
        if null is not None:
            pred.update(prediction_pmi=LETTERS[best], null_logprobs=[round(x, 4) for x, _ in null])
        preds.append(pred)
        if on_progress:
            on_progress()
    return preds


def evaluate_mc(scorer: OptionScorer, questions: Sequence[McQuestion], on_progress: Callable[[], None] | None = None,
                normalize: str = "mean") -> dict[str, Any]:
    """Accuracy by ``normalize`` (``accuracy``), per token and summed (``accuracy_per_token``,
    ``accuracy_sum``), chance, and each prediction."""
    preds = [dict(p, gold=LETTERS[q.answer]) for q, p in zip(questions, predict_mc(scorer, questions, on_progress, normalize))]
    n = len(questions)
    extra = {"accuracy_pmi": sum(p["prediction_pmi"] == p["gold"] for p in preds) / n if n else 0.0} if normalize == "pmi" else {}
    return {
        "accuracy": sum(p["prediction"] == p["gold"] for p in preds) / n if n else 0.0,
        **extra,
        "accuracy_per_token": sum(p["prediction_per_token"] == p["gold"] for p in preds) / n if n else 0.0,
        "accuracy_sum": sum(p["prediction_sum"] == p["gold"] for p in preds) / n if n else 0.0,
        "normalize": normalize,
        "chance": sum(1 / len(q.options) for q in questions) / n if n else 0.0,
        "n": n,
        "scoring": scorer.scoring,
        "mlm_head": scorer.mlm_head if scorer.scoring == "pll" else None,
        "predictions": preds,
    }
