"""`clinlm serve`, the command: one-line errors before anything listens, and a live server whose worker
is replaced after --max-requests, guarded by a token, that never writes note text to its log."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("fastapi")
import httpx  # noqa: E402

from cli_runner import clinlm  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_missing_token_file_is_one_line_and_status_2(tmp_path):
    r = clinlm("serve", "--token-file", tmp_path / "nope")
    assert r.returncode == 2
    assert r.stderr.decode().startswith("error:") and len(r.stderr.decode().strip().splitlines()) == 1


def test_a_missing_model_is_one_line_and_status_2(tmp_path):
    r = clinlm("serve", "--model", tmp_path / "no-model", "--port", str(free_port()))
    assert r.returncode == 2 and "model directory not found" in r.stderr.decode()


def test_a_port_in_use_is_one_line_and_status_2():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        r = clinlm("serve", "--port", str(s.getsockname()[1]))
    assert r.returncode == 2 and "cannot listen on 127.0.0.1:" in r.stderr.decode()


def test_serve_is_registered_and_defaults_to_localhost():
    r = clinlm("serve", "--help")
    assert r.returncode == 0
    help_text = r.stdout.decode()
    assert "127.0.0.1" in help_text and "--max-requests" in help_text and "--token-file" in help_text


def test_workers_and_max_requests_go_to_uvicorns_supervisor(monkeypatch, tmp_path, tiny_tagger):
    """Several workers (or one replaced after --max-requests): uvicorn's supervisor runs the app factory,
    each worker reading the settings (never the token itself) from its environment, threads split."""
    import uvicorn.supervisors

    from clinlm.serve.settings import SETTINGS_ENV, ServeSettings

    seen = {}

    class Supervisor:
        def __init__(self, config, sockets):
            seen["config"], seen["sockets"] = config, sockets

        def run(self):
            seen["env"] = os.environ[SETTINGS_ENV]
            seen["threads"] = os.environ["OMP_NUM_THREADS"]
            for sock in seen["sockets"]:
                sock.close()

    monkeypatch.setattr(uvicorn.supervisors, "Multiprocess", Supervisor)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv(SETTINGS_ENV, raising=False)
    monkeypatch.setattr("clinlm.runtime.threads.inference_threads", lambda: 8)
    (tmp_path / "token").write_text("tok-123\n")
    r = clinlm("serve", "--model", tiny_tagger, "--workers", "2", "--max-requests", "1000", "--port", str(free_port()),
               "--token-file", tmp_path / "token", "--max-wait-ms", "2")
    assert r.returncode == 0, r.stderr
    config = seen["config"]
    assert (config.workers, config.limit_max_requests, config.host, config.factory) == (2, 1000, "127.0.0.1", True)
    assert config.app == "clinlm.serve.app:app_from_environment" and config.access_log is False
    assert "tok-123" not in seen["env"] and seen["threads"] == "4"
    settings = ServeSettings.from_json(seen["env"])
    assert settings.token == "tok-123" and settings.max_wait_ms == 2 and settings.model == str(tiny_tagger)


MARKER = "PHI-MARKER-LIVE-5521"


@pytest.mark.slow
def test_live_server_recycles_its_worker_and_keeps_note_text_out_of_its_log(tiny_tagger, tmp_path):
    token = tmp_path / "token"
    token.write_text("live-token\n")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    log = tmp_path / "server.log"
    with open(log, "wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "clinlm", "serve", "--model", str(tiny_tagger), "--no-context",
                                 "--port", str(port), "--token-file", str(token), "--max-requests", "4",
                                 "--log-level", "debug"], stdout=sink, stderr=subprocess.STDOUT, env=env)
        try:
            auth = {"Authorization": "Bearer live-token"}

            def ready_pid() -> int:
                deadline = time.monotonic() + 120  # a worker imports torch and loads the model: seconds
                while time.monotonic() < deadline:
                    try:
                        if httpx.get(f"{base}/readyz", timeout=30).status_code == 200:
                            return httpx.get(f"{base}/v1/info", headers=auth, timeout=30).json()["worker_pid"]
                    except httpx.HTTPError:
                        pass
                    assert proc.poll() is None, log.read_text()
                    time.sleep(0.1)
                raise AssertionError(log.read_text())

            first = ready_pid()
            assert httpx.post(f"{base}/v1/annotate", json={"text": "fever"}, timeout=10).status_code == 401
            for _ in range(5):  # on a loaded machine the probes may use up a worker before this request
                r = httpx.post(f"{base}/v1/annotate", json={"text": f"{MARKER} fever", "id": MARKER}, headers=auth,
                               timeout=10)
                if r.status_code != 503:
                    break
                first = ready_pid()
            assert r.status_code == 200 and r.json()["entities"]
            assert r.json()["entities"][0]["start"] == 0
            second = ready_pid()  # the worker answered its 4th request (the readiness probes count) and left
            for _ in range(10):
                if second != first:
                    break
                second = ready_pid()
            assert second != first
        finally:
            proc.terminate()
            proc.wait(30)
    lines = log.read_text(encoding="utf-8", errors="replace")
    assert "POST /v1/annotate 200" in lines
    assert MARKER not in lines
