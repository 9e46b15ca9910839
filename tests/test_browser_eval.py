"""The Evaluation page in headless Debian Chromium against `streamlit run`, with stored runs: open one, drill down."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser import ARTIFACTS, choose, running_dashboard
from tests.test_eval_pages import store_runs

pytestmark = [pytest.mark.browser]


@pytest.fixture
def dashboard_with_runs(sample_data) -> Iterator[tuple[str, dict[str, str]]]:
    ids = store_runs(sample_data)
    with running_dashboard(FQA_DATA_DIR=str(sample_data.data_dir)) as url:
        yield url, ids


def test_open_a_stored_run_and_drill_into_a_question(dashboard_with_runs, page: Page):
    url, ids = dashboard_with_runs
    page.goto(f"{url}/evaluation?run={ids['before']}")
    expect(page.get_by_role("heading", name="Evaluation")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("2 of 3 scored").first).to_be_visible(timeout=60_000)
    choose(page, "Inspect question", "Q2 · What is the major tributary for the Rhine?")
    drill = page.locator(".st-key-eval-drilldown")
    expect(drill).to_contain_text("retrieval miss", timeout=30_000)
    expect(drill).to_contain_text("The Aare joins at Basel in 1564.")
    drill.get_by_test_id("stExpander").filter(has_text="kb/rhine.md").click()
    expect(drill).to_contain_text("The Rhine flows through Basel.")
    assert "q=2" in page.url  # the drill-down is in the URL: the view can be shared
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "evaluation_drilldown.png"), full_page=True)


def test_click_a_tune_heatmap_cell_to_open_that_run(dashboard_with_runs, page: Page):
    url, ids = dashboard_with_runs
    page.goto(f"{url}/tune")
    expect(page.get_by_role("heading", name="Tune")).to_be_visible(timeout=60_000)
    heatmap = page.get_by_test_id("stPlotlyChart").first  # faithfulness over chunk size × top-k
    expect(heatmap).to_contain_text("Faithfulness", timeout=60_000)
    cells = heatmap.locator(".scatterlayer path.point")
    expect(cells).to_have_count(4)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "tune_heatmaps.png"), full_page=True)
    box = cells.nth(2).bounding_box()  # chunk size 600 · top-k 2
    page.mouse.move(box["x"] + box["width"] / 2 + 15, box["y"] + box["height"] / 2 + 10)  # off-centre, inside the cell
    page.mouse.down()
    page.mouse.up()
    expect(page.get_by_role("heading", name="Evaluation")).to_be_visible(timeout=60_000)
    expect(page).to_have_url(re.compile(rf"/evaluation\?run={ids['sweep3']}(&|$)"), timeout=30_000)
    expect(page.get_by_role("combobox", name="Run", exact=True)).to_have_value(re.compile(f"^{ids['sweep3']} "))
    page.screenshot(path=str(ARTIFACTS / "tune_cell_opened.png"), full_page=True)


def test_a_table_offers_only_the_pages_escaped_csv_download(dashboard_with_runs, page: Page):
    """Streamlit's own table download writes cells as they are (a spreadsheet runs "=…"): it is turned off
    (.streamlit/config.toml), and the page's Download CSV goes through evaluation.export.csv_text."""
    url, ids = dashboard_with_runs
    page.goto(f"{url}/evaluation?run={ids['before']}")
    expect(page.get_by_text("2 of 3 scored").first).to_be_visible(timeout=60_000)
    page.locator(".st-key-eval-table").hover()
    toolbar = page.get_by_test_id("stElementToolbar").filter(has=page.get_by_role("button", name="Search"))
    expect(toolbar.first).to_be_visible(timeout=30_000)  # the table's toolbar is shown...
    expect(page.get_by_role("button", name="Download as CSV")).to_have_count(0)  # ...without the unescaped download
    expect(page.get_by_role("button", name="Download CSV")).to_be_visible()
