"""Upload on the Knowledge base page in headless Debian Chromium against `streamlit run` (no LLM needed)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser import ARTIFACTS, running_dashboard
from tests.conftest import SAMPLE_KB
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


def field_notes(count: int) -> list[dict]:
    """`count` distinct text files of about 5 KB, made from the sample documents (about 8 chunks each)."""
    texts = [path.read_text(encoding="utf-8") for path in sorted(SAMPLE_KB.iterdir())]
    files = []
    for n in range(count):
        paragraphs = [p for p in texts[n % len(texts)].split("\n\n") if p.strip()]
        body = "\n\n".join(f"Field note {n}.{i}: {p}" for i, p in enumerate(paragraphs))
        files.append({"name": f"note_{n:02d}.txt", "mimeType": "text/plain", "buffer": body.encode()})
    return files


def test_ingest_progress_survives_a_click_elsewhere_then_the_outcome_table_shows(kb_dashboard: str, page: Page):
    page.goto(f"{kb_dashboard}/knowledge_base")
    expect(page.get_by_role("heading", name="Add documents")).to_be_visible(timeout=90_000)
    page.locator("input[type=file]").set_input_files(
        [*field_notes(30), {"name": "broken.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 cut off"}])
    expect(page.get_by_text("broken.pdf", exact=True)).to_be_visible(timeout=30_000)
    # every upload sent and its rerun over: a click during those reruns can be lost
    page.wait_for_load_state("networkidle")
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning", timeout=60_000)
    page.get_by_role("button", name="Ingest").click()
    bar = page.get_by_test_id("stProgress")
    expect(bar).to_contain_text(re.compile(r"\d+/31 files · \d+ chunks added"), timeout=60_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "kb_ingest_progress.png"), full_page=True)
    page.get_by_label("Search chunks by text").fill("Astra 2A")  # another widget: the page reruns
    page.get_by_label("Search chunks by text").press("Enter")
    expect(page.get_by_text("contain “Astra 2A”")).to_be_visible(timeout=30_000)
    expect(bar).to_contain_text("/31 files")  # the ingest goes on, its bar still shows

    outcome = page.get_by_test_id("stAlertContentError")
    expect(outcome).to_contain_text("31 files: 30 added, 0 unchanged, 1 failed", timeout=300_000)
    expect(bar).to_have_count(0)
    table = page.get_by_test_id("stDataFrame").filter(has_text="reason")
    expect(table).to_be_visible()
    expect(page.get_by_test_id("stTraceback")).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "kb_ingest_outcome.png"), full_page=True)
