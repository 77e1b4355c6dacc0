"""Tasks on the shared engine, by CLI name."""
from __future__ import annotations

from .base import Task


def get_task(name: str) -> Task:
    from ..errors import ConfigError
    from .ner import NerTask

    tasks = {"ner": NerTask}
    if name not in tasks:
        raise ConfigError(f"unknown task {name!r}; available: {', '.join(sorted(tasks))}")
    return tasks[name]()


__all__ = ["Task", "get_task"]
