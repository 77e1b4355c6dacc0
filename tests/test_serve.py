"""`clinlm serve`'s REST API, through FastAPI's test client, on the shipped default model."""
from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from clinlm.serve.app import create_app  # noqa: E402
from clinlm.serve.settings import ServeSettings  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "discharge_note.txt"
NOTE = ("HISTORY OF PRESENT ILLNESS:\r\nThe patient denies chest pain but reports cough and fever.\r\n\r\n"
        "FAMILY HISTORY:\r\nMother had breast cancer.\r\n")


@contextmanager
def serving(pipeline, **options):
    """A test client over a fresh app (lifespan run), once the warm-up note went through."""
    app = create_app(pipeline, ServeSettings(**options))
    with TestClient(app) as client:
        for _ in range(600):
            if client.get("/readyz").status_code == 200:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the app never became ready")
        yield client


@pytest.fixture(scope="module")
def client(default_pipeline):
    with serving(default_pipeline) as c:
        yield c


def check_document(text: str, doc: dict) -> None:
    for e in doc["entities"]:
        assert text[e["start"]:e["end"]] == e["text"]
        assert 0 <= e["start"] < e["end"] <= len(text)
    assert doc["characters"] == len(text)


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert "Traceback" not in response.text
    return body["error"]


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_annotate_one_note(client):
    r = client.post("/v1/annotate", json={"text": NOTE, "id": "n-1"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "clinlm-default" and body["version"] and body["id"] == "n-1"
    assert body["elapsed_ms"] >= 0
    check_document(NOTE, body)
    by_text = {e["text"].lower(): e for e in body["entities"]}
    assert "chest pain" in by_text and by_text["chest pain"]["attributes"]["assertion"] == "absent"
    cancer = next(e for e in body["entities"] if "cancer" in e["text"].lower())
    assert cancer["attributes"]["family"] is True and cancer["attributes"]["section"] == "family_history"
    assert all(e["label_name"] and 0 < e["score"] <= 1 for e in body["entities"])
    assert [s["category"] for s in body["sections"]] == ["history_of_present_illness", "family_history"]
    for s in body["sections"]:
        assert NOTE[s["header"]["start"]:s["header"]["end"]].startswith(s["name"])


def test_the_service_answers_what_the_python_api_answers(client, default_pipeline):
    text = EXAMPLE.read_text(encoding="utf-8")
    served = client.post("/v1/annotate", json={"text": text}).json()
    local = default_pipeline(text)
    assert [(e["start"], e["end"], e["label"], e["attributes"]["assertion"]) for e in served["entities"]] == \
        [(e.start, e.end, e.label, e.attributes["assertion"]) for e in local.entities]
    assert served["id"] is None


@hsettings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["fever", "chest pain", "café", "naïve", "𝒜spirin", "\r\n", "\n\n", "denies",
                                 "diabetes", "  ", "\t", "Mother had cancer.", "ß", "🙂", "mg"]), max_size=25))
def test_offsets_are_python_string_indices_for_any_text(client, parts):
    text = " ".join(parts)
    r = client.post("/v1/annotate", json={"text": text})
    assert r.status_code == 200
    check_document(text, r.json())


def test_batch_keeps_order_and_ids(client):
    notes = [{"text": "Denies fever.", "id": "a"}, {"text": NOTE, "id": "b"}, {"text": ""}]
    r = client.post("/v1/annotate/batch", json={"notes": notes})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "clinlm-default" and body["version"]
    assert [d["id"] for d in body["documents"]] == ["a", "b", None]
    for note, doc in zip(notes, body["documents"]):
        check_document(note["text"], doc)
    assert body["documents"][2]["entities"] == []
    assert client.post("/v1/annotate/batch", json={"notes": []}).json()["documents"] == []


def test_info_names_model_labels_and_limits(client):
    info = client.get("/v1/info").json()
    assert info["model"] == "clinlm-default" and info["ready"] and info["context"] and not info["auth"]
    assert {"label": "T038", "name": "Biologic Function"} in info["labels"]
    assert info["limits"]["max_chars"] == 1_000_000


@pytest.mark.parametrize("body, status, code", [
    (b"{not json", 400, "bad_json"),
    (b'{"id": "x"}', 422, "invalid_request"),
    (b'{"text": 5}', 422, "invalid_request"),
    (b'{"text": "fever", "extra": 1}', 422, "invalid_request"),
    (b'["fever"]', 422, "invalid_request"),
])
def test_bad_bodies_get_the_error_envelope(client, body, status, code):
    r = client.post("/v1/annotate", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status
    assert error_of(r)["code"] == code


def test_unknown_paths_and_methods_get_the_envelope(client):
    assert error_of(client.get("/v2/nothing"))["code"] == "not_found"
    assert client.get("/v1/annotate").status_code == 405


def test_size_caps_answer_413(default_pipeline):
    with serving(default_pipeline, max_chars=100, max_batch_notes=2) as c:
        assert c.post("/v1/annotate", json={"text": "x" * 100}).status_code == 200
        r = c.post("/v1/annotate", json={"text": "x" * 101})
        assert r.status_code == 413 and error_of(r)["code"] == "too_large"
        r = c.post("/v1/annotate/batch", json={"notes": [{"text": "x" * 60}, {"text": "x" * 60}]})
        assert r.status_code == 413  # the characters of all notes count
        r = c.post("/v1/annotate/batch", json={"notes": [{"text": "a"}] * 3})
        assert r.status_code == 413 and "3 notes" in error_of(r)["message"]
        body = json.dumps({"text": "é" * 30}).encode() + b" " * (ServeSettings(max_chars=100).max_body_bytes)
        r = c.post("/v1/annotate", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and error_of(r)["code"] == "too_large"
        chunks = iter([b'{"text": "', b"a" * (ServeSettings(max_chars=100).max_body_bytes), b'"}'])
        r = c.post("/v1/annotate", content=chunks, headers={"Content-Type": "application/json"})  # no Content-Length
        assert r.status_code == 413 and error_of(r)["code"] == "too_large"


def test_default_cap_is_a_million_characters(client):
    r = client.post("/v1/annotate", json={"text": "a" * 1_000_001})
    assert r.status_code == 413 and "1000000" in error_of(r)["message"]


@pytest.mark.slow
def test_a_one_megabyte_note_keeps_exact_offsets(tiny_tagger):
    import clinlm

    pipe = clinlm.load(str(tiny_tagger), context=False)
    words = ["fever", "café", "\r\n", "𝒜b", "pain", "\n\n"]
    text = " ".join(words[i % len(words)] for i in range(200_000))[:1_000_000]
    with serving(pipe) as c:
        r = c.post("/v1/annotate", json={"text": text})
    assert r.status_code == 200
    doc = r.json()
    check_document(text, doc)
    assert doc["entities"] and doc["entities"][-1]["end"] > len(text) - 20
