"""Ragas scoring core: one judge per run, one sample and one metric at a time, failures recorded not raised.

Uses the current Ragas 0.4.3 API (`ragas.metrics.collections`, `ascore`), not the deprecated `evaluate()`.
What Ragas sends: OpenAI chat completions through Instructor, temperature 0.01, top_p 0.1, one user message
(instruction, output schema, examples, then this sample's input). Ragas' own `llm_factory` hard-codes Instructor's
JSON mode (`response_format={"type": "json_object"}` plus a system message quoting the schema), which leaves the
shape of the reply to a 1.5B model's discipline. We build its `InstructorLLM` ourselves in JSON_SCHEMA mode instead
(`response_format` json_schema: llama-server, vLLM and OpenAI constrain decoding by a grammar, so every reply
parses), and fall back to JSON mode, as `pipeline.llm` does for the grounding judge, when the endpoint refuses it.
Faithfulness makes 2 calls per sample (statements, then verdicts); answer relevancy `ANSWER_RELEVANCY_STRICTNESS`
(1: Ragas' default 3 was the same question thrice) plus embeddings; context precision 1 per context and context
recall 1, both against the reference answer (skipped with "no reference answer" without one). Instructor re-asks
up to `max_retries` times on output it cannot parse, then raises `InstructorRetryException`; connection errors,
timeouts and HTTP errors are wrapped in the same exception type (the original is its `__cause__`), so we classify
by the cause chain.

No Streamlit here: the runner and the pages call this.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

os.environ["RAGAS_DO_NOT_TRACK"] = "true"  # before any ragas import: no telemetry host on this network

import httpx
import instructor
import openai
import ragas
from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, Field
from ragas.embeddings.base import BaseRagasEmbedding
from ragas.llms import InstructorLLM
from ragas.metrics.collections import AnswerRelevancy, ContextPrecision, ContextRecall, Faithfulness
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from evaluation.cache import ResultCache, cache_key
from pipeline.llm import StructuredMode, may_refuse_json_schema, remember_json_mode, structured_mode
from settings import Settings, public_url

log = logging.getLogger(__name__)

TRANSIENT_ATTEMPTS = 2  # one retry for connection errors, timeouts and HTTP 429/5xx; never for bad output
PARSE_RETRIES = 2  # Instructor re-asks after unparseable output: 1 + 2 = 3 tries
JUDGE_MAX_TOKENS = 512  # Ragas' default is 1024; the NLI verdicts of a short answer fit well within 512
REASON_MAX_CHARS = 300
METRIC_VERSION = f"ragas-{ragas.__version__}"  # part of every cache key: a new Ragas re-scores
# Questions answer relevancy generates per sample, each its own judge call. Ragas' default is 3, but it sends the
# same prompt each time at temperature 0.01, so the judge writes the same question 3 times and the score cannot
# change. Measured on llama-server (1.5B judge, json_schema) with the first 4 answerable sample questions, 1 and
# 3 alternately first: the 3 questions identical every time, scores identical (0.2773, 1.0, 0.3928, 0.9830 at
# both), 22-35 tokens generated per question; the prompt is cached after the first call, so 3 costs 3 generations
# where 1 costs one. Seconds said little on a machine two other benches loaded (247 s at 3, 233 s at 1).
ANSWER_RELEVANCY_STRICTNESS = 1
INSTRUCTOR_MODES: dict[StructuredMode, instructor.Mode] = {"json_schema": instructor.Mode.JSON_SCHEMA,
                                                           "json_object": instructor.Mode.JSON}


class JudgeUnavailableError(RuntimeError):
    """The judge endpoint does not answer (or does not serve the judge model)."""


class MetricName(str, Enum):
    FAITHFULNESS = "faithfulness"
    ANSWER_RELEVANCY = "answer_relevancy"
    CONTEXT_PRECISION = "context_precision"
    CONTEXT_RECALL = "context_recall"


NEEDS_REFERENCE = frozenset({MetricName.CONTEXT_PRECISION, MetricName.CONTEXT_RECALL})
# these judge the retrieved contexts against the reference, not the answer: defined for an abstention too
RETRIEVAL_METRICS = NEEDS_REFERENCE
# seconds per scored question, measured: the 20 sample questions, all four metrics, the bundled 1.5B judge on two
# cores (docs/benchmarks.md, 2026-12-02); shown where a user picks metrics, so the cost is known before a run
SECONDS_PER_QUESTION = {MetricName.FAITHFULNESS: 45, MetricName.ANSWER_RELEVANCY: 15, MetricName.CONTEXT_PRECISION: 80,
                        MetricName.CONTEXT_RECALL: 30}


class MetricResult(BaseModel):
    metric: MetricName
    status: Literal["scored", "failed", "skipped"]
    score: float | None = Field(default=None, ge=0.0, le=1.0)  # set only when scored; never NaN
    reason: str | None = None  # why failed or skipped
    seconds: float
    repeat: int = 0  # which of the r judgements of this sample (repeatability runs)
    cached: bool = False


@dataclass
class Usage:
    """Judge calls and tokens, counted from every reply: what a run cost, and what a speed comparison on a shared
    machine can be read by (calls and tokens do not depend on the load; seconds do)."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    computed_prompt_tokens: int = 0  # not taken from the server's prompt cache (llama-server's `timings` say)

    async def record(self, response: httpx.Response) -> None:
        """An httpx response hook: the OpenAI `usage` of a chat completion, and llama-server's `timings` if present."""
        if response.status_code != 200 or not response.request.url.path.endswith("/chat/completions"):
            return
        await response.aread()
        try:
            data = response.json()
        except ValueError:
            return
        usage, timings = data.get("usage") or {}, data.get("timings") or {}
        self.calls += 1
        self.prompt_tokens += usage.get("prompt_tokens") or 0
        self.completion_tokens += usage.get("completion_tokens") or 0
        self.computed_prompt_tokens += timings.get("prompt_n", usage.get("prompt_tokens") or 0)


