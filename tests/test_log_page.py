"""The question log through Streamlit's AppTest: Ask answers logged with thumbs and corrections, the log page's
filters, drill-down, feedback and eval set, and the Tune page's curves drawn on the labelled log."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from evaluation.evalset import available_sets, load_eval_set
from evaluation.feedback import LOG_RUN
from pipeline.question_log import Feedback, QuestionLog
from tests.log_seed import make_answer, seed
from tests.test_pages import app, texts  # noqa: F401 - the dashboard with a scripted answering model

COLONY = "What was the name of the Florida Huguenot colony?"


def ask(app: AppTest, question: str) -> None:
    app.text_input(key="ask.question").input(question)
    app.button[0].click().run()
    assert not app.exception


def test_ask_page_logs_each_answer_and_keeps_thumbs_and_a_correction(app, sample_data):
    app.run()
    ask(app, COLONY)
    ask(app, "What is the capital of Australia?")  # the score gate abstains: logged too
    log = QuestionLog(sample_data.question_log_db)
    abstained, answered = log.entries()
    assert answered.question == COLONY and answered.via == "ask" and answered.answer == "The colony was named Fort Caroline."
    assert abstained.status == "abstained" and abstained.abstain_reason == "low_retrieval_score"
    assert [f.key for f in app.feedback] == [f"ask.feedback.{abstained.id}.thumbs.none",
                                            f"ask.feedback.{answered.id}.thumbs.none"]

    app.feedback[1].set_value(0).run()  # thumbs down on the colony answer
    assert log.entry(answered.id).feedback == Feedback(rating="down")
    assert app.feedback[1].key == f"ask.feedback.{answered.id}.thumbs.down" and app.feedback[1].value == 0
    app.text_input(key=f"ask.feedback.{answered.id}.correction").input("Fort Caroline, founded by Jean Ribault")
    app.button(key=f"FormSubmitter:ask.feedback.{answered.id}.form-Save correction").click().run()
    assert not app.exception
    assert log.entry(answered.id).feedback.correction == "Fort Caroline, founded by Jean Ribault"
    assert "Feedback: **wrong answer** · correct answer: “Fort Caroline, founded by Jean Ribault”" in texts(app.caption)

    app.radio(key=f"ask.feedback.{answered.id}.what").set_value(
        "said it does not know (the documents do not answer this)")
    app.button(key=f"FormSubmitter:ask.feedback.{answered.id}.form-Save correction").click().run()
    assert log.entry(answered.id).label == "should have abstained" and log.entry(answered.id).feedback.correction is None

    app.feedback[0].set_value(1).run()  # thumbs up on the abstention: right not to answer
    assert log.entry(abstained.id).label == "right to abstain"
    assert "Feedback: **right to abstain**" in texts(app.caption)
    app.feedback[0].set_value(None).run()  # and taken back
    assert log.entry(abstained.id).feedback is None


def test_with_the_log_off_the_ask_page_answers_logs_nothing_and_says_where_feedback_would_go(app, sample_data,
                                                                                          monkeypatch):
    monkeypatch.setenv("FQA_QUESTION_LOG", "false")
    app.run()
    ask(app, COLONY)
    assert "The colony was named Fort Caroline." in texts(app.success)
    assert not sample_data.question_log_db.exists() and not app.feedback
    assert "Feedback is kept in the question log, which is off (FQA_QUESTION_LOG=false)." in texts(app.caption)
    app.switch_page("views/log.py").run()
    assert "The question log is off" in texts(app.warning) and "No questions yet" in texts(app.info)


def test_log_page_empty_state(app, sample_data):
    app.run()
    app.switch_page("views/log.py").run()
    assert not app.exception
    assert app.title[0].value == "Question log" and "No questions yet" in texts(app.info)


def seeded(settings) -> tuple[QuestionLog, list[int]]:
    """Four answers: confirmed, flagged (thumbs down, corrected), withheld by the strict 1.5B, and the gate's."""
    log = QuestionLog(settings.question_log_db)
    ids = seed(log, [
        make_answer(COLONY, "The colony was named Fort Caroline.", p=0.93),
        make_answer("Who founded Fort Caroline?", "Napoleon founded it.", supported=False, p=0.3),
        make_answer("When did Fort Caroline reach Mars?", "In 1564.", supported=False, p=0.4,
                    abstain="unsupported_claims",
                    config={"llm_model": "qwen2.5-1.5b", "grounding_policy": "strict",
                            "grounding_answer_threshold": 0.85}),
        make_answer("What is the capital of Australia?", "", abstain="low_retrieval_score", similarity=0.2),
    ])
    log.set_feedback(ids[1], Feedback(rating="down", correction="Jean Ribault"))
    return log, ids


