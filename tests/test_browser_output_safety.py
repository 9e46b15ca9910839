"""Model output and document text reach the browser as text: no image, link, HTML or script from them is active.

Every request of the page is intercepted: any for a host but the dashboard's own fails the test (and is aborted, so
nothing leaves even when it would). The payloads must still be readable, as text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Locator, Page, expect

from ingest.ingestor import ingest_files, sources_for
from settings import Settings
from tests.browser import ARTIFACTS, Offsite, block_offsite, running_dashboard
from tests.conftest import embedded_path, open_store
from tests.hostile import ATTACKER, PAYLOADS
from ui.safe_text import WORD_JOINER

pytestmark = [pytest.mark.browser]
ACTIVE = "a[href], img, script, iframe, object, embed, svg image"


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
