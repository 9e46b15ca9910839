"""The Ragas scoring core against real components: the local llama.cpp judge and a misbehaving stdlib server.

No mocks of Ragas: a tiny OpenAI-compatible HTTP server plays a broken judge so every failure path runs
through Ragas, Instructor and the openai client for real.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math

import pytest

from evaluation.cache import ResultCache
from evaluation.metrics import ANSWER_RELEVANCY_STRICTNESS, Judge, JudgeUnavailableError, MetricName, MetricResult
from settings import Settings
from tests.conftest import free_port
from tests.fake_openai import serving

log = logging.getLogger(__name__)

F, AR = MetricName.FAITHFULNESS, MetricName.ANSWER_RELEVANCY
JUDGE_ALIAS = "qwen2.5-1.5b"


def _settings(base_url: str, **extra: object) -> Settings:
    return Settings(judge_base_url=base_url, judge_api_key="local", judge_model=JUDGE_ALIAS, **extra)


def _assert_well_formed(result: MetricResult) -> None:
    assert result.seconds >= 0
    if result.status == "scored":
        assert result.score is not None and 0.0 <= result.score <= 1.0 and not math.isnan(result.score)
    else:
        assert result.score is None
        assert result.reason and result.reason.strip()


@pytest.fixture
def embeddings(embedder):
    return embedder


# --------------------------------------------------------------------------- a broken judge, in-process

@pytest.fixture()
def fake_judge():
    with serving() as server:
        yield server


QUESTION = "What is the capital of France?"
CONTEXT = ["Paris is the capital and largest city of France."]


async def _score_all(judge: Judge, samples: list[dict], metrics: list[MetricName]) -> list[list[MetricResult]]:
    try:
        return [await judge.score(metrics=metrics, **s) for s in samples]
    finally:
        await judge.aclose()


def test_unparseable_judge_output_fails_that_metric_only(fake_judge, embeddings):
    judge = Judge(_settings(fake_judge.base_url), embeddings)
    judge.check()  # the fake server is "up"
    samples = [
        # garbage for every call of this sample (the answer is in every prompt of both metrics)
        dict(question=QUESTION, answer="Paris. GARBAGE", contexts=CONTEXT, abstained=False),
        # garbage only for the NLI step (the context is only in that prompt): answer relevancy unaffected
        dict(question=QUESTION, answer="Paris.", contexts=["GARBAGE " + CONTEXT[0]], abstained=False),
        # a well-behaved sample after the failures: unaffected
        dict(question=QUESTION, answer="Paris is the capital of France.", contexts=CONTEXT, abstained=False),
        # the judge extracts no statements: Ragas returns NaN, we report a failure
        dict(question=QUESTION, answer="Paris. NOSTATEMENTS", contexts=CONTEXT, abstained=False),
    ]
    results = asyncio.run(_score_all(judge, samples, [F, AR]))
    for sample_results in results:
        assert [r.metric for r in sample_results] == [F, AR]
        for r in sample_results:
            _assert_well_formed(r)
            log.info("%s %s %s %s", r.metric.value, r.status, r.score, r.reason)

    (f0, ar0), (f1, ar1), (f2, ar2), (f3, ar3) = results
    for r in (f0, ar0, f1):
        assert r.status == "failed"
        assert r.reason.startswith("judge returned unparseable output after 3 tries"), r.reason
    assert ar1.status == "scored" and ar1.score > 0.9  # same question generated back
    assert f2.status == "scored" and f2.score == 1.0
    assert ar2.status == "scored" and ar2.score > 0.9
    assert f3.status == "failed" and "no statements" in f3.reason
    assert ar3.status == "scored"
    # per sample: faithfulness 1 call + 2 re-asks when the first call fails, answer relevancy one call per question
    n = ANSWER_RELEVANCY_STRICTNESS
    assert len(fake_judge.chat_requests) == 3 + 3 + (1 + n) + 3 + 2 + n + 1 + n
    sent = fake_judge.chat_requests[-1]
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["max_tokens"] == 512 and sent["model"] == JUDGE_ALIAS


def _formats(server) -> list[str]:
    return [r["response_format"]["type"] for r in server.chat_requests]


def test_one_samples_metrics_are_judged_side_by_side_up_to_the_configured_concurrency(fake_judge, embeddings):
    """The bundled server answers two requests per model at once: a sample's metrics use both slots, no more."""
    fake_judge.delay_s = 0.3
    sample = dict(question=QUESTION, answer="Paris is the capital of France.", contexts=CONTEXT, abstained=False)
    for concurrency in (1, 2):
        fake_judge.most_in_flight = 0
        judge = Judge(_settings(fake_judge.base_url).with_overrides(judge_concurrency=concurrency), embeddings)
        [results] = asyncio.run(_score_all(judge, [sample], [F, AR]))
        assert [r.metric for r in results] == [F, AR]  # in the order asked, whichever finished first
        assert fake_judge.most_in_flight == concurrency


