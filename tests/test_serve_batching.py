"""Micro-batching in `clinlm serve`: concurrent requests share pipeline calls, the event loop stays free
while the model runs, a full queue answers 503 with Retry-After, a slow answer times out."""
from __future__ import annotations

import asyncio
import threading

import pytest

pytest.importorskip("fastapi")
import httpx  # noqa: E402

from clinlm.serve.app import create_app  # noqa: E402
from clinlm.serve.settings import ServeSettings  # noqa: E402


class Gated:
    """The real pipeline, counting its calls (notes per call) and held at a gate while ``gate`` is clear."""

    def __init__(self, pipeline, fail_on: str | None = None):
        self.inner, self.calls, self.fail_on = pipeline, [], fail_on
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def pipe(self, docs, batch_size=64):
        docs = list(docs)
        self.calls.append(len(docs))
        self.entered.set()
        assert self.gate.wait(30), "the test never opened the gate"
        if self.fail_on and any(self.fail_on in d.text for d in docs):
            raise KeyError(self.fail_on)  # an exception whose message is the note's text
        return self.inner.pipe(docs, batch_size=batch_size)


def scenario(pipeline, body, **options):
    """Run ``body(client, app)`` against a started app (lifespan) through an in-process async client."""
    app = create_app(pipeline, ServeSettings(**options))

    async def main():
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://clinlm") as client:
                for _ in range(600):
                    if (await client.get("/readyz")).status_code == 200:
                        break
                    await asyncio.sleep(0.05)
                return await body(client, app)

    return asyncio.run(main())


async def until(condition, what: str) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


async def hold_first_call(client, app, gated):
    """Send one request and wait until the pipeline is running it (held at the closed gate)."""
    gated.calls.clear()
    gated.entered.clear()
    gated.gate.clear()
    first = asyncio.create_task(client.post("/v1/annotate", json={"text": "Denies fever.", "id": "first"}))
    await until(gated.entered.is_set, "the first note reached the pipeline")
    return first


NOTES = [f"Patient {i} reports cough and fever; denies chest pain." for i in range(8)]


@pytest.mark.parametrize("max_batch_tokens, calls", [(8192, [1, 8]), (3 * 15, [1, 3, 3, 2]), (0, [1] * 9)])
def test_concurrent_requests_share_pipeline_calls(default_pipeline, max_batch_tokens, calls):
    gated = Gated(default_pipeline)

    async def body(client, app):
        first = await hold_first_call(client, app, gated)
        rest = [asyncio.create_task(client.post("/v1/annotate", json={"text": t, "id": str(i)}))
                for i, t in enumerate(NOTES)]
        await until(lambda: app.state.batcher.depth == len(NOTES), "all notes queued")
        assert (await client.get("/healthz")).status_code == 200  # the loop answers while the model runs
        gated.gate.set()
        answers = await asyncio.gather(first, *rest)
        assert [r.status_code for r in answers] == [200] * 9
        assert [r.json()["id"] for r in answers[1:]] == [str(i) for i in range(8)]
        for text, r in zip(NOTES, answers[1:]):
            assert [e["text"] for e in r.json()["entities"]] == [e.text for e in default_pipeline(text).entities]
        metrics = (await client.get("/metrics")).text
        assert f"clinlm_batch_notes_count {len(calls)}.0" in metrics
        return list(gated.calls)

    # estimated tokens per note: 56 characters // 4 + 1 = 15, so 45 tokens hold 3 notes
    assert scenario(gated, body, max_batch_tokens=max_batch_tokens, max_wait_ms=5) == calls


def test_notes_of_very_different_lengths_run_in_separate_calls(default_pipeline):
    """The pipeline pads a forward to its longest window: short and long notes go in separate calls."""
    gated = Gated(default_pipeline)
    short, long = "Denies fever.", "Reports cough and chest pain. " * 30

    async def body(client, app):
        first = await hold_first_call(client, app, gated)
        tasks = [asyncio.create_task(client.post("/v1/annotate", json={"text": t}))
                 for t in (long, short, long, short, short)]
        await until(lambda: app.state.batcher.depth == 5, "five notes queued")
        gated.gate.set()
        answers = await asyncio.gather(first, *tasks)
        assert [r.status_code for r in answers] == [200] * 6
        return sorted(gated.calls[1:])

    assert scenario(gated, body) == [2, 3]