class LangChainRagasEmbedding(BaseRagasEmbedding):
    """A LangChain `Embeddings` as the modern Ragas embedding that `AnswerRelevancy` requires."""

    def __init__(self, embeddings: Embeddings) -> None:
        super().__init__()
        self._lc = embeddings

    def embed_text(self, text: str, **kwargs: Any) -> list[float]:
        return self._lc.embed_query(text)

    def embed_texts(self, texts: list[str], **kwargs: Any) -> list[list[float]]:
        return self._lc.embed_documents(list(texts))

    async def aembed_text(self, text: str, **kwargs: Any) -> list[float]:
        # the local ONNX embedder is synchronous: keep it off the event loop
        return await asyncio.to_thread(self._lc.embed_query, text)

    async def aembed_texts(self, texts: list[str], **kwargs: Any) -> list[list[float]]:
        return await asyncio.to_thread(self._lc.embed_documents, list(texts))


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and its causes, outermost first (Instructor wraps API errors in its own)."""
    chain, seen = [], set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    return chain


_TRANSIENT = (openai.APIConnectionError, httpx.TransportError, TimeoutError, ConnectionError)  # APITimeoutError ⊂ APIConnectionError


def _busy(exc: BaseException) -> bool:
    """HTTP 429 or 5xx: an overloaded or restarting server, worth one more try after a pause."""
    return isinstance(exc, openai.APIStatusError) and (exc.status_code == 429 or exc.status_code >= 500)


def is_transient(exc: BaseException) -> bool:
    return any(isinstance(e, _TRANSIENT) for e in _causes(exc))


def is_retryable(exc: BaseException) -> bool:
    """What the judge tries again: a transient transport failure, or a busy server (not bad output)."""
    return is_transient(exc) or any(_busy(e) for e in _causes(exc))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else ""


def describe_failure(exc: BaseException, max_tokens: int | None = None) -> str:
    """A short, human-readable reason: what kind of failure, exception type and first line of its message."""
    chain = _causes(exc)
    root = chain[-1]
    names = {type(e).__name__ for e in chain}
    if "IncompleteOutputException" in names:
        limit = f" ({max_tokens})" if max_tokens else ""
        reason = f"judge output was cut off at max_tokens{limit} before its JSON was complete: IncompleteOutputException"
    elif is_transient(exc):
        cause = next(e for e in chain if isinstance(e, _TRANSIENT))
        kind = "timed out" if isinstance(cause, (openai.APITimeoutError, TimeoutError, httpx.TimeoutException)) else "unreachable"
        reason = f"judge {kind} after {TRANSIENT_ATTEMPTS} attempts: {type(cause).__name__}: {_first_line(cause)}"
    elif type(exc).__name__ == "InstructorRetryException":
        status = next((e for e in chain if isinstance(e, openai.APIStatusError)), None)
        if status is not None:
            tries = f" after {TRANSIENT_ATTEMPTS} attempts" if _busy(status) else ""
            reason = f"judge HTTP error {status.status_code}{tries}: {type(status).__name__}: {_first_line(status)}"
        else:
            tries = getattr(exc, "n_attempts", None) or PARSE_RETRIES + 1
            reason = f"judge returned unparseable output after {tries} tries: {type(root).__name__}: {_first_line(root)}"
    else:
        reason = f"{type(exc).__name__}: {_first_line(exc)}"
    return reason if len(reason) <= REASON_MAX_CHARS else reason[: REASON_MAX_CHARS - 1] + "…"


class Judge:
    """The Ragas judge for one run: an LLM (OpenAI-compatible endpoint) plus the run's embedder."""

    def __init__(self, settings: Settings, embeddings: Embeddings, *, max_tokens: int = JUDGE_MAX_TOKENS,
                 cache: ResultCache | None = None) -> None:
        from openai import AsyncOpenAI, DefaultAsyncHttpxClient

        self.base_url, api_key = settings.judge_endpoint
        self.shown_url = public_url(self.base_url)  # what messages and logs name: no credentials
        self.model = settings.judge_model
        self.timeout_s = settings.judge_timeout_s
        self.concurrency = settings.judge_concurrency
        # max_retries=0: the transient retry is ours (bounded, below); otherwise openai's 2 retries would
        # multiply a 300 s timeout.
        # No kept-alive connections: the runner scores each sample in its own event loop (asyncio.run), and a
        # pooled connection from a closed loop fails the next request with "Connection error" (seen in sweeps).
        self.usage = Usage()
        self._client = AsyncOpenAI(base_url=self.base_url, api_key=api_key, timeout=self.timeout_s, max_retries=0,
                                   http_client=DefaultAsyncHttpxClient(limits=httpx.Limits(max_keepalive_connections=0),
                                                                       event_hooks={"response": [self.usage.record]}))
        self.max_tokens = max_tokens
        self._embeddings = LangChainRagasEmbedding(embeddings)
        # pipeline.llm remembers an endpoint's refusal of json_schema by the answering URL: ours is the judge's
        self._endpoint = settings.with_overrides(openai_base_url=self.base_url)
        self._use(structured_mode(self._endpoint, self.model))
        self.cache = cache

    def _use(self, mode: StructuredMode) -> None:
        """Build the Ragas metrics on an Instructor client in `mode` (Ragas' `llm_factory` only offers JSON mode)."""
        self.mode = mode
        # extra kwargs become per-request arguments: max_tokens to the server, max_retries to Instructor
        llm = InstructorLLM(client=instructor.from_openai(self._client, mode=INSTRUCTOR_MODES[mode]), model=self.model,
                            provider="openai", max_tokens=self.max_tokens, max_retries=PARSE_RETRIES)
        self._metrics: dict[MetricName, Any] = {
            MetricName.FAITHFULNESS: Faithfulness(llm=llm),
            MetricName.ANSWER_RELEVANCY: AnswerRelevancy(llm=llm, embeddings=self._embeddings,
                                                         strictness=ANSWER_RELEVANCY_STRICTNESS),
            MetricName.CONTEXT_PRECISION: ContextPrecision(llm=llm),
            MetricName.CONTEXT_RECALL: ContextRecall(llm=llm),
        }

    def _may_refuse_json_schema(self, exc: BaseException) -> bool:
        """True when this json_schema call's error may mean the endpoint refuses json_schema (`pipeline.llm`)."""
        status = next((e for e in _causes(exc) if isinstance(e, openai.APIStatusError)), None)
        return self.mode == "json_schema" and status is not None and may_refuse_json_schema(status, self._endpoint)

    async def _ascore_in_json_mode(self, metric: MetricName, question: str, answer: str, contexts: list[str],
                                   reference: str | None) -> Any:
        """Score again in JSON mode after a possible json_schema refusal; kept (for the process) only if it works:
        an endpoint failing every request is not refusing json_schema."""
        self._use("json_object")
        try:
            out = await self._ascore(metric, question, answer, contexts, reference)
        except Exception:
            self._use("json_schema")
            raise
        log.info("judge endpoint %s refused json_schema: asking in JSON mode", self.shown_url)
        remember_json_mode(self._endpoint, self.model)
        return out

    def check(self, timeout_s: float = 3.0) -> None:
        """Raise `JudgeUnavailableError` if the endpoint refuses GET /models, errors, or does not list the judge model.

        A connection that is accepted but not answered in time counts as up (a busy local server).
        """
        url = self.base_url.rstrip("/") + "/models"
        try:
            response = httpx.get(url, timeout=timeout_s, headers={"Authorization": f"Bearer {self._client.api_key}"})
        except httpx.ReadTimeout:
            # connected but no answer yet: a busy server may answer /models late
            log.info("judge endpoint %s is up but busy (no /models answer within %.0f s)", self.shown_url, timeout_s)
            return
        except httpx.HTTPError as exc:
            raise JudgeUnavailableError(
                f"judge endpoint {self.shown_url} is down ({type(exc).__name__}: {_first_line(exc) or 'no answer'}); "
                "start it with `make llm` or set FQA_JUDGE_BASE_URL"
            ) from exc
        if response.status_code != 200:
            raise JudgeUnavailableError(f"judge endpoint {self.shown_url} answered HTTP {response.status_code}")
        try:
            ids = {m.get("id") for m in response.json().get("data", [])}
        except (ValueError, AttributeError):
            ids = set()
        if ids and self.model not in ids:
            raise JudgeUnavailableError(
                f"judge endpoint {self.shown_url} does not serve model {self.model!r} (it serves: {', '.join(sorted(map(str, ids)))})"
            )

    async def aclose(self) -> None:
        await self._client.close()

    async def score(
        self, question: str, answer: str, contexts: list[str], metrics: list[MetricName], abstained: bool,
        reference: str | None = None, repeats: int = 1,
    ) -> list[MetricResult]:
        """`repeats` results per requested metric, in the order asked. Never raises for one sample.

        Each repeat is its own judgement (its own cache entry), so r repeats show how much the judge wavers.
        One sample's metric calls run `judge_concurrency` at a time (2: the bundled server's slots per model; one
        at a time left a slot idle while the peer, Ragas' evaluate() at 2 jobs, kept both busy). Every Ragas prompt
        is instruction, examples, then this sample's input, so what calls share is a metric's instruction, not the
        sample's contexts; llama-server restores it from its RAM prompt cache whichever prompt came between
        (measured, bench/eval_speed.py, 4 samples x faithfulness + answer relevancy: 3296 of 8693 prompt tokens
        computed, about one cold copy of each instruction plus each sample's own input), so ordering one metric
        across all samples would gain little.
        """
        gate = asyncio.Semaphore(self.concurrency)

        async def one(metric: MetricName, repeat: int) -> MetricResult:
            async with gate:
                return await self._score_one(metric, question, answer, contexts, abstained, reference, repeat)

        return list(await asyncio.gather(*(one(MetricName(m), repeat) for m in metrics for repeat in range(repeats))))

    def _cache_key(self, metric: MetricName, question: str, answer: str, contexts: list[str], reference: str | None,
                   repeat: int) -> str:
        # the output mode and strictness change what the judge is asked, so a score made otherwise is not reused
        how = (self.mode, ANSWER_RELEVANCY_STRICTNESS) if metric is MetricName.ANSWER_RELEVANCY else self.mode
        return cache_key(metric.value, METRIC_VERSION, how, self.model, question, answer, contexts, reference, repeat)

    async def _score_one(
        self, metric: MetricName, question: str, answer: str, contexts: list[str], abstained: bool,
        reference: str | None = None, repeat: int = 0,
    ) -> MetricResult:
        started = time.perf_counter()

        def result(status: Literal["scored", "failed", "skipped"], score: float | None = None, reason: str | None = None) -> MetricResult:
            return MetricResult(metric=metric, status=status, score=score, reason=reason, repeat=repeat,
                                seconds=round(time.perf_counter() - started, 3))

        skip = _skip_reason(metric, question, answer, contexts, abstained, reference)
        if skip:
            return result("skipped", reason=skip)
        contexts = [c for c in contexts if c.strip()]
        key = self._cache_key(metric, question, answer, contexts, reference, repeat)
        if self.cache is not None and (hit := self.cache.get("judge", key)) is not None:
            return MetricResult.model_validate_json(hit).model_copy(update={"cached": True})
        outcome = await self._judge(metric, question, answer, contexts, reference, result)
        if self.cache is not None and outcome.status == "scored":
            self.cache.put("judge", key, outcome.model_dump_json())
        return outcome

    async def _judge(self, metric: MetricName, question: str, answer: str, contexts: list[str], reference: str | None,
                     result: Callable[..., MetricResult]) -> MetricResult:
        started = time.perf_counter()
        try:
            value = await self._ascore_with_retry(metric, question, answer, contexts, reference)
        except Exception as exc:  # one metric of one sample: record, never raise
            reason = describe_failure(exc, self.max_tokens)
            log.warning("%s failed after %.1f s: %s", metric.value, time.perf_counter() - started, reason)
            return result("failed", reason=reason)
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            return result("failed", reason=f"judge returned a non-numeric score: {value!r}")
        if math.isnan(value) or math.isinf(value):
            why = {MetricName.FAITHFULNESS: "judge produced no statements from the answer",
                   MetricName.CONTEXT_RECALL: "judge produced no statements from the reference"}.get(metric, "score is not a number")
            return result("failed", reason=why)
        return result("scored", score=min(1.0, max(0.0, float(value))))  # cosine means can dip below 0

    async def _ascore_with_retry(self, metric: MetricName, question: str, answer: str, contexts: list[str],
                                 reference: str | None) -> Any:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(TRANSIENT_ATTEMPTS),
            retry=retry_if_exception(is_retryable),
            wait=wait_exponential(multiplier=1.0, max=8.0),  # 1 s, then 2, 4 …: a restarting server gets time
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                try:
                    out = await self._ascore(metric, question, answer, contexts, reference)
                except Exception as exc:
                    if not self._may_refuse_json_schema(exc):
                        raise
                    out = await self._ascore_in_json_mode(metric, question, answer, contexts, reference)
        return out.value

    async def _ascore(self, metric: MetricName, question: str, answer: str, contexts: list[str],
                      reference: str | None) -> Any:
        if metric is MetricName.FAITHFULNESS:
            return await self._metrics[metric].ascore(user_input=question, response=answer, retrieved_contexts=contexts)
        if metric is MetricName.ANSWER_RELEVANCY:
            return await self._metrics[metric].ascore(user_input=question, response=answer)
        return await self._metrics[metric].ascore(user_input=question, reference=reference, retrieved_contexts=contexts)


def _skip_reason(metric: MetricName, question: str, answer: str, contexts: list[str], abstained: bool,
                 reference: str | None = None) -> str | None:
    if metric in NEEDS_REFERENCE:
        if not (reference or "").strip():
            return "no reference answer"
        if not any(c.strip() for c in contexts):
            return "no retrieved context to judge"
        return None
    if abstained:
        return f"answer is an abstention; {metric.value.replace('_', ' ')} is not defined for a refusal"
    if not answer.strip():
        return "the answer is empty: nothing to score"
    if not question.strip():
        return "the question is empty: nothing to score"
    if metric is MetricName.FAITHFULNESS and not any(c.strip() for c in contexts):
        return "no retrieved context: faithfulness has nothing to check the answer against"
    return None
