"""``clinlm serve``: the REST service and its page under uvicorn (see :mod:`clinlm.serve.app`)."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from clinlm.cli.app import app
from clinlm.cli.console import err, esc, quiet_transformers
from clinlm.cli.options import Device, Precision, WindowLength, WindowStride
from clinlm.errors import ConfigError

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")  # never uvicorn's "trace": it logs bodies
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def log_config(level: str) -> dict:
    """Logging for the server: uvicorn's own lines and clinlm's (the access log: method, route, status,
    bytes, latency) on stderr, one format. uvicorn's access log is off (it logs the raw path and query)."""
    handler = {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}
    logger = {"handlers": ["stderr"], "level": level.upper(), "propagate": False}
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"stderr": handler},
        "loggers": {"uvicorn": logger, "uvicorn.error": {"level": level.upper()}, "clinlm.serve": logger},
    }


def check_port_free(host: str, port: int) -> None:
    """A one-line error now rather than uvicorn's log line and exit status 1 after the model loaded."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


@app.command()
def serve(
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model directory or hub id (default: the model shipped with clinlm)."),
    relations: Optional[str] = typer.Option(None, "--relations", help="A relation model (clinlm train re) to run after NER: responses then list relations between the entities."),
    link: Optional[List[Path]] = typer.Option(None, "--link", help="Link every concept to a vocabulary: an index folder from `clinlm link build` (repeat for several)."),
    link_k: int = typer.Option(5, "--link-k", min=1, help="With --link: concepts kept per entity, best first."),
    link_threshold: float = typer.Option(0.6, "--link-threshold", min=0.0, max=1.0, help="With --link: lowest score of a linked concept."),
    type_map: Optional[Path] = typer.Option(None, "--type-map", help="With --link: TSV 'vocabulary type<TAB>entity label' for the type filter."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on; only this machine by default (use a TLS reverse proxy for others)."),
    port: int = typer.Option(8000, min=0, max=65535, help="TCP port."),
    token_file: Optional[Path] = typer.Option(None, "--token-file", help="File whose first line is the bearer token /v1 and /metrics require (probes and the page stay open)."),
    cors_origin: Optional[List[str]] = typer.Option(None, "--cors-origin", help="An origin (https://ehr.example.org) whose pages may call the API; repeat for several. CORS is off without it."),
    workers: int = typer.Option(1, min=1, help="Worker processes, each with its own model copy and queue (threads are split between them)."),
    max_requests: Optional[int] = typer.Option(None, "--max-requests", min=1, help="Replace a worker by a fresh process after this many requests (bounds memory in long-lived deployments)."),
    max_chars: int = typer.Option(1_000_000, "--max-chars", min=1, help="Characters one request may hold (a note, or all notes of a batch); 413 beyond."),
    max_batch_notes: int = typer.Option(64, "--max-batch-notes", min=1, help="Notes one /v1/annotate/batch request may hold; 413 beyond."),
    max_batch_tokens: int = typer.Option(8192, "--max-batch-tokens", min=0, help="Micro-batching: estimated subword tokens gathered into one pipeline call (0: each note alone)."),
    max_wait_ms: float = typer.Option(5.0, "--max-wait-ms", min=0, help="Micro-batching: how long the first note of a batch waits for company."),
    release_memory_s: float = typer.Option(1.0, "--release-memory-every", help="Seconds between returning the heap's free memory to the system after a batch (glibc malloc_trim; keeps resident memory flat); a negative value never does."),
    max_queue: int = typer.Option(256, "--max-queue", min=1, help="Notes that may wait; beyond, 503 with Retry-After."),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds a request may take before it gets 503 timeout."),
    context: bool = typer.Option(True, "--context/--no-context", help="Add assertion attributes and the section to every concept."),
    clean: bool = typer.Option(True, "--clean/--no-clean", help="With context: drop what is not a concept (header words, names, cue words)."),
    max_length: WindowLength = None,
    stride: WindowStride = None,
    device: Device = "auto",
    precision: Precision = "auto",
    log_level: str = typer.Option("info", "--log-level", help="critical, error, warning, info or debug (no level logs note text)."),
) -> None:
    """Serve the model over HTTP: POST /v1/annotate, /v1/annotate/batch; /healthz, /readyz, /metrics, /v1/info; a page at /."""
    import os

    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError as exc:
        raise ConfigError(f"clinlm serve needs {exc.name}: pip install 'clinlm[serve]'") from None

    from clinlm.serve.settings import SETTINGS_ENV, ServeSettings, read_token

    quiet_transformers()
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"unknown log level {log_level!r}; use one of {', '.join(LOG_LEVELS)}")
    token = read_token(str(token_file)) if token_file is not None else None
    settings = ServeSettings(
        model=model, relations=relations, link=[str(d) for d in link or []], link_k=link_k,
        link_threshold=link_threshold, type_map=str(type_map) if type_map else None, host=host, port=port, max_chars=max_chars, max_batch_notes=max_batch_notes,
        max_batch_tokens=max_batch_tokens, max_wait_ms=max_wait_ms, release_memory_s=release_memory_s,
        max_queue=max_queue, timeout_s=timeout,
        token=token, token_file=str(token_file) if token_file is not None else None, cors_origins=list(cors_origin or []),
        context=context, clean=clean, device=device, precision=precision, max_length=max_length, stride=stride)
    if host not in LOOPBACK and token is None:
        err.print(f"warning: listening on {esc(host)} without --token-file: anyone who reaches this port can send notes",
                  highlight=False, soft_wrap=True)
    check_port_free(host, port)
    common = dict(host=host, port=port, log_config=log_config(log_level), access_log=False, server_header=False,
                  timeout_graceful_shutdown=max(5, int(timeout)))
    if workers == 1 and max_requests is None:
        from clinlm.serve.app import create_app, load_pipeline, load_relation_pipeline

        pipeline = load_pipeline(settings)  # a bad model is a one-line error before anything listens
        related = load_relation_pipeline(settings) if relations else None
        err.print(f"clinlm serve: http://{esc(host)}:{port}/ (model loaded; ready after a warm-up note)",
                  highlight=False, soft_wrap=True)
        uvicorn.Server(uvicorn.Config(create_app(pipeline, settings, related), **common)).run()
        return
    # Several processes, or one that is replaced after --max-requests: uvicorn's supervisor starts
    # (and restarts) workers, each loading the model from the settings in its environment.
    from uvicorn.supervisors import Multiprocess

    from clinlm.runtime.loading import check_model_location
    from clinlm.runtime.threads import inference_threads

    for where in (model, relations):
        if where is not None:
            check_model_location(where)
    from clinlm.serve.app import load_linkers

    load_linkers(settings)  # a bad index or type map is a one-line error before workers start
    os.environ[SETTINGS_ENV] = settings.to_json()
    if "OMP_NUM_THREADS" not in os.environ:  # the cores shared between workers, not each taking all
        os.environ["OMP_NUM_THREADS"] = str(max(1, inference_threads() // workers))
    config = uvicorn.Config("clinlm.serve.app:app_from_environment", factory=True, workers=workers,
                            limit_max_requests=max_requests, limit_max_requests_jitter=(max_requests or 0) // 10,
                            **common)
    err.print(f"clinlm serve: http://{esc(host)}:{port}/ ({workers} worker(s)"
              + (f", each replaced after about {max_requests} requests" if max_requests else "") + ")",
              highlight=False, soft_wrap=True)
    Multiprocess(config, sockets=[config.bind_socket()]).run()
