"""Evaluation speed: scored samples per minute, our judge path against Ragas' own `evaluate()` on the same judge.

    .venv/bin/python bench/eval_speed.py [--limit 4] [--metrics faithfulness answer_relevancy]
        [--peer-workers 2 --peer-timeout 300]

The sample KB is ingested into a temporary collection and the first `--limit` questions of the sample eval set are
answered once through the pipeline (the configured settings, grounding check off). The answers that are not
abstentions (a refusal has no faithfulness or relevancy to score) are then judged by both evaluators, same
questions, answers and contexts, same judge model and endpoint, same embedder, one after the other in this run:

- ours: `evaluation.metrics.Judge` as the runner calls it (one sample at a time, its metrics back to back,
  json_schema output where the endpoint takes it, `ANSWER_RELEVANCY_STRICTNESS` generated questions), no cache;
- peer: Ragas' `evaluate()` with its defaults (its legacy metrics, RunConfig: 16 concurrent jobs, 180 s timeout,
  10 retries; answer relevancy asks for 3 questions at temperature 0.3) on LangChain wrappers of a plain
  `ChatOpenAI` for the judge and of our embedder, as Ragas documents for an OpenAI-compatible endpoint; one
  switch set, `bypass_n`, without which it cannot run on llama-server at all (see `run_peer`).

Ours runs first, so a prompt prefix the server cached for it can only help the peer. Printed per evaluator: wall
seconds, samples scored in every metric, scored samples per minute; the judge's work (calls, prompt tokens, those
the server computed rather than took from its prompt cache, generated tokens: load-independent, unlike seconds);
per metric its scored count, mean score and seconds (ours: the mean seconds per sample; the peer's jobs run
concurrently, so only its total is meaningful); then the ratio of scored samples per minute. The machine is
shared, so compare within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)
os.environ["RAGAS_DO_NOT_TRACK"] = "true"  # before any ragas import: no telemetry host on this network

import httpx  # noqa: E402
from langchain_core.embeddings import Embeddings  # noqa: E402
from langchain_openai import ChatOpenAI  # noqa: E402
from ragas import EvaluationDataset, RunConfig, evaluate  # noqa: E402
from ragas.embeddings import LangchainEmbeddingsWrapper  # noqa: E402
from ragas.llms import LangchainLLMWrapper  # noqa: E402
from tqdm import tqdm  # noqa: E402

from evaluation.evalset import EvalItem, load_eval_set  # noqa: E402
from evaluation.metrics import ANSWER_RELEVANCY_STRICTNESS, Judge, MetricName, Usage  # noqa: E402
from ingest.embedder import embedder_info, make_embedder  # noqa: E402
from ingest.ingestor import ingest_configured, sources_for  # noqa: E402
from ingest.store import VectorStore, open_client  # noqa: E402
from pipeline.chain import answer_question  # noqa: E402
from pipeline.llm import make_chat_model  # noqa: E402
from settings import Settings  # noqa: E402

with warnings.catch_warnings():  # Ragas deprecates these names in favour of ragas.metrics.collections, which
    warnings.simplefilter("ignore", DeprecationWarning)  # evaluate() does not accept: the peer needs them
    from ragas.metrics import AnswerRelevancy, ContextPrecision, ContextRecall, Faithfulness

PEER_METRICS = {MetricName.FAITHFULNESS: Faithfulness, MetricName.ANSWER_RELEVANCY: AnswerRelevancy,
                MetricName.CONTEXT_PRECISION: ContextPrecision, MetricName.CONTEXT_RECALL: ContextRecall}
# ≈ 11 minutes here, 2 cores shared with other benches: answers 42 s, ours 339 s, the peer (2 jobs) 280 s
DEFAULT_LIMIT = 4


@dataclass
class Sample:
    """One answered question, judged by both evaluators exactly as answered."""

    question: str
    answer: str
    contexts: list[str]
    reference: str | None


@dataclass
class Outcome:
    """What one evaluator made of the samples: scores per metric (None = not scored) and seconds."""

    name: str
    seconds: float
    scores: dict[MetricName, list[float | None]]
    usage: Usage
    metric_seconds: dict[MetricName, float] = field(default_factory=dict)  # per sample, ours only

    @property
    def fully_scored(self) -> int:
        return sum(all(s is not None for s in row) for row in zip(*self.scores.values(), strict=True))

    @property
    def per_minute(self) -> float:
        return self.fully_scored / self.seconds * 60 if self.seconds else 0.0


@contextmanager
def sample_collection(settings: Settings) -> Iterator[tuple[Settings, VectorStore, Embeddings]]:
    """The sample KB in a temporary embedded collection, chunked and indexed as the settings say."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings.with_overrides(data_dir=Path(tmp) / "data")
        client = open_client(settings)
        try:
            store = VectorStore(client, embedder_info(settings))
            embedder = make_embedder(settings)
            report = ingest_configured(settings, store, embedder, sources_for(settings.sample_kb), settings.collection)
            if report.failed:
                print(f"warning: {len(report.failed)} files failed to ingest", file=sys.stderr)
            yield settings, store, embedder
        finally:
            client.close()