def test_judge_asks_for_each_reply_by_its_json_schema(fake_judge, embeddings):
    """Grammar-constrained on llama-server, vLLM and OpenAI: the schema goes in response_format, no system message."""
    judge = Judge(_settings(fake_judge.base_url), embeddings)
    sample = dict(question=QUESTION, answer="Paris is the capital of France.", contexts=CONTEXT, abstained=False)
    [results] = asyncio.run(_score_all(judge, [sample], [F, AR]))
    assert [(r.metric, r.status) for r in results] == [(F, "scored"), (AR, "scored")]
    names = [r["response_format"]["json_schema"]["name"] for r in fake_judge.chat_requests]
    # the two metrics run side by side (judge_concurrency 2): faithfulness' two calls stay in their order
    assert sorted(names) == sorted(["StatementGeneratorOutput", "NLIStatementOutput"]
                                   + ["AnswerRelevanceOutput"] * ANSWER_RELEVANCY_STRICTNESS)
    assert names.index("StatementGeneratorOutput") < names.index("NLIStatementOutput")
    # the statements request's schema (which request reaches the server first depends on the metrics' race)
    schema = fake_judge.chat_requests[names.index("StatementGeneratorOutput")]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["statements"]["type"] == "array"
    assert all([m["role"] for m in r["messages"]] == ["user"] for r in fake_judge.chat_requests)
    # every reply's usage is counted (the fake reports 10 prompt and 10 completion tokens a call)
    calls = len(fake_judge.chat_requests)
    assert (judge.usage.calls, judge.usage.prompt_tokens, judge.usage.completion_tokens) == (calls, 10 * calls, 10 * calls)


def test_an_endpoint_refusing_json_schema_is_asked_in_json_mode_and_scores_come_out(fake_judge, embeddings):
    fake_judge.refuse_json_schema = True  # HTTP 500, as llama-cpp-python's server answered
    judge = Judge(_settings(fake_judge.base_url), embeddings)
    samples = [dict(question=QUESTION, answer="Paris is the capital of France.", contexts=CONTEXT, abstained=False)] * 2
    results = asyncio.run(_score_all(judge, samples, [F, AR]))
    assert [(r.metric, r.status, round(r.score, 6)) for rs in results for r in rs] == [(F, "scored", 1.0), (AR, "scored", 1.0)] * 2
    # the first requests in flight (at most one per metric judged side by side) are refused, then JSON mode (the
    # schema quoted in a system message) for the rest of the run; a metric whose refused request went out late may
    # see it arrive after the other's first JSON-mode request, so the count is checked, not the order
    formats = _formats(fake_judge)
    refused = formats.count("json_schema")
    assert formats[0] == "json_schema" and 1 <= refused <= judge.concurrency
    assert formats.count("json_object") == 2 * (2 + ANSWER_RELEVANCY_STRICTNESS) == len(formats) - refused
    assert fake_judge.chat_requests[-1]["messages"][0]["role"] == "system"
    # the refusal is remembered for this endpoint and model: the next run's judge starts in JSON mode
    assert Judge(_settings(fake_judge.base_url), embeddings).mode == "json_object"


