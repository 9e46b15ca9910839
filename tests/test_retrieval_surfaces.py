"""The retrieval toggles where people set them: CLI flags and the Ask page sidebar (real sample KB)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from streamlit.testing.v1 import AppTest

from pipeline.__main__ import main
from tests.apptest import fresh_app
from ui import resources

OFF_TOPIC = "Where are clinical pharmacists not allowed to work with patients?"


def test_cli_flags_choose_the_retrieval_strategy_and_are_recorded(sample_data, capsys):
    assert main([OFF_TOPIC, "--mode", "hybrid", "--rerank", "cheap", "--expand", "none", "--fetch-k", "8",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["abstained"] and out["abstain_reason"] == "low_retrieval_score"
    assert {k: out["config"][k] for k in ("retrieval_mode", "rerank", "query_expansion", "fetch_k")} == {
        "retrieval_mode": "hybrid", "rerank": "cheap", "query_expansion": "none", "fetch_k": 8}


def test_cli_reports_the_cosine_not_the_fusion_score_when_it_abstains(sample_data, capsys):
    assert main([OFF_TOPIC, "--mode", "hybrid"]) == 0
    out = capsys.readouterr().out
    best = float(out.split("best retrieval score ")[1].split(",")[0])
    assert 0.0 < best < sample_data.min_score


def test_cli_rejects_bad_retrieval_flags_with_a_message(sample_data, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["q", "--mode", "sparse"])
    assert exited.value.code == 2 and "invalid choice: 'sparse'" in capsys.readouterr().err
    assert main(["q", "--fetch-k", "0"]) == 2
    assert "fetch_k" in capsys.readouterr().err
    assert main(["q", "--answer-cut", "1.5"]) == 2
    err = capsys.readouterr().err
    assert "grounding_answer_threshold" in err and "less than or equal to 1" in err


@pytest.fixture
def app(settings, monkeypatch) -> Iterator[AppTest]:
    monkeypatch.setattr(resources, "chat_model",
                        lambda config: FakeListChatModel(responses=["The colony was named Fort Caroline [1]."]))
    with fresh_app() as app:
        yield app


def test_ask_sidebar_toggles_shape_the_answer_and_are_recorded_with_it(app, sample_data):
    app.run()
    assert app.selectbox(key="ask.retrieval.mode").value == "hybrid"  # the defaults, from the settings
    assert app.selectbox(key="ask.retrieval.rerank").value == "cheap"
    assert app.slider(key="ask.retrieval.mmr_lambda").disabled
    app.selectbox(key="ask.retrieval.mode").set_value("mmr").run()
    assert not app.slider(key="ask.retrieval.mmr_lambda").disabled
    app.selectbox(key="ask.retrieval.mode").set_value("hybrid")
    app.selectbox(key="ask.retrieval.rerank").set_value("none").run()
    app.slider(key="ask.retrieval.fetch_k").set_value(8)
    app.text_input(key="ask.question").input("What was the name of the Florida Huguenot colony?")
    app.button[0].click().run()
    assert not app.exception
    answer = app.session_state["ask.history"][0]
    assert "Fort Caroline" in answer["answer"] and not answer["abstained"]
    assert {k: answer["config"][k] for k in ("retrieval_mode", "rerank", "fetch_k")} == {
        "retrieval_mode": "hybrid", "rerank": "none", "fetch_k": 8}
    assert any("Fort Caroline" in c["text"] for c in answer["contexts"])