def answer_all(settings: Settings, store: VectorStore, embedder: Embeddings, items: list[EvalItem]) -> list[Sample]:
    """Each question answered once; abstentions dropped (neither evaluator has anything to score in them)."""
    llm, samples = make_chat_model(settings).model_copy(update={"disable_streaming": True}), []  # nobody reads it live
    for item in tqdm(items, desc="answer", unit="q", file=sys.stderr):
        answer = answer_question(settings, store, embedder, llm, item.question)
        if not answer.abstained:
            samples.append(Sample(item.question, answer.answer, [c.text for c in answer.contexts], item.reference))
    return samples


def run_ours(settings: Settings, embedder: Embeddings, samples: list[Sample], metrics: list[MetricName]) -> Outcome:
    """As the runner judges: a sample at a time in its own event loop, all its metrics back to back."""
    judge = Judge(settings, embedder)
    judge.check()
    scores: dict[MetricName, list[float | None]] = {m: [] for m in metrics}
    spent = dict.fromkeys(metrics, 0.0)
    started = time.perf_counter()
    for s in tqdm(samples, desc="ours", unit="sample", file=sys.stderr):
        for r in asyncio.run(judge.score(s.question, s.answer, s.contexts, metrics, False, reference=s.reference)):
            scores[r.metric].append(r.score)
            spent[r.metric] += r.seconds
    seconds = time.perf_counter() - started
    return Outcome(f"ours ({judge.mode}, strictness {ANSWER_RELEVANCY_STRICTNESS})", seconds, scores, judge.usage,
                   {m: spent[m] / max(len(samples), 1) for m in metrics})


def run_peer(settings: Settings, embedder: Embeddings, samples: list[Sample], metrics: list[MetricName],
             run_config: RunConfig) -> Outcome:
    """Ragas' evaluate() on the same judge model, endpoint and embedder (with its default RunConfig unless told)."""
    base_url, api_key = settings.judge_endpoint
    usage = Usage()
    counted = httpx.AsyncClient(event_hooks={"response": [usage.record]})  # counts only: ChatOpenAI's defaults kept
    with warnings.catch_warnings():  # the wrappers are deprecated too, and still what evaluate() documents
        warnings.simplefilter("ignore", DeprecationWarning)
        # bypass_n, Ragas' own switch for endpoints without `n`: llama-server allows n up to its slot count (2), and
        # Ragas sets answer relevancy's n=3 on the shared model without resetting it, so every later call of every
        # metric asked for 3 completions and got HTTP 400 (seen here); with it, the 3 questions are 3 requests
        llm = LangchainLLMWrapper(ChatOpenAI(model=settings.judge_model, base_url=base_url, api_key=api_key,
                                             http_async_client=counted), bypass_n=True)
        embeddings = LangchainEmbeddingsWrapper(embedder)
    dataset = EvaluationDataset.from_list([
        {"user_input": s.question, "response": s.answer, "retrieved_contexts": s.contexts,
         **({"reference": s.reference} if s.reference else {})} for s in samples])
    started = time.perf_counter()
    result = evaluate(dataset, metrics=[PEER_METRICS[m]() for m in metrics], llm=llm,
                      embeddings=embeddings, run_config=run_config)
    seconds = time.perf_counter() - started
    table = result.to_pandas()
    scores = {m: [None if v is None or math.isnan(v) else float(v) for v in table[m.value]] for m in metrics}
    changed = "defaults" if run_config == RunConfig() else f"{run_config.max_workers} jobs, {run_config.timeout} s"
    return Outcome(f"peer: Ragas evaluate() {changed}", seconds, scores, usage)


