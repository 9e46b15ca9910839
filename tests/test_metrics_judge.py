"""The Ragas scoring core against real components: the local llama.cpp judge and a misbehaving stdlib server.

No mocks of Ragas: a tiny OpenAI-compatible HTTP server plays a broken judge so every failure path runs
through Ragas, Instructor and the openai client for real.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from evaluation.metrics import Judge, JudgeUnavailableError, MetricName, MetricResult
from settings import Settings
from tests.conftest import free_port

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

GARBAGE = "Sure! Here is my analysis: the answer looks mostly fine, I think (no JSON, sorry)."


class FakeJudge(ThreadingHTTPServer):
    """OpenAI-compatible enough for Ragas: answers by markers found in the prompt.

    GARBAGE in the prompt -> non-JSON prose; NOSTATEMENTS -> an empty statement list; SLOW -> sleeps past the
    client timeout; otherwise valid JSON for whichever Ragas schema the system message names.
    """

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.chat_requests: list[dict] = []
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _Handler(BaseHTTPRequestHandler):
    server: FakeJudge

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass

    def _send(self, payload: dict, status: int = 200) -> None:
        body = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            pass

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            self._send({"object": "list", "data": [{"id": JUDGE_ALIAS, "object": "model", "owned_by": "test"}]})
        else:
            self._send({"error": "not found"}, 404)

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        with self.server.lock:
            self.server.chat_requests.append(request)
        messages = request.get("messages", [])
        prompt = "\n".join(str(m.get("content")) for m in messages)
        user = "\n".join(str(m.get("content")) for m in messages if m.get("role") == "user")
        finish_reason = "stop"
        if "SLOW" in user:
            time.sleep(1.5)
            content = GARBAGE
        elif "GARBAGE" in user:
            content = GARBAGE
        elif "LONG" in user:
            content, finish_reason = '{"statements": ["Paris is', "length"
        elif "NLIStatementOutput" in prompt:
            content = json.dumps({"statements": [{"statement": "s", "reason": "stated in the context", "verdict": 1}]})
        elif "StatementGeneratorOutput" in prompt:
            statements = [] if "NOSTATEMENTS" in user else ["Paris is the capital of France."]
            content = json.dumps({"statements": statements})
        elif "AnswerRelevanceOutput" in prompt:
            content = json.dumps({"question": "What is the capital of France?", "noncommittal": 0})
        else:
            content = GARBAGE
        self._send({
            "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()), "model": request.get("model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        })


@pytest.fixture()
def fake_judge():
    server = FakeJudge()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


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
    # per sample: faithfulness 1 call + 2 re-asks when the first call fails, answer relevancy 3 calls
    assert len(fake_judge.chat_requests) == 3 + 3 + (1 + 3) + 3 + 2 + 3 + 1 + 3
    sent = fake_judge.chat_requests[-1]
    assert sent["response_format"] == {"type": "json_object"}
    assert sent["max_tokens"] == 512 and sent["model"] == JUDGE_ALIAS


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
