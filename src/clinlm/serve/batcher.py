"""Micro-batching: concurrent requests' notes gathered into one pipeline call on one worker thread.

Requests put their notes on a bounded :class:`asyncio.Queue`; one collector task takes the first
note waiting, then keeps taking notes until the batch holds ``max_batch_tokens`` (estimated) or
``max_wait_ms`` have passed since the first note, and runs it on a single worker thread, so the
event loop never blocks on the model and the model never runs twice at once. The batch is split
into length buckets (notes within ``LENGTH_RATIO`` of the bucket's shortest, plus a little slack),
one ``pipeline.pipe(...)`` call each: the pipeline pads a forward to its longest window, so one
call over a 30-token and a 500-token note computes 500 tokens for both (measured on this project's
CPU: 8 mixed MTS-Dialog sections in one call took twice as long as one call each). While a batch runs, new notes queue up and make the next
batch. A full queue is :class:`QueueFull` (503 with ``Retry-After``); a note whose request timed
out before its batch started is dropped. Long notes go through the pipeline's own windows.
"""
from __future__ import annotations

import asyncio
import logging
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from clinlm.document import Document

log = logging.getLogger("clinlm.serve")

#: Characters per subword token assumed when sizing a batch (English clinical text, WordPiece).
CHARS_PER_TOKEN = 4
#: A length bucket holds notes up to this many times its shortest one's tokens, plus LENGTH_SLACK.
LENGTH_RATIO = 1.5
LENGTH_SLACK = 16


def estimate_tokens(text: str) -> int:
    return len(text) // CHARS_PER_TOKEN + 1


class QueueFull(Exception):
    """More notes than the queue has room for: the client should retry later."""


class InferenceFailed(Exception):
    """The pipeline raised on a note; the cause is logged by type and frames only (never its text)."""


@dataclass
class _Job:
    doc: Document
    tokens: int
    future: asyncio.Future


class MicroBatcher:
    """Runs ``annotate(docs) -> docs`` on one worker thread over batches gathered from a queue.

    ``max_batch_tokens=0`` turns gathering off: every note is its own call (the benchmark's
    baseline). ``on_batch(notes, tokens, seconds)`` is told about every batch run.
    """

    def __init__(self, annotate: Callable[[list[Document]], list[Document]], *, max_batch_tokens: int = 8192,
                 max_wait_ms: float = 5.0, max_queue: int = 256,
                 on_batch: Callable[[int, int, float], None] | None = None,
                 after_batch: Callable[[], None] | None = None):
        self.annotate = annotate
        self.after_batch = after_batch
        self.max_batch_tokens = max_batch_tokens
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self.on_batch = on_batch
        self.batches = 0
        self._queue: asyncio.Queue[_Job] | None = None
        self._carry: _Job | None = None
        self._task: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None

    # -- life -----------------------------------------------------------------------------
    async def start(self) -> None:
        self._queue = asyncio.Queue(maxsize=self.max_queue)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clinlm-inference")
        self._task = asyncio.create_task(self._collect(), name="clinlm-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    @property
    def depth(self) -> int:
        """Notes waiting for a batch."""
        return (self._queue.qsize() if self._queue is not None else 0) + (self._carry is not None)

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` on the inference thread (loading a model, the warm-up note)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    # -- requests -------------------------------------------------------------------------
    async def submit(self, docs: Sequence[Document], timeout: float) -> list[Document]:
        """Annotate ``docs`` (one request's notes) in whatever batches they fall into.

        ``QueueFull`` when the queue has no room for all of them (none is queued then);
        ``asyncio.TimeoutError`` after ``timeout`` seconds (the notes not yet started are dropped).
        """
        assert self._queue is not None, "start() the batcher first"
        if self.max_queue - self.depth < len(docs):
            raise QueueFull(f"{self.depth} notes are waiting")
        loop = asyncio.get_running_loop()
        futures = []
        for doc in docs:  # no await in this loop: the room checked above is still there
            fut = loop.create_future()
            self._queue.put_nowait(_Job(doc, estimate_tokens(doc.text), fut))
            futures.append(fut)
        try:
            return list(await asyncio.wait_for(asyncio.gather(*futures), timeout))
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise

    # -- the collector ----------------------------------------------------------------------
    async def _next(self) -> _Job:
        if self._carry is not None:
            job, self._carry = self._carry, None
            return job
        return await self._queue.get()

    async def _gather(self) -> list[_Job]:
        """The next batch: the first note waiting, then whatever fits before the deadline."""
        first = await self._next()
        batch, tokens = [first], first.tokens
        if self.max_batch_tokens <= 0:
            return batch
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait
        while tokens < self.max_batch_tokens:
            try:
                job = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self._queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
            if job.future.done():  # its request timed out or went away
                continue
            if tokens + job.tokens > self.max_batch_tokens:
                self._carry = job  # first of the next batch
                break
            batch.append(job)
            tokens += job.tokens
        return batch

    async def _collect(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            gathered = await self._gather()
            for group in buckets(gathered):
                batch = [job for job in group if not job.future.done()]
                if not batch:
                    continue
                started = loop.time()
                try:
                    results = await loop.run_in_executor(self._executor, self._run, [j.doc for j in batch])
                except asyncio.CancelledError:
                    for job in gathered:
                        job.future.cancel()
                    raise
                self.batches += 1
                if self.on_batch is not None:
                    self.on_batch(len(batch), sum(j.tokens for j in batch), loop.time() - started)
                for job, result in zip(batch, results):
                    if job.future.done():
                        continue
                    if isinstance(result, BaseException):
                        job.future.set_exception(result)
                    else:
                        job.future.set_result(result)

    def _run(self, docs: list[Document]) -> list[Document | BaseException]:
        """The batch's results, then ``after_batch`` (on the inference thread: giving memory back)."""
        try:
            return self._annotate(docs)
        finally:
            if self.after_batch is not None:
                self.after_batch()

    def _annotate(self, docs: list[Document]) -> list[Document | BaseException]:
        """One pipeline call for the batch; if it raises, each note alone, so one bad note fails only itself."""
        try:
            return list(self.annotate(docs))
        except Exception as exc:  # noqa: BLE001
            if len(docs) == 1:
                return [_failed(exc)]
        out: list[Document | BaseException] = []
        for doc in docs:
            try:
                out.extend(self.annotate([doc]))
            except Exception as exc:  # noqa: BLE001
                out.append(_failed(exc))
        return out


def buckets(jobs: list[_Job]) -> list[list[_Job]]:
    """``jobs`` by length, cut where a note is over ``LENGTH_RATIO`` x its bucket's shortest (+ slack)."""
    out: list[list[_Job]] = []
    for job in sorted(jobs, key=lambda j: j.tokens):
        if out and job.tokens <= out[-1][0].tokens * LENGTH_RATIO + LENGTH_SLACK:
            out[-1].append(job)
        else:
            out.append([job])
    return out


def _failed(exc: Exception) -> InferenceFailed:
    # The message of an exception may quote the note (a KeyError of a word, a tokenizer error):
    # only its type and the frames (file, line, function, source line) are logged.
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("inference failed: %s\n%s", type(exc).__name__, frames)
    return InferenceFailed(type(exc).__name__)
