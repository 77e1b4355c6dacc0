"""The REST service: a FastAPI app over one :class:`~clinlm.tasks.ner.pipeline.NerPipeline` (``clinlm.load()``).

``create_app(pipeline, settings)`` builds it (the pipeline is loaded on startup when not given);
``clinlm serve`` runs it under uvicorn. Notes are PHI: nothing here logs a note's text, its id or a
client's path beyond the route it matched, and errors reach the client as
``{"error": {"code", "message"}}`` without a traceback.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import os
import time
import traceback
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

import clinlm
from clinlm.document import Document
from clinlm.errors import ConfigError
from clinlm.runtime.memory import Releaser
from clinlm.serve.batcher import InferenceFailed, MicroBatcher, QueueFull
from clinlm.serve.metrics import Metrics
from clinlm.serve.schemas import (AnnotateResponse, Batch, BatchResponse, ErrorEnvelope, Health, Info, Note,
                                  document_out)
from clinlm.serve.settings import SETTINGS_ENV, ServeSettings

log = logging.getLogger("clinlm.serve")
access_log = logging.getLogger("clinlm.serve.access")

STATIC = Path(__file__).resolve().parent / "static"
WARMUP_NOTE = "HISTORY OF PRESENT ILLNESS: Denies chest pain.\nFAMILY HISTORY: Mother had breast cancer."
CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
         413: "too_large", 415: "unsupported_media_type", 422: "invalid_request", 500: "internal",
         503: "overloaded", 504: "timeout"}
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorEnvelope, "description": text} for code, text in (
        (400, "Malformed JSON"), (401, "Missing or wrong bearer token (when the server has one)"),
        (413, "Too many characters or notes"), (422, "A body that is not a note"),
        (500, "The model failed on the note"), (503, "Queue full, request timed out or model not ready yet"))
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def envelope(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def load_pipeline(settings: ServeSettings):
    """``clinlm.load()`` with the server's settings: the same pipeline as the CLI and the Python API."""
    options = {k: v for k, v in {"max_length": settings.max_length, "stride": settings.stride}.items() if v is not None}
    return clinlm.load(settings.model, device=settings.device, precision=settings.precision,
                       context=settings.context, clean=settings.clean, linker=load_linkers(settings) or None, **options)


def load_linkers(settings: ServeSettings) -> list:
    """The linkers of ``--link`` (each entity's ``attributes["concepts"]``), as `clinlm annotate` builds them."""
    if not settings.link:
        if settings.type_map:
            raise ConfigError("--type-map filters linked concepts: give --link DIR too")
        return []
    from clinlm.linking import Linker, read_type_map

    tmap = read_type_map(settings.type_map) if settings.type_map else None
    return [Linker.load(d, k=settings.link_k, threshold=settings.link_threshold, type_map=tmap) for d in settings.link]


def load_relation_pipeline(settings: ServeSettings):
    """``clinlm.load_relations(settings.relations)``: run on the NER pipeline's Documents."""
    return clinlm.load_relations(settings.relations, device=settings.device, precision=settings.precision)


def model_name(pipeline: Any, settings: ServeSettings) -> str:
    from clinlm.tasks.ner.pipeline import DEFAULT_MODEL_DIR

    where = getattr(pipeline, "manifest_dir", None)
    if where is not None and Path(where).resolve() == DEFAULT_MODEL_DIR:
        return "clinlm-default"
    return Path(str(settings.model or where or "model")).name


