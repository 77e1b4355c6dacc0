"""The page at `/` in a real headless Chromium (Selenium + chromedriver) against a live server on
127.0.0.1: a pasted note comes back with its concepts highlighted where the API says, marked by
assertion in text (not colour alone), its sections shown, and a sortable table. A screenshot is
saved to test-artifacts/serve_page.png (or $CLINLM_ARTIFACTS)."""
from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
import httpx  # noqa: E402

from conftest import require_system  # noqa: E402

NOTE = ("HISTORY OF PRESENT ILLNESS:\n"
        "🙂 The patient denies chest pain. She reports cough and fever for three days.\n\n"
        "FAMILY HISTORY:\n"
        "Mother had breast cancer.\n\n"
        "MEDICATIONS:\n"
        "Aspirin 81 mg daily and metformin.\n")
ARTIFACTS = Path(os.environ.get("CLINLM_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def live(default_pipeline):
    """The app under uvicorn on 127.0.0.1 (a thread of this process), once ready."""
    import uvicorn

    from clinlm.serve.app import create_app
    from clinlm.serve.settings import ServeSettings

    port = free_port()
    app = create_app(default_pipeline, ServeSettings(port=port))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    else:
        raise AssertionError("the server never became ready")
    yield base
    server.should_exit = True
    thread.join(15)


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    require_system("chromium", chromium is not None)
    require_system("chromedriver (Debian: chromium-driver)", driver_path is not None)
    pytest.importorskip("selenium")
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1700",
                "--no-first-run", "--disable-extensions", "--disable-background-networking"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_path))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def test_paste_a_note_and_see_its_concepts(live, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    expected = httpx.post(f"{live}/v1/annotate", json={"text": NOTE}, timeout=60).json()["entities"]
    assert expected, "the model found nothing: the page test would prove nothing"
    browser.get(f"{live}/")
    wait = WebDriverWait(browser, 60)
    wait.until(lambda d: "Model clinlm-default" in d.find_element(By.ID, "model-line").text)

    note = browser.find_element(By.ID, "note")
    browser.execute_script("arguments[0].value = arguments[1];", note, NOTE)  # a paste
    browser.find_element(By.ID, "annotate").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#entities tbody tr")))

    marks = browser.find_elements(By.CSS_SELECTOR, "#annotated mark.ent")
    shown = [(int(m.get_attribute("data-start")), int(m.get_attribute("data-end")),
              m.find_element(By.CLASS_NAME, "ent-text").text) for m in marks]
    assert shown == [(e["start"], e["end"], e["text"]) for e in expected]  # code points, past the emoji
    pain = next(m for m in marks if m.find_element(By.CLASS_NAME, "ent-text").text == "chest pain")
    assert "flag-neg" in pain.get_attribute("class") and "NEG" in pain.find_element(By.CLASS_NAME, "ent-tag").text
    cancer = next(m for m in marks if "cancer" in m.find_element(By.CLASS_NAME, "ent-text").text)
    assert "FAM" in cancer.find_element(By.CLASS_NAME, "ent-tag").text
    captions = [c.text.lower() for c in browser.find_elements(By.CLASS_NAME, "band-caption")]
    assert any("family_history" in c for c in captions) and any("history_of_present_illness" in c for c in captions)
    assert browser.find_elements(By.CSS_SELECTOR, "#legend .legend-item")
    assert "model clinlm-default" in browser.find_element(By.ID, "summary").text

    rows = browser.find_elements(By.CSS_SELECTOR, "#entities tbody tr")
    assert len(rows) == len(expected)
    browser.find_element(By.CSS_SELECTOR, "#entities th button[data-key='text']").click()
    texts = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#entities tbody td[data-key='text']")]
    assert texts == sorted(texts, key=str.lower) or texts == sorted(texts)
    th = browser.find_element(By.CSS_SELECTOR, "#entities th button[data-key='text']").find_element(By.XPATH, "..")
    assert th.get_attribute("aria-sort") == "ascending"

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "serve_page.png"))

    # keyboard only: a new note and Ctrl+Enter
    note.clear()
    note.send_keys("Denies fever.")
    note.send_keys(Keys.CONTROL, Keys.ENTER)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#entities tbody tr")) == 1)
    assert browser.find_element(By.CSS_SELECTOR, "#annotated .ent-text").text == "fever"

    # nothing is fetched from anywhere but this server (the page works offline)
    fetched = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert fetched and all(url.startswith(live) for url in fetched)
