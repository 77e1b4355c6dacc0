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


MARKER = "PHI-MARKER-Q7ZX93-Łódź"


def test_no_note_text_in_any_log_line_or_metric(default_pipeline, caplog):
    """A unique marker sent every way a client can send it never shows in a log record (DEBUG, every
    logger) or in /metrics; the access log still says method, route, status, size and latency."""
    import logging

    with caplog.at_level(logging.DEBUG), serving(default_pipeline, max_chars=200) as c:
        note = f"{MARKER} denies chest pain. Mother had breast cancer. {MARKER}"
        assert c.post("/v1/annotate", json={"text": note, "id": MARKER}).status_code == 200
        assert c.post("/v1/annotate/batch", json={"notes": [{"text": note, "id": MARKER}]}).status_code == 200
        assert c.post("/v1/annotate", content=f'{{"text": "{MARKER}'.encode(),
                      headers={"Content-Type": "application/json"}).status_code == 400
        assert c.post("/v1/annotate", json={"text": note, MARKER: MARKER}).status_code == 422
        assert c.post("/v1/annotate", json={"text": [MARKER]}).status_code == 422
        assert c.post("/v1/annotate", json={"text": MARKER * 20}).status_code == 413
        assert c.post("/v1/annotate", json={"text": note, "id": MARKER * 20}).status_code == 422
        assert c.get(f"/v1/{MARKER}?q={MARKER}").status_code == 404
        assert c.post(f"/v1/annotate?{MARKER}=1", json={"text": note}).status_code == 200
        metrics = c.get("/metrics").text
    client_side = ("httpx", "httpcore")  # the test's own HTTP client logs the URL it requested
    lines = [f"{r.name} {r.levelname} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records
             if not r.name.startswith(client_side)]
    assert lines, "nothing was logged: the test would prove nothing"
    leaked = [line for line in lines if MARKER in line or "Łódź" in line or "PHI-MARKER" in line]
    assert leaked == []
    assert MARKER not in metrics and "PHI-MARKER" not in metrics
    access = [r.getMessage() for r in caplog.records if r.name == "clinlm.serve.access"]
    assert "POST /v1/annotate 200" in " ".join(access) and "GET unmatched 404" in " ".join(access)
    assert all(len(line.split()) == 5 and line.endswith("ms") for line in access)


def test_metrics_are_prometheus_text(client):
    from prometheus_client.parser import text_string_to_metric_families

    client.post("/v1/annotate", json={"text": "Denies fever."})
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    for name in ("clinlm_requests", "clinlm_request_duration_seconds", "clinlm_batch_notes", "clinlm_queue_depth",
                 "clinlm_notes", "clinlm_ready"):
        assert name in families, name
    routes = {s.labels.get("route") for s in families["clinlm_requests"].samples}
    assert "/v1/annotate" in routes
    assert families["clinlm_ready"].samples[0].value == 1.0


def test_bearer_token_guards_the_api_not_the_probes(default_pipeline):
    with serving(default_pipeline, token="s3cret-token") as c:
        for r in (c.post("/v1/annotate", json={"text": "fever"}),
                  c.post("/v1/annotate", json={"text": "fever"}, headers={"Authorization": "Bearer wrong"}),
                  c.post("/v1/annotate", json={"text": "fever"}, headers={"Authorization": "Basic s3cret-token"}),
                  c.get("/v1/info"), c.get("/metrics")):
            assert r.status_code == 401 and error_of(r)["code"] == "unauthorized"
            assert r.headers["WWW-Authenticate"] == "Bearer"
        good = {"Authorization": "Bearer s3cret-token"}
        assert c.post("/v1/annotate", json={"text": "fever"}, headers=good).status_code == 200
        assert c.get("/v1/info", headers=good).json()["auth"] is True
        assert c.get("/metrics", headers=good).status_code == 200
        for open_path in ("/healthz", "/readyz", "/", "/openapi.json"):
            assert c.get(open_path).status_code == 200, open_path


def test_token_file_is_read_and_must_not_be_empty(tmp_path):
    from clinlm.errors import ConfigError
    from clinlm.serve.settings import read_token

    (tmp_path / "t").write_text("abc123\n")
    assert read_token(str(tmp_path / "t")) == "abc123"
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match="empty"):
        read_token(str(tmp_path / "empty"))
    settings = ServeSettings(token="abc123", token_file=str(tmp_path / "t"))
    assert "abc123" not in settings.to_json()  # worker processes re-read the file
    assert ServeSettings.from_json(settings.to_json()).token == "abc123"


