"""How long pretraining runs and in what shape: phases of sequence length, the effective batch, the
number of optimizer steps a budget buys, and the learning-rate schedule.

A budget is ``max_steps`` or ``tokens`` (tokens of packed sequences, [CLS] and [SEP] included);
without either, one pass over the training tokens. Phases follow BERT's recipe of short sequences
first: ``lengths=(128, 512)`` with ``phase_steps=(900,)`` trains 900 steps at 128 and the rest at 512.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from clinlm.errors import ConfigError


@dataclass(frozen=True)
class Batch:
    """The effective batch: ``per_device`` sequences x ``accum`` micro-batches x ``world`` ranks."""

    per_device: int
    accum: int
    world: int

    @property
    def sequences(self) -> int:
        return self.per_device * self.accum * self.world


def resolve_batch(per_device: int, world: int, grad_accum: int | None, effective: int | None) -> Batch:
    """The batch from ``--batch-size`` and either ``--grad-accum`` or ``--effective-batch`` (which must
    then be a multiple of per-device batch x world size)."""
    if per_device < 1:
        raise ConfigError("--batch-size must be at least 1")
    if effective is not None:
        if grad_accum not in (None, 1) and effective != per_device * grad_accum * world:
            raise ConfigError(f"--effective-batch {effective} disagrees with --batch-size {per_device} x "
                              f"--grad-accum {grad_accum} x {world} process(es); give one of them")
        if effective % (per_device * world):
            raise ConfigError(f"--effective-batch {effective} is not a multiple of --batch-size {per_device} x {world} "
                              f"process(es) = {per_device * world}")
        return Batch(per_device, effective // (per_device * world), world)
    accum = grad_accum or 1
    if accum < 1:
        raise ConfigError("--grad-accum must be at least 1")
    return Batch(per_device, accum, world)


@dataclass(frozen=True)
class Plan:
    """Steps per phase (the last phase takes what is left) and the total."""

    lengths: tuple[int, ...]
    phase_steps: tuple[int, ...]  # steps of every phase but the last
    total_steps: int

    def phase_at(self, step: int) -> tuple[int, int]:
        """``(phase, step within the phase)`` of global step ``step`` (0-based)."""
        start = 0
        for phase, n in enumerate(self.phase_steps):
            if step < start + n:
                return phase, step - start
            start += n
        return len(self.lengths) - 1, step - start

    def phase_start(self, phase: int) -> int:
        return sum(self.phase_steps[:phase])

    def tokens_per_step(self, phase: int, batch: Batch) -> int:
        return batch.sequences * self.lengths[phase]


def check_lengths(lengths: tuple[int, ...], phase_steps: tuple[int, ...], limit: int | None) -> None:
    if not lengths:
        raise ConfigError("--max-length needs at least one length")
    if any(n < 8 for n in lengths):
        raise ConfigError("--max-length must be at least 8 subwords")
    if limit and max(lengths) > limit:
        raise ConfigError(f"--max-length {max(lengths)} is longer than the model's {limit} positions")
    if len(phase_steps) != len(lengths) - 1:
        raise ConfigError(f"{len(lengths)} --max-length phase(s) need {len(lengths) - 1} --phase-steps "
                          f"(the steps of every phase but the last), got {len(phase_steps)}")
    if any(n < 1 for n in phase_steps):
        raise ConfigError("--phase-steps must be at least 1")


def make_plan(lengths: tuple[int, ...], phase_steps: tuple[int, ...], batch: Batch, train_tokens: int,
              max_steps: int | None = None, tokens: int | None = None, limit: int | None = None) -> Plan:
    """The plan for a budget of ``max_steps`` or ``tokens``, else one pass over ``train_tokens``."""
    check_lengths(lengths, phase_steps, limit)
    if max_steps is not None and tokens is not None:
        raise ConfigError("give --max-steps or --tokens, not both")
    if max_steps is not None:
        if max_steps < 1:
            raise ConfigError("--max-steps must be at least 1")
        total = max_steps
    else:
        budget = tokens if tokens is not None else train_tokens
        total, left = 0, budget
        for phase, length in enumerate(lengths):
            per_step = batch.sequences * length
            if phase < len(phase_steps):
                n = min(phase_steps[phase], left // per_step)
            else:
                n = left // per_step if tokens is not None else math.ceil(left / per_step)
            total += n
            left -= n * per_step
            if phase < len(phase_steps) and n < phase_steps[phase]:
                break
        if total < 1:
            one = batch.sequences * lengths[0]
            what = f"--tokens {tokens}" if tokens is not None else f"the corpus ({train_tokens} training tokens)"
            raise ConfigError(f"{what} is smaller than one optimizer step: {batch.sequences} sequences x "
                              f"{lengths[0]} tokens = {one} tokens; raise the budget or lower --batch-size, "
                              "--grad-accum or --max-length")
    if total <= sum(phase_steps) and len(lengths) > 1:
        raise ConfigError(f"the budget ({total} steps) ends before the last --max-length phase starts "
                          f"(after {sum(phase_steps)} steps)")
    return Plan(tuple(lengths), tuple(phase_steps), total)


def lr_lambda(step: int, total: int, warmup: int, schedule: str) -> float:
    """Multiplier of the peak learning rate at ``step``: linear warmup, then linear or cosine decay to 0."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return max(0.0, 1.0 - progress)