def _mean(values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    return f"{sum(known) / len(known):.2f}" if known else "n/a"


def print_table(ours: Outcome, peer: Outcome, metrics: list[MetricName], n: int) -> None:
    print(f"{'evaluator':<40} {'seconds':>8} {'scored':>7} {'samples/min':>12}")
    for o in (ours, peer):
        print(f"{o.name:<40} {o.seconds:>8.1f} {o.fully_scored:>4}/{n:<2} {o.per_minute:>12.2f}")
    print(f"{'judge work':<40} {'calls':>8} {'prompt tokens':>14} {'not from cache':>15} {'generated':>10}")
    for o in (ours, peer):
        u = o.usage
        print(f"{o.name:<40} {u.calls:>8} {u.prompt_tokens:>14} {u.computed_prompt_tokens:>15} {u.completion_tokens:>10}")
    print(f"{'metric':<18} {'ours: scored, mean, s/sample':>30} {'peer: scored, mean':>20}")
    for m in metrics:
        mine = f"{sum(v is not None for v in ours.scores[m])}/{n}, {_mean(ours.scores[m])}, {ours.metric_seconds[m]:.1f}"
        theirs = f"{sum(v is not None for v in peer.scores[m])}/{n}, {_mean(peer.scores[m])}"
        print(f"{m.value:<18} {mine:>30} {theirs:>20}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help=f"first N questions (default {DEFAULT_LIMIT})")
    parser.add_argument("--metrics", nargs="+", choices=[m.value for m in MetricName],
                        default=[MetricName.FAITHFULNESS.value, MetricName.ANSWER_RELEVANCY.value])
    parser.add_argument("--set", type=Path, default=None, help="eval set (default: the sample set)")
    defaults = RunConfig()
    parser.add_argument("--peer-workers", type=int, default=defaults.max_workers,
                        help=f"the peer's concurrent jobs (Ragas' default {defaults.max_workers})")
    parser.add_argument("--peer-timeout", type=int, default=defaults.timeout,
                        help=f"the peer's seconds per job (Ragas' default {defaults.timeout})")
    args = parser.parse_args(argv)
    metrics = [MetricName(m) for m in args.metrics]
    # no grounding check while answering: neither evaluator reads its verdict, and under the default annotate policy
    # it never changes an answer; it would only add the judge model's calls before the timed part
    base = Settings().with_overrides(grounding_policy="off")
    items = load_eval_set(args.set or base.sample_eval_set)[: args.limit]
    with sample_collection(base) as (settings, store, embedder):
        started = time.perf_counter()
        samples = answer_all(settings, store, embedder, items)
        print(f"{len(items)} questions answered once in {time.perf_counter() - started:.0f} s "
              f"({settings.llm_model}); {len(samples)} answers to judge with {settings.judge_model} at "
              f"{settings.judge_endpoint[0]}")
        if not samples:
            print("nothing to judge: every question was an abstention")
            return 1
        ours = run_ours(settings, embedder, samples, metrics)
        peer = run_peer(settings, embedder, samples, metrics,
                        RunConfig(max_workers=args.peer_workers, timeout=args.peer_timeout))
    print_table(ours, peer, metrics, len(samples))
    ratio = f"{ours.per_minute / peer.per_minute:.2f}x" if peer.per_minute else "n/a (the peer scored nothing)"
    print(f"ratio ours / peer (scored samples per minute): {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