def test_binds_localhost_and_cors_is_off_unless_asked(client, default_pipeline):
    assert ServeSettings().host == "127.0.0.1"
    r = client.options("/v1/annotate", headers={"Origin": "http://ehr.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in r.headers
    with serving(default_pipeline, cors_origins=["http://ehr.example"]) as c:
        r = c.options("/v1/annotate", headers={"Origin": "http://ehr.example", "Access-Control-Request-Method": "POST"})
        assert r.headers["access-control-allow-origin"] == "http://ehr.example"


def test_the_openapi_schema_describes_the_real_responses(default_pipeline):
    """Every response (successes and errors) validates against the schema /openapi.json declares for it."""
    from jsonschema import Draft202012Validator

    with serving(default_pipeline, max_chars=500, token="tok") as c:
        spec = c.get("/openapi.json").json()
        auth = {"Authorization": "Bearer tok"}
        seen = [
            ("/v1/annotate", "post", c.post("/v1/annotate", json={"text": NOTE, "id": "x"}, headers=auth)),
            ("/v1/annotate", "post", c.post("/v1/annotate", json={"text": "Denies fever."}, headers=auth)),
            ("/v1/annotate", "post", c.post("/v1/annotate", content=b"{", headers={**auth, "Content-Type": "application/json"})),
            ("/v1/annotate", "post", c.post("/v1/annotate", json={"txt": "a"}, headers=auth)),
            ("/v1/annotate", "post", c.post("/v1/annotate", json={"text": "a" * 501}, headers=auth)),
            ("/v1/annotate", "post", c.post("/v1/annotate", json={"text": "a"})),
            ("/v1/annotate/batch", "post", c.post("/v1/annotate/batch", json={"notes": [{"text": NOTE}, {"text": "", "id": "e"}]}, headers=auth)),
            ("/v1/info", "get", c.get("/v1/info", headers=auth)),
            ("/healthz", "get", c.get("/healthz")),
            ("/readyz", "get", c.get("/readyz")),
        ]
    statuses = set()
    for path, method, r in seen:
        declared = spec["paths"][path][method]["responses"]
        assert str(r.status_code) in declared, (path, r.status_code)
        schema = declared[str(r.status_code)]["content"]["application/json"]["schema"]
        Draft202012Validator({**schema, "components": spec["components"]}).validate(r.json())
        statuses.add(r.status_code)
    assert statuses == {200, 400, 401, 413, 422}
    entity = spec["components"]["schemas"]["EntityOut"]
    assert "half-open" in entity["properties"]["start"]["description"]
    assert "bearer" in json.dumps(spec["components"]["securitySchemes"]).lower()


class PairFirstTwo:
    """A stand-in relation pipeline: relates each document's first two entities."""

    def pipe(self, docs, batch_size=16):
        for doc in docs:
            if len(doc.entities) >= 2:
                doc = doc.with_relations([])
                doc.relate("co_occurs", doc.entities[0], doc.entities[1], 0.9)
            yield doc


def test_a_relation_model_adds_relations_by_entity_index(default_pipeline):
    from jsonschema import Draft202012Validator

    app = create_app(default_pipeline, ServeSettings(), relations=PairFirstTwo())
    with TestClient(app) as c:
        for _ in range(600):
            if c.get("/readyz").status_code == 200:
                break
            time.sleep(0.05)
        spec = c.get("/openapi.json").json()
        body = c.post("/v1/annotate", json={"text": NOTE}).json()
        assert c.get("/v1/info").json()["relations"] == "custom"
    assert body["relations"] == [{"label": "co_occurs", "head": 0, "tail": 1, "score": 0.9}]
    schema = spec["paths"]["/v1/annotate"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    Draft202012Validator({**schema, "components": spec["components"]}).validate(body)


def test_link_indexes_are_loaded_with_the_model_and_concepts_come_back(tiny_tagger, tmp_path):
    from clinlm.linking import LinkIndex, read_vocabulary

    index = tmp_path / "index"
    LinkIndex.build(read_vocabulary(Path(__file__).parent / "data" / "linking" / "tiny_vocab.tsv")).save(index)
    settings = ServeSettings(model=str(tiny_tagger), context=False, link=[str(index)])
    with TestClient(create_app(None, settings)) as c:  # the model and the index load on startup
        for _ in range(600):
            if c.get("/readyz").status_code == 200:
                break
            time.sleep(0.05)
        body = c.post("/v1/annotate", json={"text": "fever and hypertension"}).json()
    fever = next(e for e in body["entities"] if e["text"] == "fever")
    assert fever["attributes"]["concepts"][0]["id"] == "EX:0007"


def test_a_type_map_without_link_is_a_one_line_error(tmp_path):
    from cli_runner import clinlm

    (tmp_path / "map.tsv").write_text("T047\tT038\n")
    r = clinlm("serve", "--type-map", tmp_path / "map.tsv", "--port", "0")
    assert r.returncode == 2 and "--type-map" in r.stderr.decode()
