"""The dashboard in headless Debian Chromium, against `streamlit run` and the real local LLM."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser import ARTIFACTS, running_dashboard

pytestmark = [pytest.mark.browser, pytest.mark.llm]


@pytest.fixture
def dashboard(sample_data, llm_base_url) -> Iterator[str]:
    with running_dashboard(FQA_DATA_DIR=str(sample_data.data_dir), OPENAI_BASE_URL=llm_base_url) as url:
        yield url


def test_ask_a_question_see_it_streamed_grounded_and_cited(dashboard: str, page: Page):
    page.goto(dashboard)
    expect(page.get_by_role("heading", name="Ask your documents")).to_be_visible(timeout=30_000)
    page.get_by_label("Question").fill("What was the name of the Florida Huguenot colony?")
    page.get_by_role("button", name="Ask").click()
    # the answer appears while it is written, before the grounding check has finished
    live = page.locator(".st-key-ask-live")
    expect(live).to_contain_text(re.compile("Fort Caroline", re.I), timeout=180_000)
    # (the live box exists only until the check ends) then the check's status while it runs; a check the server
    # answers from its prompt cache can end before the status is drawn, so the badge after it counts too
    badge = page.get_by_text(re.compile(r"\d+/\d+ claims supported")).first
    expect(live.get_by_text("Checking each claim").or_(badge)).to_be_visible(timeout=300_000)
    # then the checked answer: a badge, the claims marked, the citation with its supporting span highlighted
    expect(page.get_by_text(re.compile(r"\d+/\d+ claims supported")).first).to_be_visible(timeout=300_000)
    answer = page.get_by_test_id("stAlertContentSuccess")
    expect(answer).to_contain_text(re.compile("Fort Caroline", re.I))
    citation = page.get_by_test_id("stExpander").filter(has_text="kb/huguenots.md").first
    citation.click()
    expect(citation).to_contain_text("Jean Ribault")
    expect(citation.locator("mark")).to_contain_text("Fort Caroline")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ask.png"), full_page=True)
