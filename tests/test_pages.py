"""Every dashboard page through Streamlit's AppTest, on the real sample KB, with a scripted LLM."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from streamlit.testing.v1 import AppTest

from evaluation.runstore import RunStore, SampleRow
from tests.apptest import fresh_app, run_ingest, texts
from tests.conftest import free_port
from ui import resources


@pytest.fixture
def app(settings, monkeypatch) -> Iterator[AppTest]:
    monkeypatch.setattr(resources, "chat_model", lambda config: FakeListChatModel(responses=["The colony was named Fort Caroline."]))
    with fresh_app() as app:
        yield app



def test_ask_page_shows_an_empty_state_when_nothing_is_ingested(app):
    app.run()
    assert not app.exception
    assert app.title[0].value == "Ask your documents"
    assert "knowledge base is empty" in texts(app.info)


def test_ask_page_answers_with_a_citation(app, sample_data):
    app.run()
    assert app.sidebar.selectbox(key="ask.collection").value == "sample"
    app.text_input(key="ask.question").input("What was the name of the Florida Huguenot colony?")
    app.button[0].click().run()
    assert not app.exception
    assert "The colony was named Fort Caroline." in texts(app.success)
    labels = [e.label for e in app.expander]
    assert any(label.startswith("[") and "kb/huguenots.md" in label for label in labels), labels


def ask_scripted(app, monkeypatch, answer: str, judge_replies: list[str]) -> str:  # noqa: ANN001
    """Ask the colony question with a scripted answering model and judge; the page's Markdown, joined."""
    from pipeline.grounding import JUDGE_MAX_TOKENS

    def scripted(config):
        if config.llm_max_tokens == JUDGE_MAX_TOKENS:
            return FakeListChatModel(responses=judge_replies)
        return FakeListChatModel(responses=[answer])

    monkeypatch.setattr(resources, "chat_model", scripted)
    app.run()
    app.text_input(key="ask.question").input("What was the name of the Florida Huguenot colony?")
    app.button[0].click().run()
    assert not app.exception
    return texts(app.markdown)


def test_ask_page_shows_the_grounding_badge_marked_claims_and_highlighted_span(app, sample_data, monkeypatch):
    # two claims, the second names what no passage mentions; the judge answers the answer check, then the one
    # claim the term veto leaves
    shown = ask_scripted(app, monkeypatch, "The colony was named Fort Caroline. Napoleon founded it in 1802.",
                         ['{"supported": true}', '{"verdict": "supported"}'])
    assert "1/2 claims supported" in shown
    assert ":green[**supported**] The colony was named Fort Caroline." in shown
    assert ":red[**not supported**] Napoleon founded it in 1802." in shown
    assert "not in the passages: Napoleon, 1802" in shown
    assert ":green[**supported**] The passages state the answer to the question." in shown
    chunks = [e.proto.body for e in app.get("html")]
    assert any("<mark>" in body and "Fort Caroline" in body.split("<mark>")[1].split("</mark>")[0] for body in chunks)


def test_ask_page_strict_policy_withholds_the_answer(app, sample_data, monkeypatch):
    # the answer names what the passages never mention: the term veto rules the claim out with no judge call, and
    # the judge is asked only whether the passages answer the question
    replies = {"qwen2.5-0.5b": ["Napoleon founded it in 1802."], "qwen2.5-1.5b": ['{"supported": false}']}
    monkeypatch.setattr(resources, "chat_model", lambda config: FakeListChatModel(responses=replies[config.llm_model]))
    app.run()
    app.sidebar.radio(key="ask.grounding").set_value("strict")
    app.sidebar.slider(key="ask.answer_cut.judge").set_value(0.85)
    app.text_input(key="ask.question").input("What was the name of the Florida Huguenot colony?")
    app.button[0].click().run()
    assert not app.exception
    assert "I don't know based on the provided documents." in texts(app.warning)
    stored = app.session_state["ask.history"][0]  # the sidebar's cut is the one the answer check used, and recorded
    assert stored["grounding"]["answer_check"]["threshold"] == 0.85 and stored["config"]["grounding_answer_threshold"] == 0.85
    assert ("withheld (strict grounding policy): 1 of 1 claims lacked support in the passages; the passages do not "
            "state the answer to the question.") in texts(app.caption)
    assert "Napoleon founded it in 1802." not in texts(app.success)


