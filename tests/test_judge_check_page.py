"""The Evaluation page's "Can this judge be trusted?" section through AppTest: a stored report, the empty state, and a
check run from the page (fake OpenAI server as the judge) whose report the section then shows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from evaluation.judge_check import latest_report, save_report
from tests import test_eval_runner
from tests.apptest import fresh_app
from tests.test_eval_pages import texts
from tests.test_judge_check import judged_results, stored_report
from ui import jobs

eval_settings, fake_llm = test_eval_runner.eval_settings, test_eval_runner.fake_llm


@pytest.fixture
def app(sample_data) -> Iterator[AppTest]:
    with fresh_app() as app:
        yield app


def open_page(app: AppTest) -> AppTest:
    app.run()
    app.switch_page("views/evaluation.py").run()
    assert not app.exception
    return app


def trust_expander(app: AppTest):
    return next(e for e in app.expander if e.label.startswith("Can this judge be trusted?"))


def test_the_section_shows_the_stored_report_its_baseline_and_a_verdict_in_words(app, sample_data):
    save_report(sample_data, stored_report(sample_data, judged_results()))
    open_page(app)
    section = trust_expander(app)
    assert section.label.endswith("agrees with labels on 75 %")
    warning = texts(section.warning)
    assert "75 % of answers" in warning and "worse than answer length alone (100 %)" in warning
    table = next(d.value for d in section.dataframe if "balanced accuracy" in d.value.columns).set_index("scorer")
    assert table.loc["Grounding check", "balanced accuracy"] == 0.75
    assert table.loc["Answer length (no judge)", "balanced accuracy"] == 1.0
    assert table.loc["Term veto alone (no LLM)", "scored"] == 8
    captions = texts(section.caption)
    assert f"Grounding judge qwen2.5-1.5b at {sample_data.openai_base_url}" in captions and "2026-12-01 12:30:00" in captions
    # a confusion matrix for the judge and one for the length baseline beside it
    charts = [c for c in section.get("plotly_chart")]
    assert len(charts) == 2
    assert "configured judge has changed" not in warning  # the report is about the configured judge


def test_a_report_about_another_judge_says_so(app, sample_data, monkeypatch):
    save_report(sample_data, stored_report(sample_data, judged_results()))
    monkeypatch.setenv("FQA_GROUNDING_THRESHOLD", "0.6")
    open_page(app)
    assert "configured judge has changed" in texts(trust_expander(app).warning)


def test_without_a_report_the_section_says_how_to_make_one(app):
    open_page(app)
    section = trust_expander(app)
    assert section.label == "Can this judge be trusted?"
    info = texts(section.info)
    assert "No judge check has been run yet" in info and "python -m evaluation judge-check" in info
    assert app.button(key="trust.run") is not None and app.number_input(key="trust.n").value == 10


def test_a_check_run_from_the_page_runs_in_the_background_and_its_report_is_shown(app, eval_settings, fake_llm):
    open_page(app)
    app.number_input(key="trust.n").set_value(1).run()
    app.button(key="trust.run").click().run()
    assert not app.exception
    job = jobs.registry().get(app.session_state["eval.trust_job"])
    assert job.done.wait(120), "the judge check did not finish"
    assert job.error is None
    app.run()
    assert not app.exception
    report = latest_report(eval_settings)
    assert report is not None and report.n_questions == 1 and report.n_answers == 2
    assert report.judge.grounding_endpoint == fake_llm.base_url
    assert fake_llm.requests_for("qwen2.5-1.5b"), "the grounding judge was never asked"
    section = trust_expander(app)
    assert "Can this judge be trusted?: the grounding check agrees with labels on" in section.label
    assert f"2 answers of 1 questions" in texts(section.caption)