def test_log_page_filters_drills_into_an_answer_and_takes_feedback(app, sample_data):
    log, (confirmed, flagged, withheld, gated) = seeded(sample_data)
    app.run()
    app.switch_page("views/log.py").run()
    assert not app.exception
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Questions"] == "4" and metrics["Flagged"] == "1" and metrics["Withheld"] == "1"
    assert metrics["Abstained"] == "1" and metrics["Feedback"] == "1"
    table = app.dataframe(key="log.table").value
    assert list(table["id"]) == [gated, withheld, flagged, confirmed]
    assert list(table["status"]) == ["abstained", "withheld", "flagged", "answered"]
    assert table.loc[table["id"] == flagged, "feedback"].item() == "wrong answer"

    app.checkbox(key="log.flagged").check().run()
    assert list(app.dataframe(key="log.table").value["id"]) == [withheld, flagged]
    assert app.query_params["flagged"] == "1"
    app.checkbox(key="log.down").check().run()
    assert list(app.dataframe(key="log.table").value["id"]) == [flagged]
    app.checkbox(key="log.flagged").uncheck()
    app.checkbox(key="log.down").uncheck().run()
    app.multiselect(key="log.model").select("qwen2.5-1.5b").run()
    assert list(app.dataframe(key="log.table").value["id"]) == [withheld]
    assert app.query_params["model"] == "qwen2.5-1.5b"
    app.multiselect(key="log.model").unselect("qwen2.5-1.5b").run()

    app.selectbox(key="log.open.url").select(confirmed).run()  # the drill-down, remembered in the URL
    assert app.query_params["q"] == str(confirmed)
    shown = texts(app.markdown)
    assert f"**{COLONY}**" in shown and ":green[**supported**] The passages state the answer to the question." in shown
    assert "The colony was named Fort Caroline." in texts(app.success)
    assert any(e.label.startswith("[1] kb/huguenots.md") for e in app.expander)
    [thumbs] = app.feedback
    thumbs.set_value(1).run()
    assert log.entry(confirmed).label == "right answer"
    assert "Feedback: **right answer**" in texts(app.caption)
    app.selectbox(key="log.open.url").select(flagged).run()  # another question, then a rerun: it stays open
    app.checkbox(key="log.abstained").check().uncheck().run()
    assert "**Who founded Fort Caroline?**" in texts(app.markdown) and app.query_params["q"] == str(flagged)
    charts = app.get("plotly_chart")
    assert len(charts) == 4  # shares, P(supported), seconds, feedback: over time
    configs = next(d.value for d in app.dataframe if "configuration" in d.value.columns)
    assert set(configs["configuration"]) == {"qwen2.5-0.5b · annotate · cut 0.75", "qwen2.5-1.5b · strict · cut 0.85"}


def test_log_page_opens_the_question_in_the_url(app, sample_data):
    log, (_, flagged, *_) = seeded(sample_data)
    app.query_params["q"] = str(flagged)
    app.run()
    app.switch_page("views/log.py").run()
    assert "**Who founded Fort Caroline?**" in texts(app.markdown)
    assert app.text_input(key=f"log.feedback.{flagged}.correction").value == "Jean Ribault"


def test_chosen_log_rows_become_an_eval_set_the_evaluation_page_lists(app, sample_data):
    seeded(sample_data)
    app.run()
    app.switch_page("views/log.py").run()
    app.checkbox(key="log.down").check().run()
    assert "From the 1 row shown" in texts(app.caption)
    app.text_input(key="log.set_name").input("thumbs-down")
    app.button(key="log.save_set").click().run()
    assert not app.exception
    assert "Saved 1 question as thumbs-down.jsonl" in texts(app.success)
    [item] = load_eval_set(available_sets(sample_data)["Saved: thumbs-down.jsonl"])
    assert item.question == "Who founded Fort Caroline?" and item.reference == "Jean Ribault" and item.answerable
    app.button(key="log.save_set").click().run()  # the same name again: refused, the set left as it was
    assert "already exists" in texts(app.error)
    app.text_input(key="log.set_name").input("../escape").run()
    app.button(key="log.save_set").click().run()
    assert "is not a usable name" in texts(app.error)
    app.switch_page("views/evaluation.py").run()
    assert "Saved: thumbs-down.jsonl" in app.selectbox(key="eval.set").options


def test_tune_page_draws_the_coverage_curves_on_the_labelled_log(app, sample_data):
    log, (confirmed, flagged, withheld, gated) = seeded(sample_data)
    log.set_feedback(confirmed, Feedback(rating="up"))
    log.set_feedback(withheld, Feedback(rating="up"))  # right to withhold: the documents do not answer it
    app.run()
    app.switch_page("views/tune.py").run()
    assert not app.exception
    assert app.selectbox(key="tune.coverage_run").value == LOG_RUN  # the only "run": the labelled log
    assert "Drawn on the question log's feedback" in texts(app.caption)
    coverage = next(d.value for d in app.dataframe if "threshold" in d.value.columns)
    assert coverage["threshold"].iloc[0] == 0.4 and coverage["n_answered"].iloc[0] == 2  # confirmed and flagged
    app.radio(key="tune.coverage_gate").set_value("answer check P(supported)").run()
    coverage = next(d.value for d in app.dataframe if "threshold" in d.value.columns)
    # the strict 1.5B entry withheld below 0.85: the curve starts there, and keeps only the confirmed answer (P 0.93)
    assert coverage["threshold"].iloc[0] == 0.85 and coverage["n_answered"].iloc[0] == 1
    assert coverage["answer_accuracy"].iloc[0] == 0.5
