"""Loading a model without transformers' progress bars ("Loading weights" on stderr).

A library call should not draw on the caller's terminal; the switches are set back afterwards,
so a caller who wants transformers' bars elsewhere keeps them.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def quiet_loading() -> Iterator[None]:
    """Turn transformers' (and the hub's) progress bars off inside the block, and back on after it
    when they were on (the global switches only; a hub group's own switch is not kept)."""
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    hub_was_off = are_progress_bars_disabled()
    if was_on:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            with warnings.catch_warnings():  # the hub warns when its environment variable forbids bars
                warnings.simplefilter("ignore")
                hf_logging.enable_progress_bar()  # turns the hub's on too
            if hub_was_off:
                disable_progress_bars()
