"""Profiles in headless Chromium (issue 24): keep a sweep cell on the Tune page, and the Ask page starts from it after
a reload and after the dashboard restarts (its collection ingested meanwhile); one click reverts to the defaults."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser import ARTIFACTS, running_dashboard, wait_idle
from tests.test_profile_pages import CELL, CELL_COLLECTION
from tests.test_profiles import _screen_and_run

pytestmark = [pytest.mark.browser]
FIRST_LOAD = 180_000  # ms: a page's first run in a new dashboard imports and opens everything (a minute on a busy machine)


def top_k(page: Page):
    return page.get_by_test_id("stSlider").filter(has_text="Passages to retrieve").get_by_test_id("stSliderThumbValue")


def profile_box(page: Page):
    return page.locator(".st-key-ask-profile_box")


def expect_profile(page: Page, name: str, k: str) -> None:
    expect(profile_box(page).get_by_role("combobox", name="Start from")).to_have_value(name, timeout=FIRST_LOAD)
    expect(top_k(page)).to_have_text(k, timeout=FIRST_LOAD)  # the page's rerun after a switch sets the slider
    wait_idle(page, FIRST_LOAD)


def test_keep_a_sweep_cell_and_the_ask_page_starts_from_it_after_a_reload_and_a_restart(sample_data, page: Page):
    _screen_and_run(sample_data)
    ARTIFACTS.mkdir(exist_ok=True)
    with running_dashboard() as url:
        page.goto(f"{url}/tune")
        wait_idle(page, FIRST_LOAD)
        page.get_by_role("button", name="Use this configuration").click()
        save = page.get_by_role("button", name="Save and use it")
        expect(save).to_be_visible(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "profile_keep.png"), full_page=True)
        save.click()
        expect(page.get_by_text(f"Profile {CELL} is active")).to_be_visible(timeout=60_000)

        page.goto(url)  # the Ask page, a new session: it starts from the kept cell
        expect_profile(page, CELL, "2")
        expect(profile_box(page)).to_contain_text("from sweep cell “size 300 · overlap 80 · top-k 2” of sweep-abc")
        # the cell's chunking has a collection of its own, ingested in the background; then the picker starts there
        collection = page.get_by_test_id("stSidebar").get_by_role("combobox", name="Collection", exact=True)
        expect(collection).to_have_value(CELL_COLLECTION, timeout=600_000)
        page.reload()
        expect_profile(page, CELL, "2")
        page.screenshot(path=str(ARTIFACTS / "profile_ask.png"), full_page=True)

    with running_dashboard() as url:  # a restart: the profile is on disk, not in the process
        page.goto(url)
        expect_profile(page, CELL, "2")
        expect(collection).to_have_value(CELL_COLLECTION)
        profile_box(page).get_by_role("button", name="Revert to defaults").click()
        expect_profile(page, "Built-in defaults", "4")
        expect(collection).to_have_value("sample")
        page.reload()
        expect_profile(page, "Built-in defaults", "4")
        page.screenshot(path=str(ARTIFACTS / "profile_reverted.png"), full_page=True)
