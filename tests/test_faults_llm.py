"""LLM endpoint faults: down, slower than the timeout, HTTP 500, a dropped connection, malformed judge JSON.

The real llama-server answers behind tests/fault_proxy.py, which injects what a healthy server never does. Each
fault must end, after a bounded number of tries, in a message a person can act on; a fault that passes must
not leave anything behind (the page answers again, the judge keeps asking for json_schema).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from evaluation.metrics import Judge, MetricName
from ingest.store import StoredChunk
from pipeline.chain import answer_question
from pipeline.grounding import CheckInput, check_grounding, claim_evidence, judge_settings
from pipeline.llm import LLMError, make_chat_model, structured_mode
from settings import Settings
from tests.apptest import fresh_app, texts
from tests.conftest import ANSWER_MODEL, JUDGE_MODEL, free_port, open_store
from tests.fault_proxy import FaultProxy, fault_proxy

pytestmark = pytest.mark.llm
QUESTION = "What was the name of the Florida Huguenot colony?"
PASSAGE = StoredChunk(id="c1", source="kb/huguenots.md", chunk_index=0, start=0, end=90,
                      text="In 1564 French Huguenots founded Fort Caroline, a colony in what is now Florida.")


@pytest.fixture
def proxy(llm_base_url: str) -> Iterator[FaultProxy]:
    with fault_proxy(llm_base_url, free_port()) as running:
        yield running


@pytest.fixture
def faulty(sample_data: Settings, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The sample knowledge base, the LLM behind the proxy, no grounding check (one model call per answer)."""
    monkeypatch.setenv("OPENAI_BASE_URL", proxy.base_url)
    monkeypatch.setenv("FQA_GROUNDING_POLICY", "off")
    return sample_data.with_overrides(openai_base_url=proxy.base_url, grounding_policy="off", llm_max_tokens=48)


def _ask(settings: Settings, embedder) -> tuple[str, float]:  # noqa: ANN001 - the session's embedder
    """Ask the sample question; the LLMError's message (or "" for an answer) and the seconds it took."""
    store = open_store(settings)
    started = time.monotonic()
    try:
        answer_question(settings, store, embedder, make_chat_model(settings), QUESTION)
    except LLMError as exc:
        return str(exc), time.monotonic() - started
    finally:
        store.client.close()
    return "", time.monotonic() - started


@pytest.mark.parametrize(("fault", "message", "tries"), [
    ("500", "answered HTTP 500 (2 tries)", 2),
    ("delay", "did not answer within 2 s (2 tries)", 2),
    ("drop", "dropped the connection before the answer was complete", 1),  # mid-stream: tokens were shown, no retry
])
def test_a_failing_endpoint_ends_in_a_clear_error_after_bounded_tries(faulty, proxy, embedder, fault, message, tries):
    proxy.inject(fault, delay_s=6.0)
    error, seconds = _ask(faulty.with_overrides(llm_timeout_s=2.0 if fault == "delay" else 120.0), embedder)
    assert message in error, error
    assert len(proxy.plan.chat(ANSWER_MODEL)) == tries  # llm_retries (1) more after the first, then the message
    assert seconds < 60  # the real server reads the prompt before the drop; 500 and delay take about 2 and 5 s


def test_one_server_error_is_retried_after_a_pause_and_the_answer_comes(faulty, proxy, embedder):
    proxy.inject("500", times=1)
    error, _ = _ask(faulty, embedder)
    assert error == ""
    assert [r.faulted for r in proxy.plan.chat(ANSWER_MODEL)] == ["500", None]


def test_the_ask_page_explains_a_stopped_endpoint_and_answers_once_it_is_back(faulty, proxy):
    with fresh_app(timeout=240) as app:
        app.run()
        assert app.sidebar.radio(key="ask.grounding").value == "off"
        proxy.stop()  # connection refused, as from a stopped server
        app.text_input(key="ask.question").input(QUESTION)
        app.button[0].click().run()
        assert not app.exception
        assert "is not reachable (2 tries)" in texts(app.error), texts(app.error)
        assert not app.session_state["ask.history"]

        proxy.start()  # the same address answers again: the same page, the same question, an answer
        app.button[0].click().run()
        assert not app.exception and not app.error
        [answer] = app.session_state["ask.history"]
        assert answer["question"] == QUESTION and answer["answer"].strip()