def test_a_configured_output_mode_is_kept_even_when_refused(fake_judge, embeddings):
    fake_judge.refuse_json_schema = True
    sample = dict(question=QUESTION, answer="Paris is the capital of France.", contexts=CONTEXT, abstained=False)
    forced = Judge(_settings(fake_judge.base_url, structured_output="json_schema"), embeddings)
    [[result]] = asyncio.run(_score_all(forced, [sample], [F]))
    assert result.status == "failed" and result.reason.startswith("judge HTTP error 500"), result.reason
    assert _formats(fake_judge) == ["json_schema"] * 2  # an HTTP 500 is tried once more (a busy server), no more
    plain = Judge(_settings(fake_judge.base_url, structured_output="json_object"), embeddings)
    [[result]] = asyncio.run(_score_all(plain, [sample], [F]))
    assert result.status == "scored" and _formats(fake_judge)[2:] == ["json_object"] * 2


CP, CR = MetricName.CONTEXT_PRECISION, MetricName.CONTEXT_RECALL


def test_context_metrics_score_against_the_reference_and_skip_without_one(fake_judge, embeddings):
    judge = Judge(_settings(fake_judge.base_url), embeddings)
    two_contexts = CONTEXT + ["France borders Spain and Belgium."]
    with_ref = dict(question=QUESTION, answer="Paris.", contexts=two_contexts, abstained=False, reference="Paris")
    no_ref = dict(question=QUESTION, answer="Paris.", contexts=two_contexts, abstained=False)
    refusal = dict(question=QUESTION, answer="I don't know.", contexts=two_contexts, abstained=True, reference="Paris")
    scored, skipped, abstained = asyncio.run(_score_all(judge, [with_ref, no_ref, refusal], [CP, CR]))
    assert [(r.metric, r.status, round(r.score, 6)) for r in scored] == [(CP, "scored", 1.0), (CR, "scored", 1.0)]
    assert [(r.status, r.reason) for r in skipped] == [("skipped", "no reference answer")] * 2
    # retrieval quality does not depend on the answer: a refusal's contexts are still judged
    assert [r.status for r in abstained] == ["scored", "scored"]
    prompts = [json.dumps(r["messages"]) for r in fake_judge.chat_requests]
    assert sum("ContextPrecisionOutput" in p for p in prompts) == 2 * 2  # one call per context
    assert sum("ContextRecallOutput" in p for p in prompts) == 2  # one call per sample


def test_cached_scores_need_no_judge_call_and_repeats_are_separate_judgements(fake_judge, embeddings, tmp_path):
    cache = ResultCache(tmp_path / "cache.sqlite")
    sample = dict(question=QUESTION, answer="Paris is the capital of France.", contexts=CONTEXT, abstained=False)
    first = asyncio.run(_score_all(Judge(_settings(fake_judge.base_url), embeddings, cache=cache), [sample], [F]))
    assert len(fake_judge.chat_requests) == 2 and not first[0][0].cached
    again = asyncio.run(_score_all(Judge(_settings(fake_judge.base_url), embeddings, cache=cache), [sample], [F]))
    assert len(fake_judge.chat_requests) == 2  # zero calls
    assert again[0][0].cached and again[0][0].score == first[0][0].score
    judge = Judge(_settings(fake_judge.base_url), embeddings, cache=cache)
    [repeated] = asyncio.run(_score_all(judge, [dict(sample, repeats=3)], [F]))
    assert [(r.repeat, r.cached) for r in repeated] == [(0, True), (1, False), (2, False)]
    assert len(fake_judge.chat_requests) == 2 + 2 * 2
    # another judge model is another key
    other = Judge(_settings(fake_judge.base_url).with_overrides(judge_model="qwen2.5-0.5b"), embeddings, cache=cache)
    asyncio.run(_score_all(other, [sample], [F]))
    assert len(fake_judge.chat_requests) == 2 + 4 + 2


def test_samples_scored_in_separate_event_loops_each_reach_the_judge_first_time(fake_judge, embeddings, monkeypatch):
    """The runner scores every sample in its own `asyncio.run`; a connection kept from the last loop must not fail."""
    monkeypatch.setattr("evaluation.metrics.TRANSIENT_ATTEMPTS", 1)  # no retry to hide a failed first attempt
    judge = Judge(_settings(fake_judge.base_url), embeddings)
    sample = dict(question=QUESTION, answer="Paris is the capital of France.", contexts=CONTEXT, abstained=False)
    results = [asyncio.run(judge.score(metrics=[F], **sample)) for _ in range(3)]
    assert [r.status for [r] in results] == ["scored"] * 3, [r.reason for [r] in results]


