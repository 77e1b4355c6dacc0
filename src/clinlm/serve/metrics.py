"""Prometheus metrics of one app (its own registry, so several apps in one process never mix).

Labels hold only the method, the route template (``/v1/annotate``; ``unmatched`` for any path no
route serves, since a path is whatever a client sent), the status code and a fixed reason:
never a note's text, id or any other value a client chose.
"""
from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
NOTE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
TOKEN_BUCKETS = (64, 256, 1024, 2048, 4096, 8192, 16384, 65536, 262144)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.requests = Counter("clinlm_requests_total", "HTTP requests answered", ["method", "route", "status"],
                                registry=r)
        self.latency = Histogram("clinlm_request_duration_seconds", "Time to answer a request", ["method", "route"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.batch_notes = Histogram("clinlm_batch_notes", "Notes per pipeline call (micro-batch size)",
                                     buckets=NOTE_BUCKETS, registry=r)
        self.batch_tokens = Histogram("clinlm_batch_tokens", "Estimated subword tokens per pipeline call",
                                      buckets=TOKEN_BUCKETS, registry=r)
        self.batch_seconds = Histogram("clinlm_batch_duration_seconds", "Time of one pipeline call",
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.queue_depth = Gauge("clinlm_queue_depth", "Notes waiting for a batch", registry=r)
        self.notes = Counter("clinlm_notes_total", "Notes annotated", registry=r)
        self.characters = Counter("clinlm_characters_total", "Characters of the notes annotated", registry=r)
        self.rejected = Counter("clinlm_rejected_total", "Requests refused before or during inference",
                                ["reason"], registry=r)
        self.ready = Gauge("clinlm_ready", "1 once the model is loaded and warmed up", registry=r)

    def on_batch(self, notes: int, tokens: int, seconds: float) -> None:
        self.batch_notes.observe(notes)
        self.batch_tokens.observe(tokens)
        self.batch_seconds.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