def test_ask_page_abstains_on_an_uncovered_question(app, sample_data):
    app.run()
    app.text_input(key="ask.question").input("What is the capital of Australia?")
    app.button[0].click().run()
    assert "I don't know based on the provided documents." in texts(app.warning)
    assert "so the model was not asked" in texts(app.caption)


def test_ask_page_explains_a_dead_llm_endpoint(app, sample_data, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")
    from pipeline.llm import make_chat_model
    monkeypatch.setattr(resources, "chat_model", make_chat_model)
    app.run()
    app.text_input(key="ask.question").input("What was the name of the Florida Huguenot colony?")
    app.button[0].click().run()
    assert not app.exception
    assert "is not reachable" in texts(app.error)


def test_knowledge_base_page_lists_collections_and_ingests_the_sample(app, sample_data):
    app.run()
    app.switch_page("views/knowledge_base.py").run()
    assert not app.exception
    assert app.title[0].value == "Knowledge base"
    table = app.dataframe[0].value
    assert list(table["name"]) == ["sample"] and table["chunks"][0] > 20
    app.text_input(key="kb.collection").set_value("second")
    app.checkbox(key="kb.sample").check()
    run_ingest(app)
    assert "6 added, 0 unchanged, 0 failed" in texts(app.success)


def test_knowledge_base_page_refuses_overlap_larger_than_size(app, sample_data):
    app.run()
    app.switch_page("views/knowledge_base.py").run()
    app.number_input(key="kb.size").set_value(100)
    app.number_input(key="kb.overlap").set_value(200)
    app.checkbox(key="kb.sample").check()
    app.button[0].click().run()
    assert "must be smaller than chunk_size" in texts(app.error)


def test_evaluation_page_empty_state(app, sample_data):
    app.run()
    app.switch_page("views/evaluation.py").run()
    assert not app.exception
    assert "No evaluation runs yet" in texts(app.info)


def _stored_run(settings) -> str:
    runs = RunStore(settings.runs_db)
    run_id = runs.create_run("sample.jsonl", 3, {"top_k": 4, "llm_model": "qwen2.5-0.5b",
                                                  "metrics": ["faithfulness", "answer_relevancy"]})
    rows = [
        ("What was the name of the Florida Huguenot colony?", "Fort Caroline.", "answered", [0.9, 0.8]),
        ("In what year was Fort Coligny built?", "It was built in 1560.", "hallucinated_answer", [0.0, None]),
        ("What is the capital of Australia?", "I don't know based on the provided documents.", "correct_abstention", None),
    ]
    for idx, (question, answer, outcome, scores) in enumerate(rows):
        if scores is None:
            metrics = [{"metric": m, "status": "skipped", "score": None, "reason": "answer is an abstention", "seconds": 0}
                       for m in ("faithfulness", "answer_relevancy")]
        else:
            metrics = [{"metric": "faithfulness", "status": "scored", "score": scores[0], "reason": None, "seconds": 20},
                       {"metric": "answer_relevancy", "status": "scored" if scores[1] is not None else "failed",
                        "score": scores[1], "reason": None if scores[1] is not None else "judge returned unparseable output",
                        "seconds": 30}]
        runs.add_sample(run_id, SampleRow(idx=idx, item_id=str(idx), question=question, reference=None, answerable=None,
                                          kind=None, answer=answer, abstained=scores is None, abstain_reason=None,
                                          outcome=outcome, contexts=[], metrics=metrics, error=None, seconds=5.0))
    runs.finish_run(run_id)
    return run_id


def test_evaluation_page_charts_a_stored_run(app, sample_data):
    run_id = _stored_run(sample_data)
    app.run()
    app.switch_page("views/evaluation.py").run()
    assert not app.exception
    assert app.selectbox(key="eval.run_id").value == run_id
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Faithfulness"] == "0.45" and metrics["Answer relevancy"] == "0.80"
    assert metrics["Hallucinated answers"] == "1"
    assert "2 of 3 scored" in texts(app.caption) and "1 of 3 scored" in texts(app.caption)
    charts = app.get("plotly_chart")
    assert len(charts) == 4  # distributions, abstention matrix, scores per question, trend
    table = next(d.value for d in app.dataframe if "notes" in d.value.columns)
    assert "answer_relevancy failed: judge returned unparseable output" in table["notes"][1]


def test_ask_page_shows_a_one_sentence_answer_judged_once_on_one_line(app, sample_data, monkeypatch):
    # one judge call: the answer check, whose verdict the single claim takes
    shown = ask_scripted(app, monkeypatch, "The colony was named Fort Caroline.", ['{"supported": true}'])
    assert ":green[**supported**] The colony was named Fort Caroline." in shown
    assert "one sentence, judged once: do the passages state the answer to the question?" in shown
    assert "The passages state the answer to the question." not in shown  # no second line saying the same


def answering_models(monkeypatch) -> list[str]:  # noqa: ANN001 - pytest's MonkeyPatch
    """The models the Ask page asks for answers (not for checks), each answer scripted."""
    from pipeline.grounding import JUDGE_MAX_TOKENS

    asked: list[str] = []

    def scripted(config):
        if config.llm_max_tokens != JUDGE_MAX_TOKENS:
            asked.append(config.llm_model)
        return FakeListChatModel(responses=["The colony was named Fort Caroline."])

    monkeypatch.setattr(resources, "chat_model", scripted)
    return asked


def ask_with(app, model: str) -> dict:  # noqa: ANN001 - an AppTest
    """Choose the answering model, ask the sample question; the configuration stored with the answer."""
    app.sidebar.radio(key="ask.model").set_value(model).run()
    app.text_input(key="ask.question").input("What was the name of the Florida Huguenot colony?")
    app.button[0].click().run()
    assert not app.exception
    return app.session_state["ask.history"][0]["config"]


def test_ask_page_answers_with_the_judges_model_when_chosen(app, sample_data, monkeypatch):
    asked = answering_models(monkeypatch)
    app.run()
    choice = app.sidebar.radio(key="ask.model")
    assert choice.options == ["qwen2.5-0.5b", "qwen2.5-1.5b (also the judge)"] and choice.value == "qwen2.5-0.5b"
    assert app.sidebar.slider(key="ask.answer_cut.judge").value == 0.75
    stored = ask_with(app, "qwen2.5-1.5b")
    assert app.sidebar.slider(key="ask.answer_cut.self").value == 0.87  # a judge checking its own model: higher cut
    assert asked == ["qwen2.5-1.5b"]
    assert (stored["llm_model"], stored["answer_cut"]) == ("qwen2.5-1.5b", 0.87)  # stored with the answer


def test_by_default_the_ask_page_answers_with_the_1_5b_and_offers_the_fast_0_5b(app, sample_data, monkeypatch):
    monkeypatch.delenv("FQA_LLM_MODEL")  # the shipped default, not the tests' pairing
    asked = answering_models(monkeypatch)
    app.run()
    choice = app.sidebar.radio(key="ask.model")
    assert choice.options == ["qwen2.5-1.5b (also the judge)", "qwen2.5-0.5b"] and choice.value == "qwen2.5-1.5b"
    assert app.sidebar.slider(key="ask.answer_cut.self").value == 0.87
    stored = ask_with(app, "qwen2.5-0.5b")
    assert app.sidebar.slider(key="ask.answer_cut.judge").value == 0.75
    assert asked == ["qwen2.5-0.5b"]
    assert (stored["llm_model"], stored["context_tokens"]) == ("qwen2.5-0.5b", 160)  # reads the best sentences
