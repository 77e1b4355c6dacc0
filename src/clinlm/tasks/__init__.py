"""Tasks on the shared engine, by CLI name.

Each task is one folder here (task, model head, pipeline, metrics, commands); this table is the
only place that lists them.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clinlm.tasks.base import Task

#: CLI name -> "module:Class". Classes are imported lazily so ``clinlm annotate`` stays light.
TASKS: dict[str, str] = {
    "ner": "clinlm.tasks.ner.task:NerTask",
    "re": "clinlm.tasks.relation.task:RelationTask",
    "sts": "clinlm.tasks.pair.task:PairTask",
    "nli": "clinlm.tasks.pair.task:PairTask",
    "pubmedqa": "clinlm.tasks.pair.task:PairTask",
    "qa": "clinlm.tasks.qa.task:QaTask",
    "linker": "clinlm.tasks.linker.task:LinkerTask",
}
#: tasks whose class serves several CLI names receive the name as ``kind``
SHARED_CLASSES = {"sts", "nli", "pubmedqa"}


def get_task(name: str, **options) -> Task:
    """A task object by CLI name (``ner``, ``re``, ``sts``, ``nli``, ``pubmedqa``, ``qa``)."""
    from clinlm.errors import ConfigError

    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}; available: {', '.join(sorted(TASKS))}")
    module, cls = TASKS[name].split(":")
    task_cls = getattr(importlib.import_module(module), cls)
    if name in SHARED_CLASSES:
        options.setdefault("kind", name)
    return task_cls(**options)




def __getattr__(name: str) -> Any:
    """``Task`` on first use: importing a task's commands (every ``clinlm`` start) needs no torch."""
    if name == "Task":
        from clinlm.tasks.base import Task

        return Task
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["TASKS", "Task", "get_task"]
