"""Upload on the Knowledge base page in headless Debian Chromium against `streamlit run` (no LLM needed)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.conftest import REPO, free_port
from tests.pdf import write_pdf

pytestmark = pytest.mark.browser
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def kb_dashboard(sample_data) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "FQA_DATA_DIR": str(sample_data.data_dir)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.address",
         "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=1).text == "ok":
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail(f"streamlit did not start: {proc.stdout.read().decode()[-2000:]}")
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture
def page() -> Iterator[Page]:
    if not os.path.exists(CHROMIUM):
        pytest.fail("Debian chromium is not installed; `make test` installs it (make browser)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser.new_page(viewport={"width": 1280, "height": 1400})
        browser.close()


def test_upload_a_good_and_a_corrupt_file_and_see_both_outcomes(kb_dashboard: str, page: Page, tmp_path):
    good = write_pdf(tmp_path / "lighthouse.pdf", ["The Quesnard lighthouse light is seen from 23 nautical miles."])
    page.goto(kb_dashboard)
    page.get_by_test_id("stSidebarNav").get_by_text("Knowledge base").click()
    expect(page.get_by_role("heading", name="Add documents")).to_be_visible(timeout=90_000)
    page.locator("input[type=file]").set_input_files([
        {"name": "lighthouse.pdf", "mimeType": "application/pdf", "buffer": good.read_bytes()},
        {"name": "broken.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 this file was cut off"},
    ])
    expect(page.get_by_text("broken.pdf", exact=True)).to_be_visible(timeout=30_000)  # listed by the uploader
    page.get_by_role("button", name="Ingest").click()
    outcome = page.get_by_test_id("stAlertContentError")
    expect(outcome).to_contain_text("2 files: 1 added, 0 unchanged, 1 failed", timeout=120_000)
    expect(outcome).to_contain_text("upload/broken.pdf: not a readable PDF")
    expect(page.get_by_test_id("stTraceback")).to_have_count(0)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "kb_upload.png"), full_page=True)
