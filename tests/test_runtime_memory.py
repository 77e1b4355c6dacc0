"""Giving freed heap memory back: at most once per interval, on the inference thread of `clinlm serve`."""
from __future__ import annotations

import asyncio
import platform
import threading

import pytest

from clinlm.document import Document
from clinlm.runtime import memory
from clinlm.runtime.memory import Releaser, release_free_memory


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_the_releaser_trims_at_most_once_per_interval(monkeypatch):
    trims = []
    monkeypatch.setattr(memory, "release_free_memory", lambda: trims.append(1) or True)
    clock = Clock()
    r = Releaser(1.0, clock)
    r(); r(); r()
    assert len(trims) == 1
    clock.now += 0.9
    r()
    assert len(trims) == 1
    clock.now += 0.2
    r(); r()
    assert len(trims) == 2 and r.calls == 2
    never = Releaser(-1, clock)
    clock.now += 100
    never()
    assert len(trims) == 2 and never.calls == 0
    every = Releaser(0.0, clock)
    every(); every()
    assert len(trims) == 4


def test_a_waiting_releaser_spares_short_calls(monkeypatch):
    trims = []
    monkeypatch.setattr(memory, "release_free_memory", lambda: trims.append(1) or True)
    clock = Clock()
    r = Releaser(5.0, clock, wait_first=True)
    r(); clock.now += 4.0; r()
    assert trims == []  # a pipeline call shorter than the interval (one service batch) never trims
    clock.now += 1.5
    r(); r()
    assert len(trims) == 1


def test_a_long_pipeline_stream_trims_between_groups(tagger, monkeypatch):
    from clinlm.tasks.ner import pipeline as module

    trims = []
    monkeypatch.setattr(memory, "release_free_memory", lambda: trims.append(1) or True)
    ticks = iter(range(0, 10**6, 3))  # every clock read is 3 s later
    clock = lambda: float(next(ticks))  # noqa: E731
    monkeypatch.setattr(module, "Releaser", lambda interval, wait_first: Releaser(interval, clock, wait_first=wait_first))
    pipe = module.NerPipeline.from_pretrained(tagger, context=False, precision="fp32")
    docs = list(pipe.pipe(["the patient denies chest pain"] * 6, batch_size=2))
    assert len(docs) == 6 and len(trims) >= 1
    trims.clear()
    assert len(list(pipe.pipe(["the patient denies chest pain"] * 2, batch_size=2))) == 2 and trims == []  # one group


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_on_glibc_the_heap_is_trimmed():
    assert release_free_memory() is True


def test_where_the_c_library_has_no_malloc_trim_it_is_a_no_op(monkeypatch):
    monkeypatch.setattr(memory, "_trim", None)
    assert release_free_memory() is False
    assert Releaser(0.0)() is None


def test_the_batcher_releases_after_each_batch_on_the_inference_thread_even_when_it_fails():
    from clinlm.serve.batcher import MicroBatcher

    threads = []

    def annotate(docs):
        if any("bad" in d.text for d in docs):
            raise ValueError("no")
        return docs

    async def main():
        b = MicroBatcher(annotate, max_batch_tokens=0, after_batch=lambda: threads.append(threading.current_thread().name))
        await b.start()
        try:
            await b.submit([Document("1", "good")], timeout=10)
            with pytest.raises(Exception):
                await b.submit([Document("2", "bad")], timeout=10)
        finally:
            await b.stop()

    asyncio.run(main())
    assert len(threads) == 2 and all(t.startswith("clinlm-inference") for t in threads)


def test_serve_settings_carry_the_release_interval_and_the_command_sets_it():
    pytest.importorskip("fastapi")
    from clinlm.serve.settings import ServeSettings

    assert ServeSettings().release_memory_s == 1.0
    from cli_runner import clinlm

    r = clinlm("serve", "--help")
    assert r.returncode == 0 and "--release-memory-every" in r.stdout.decode()
