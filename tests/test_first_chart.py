"""The first chart (issue 24): on a data folder without one, the dashboard answers and judges a few bundled sample
questions in the background and the Evaluation page draws their faithfulness, labelled, without a click."""

from __future__ import annotations

import re
import time

import pytest
import streamlit as st

from evaluation.runstore import RunStore, SampleRow
from tests.apptest import fresh_app
from tests.browser import ARTIFACTS, chromium_page, running_dashboard, wait_idle
from tests.test_eval_runner import fake_llm  # noqa: F401 - a fixture
from ui import first_chart, jobs


@pytest.fixture
def first_chart_env(sample_data, fake_llm, monkeypatch):  # noqa: F811 - the fixture above
    monkeypatch.setenv("OPENAI_BASE_URL", fake_llm.base_url)
    monkeypatch.setenv("FQA_JUDGE_BASE_URL", fake_llm.base_url)
    monkeypatch.setenv("FQA_FIRST_CHART_QUESTIONS", "2")
    return sample_data


def _wait(job: jobs.Job | None) -> None:
    assert job is not None, "the first chart was not started"
    assert job.done.wait(180) and job.error is None, job.error


def test_the_dashboard_makes_the_first_chart_by_itself_and_the_evaluation_page_draws_it(first_chart_env, fake_llm):  # noqa: F811
    with fresh_app() as app:
        app.run()  # any page: here the Ask page, usable while the chart is made
        assert not app.exception and app.text_input(key="ask.question")
        _wait(jobs.registry().latest(first_chart.KEY))
        app.switch_page("views/evaluation.py").run()
        assert not app.exception
        assert "First look: faithfulness on the bundled sample" in [h.value for h in app.subheader]
        assert any(c.proto.id.endswith("eval.first_chart_plot") for c in app.get("plotly_chart"))
        caption = " ".join(c.value for c in app.caption)
        assert "Computed by this dashboard on" in caption and "first 2 questions of the bundled sample set" in caption
        assert "`qwen2.5-0.5b`" in caption and "`qwen2.5-1.5b`" in caption and "top-k 4" in caption
        run = first_chart.first_run(RunStore(first_chart_env.runs_db))
        assert (run.status, run.n_done, run.config["metrics"], run.config["first_chart"]) == (
            "completed", 2, ["faithfulness"], True)
    requests = len(fake_llm.chat_requests)
    st.cache_resource.clear()
    with fresh_app() as again:  # the next start of the dashboard: made already, not again
        again.run()
        assert jobs.registry().latest(first_chart.KEY) is None and len(fake_llm.chat_requests) == requests


def test_an_interrupted_first_chart_is_resumed_on_the_next_start(first_chart_env):
    runs = RunStore(first_chart_env.runs_db)
    run_id = runs.create_run("sample.jsonl", 2, {"first_chart": True, "metrics": ["faithfulness"],
                                                "eval_set_path": "samples/eval/sample.jsonl",
                                                "settings": first_chart_env.storable()})
    runs.add_sample(run_id, SampleRow(idx=0, item_id="x", question="q?", reference=None, answerable=True,
                                      kind="answerable", answer="a", abstained=False, abstain_reason=None,
                                      outcome="answered", contexts=[], metrics=[], error=None, seconds=1.0))
    runs.finish_run(run_id, "failed", "interrupted: the dashboard was stopped")
    with fresh_app() as app:
        app.run()
        _wait(jobs.registry().latest(first_chart.KEY))
    assert [(r.id, r.status, r.n_done) for r in runs.runs()] == [(run_id, "completed", 2)]


def test_turned_off_it_is_not_made(sample_data):
    with fresh_app() as app:  # the suite's default: FQA_FIRST_CHART_QUESTIONS=0 (tests/conftest.py)
        app.run()
        app.switch_page("views/evaluation.py").run()
        assert jobs.registry().latest(first_chart.KEY) is None and RunStore(sample_data.runs_db).runs() == []
        assert "First look: faithfulness on the bundled sample" not in [h.value for h in app.subheader]


@pytest.mark.llm
@pytest.mark.browser
def test_a_fresh_data_folder_shows_a_real_faithfulness_chart_without_a_click(sample_data, llm_base_url):
    """The real models: the Evaluation page of a new data folder (the sample ingested, as `make run` leaves it)
    draws the first chart by itself, within the time the page says (allowing for a machine busier than the one
    those seconds were measured on)."""
    with running_dashboard(FQA_FIRST_CHART_QUESTIONS="1", OPENAI_BASE_URL=llm_base_url) as url, \
            chromium_page(height=1400) as page:
        page.goto(f"{url}/evaluation")
        wait_idle(page)
        box = page.locator(".st-key-eval-first_chart")
        box.wait_for(timeout=120_000)
        said = re.search(r"take about (\d+) min", box.inner_text())
        assert said, box.inner_text()
        began = time.monotonic()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "first_chart_progress.png"), full_page=True)
        box.get_by_text("Status: completed").wait_for(timeout=(3 * int(said.group(1)) * 60 + 120) * 1000)
        assert box.locator(".js-plotly-plot").count() == 1
        text = box.inner_text()
        assert "Computed by this dashboard on" in text and "qwen2.5-0.5b" in text and "qwen2.5-1.5b" in text
        page.screenshot(path=str(ARTIFACTS / "first_chart.png"), full_page=True)
        print(f"first chart drawn {time.monotonic() - began:.0f} s after the page said about {said.group(1)} min")
