"""The dashboard in headless Debian Chromium, against `streamlit run` and the real local LLM."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.conftest import REPO, free_port

pytestmark = [pytest.mark.browser, pytest.mark.llm]
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def dashboard(sample_data, llm_base_url) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "FQA_DATA_DIR": str(sample_data.data_dir), "OPENAI_BASE_URL": llm_base_url}
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
        yield browser.new_page(viewport={"width": 1280, "height": 900})
        browser.close()


def test_ask_a_question_see_it_streamed_grounded_and_cited(dashboard: str, page: Page):
    page.goto(dashboard)
    expect(page.get_by_role("heading", name="Ask your documents")).to_be_visible(timeout=30_000)
    page.get_by_label("Question").fill("What was the name of the Florida Huguenot colony?")
    page.get_by_role("button", name="Ask").click()
    # the answer appears while it is written, before the grounding check has finished
    live = page.locator(".st-key-ask-live")
    expect(live).to_contain_text(re.compile("Fort Caroline", re.I), timeout=180_000)
    expect(live).to_contain_text("Checking each claim")
    # then the checked answer: a badge, the claims marked, the citation with its supporting span highlighted
    expect(page.get_by_text(re.compile(r"^\d+/\d+ claims supported"))).to_be_visible(timeout=300_000)
    answer = page.get_by_test_id("stAlertContentSuccess")
    expect(answer).to_contain_text(re.compile("Fort Caroline", re.I))
    citation = page.get_by_test_id("stExpander").filter(has_text="kb/huguenots.md").first
    citation.click()
    expect(citation).to_contain_text("Jean Ribault")
    expect(citation.locator("mark")).to_contain_text("Fort Caroline")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ask.png"), full_page=True)
