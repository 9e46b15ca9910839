"""Upload on the Knowledge base page in headless Debian Chromium against `streamlit run` (no LLM needed)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser import ARTIFACTS, running_dashboard
from tests.pdf import write_pdf

pytestmark = pytest.mark.browser


@pytest.fixture
def kb_dashboard(sample_data) -> Iterator[str]:
    with running_dashboard(FQA_DATA_DIR=str(sample_data.data_dir)) as url:
        yield url


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