def test_timeout_is_retried_once_then_fails(fake_judge, embeddings):
    judge = Judge(_settings(fake_judge.base_url, judge_timeout_s=0.3), embeddings)
    [[result]] = asyncio.run(_score_all(judge, [dict(question=QUESTION, answer="Paris. SLOW", contexts=CONTEXT, abstained=False)], [F]))
    assert result.status == "failed" and result.score is None
    assert result.reason.startswith("judge timed out after 2 attempts: APITimeoutError"), result.reason
    assert len(fake_judge.chat_requests) == 2  # our bounded retry; no hidden openai/Instructor retries


def test_truncated_judge_output_fails_with_clear_reason(fake_judge, embeddings):
    judge = Judge(_settings(fake_judge.base_url), embeddings, max_tokens=64)
    [[result]] = asyncio.run(_score_all(judge, [dict(question=QUESTION, answer="Paris. LONG", contexts=CONTEXT, abstained=False)], [F]))
    assert result.status == "failed"
    assert result.reason.startswith("judge output was cut off at max_tokens (64)"), result.reason
    assert fake_judge.chat_requests[0]["max_tokens"] == 64


def test_abstention_is_skipped_without_calling_the_judge(fake_judge, embeddings):
    judge = Judge(_settings(fake_judge.base_url), embeddings)
    sample = dict(question=QUESTION, answer="I don't know.", contexts=CONTEXT, abstained=True)
    [results] = asyncio.run(_score_all(judge, [sample], [F, AR]))
    assert [(r.metric, r.status, r.score) for r in results] == [(F, "skipped", None), (AR, "skipped", None)]
    assert results[0].reason == "answer is an abstention; faithfulness is not defined for a refusal"
    assert "abstention" in results[1].reason
    assert fake_judge.chat_requests == []


def test_check_raises_when_endpoint_is_down(embeddings):
    base_url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    judge = Judge(_settings(base_url), embeddings)
    with pytest.raises(JudgeUnavailableError) as info:
        judge.check(timeout_s=1.0)
    assert base_url in str(info.value)
    assert "make llm" in str(info.value)


def test_check_raises_when_model_is_not_served(fake_judge, embeddings):
    judge = Judge(_settings(fake_judge.base_url).with_overrides(judge_model="gpt-4o"), embeddings)
    with pytest.raises(JudgeUnavailableError, match="does not serve model 'gpt-4o'"):
        judge.check()


# --------------------------------------------------------------------------- the real local judge

@pytest.mark.llm
def test_local_judge_scores_faithfulness_and_relevancy(llm_base_url, embedder):
    judge = Judge(_settings(llm_base_url), embedder)
    judge.check()
    context = ["The Eiffel Tower was completed in 1889 for the World's Fair in Paris. It is 330 metres tall."]
    faithful = dict(question="When was the Eiffel Tower completed?", answer="The Eiffel Tower was completed in 1889.",
                    contexts=context, abstained=False)
    invented = dict(question="When was the Eiffel Tower completed?",
                    answer="The Eiffel Tower was completed in 1889 and was designed by Leonardo da Vinci.",
                    contexts=context, abstained=False)

    async def run() -> list[list[MetricResult]]:
        try:
            out = [await judge.score(metrics=[F], **s) for s in (faithful, invented)]
            out.append(await judge.score(metrics=[AR], **faithful))
            return out
        finally:
            await judge.aclose()

    results = asyncio.run(run())
    for label, (r,) in zip(["faithful", "invented", "faithful"], results):
        _assert_well_formed(r)
        log.warning("local judge %s: %s %s score=%s in %.1f s %s", label, r.metric.value, r.status, r.score, r.seconds, r.reason or "")
    assert results[0][0].metric is F and results[2][0].metric is AR