@pytest.mark.parametrize(("fault", "reason", "calls_per_verdict"), [
    ("malformed", "not the verdict JSON (2 tries)", 2),  # grounding_retries asks
    ("500", "answered HTTP 500 (2 tries)", 4),  # json_schema twice, then JSON mode twice (a refusal?): no more
])
def test_a_failing_grounding_judge_leaves_claims_unchecked_with_the_reason(settings, proxy, embedder, fault, reason,
                                                                           calls_per_verdict):
    config = settings.with_overrides(openai_base_url=proxy.base_url, grounding_policy="annotate")
    judge = make_chat_model(judge_settings(config))
    claims = ["The colony was named Fort Caroline."]
    signals, _ = claim_evidence(claims, [PASSAGE], embedder, QUESTION)
    item = CheckInput(question=QUESTION, context=f"[1] {PASSAGE.text}", answer=claims[0])
    proxy.inject(fault, model=JUDGE_MODEL)

    grounding = check_grounding(config, item, claims, signals, judge)

    assert grounding.answer_check.verdict == "unchecked" and reason in grounding.answer_check.reason
    [claim] = grounding.claims
    assert claim.verdict == "unchecked" and reason in claim.reason, claim.reason
    assert "1 unchecked" in grounding.summary and not grounding.fully_supported
    assert len(proxy.plan.chat(JUDGE_MODEL)) == 2 * calls_per_verdict
    # a server failing every request did not refuse json_schema: the next answer's check asks for it again
    assert structured_mode(config, JUDGE_MODEL) == "json_schema"


@pytest.mark.parametrize(("fault", "reason", "calls"), [
    ("malformed", "judge returned unparseable output after 3 tries", 3),  # Instructor re-asks twice
    ("500", "judge HTTP error 500 after 2 attempts", 4),  # each attempt: json_schema, then JSON mode
    ("drop", "judge unreachable after 2 attempts", 2),
    ("delay", "judge timed out after 2 attempts", 2),
])
def test_a_failing_ragas_judge_fails_the_metric_with_the_reason_after_bounded_tries(settings, proxy, embedder, fault,
                                                                                    reason, calls):
    # the default timeout otherwise: the recovery call below waits its turn on a shared, busy server
    config = settings.with_overrides(openai_base_url=proxy.base_url, judge_timeout_s=2.0 if fault == "delay" else 300.0)
    judge = Judge(config, embedder)
    proxy.inject(fault, delay_s=6.0)

    [result] = asyncio.run(judge.score(QUESTION, "The colony was named Fort Caroline.", [PASSAGE.text],
                                       [MetricName.ANSWER_RELEVANCY], abstained=False))

    assert result.status == "failed" and result.score is None
    assert result.reason.startswith(reason), result.reason
    assert len(proxy.plan.chat(JUDGE_MODEL)) == calls
    assert judge.mode == "json_schema" and structured_mode(config, JUDGE_MODEL) == "json_schema"

    if fault != "500":
        return
    proxy.clear()  # the fault is gone: the same judge scores (once: each real judge call costs seconds)
    [result] = asyncio.run(judge.score(QUESTION, "The colony was named Fort Caroline.", [PASSAGE.text],
                                       [MetricName.ANSWER_RELEVANCY], abstained=False))
    assert result.status == "scored", result.reason


def test_a_real_server_stopped_between_two_questions_is_named_with_what_to_do(sample_data, llm_base_url, embedder,
                                                                            tmp_path):
    """Not the proxy: a llama-server of its own (the answering model only), asked once, then stopped."""
    from ops import llm_server

    port = free_port()
    proc, url = llm_server.start(Settings(openai_base_url=f"http://127.0.0.1:{port}/v1"), [ANSWER_MODEL], port=port,
                                 workdir=tmp_path)
    settings = sample_data.with_overrides(openai_base_url=url, grounding_policy="off", llm_max_tokens=32)
    try:
        assert proc is not None and _ask(settings, embedder)[0] == ""
    finally:
        llm_server.terminate(proc.pid)
    error, seconds = _ask(settings, embedder)
    assert f"The LLM endpoint {url} is not reachable" in error and "OPENAI_BASE_URL" in error, error
    assert seconds < 60  # refused at once and tried once more after a short backoff: no waiting out a timeout
