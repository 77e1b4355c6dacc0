"""Load a fine-tuned pair or QA checkpoint by its ``clinlm.json`` and run it from Python.

    from clinlm.tasks.predict import load_model
    sts = load_model("runs/sts")
    sts.predict([("Aspirin 81 mg daily.", "Takes aspirin every day.")])   # [{"id": "0", "score": 3.9}]
    qa = load_model("runs/qa")
    qa.predict([("What dose?", "Aspirin 81 mg daily.")])                   # answer with char offsets
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

from clinlm import manifest as manifest_io
from clinlm.runtime.attention import fuse_attention
from clinlm.tasks.pair.data import PairExample
from clinlm.tasks.qa.data import QaExample
from clinlm.errors import ModelError
from clinlm.runtime.device import resolve_device

TASK_NAMES = ("sts", "nli", "pubmedqa", "qa")


class Predictor:
    """A task object with its model and tokenizer: ``predict`` for new inputs, ``evaluate`` for gold ones."""

    def __init__(self, task, model, tokenizer):
        self.task, self.model, self.tokenizer = task, model, tokenizer

    def _examples(self, inputs: Iterable[Any]) -> list:
        out = []
        for i, x in enumerate(inputs):
            if isinstance(x, (PairExample, QaExample)):
                out.append(x)
            elif self.task.name == "qa":
                question, context = x
                out.append(QaExample(str(i), question, context))
            else:
                a, b = x
                out.append(PairExample(str(i), a, b))
        return out

    def predict(self, inputs: Iterable[Any]) -> list[dict[str, Any]]:
        """Inputs are examples, or ``(text_a, text_b)`` / ``(question, context)`` tuples."""
        return self.task.predict(self.model, self.tokenizer, self._examples(inputs))

    def evaluate(self, examples: Sequence[Any]) -> dict[str, Any]:
        return self.task.evaluate(self.model, self.tokenizer, list(examples))


def load_model(model_dir: str | Path, device: str = "auto", batch_size: int | None = None) -> Predictor:
    """The checkpoint's task (from ``clinlm.json``) with its model on ``device``."""
    from clinlm.tasks import get_task

    name = manifest_io.read(model_dir).get("task")
    if name not in TASK_NAMES:
        raise ModelError(f"{model_dir} is not a clinlm {'/'.join(TASK_NAMES)} checkpoint (clinlm.json task: {name})")
    task = get_task(name)
    if batch_size:
        task.batch_size = batch_size
    model, tokenizer = task.load(model_dir)
    fuse_attention(model)
    return Predictor(task, model.to(resolve_device(device)), tokenizer)
