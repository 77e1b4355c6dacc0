"""``clinlm serve``: a REST service (FastAPI + uvicorn) over the same pipeline as the CLI and
``clinlm.load()``, with micro-batching, limits, metrics, optional bearer auth and a web page.

``create_app(pipeline=None, settings=ServeSettings(...))`` builds the ASGI app.
"""
from __future__ import annotations

from clinlm.serve.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]


def __getattr__(name: str):
    if name == "create_app":
        from clinlm.serve.app import create_app

        return create_app
    raise AttributeError(f"module 'clinlm.serve' has no attribute {name!r}")