def test_a_full_queue_answers_503_with_retry_after(default_pipeline):
    gated = Gated(default_pipeline)

    async def body(client, app):
        first = await hold_first_call(client, app, gated)
        queued = [asyncio.create_task(client.post("/v1/annotate", json={"text": t})) for t in NOTES[:2]]
        await until(lambda: app.state.batcher.depth == 2, "two notes queued")
        over = await client.post("/v1/annotate", json={"text": "one too many"})
        batch = await client.post("/v1/annotate/batch", json={"notes": [{"text": "a"}]})
        gated.gate.set()
        done = await asyncio.gather(first, *queued)
        assert [r.status_code for r in done] == [200, 200, 200]
        metrics = (await client.get("/metrics")).text
        return over, batch, metrics

    over, batch, metrics = scenario(gated, body, max_queue=2, retry_after_s=3)
    for r in (over, batch):
        assert r.status_code == 503 and r.headers["Retry-After"] == "3"
        assert r.json()["error"]["code"] == "overloaded"
    assert 'clinlm_rejected_total{reason="queue_full"} 2.0' in metrics


def test_a_request_past_its_timeout_gets_503_and_its_note_is_dropped(default_pipeline):
    gated = Gated(default_pipeline)

    async def body(client, app):
        first = await hold_first_call(client, app, gated)
        late = await client.post("/v1/annotate", json={"text": "Reports cough.", "id": "late"})
        gated.gate.set()
        await first
        after = await client.post("/v1/annotate", json={"text": "Reports cough."})
        return late, after

    late, after = scenario(gated, body, timeout_s=0.3)
    assert late.status_code == 503 and late.json()["error"]["code"] == "timeout" and "Retry-After" in late.headers
    assert after.status_code == 200
    assert gated.calls == [1, 1]  # the first (held) note, then the last: the timed-out note never ran


def test_one_failing_note_fails_alone(default_pipeline, caplog):
    gated = Gated(default_pipeline, fail_on="ZEBRA-7731")

    async def body(client, app):
        first = await hold_first_call(client, app, gated)
        notes = ["Reports cough.", "ZEBRA-7731 has fever.", "Denies pain."]
        tasks = [asyncio.create_task(client.post("/v1/annotate", json={"text": t})) for t in notes]
        await until(lambda: app.state.batcher.depth == 3, "three notes queued")
        gated.gate.set()
        return await asyncio.gather(first, *tasks)

    with caplog.at_level("DEBUG"):
        answers = scenario(gated, body)
    assert [r.status_code for r in answers] == [200, 200, 500, 200]
    assert answers[2].json() == {"error": {"code": "internal", "message": "the model failed on this note"}}
    assert "KeyError" in caplog.text and "ZEBRA-7731" not in caplog.text


def test_before_the_warm_up_note_is_through_probes_and_api_say_not_ready(default_pipeline):
    gated = Gated(default_pipeline)
    gated.gate.clear()  # the warm-up note waits at the gate
    app = create_app(gated, ServeSettings())

    async def main():
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://clinlm") as client:
                alive = await client.get("/healthz")
                ready = await client.get("/readyz")
                early = await client.post("/v1/annotate", json={"text": "Denies fever."})
                gated.gate.set()
                await until(lambda: app.state.holder["ready"], "warm-up done")
                later = await client.post("/v1/annotate", json={"text": "Denies fever."})
                return alive, ready, early, later

    alive, ready, early, later = asyncio.run(main())
    assert alive.status_code == 200
    assert ready.status_code == 503 and ready.json()["error"]["code"] == "not_ready"
    assert early.status_code == 503 and early.json()["error"]["code"] == "not_ready" and "Retry-After" in early.headers
    assert later.status_code == 200
