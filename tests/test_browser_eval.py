"""The Evaluation page in headless Debian Chromium against `streamlit run`, with stored runs: open one, drill down."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import REPO, free_port
from tests.test_browser import ARTIFACTS, page  # noqa: F401 - the Chromium page fixture
from tests.test_eval_pages import store_runs

pytestmark = [pytest.mark.browser]


@pytest.fixture
def dashboard_with_runs(sample_data) -> Iterator[tuple[str, dict[str, str]]]:
    ids = store_runs(sample_data)
    port = free_port()
    env = {**os.environ, "FQA_DATA_DIR": str(sample_data.data_dir)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.address",
         "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],  # the watcher overflows inotify on this tree and stalls the app
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
    yield url, ids
    proc.terminate()
    proc.wait(timeout=20)


def test_open_a_stored_run_and_drill_into_a_question(dashboard_with_runs, page: Page):  # noqa: F811
    url, ids = dashboard_with_runs
    page.goto(f"{url}/evaluation?run={ids['before']}")
    expect(page.get_by_role("heading", name="Evaluation")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("2 of 3 scored").first).to_be_visible(timeout=60_000)
    page.get_by_test_id("stSelectbox").filter(has_text="Inspect question").click()
    page.get_by_role("option", name="Q2 · What is the major tributary for the Rhine?").click()
    drill = page.locator(".st-key-eval-drilldown")
    expect(drill).to_contain_text("retrieval miss", timeout=30_000)
    expect(drill).to_contain_text("The Aare joins at Basel in 1564.")
    drill.get_by_test_id("stExpander").filter(has_text="kb/rhine.md").click()
    expect(drill).to_contain_text("The Rhine flows through Basel.")
    assert "q=2" in page.url  # the drill-down is in the URL: the view can be shared
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "evaluation_drilldown.png"), full_page=True)