class AccessLog:
    """Pure ASGI middleware: one access-log line and the request metrics per HTTP request.

    The line holds method, route (the template a route matched, never the raw path or query),
    status, response bytes and latency: nothing else a client sent. An exception that escapes the
    app becomes a 500 envelope here, logged by type and frames only.
    """

    def __init__(self, app: Any, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = {"status": 500, "bytes": 0, "sent": False}

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                state["status"], state["sent"] = message["status"], True
            elif message["type"] == "http.response.body":
                state["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:  # noqa: BLE001
            log.error("unhandled %s\n%s", type(exc).__name__, "".join(traceback.format_tb(exc.__traceback__)))
            if not state["sent"]:
                await envelope(500, "internal", "internal server error")(scope, receive, send_wrapper)
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        seconds = time.perf_counter() - started
        method = scope.get("method", "")
        self.metrics.requests.labels(method, template, str(state["status"])).inc()
        self.metrics.latency.labels(method, template).observe(seconds)
        access_log.info("%s %s %d %dB %.1fms", method, template, state["status"], state["bytes"], seconds * 1000)


class BodyLimit:
    """Pure ASGI middleware: a body over ``limit`` bytes is a 413 envelope, whether its Content-Length
    says so up front or a chunked body runs past it while being read (nothing past it is read)."""

    def __init__(self, app: Any, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            await too_large(self.limit)(scope, receive, send)
            return
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:  # FastAPI passes an HTTPException from the body's reading to its handler
                    raise StarletteHTTPException(413)
            return message

        await self.app(scope, limited, send)


def too_large(limit: int) -> JSONResponse:
    return envelope(413, "too_large", f"the request body is over {limit} bytes")


def create_app(pipeline: Any = None, settings: ServeSettings | None = None, relations: Any = None) -> FastAPI:
    """The service over ``pipeline`` (loaded from ``settings.model`` on startup when ``None``), and
    ``relations`` after it (loaded from ``settings.relations`` when that is set and this is ``None``)."""
    settings = settings or ServeSettings()
    metrics = Metrics()
    holder: dict[str, Any] = {"pipeline": pipeline, "relations": relations, "ready": False, "name": None}

    def annotate_batch(docs: list[Document]) -> list[Document]:
        docs = list(holder["pipeline"].pipe(docs, batch_size=len(docs)))
        if holder["relations"] is not None:
            docs = list(holder["relations"].pipe(docs, batch_size=len(docs)))
        return docs

    batcher = MicroBatcher(annotate_batch, max_batch_tokens=settings.max_batch_tokens,
                           max_wait_ms=settings.max_wait_ms, max_queue=settings.max_queue, on_batch=metrics.on_batch,
                           after_batch=Releaser(settings.release_memory_s))

    async def warm_up() -> None:
        try:
            await batcher.call(annotate_batch, [Document("warm-up", WARMUP_NOTE)])
        except Exception as exc:  # noqa: BLE001
            log.error("warm-up failed: %s", type(exc).__name__)
            return
        holder["ready"] = True
        metrics.ready.set(1)
        log.info("ready: %s", holder["name"])

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        if holder["pipeline"] is None:
            holder["pipeline"] = await batcher.call(load_pipeline, settings)
        if holder["relations"] is None and settings.relations:
            holder["relations"] = await batcher.call(load_relation_pipeline, settings)
        holder["name"] = model_name(holder["pipeline"], settings)
        warming = asyncio.create_task(warm_up())
        try:
            yield
        finally:
            warming.cancel()
            await batcher.stop()

    app = FastAPI(title="clinlm", version=clinlm.__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Clinical concepts in notes with exact character offsets, assertion and sections. "
                              "Offsets are 0-based, half-open Python string indices (code points).")
    app.state.settings, app.state.metrics, app.state.batcher, app.state.holder = settings, metrics, batcher, holder

    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(AccessLog, metrics=metrics)

    # -- errors: one envelope, no traceback, no echo of what was sent ------------------------------
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return envelope(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code
        if exc.status_code == 413:
            return too_large(settings.max_body_bytes)
        return envelope(exc.status_code, code, message, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return envelope(400, "bad_json", "the body is not valid JSON")
        where = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in errors[:5])
        return envelope(422, "invalid_request", where or "invalid request")

    @app.exception_handler(QueueFull)
    async def _full(request: Request, exc: QueueFull) -> JSONResponse:
        metrics.rejected.labels("queue_full").inc()
        return envelope(503, "overloaded", "the queue is full; retry later",
                        {"Retry-After": str(settings.retry_after_s)})

    @app.exception_handler(InferenceFailed)
    async def _failed(request: Request, exc: InferenceFailed) -> JSONResponse:
        metrics.rejected.labels("inference_error").inc()
        return envelope(500, "internal", "the model failed on this note")

    # -- auth ------------------------------------------------------------------------------------
    bearer = HTTPBearer(auto_error=False, description="The token in the server's --token-file.")

    async def require_token(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        given = (credentials.credentials if credentials is not None else "").encode("utf-8")
        if not hmac.compare_digest(given, settings.token.encode("utf-8")):
            raise ApiError(401, "unauthorized", "a valid bearer token is required", {"WWW-Authenticate": "Bearer"})

    guarded = [Depends(require_token)] if settings.token else []

    # -- annotation --------------------------------------------------------------------------------
    async def run(notes: list[Note]) -> list[Document]:
        if not holder["ready"]:
            raise ApiError(503, "not_ready", "the model is still loading", {"Retry-After": "5"})
        chars = sum(len(n.text) for n in notes)
        if chars > settings.max_chars:
            metrics.rejected.labels("too_large").inc()
            raise ApiError(413, "too_large", f"{chars} characters is over the limit of {settings.max_chars}")
        docs = [Document(n.id if n.id is not None else str(i), n.text) for i, n in enumerate(notes)]
        try:
            out = await batcher.submit(docs, settings.timeout_s)
        except asyncio.TimeoutError:
            metrics.rejected.labels("timeout").inc()
            raise ApiError(503, "timeout", f"no answer within {settings.timeout_s:g} s; retry later",
                           {"Retry-After": str(settings.retry_after_s)}) from None
        metrics.notes.inc(len(docs))
        metrics.characters.inc(chars)
        return out

    def common(started: float) -> dict[str, Any]:
        return {"model": holder["name"], "version": clinlm.__version__,
                "elapsed_ms": round((time.perf_counter() - started) * 1000, 3)}

    @app.post("/v1/annotate", response_model=AnnotateResponse, responses=ERRORS, dependencies=guarded,
              summary="Annotate one note")
    async def annotate(note: Note) -> JSONResponse:
        started = time.perf_counter()
        doc = (await run([note]))[0]
        return JSONResponse({**document_out(doc, note.id), **common(started)})

    @app.post("/v1/annotate/batch", response_model=BatchResponse, responses=ERRORS, dependencies=guarded,
              summary="Annotate several notes")
    async def annotate_batch_route(batch: Batch) -> JSONResponse:
        started = time.perf_counter()
        if len(batch.notes) > settings.max_batch_notes:
            metrics.rejected.labels("too_large").inc()
            raise ApiError(413, "too_large", f"{len(batch.notes)} notes is over the limit of {settings.max_batch_notes}")
        docs = await run(batch.notes) if batch.notes else []
        return JSONResponse({**common(started),
                             "documents": [document_out(d, n.id) for d, n in zip(docs, batch.notes)]})

    # -- operations --------------------------------------------------------------------------------
    @app.get("/healthz", response_model=Health, summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", response_model=Health, responses={503: {"model": ErrorEnvelope}},
             summary="The model is loaded and a warm-up note went through it")
    async def readyz() -> Any:
        if not holder["ready"]:
            return envelope(503, "not_ready", "the model is still loading", {"Retry-After": "5"})
        return {"status": "ready"}

    @app.get("/v1/info", response_model=Info, responses=ERRORS, dependencies=guarded, summary="Model, labels and limits")
    async def info() -> dict[str, Any]:
        from clinlm.labels import type_name

        pipe = holder["pipeline"]
        types = sorted({label[2:] for label in pipe.labels if label != "O"})
        return {"model": holder["name"], "version": clinlm.__version__,
                "relations": Path(settings.relations).name if settings.relations
                else ("custom" if holder["relations"] is not None else None),
                "labels": [{"label": t, "name": type_name(t)} for t in types],
                "context": pipe.context is not None, "max_length": pipe.max_length, "stride": pipe.stride,
                "auth": settings.token is not None, "ready": holder["ready"], "worker_pid": os.getpid(),
                "limits": {k: getattr(settings, k) for k in ("max_chars", "max_batch_notes", "max_batch_tokens",
                                                             "max_wait_ms", "max_queue", "timeout_s")}}

    @app.get("/metrics", dependencies=guarded, include_in_schema=True, summary="Prometheus metrics",
             response_class=Response, responses={200: {"content": {"text/plain": {}}}})
    async def prometheus() -> Response:
        metrics.queue_depth.set(batcher.depth)
        return Response(metrics.render(), media_type=metrics.content_type)

    # -- the page -------------------------------------------------------------------------------------
    page_headers = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'",
                    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=page_headers)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def app_from_environment() -> FastAPI:
    """uvicorn's factory for worker processes (``--workers``, ``--max-requests``): settings from the
    environment, the model loaded by each worker on startup."""
    return create_app(None, ServeSettings.from_json(os.environ[SETTINGS_ENV]))
