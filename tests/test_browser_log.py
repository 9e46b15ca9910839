"""The question log in headless Debian Chromium against `streamlit run`: three real questions asked, the page reloaded,
all three found in the log with their verdicts; a thumbs-down correction saved as a new eval set and run; the Tune
page's curves drawn on the labelled log. And hostile questions, answers and sources in the log render as text."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from pipeline.question_log import Feedback, QuestionLog
from settings import Settings
from tests.browser import ARTIFACTS, block_offsite, choose, running_dashboard, wait_idle
from tests.hostile import ATTACKER, HOSTILE_TEXT, PAYLOADS
from tests.log_seed import make_answer, seed
from tests.test_browser_output_safety import ACTIVE, text_of

pytestmark = [pytest.mark.browser]
COLONY = "What was the name of the Florida Huguenot colony?"
OUTPOST = "What was the name of the first Huguenot outpost in South Carolina?"
OFF_TOPIC = "What is the capital of Australia?"  # nothing in the sample is close: the gate abstains, no model call
CORRECTION = "Fort Caroline, founded by Jean Ribault"
ANSWER_MS = 600_000  # a checked answer takes ~10 s on a quiet machine; the shared server may be busy


def ask(page: Page, question: str, answers_before: int) -> None:
    """Ask on the Ask page and wait for the checked answer: its thumbs appear under it in the history."""
    page.get_by_label("Question").fill(question)
    page.get_by_role("button", name="Ask").click()
    expect(page.get_by_test_id("stFeedback")).to_have_count(answers_before + 1, timeout=ANSWER_MS)
    wait_idle(page)


@pytest.mark.llm
def test_asked_questions_are_in_the_log_after_a_reload_and_a_correction_becomes_an_eval_set_that_runs(
        sample_data: Settings, llm_base_url: str, page: Page):
    with running_dashboard(FQA_DATA_DIR=str(sample_data.data_dir), OPENAI_BASE_URL=llm_base_url) as url:
        page.goto(url)
        expect(page.get_by_role("heading", name="Ask your documents")).to_be_visible(timeout=60_000)
        for n, question in enumerate([COLONY, OUTPOST, OFF_TOPIC]):
            ask(page, question, n)
        # thumbs down on the colony answer, with the correct answer typed in
        colony = page.get_by_test_id("stVerticalBlock").filter(has_text=COLONY).filter(
            has=page.get_by_test_id("stFeedback")).last
        colony.get_by_role("radio", name="Thumbs down").click()
        colony.get_by_role("textbox", name="The correct answer (optional)").fill(CORRECTION)
        colony.get_by_role("button", name="Save correction").click()
        expect(colony).to_contain_text(f"Feedback: wrong answer · correct answer: “{CORRECTION}”", timeout=30_000)
        # thumbs up on the abstention: right not to answer
        page.get_by_test_id("stVerticalBlock").filter(has_text=OFF_TOPIC).filter(
            has=page.get_by_test_id("stFeedback")).last.get_by_role("radio", name="Thumbs up").click()
        expect(page.get_by_text("Feedback: right to abstain")).to_be_visible(timeout=30_000)

        page.reload()  # the Ask page's history is gone; the log keeps all three
        expect(page.get_by_role("heading", name="Ask your documents")).to_be_visible(timeout=60_000)
        page.get_by_role("link", name="Question log").click()
        expect(page.get_by_role("heading", name="Question log")).to_be_visible(timeout=60_000)
        ids = {e.question: e.id for e in QuestionLog(sample_data.question_log_db).entries()}
        assert set(ids) == {COLONY, OUTPOST, OFF_TOPIC}
        drill = page.locator(".st-key-log-drilldown")
        for question in (OUTPOST, COLONY):  # answered and checked: the verdict badge
            choose(page, "Open a question", f"#{ids[question]} · {question}")
            expect(drill).to_contain_text(question, timeout=30_000)
            wait_idle(page)
            expect(drill.get_by_text(re.compile(r"\d+/\d+ claims supported")).first).to_be_visible()
        expect(drill).to_contain_text(f"Feedback: wrong answer · correct answer: “{CORRECTION}”")
        choose(page, "Open a question", f"#{ids[OFF_TOPIC]} · {OFF_TOPIC}")
        expect(drill).to_contain_text("so the model was not asked", timeout=30_000)
        expect(drill).to_contain_text("Feedback: right to abstain")
        wait_idle(page)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "question_log.png"), full_page=True)

        # the thumbs-down answer, with its correction, as a new eval set
        # opened first: the filter then closes the drilldown above it, and the expander must stay open
        page.get_by_text("Make an eval set from these questions").click()
        page.get_by_text("Thumbs down", exact=True).click()
        questions = page.get_by_test_id("stMetric").filter(has_text="Questions").get_by_test_id("stMetricValue")
        expect(questions).to_have_text("1", timeout=30_000)  # the filter's rerun has landed (idle may precede it)
        wait_idle(page)
        page.get_by_role("textbox", name="Eval set name").fill("thumbs-down")
        page.keyboard.press("Enter")  # the name is the field's value before the button is clicked
        wait_idle(page)
        page.get_by_role("button", name="Save as eval set").click()
        expect(page.get_by_text("Saved 1 question as thumbs-down.jsonl")).to_be_visible(timeout=30_000)

        # run it on the Evaluation page, with one cheap metric
        page.get_by_role("link", name="Open the Evaluation page").click()
        expect(page.get_by_role("heading", name="Evaluation")).to_be_visible(timeout=60_000)
        run = page.get_by_test_id("stExpander").filter(has_text="Run an evaluation")  # open: no run yet
        eval_set = run.get_by_test_id("stSelectbox").filter(has_text="Eval set")
        wait_idle(page)
        eval_set.click()
        eval_set.get_by_role("combobox").fill("Saved: thumbs-down.jsonl")
        page.get_by_role("option", name="Saved: thumbs-down.jsonl").click()
        wait_idle(page)
        metrics = run.get_by_test_id("stMultiSelect").filter(has_text="Metrics")
        metrics.get_by_role("button", name="Clear all").click()
        wait_idle(page)
        metrics.get_by_role("combobox").fill("Answer relevancy")
        page.get_by_role("option", name=re.compile("Answer relevancy")).click()
        page.keyboard.press("Escape")
        wait_idle(page)
        page.get_by_role("button", name="Run evaluation").click()
        expect(page.get_by_role("combobox", name="Run", exact=True)).to_have_value(re.compile("thumbs-down.jsonl"),
                                                                                  timeout=ANSWER_MS)
        expect(page.get_by_text("1 of 1 scored").first).to_be_visible(timeout=60_000)

        # the Tune page's curves, on the labelled log
        page.goto(f"{url}/tune?run=question-log&gate=answer_check")
        page.get_by_role("tab", name="Coverage trade-offs").click(timeout=60_000)
        expect(page.get_by_text("Drawn on the question log's feedback")).to_be_visible(timeout=60_000)
        expect(page.get_by_role("tabpanel").get_by_test_id("stPlotlyChart").filter(visible=True)).to_have_count(1)
        page.screenshot(path=str(ARTIFACTS / "tune_labelled_log.png"), full_page=True)


def test_hostile_questions_answers_and_sources_in_the_log_render_as_text(settings: Settings, page: Page):
    log = QuestionLog(settings.question_log_db)
    seed(log, [make_answer(payload, payload, source=payload, passage=HOSTILE_TEXT) for payload in PAYLOADS])
    [whole] = seed(log, [make_answer(HOSTILE_TEXT, HOSTILE_TEXT, source=PAYLOADS[0], passage=HOSTILE_TEXT,
                                     supported=False)])
    log.set_feedback(whole, Feedback(rating="down", correction=HOSTILE_TEXT))
    hostile = f"a[href*='{ATTACKER}'], img[src*='{ATTACKER}'], a[href^='javascript'], script, iframe"
    with running_dashboard(FQA_DATA_DIR=str(settings.data_dir)) as url:
        offsite = block_offsite(page, url)
        page.goto(f"{url}/log?q={whole}")
        drill = page.locator(".st-key-log-drilldown")
        expect(drill).to_contain_text("Feedback: wrong answer", timeout=60_000)
        for expander in drill.get_by_test_id("stExpander").all():
            expander.locator("summary").click()
        page.wait_for_timeout(500)
        shown = text_of(drill)  # the question, the answer, the claim, the passage and the correction
        for payload in PAYLOADS:
            assert " ".join(payload.split()) in shown, payload
        wait_idle(page)
        box = page.get_by_test_id("stSelectbox").filter(has_text="Open a question")
        box.click()
        box.get_by_role("combobox").fill("#")  # typing opens the list, filtered to the questions
        expect(page.get_by_role("option").nth(3)).to_be_visible(timeout=10_000)  # the payloads, as options
        assert any(PAYLOADS[0] in text for text in page.get_by_role("option").all_inner_texts())
        body = page.locator("body")
        assert body.locator(hostile).count() == 0, body.locator(hostile).evaluate_all("e => e.map(x => x.outerHTML)")
        page.keyboard.press("Escape")
        page.get_by_role("tab", name="Over time").click()
        page.get_by_role("tab", name="Per configuration").click()
        page.wait_for_timeout(1000)
        assert body.locator(hostile).count() == 0, body.locator(hostile).evaluate_all("e => e.map(x => x.outerHTML)")
        assert drill.locator(ACTIVE).count() == 0, drill.locator(ACTIVE).evaluate_all("e => e.map(x => x.outerHTML)")
        assert offsite.requests == [], offsite.requests
        assert offsite.dialogs == [], offsite.dialogs
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "question_log_hostile.png"), full_page=True)
