"""Evaluate an eval set: answer each question with the pipeline, judge it, store the row at once.

One sample's failure (answer or judge) is recorded with its reason and the run goes on; an
endpoint that is down before the run starts stops it before anything is stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel

from evaluation.evalset import EvalItem
from evaluation.metrics import Judge, MetricName
from evaluation.runstore import RunStore, SampleRow
from ingest.store import VectorStore
from pipeline.answer import Answer
from pipeline.chain import answer_question, pipeline_config
from pipeline.llm import LLMError
from settings import Settings

DEFAULT_METRICS = [MetricName.FAITHFULNESS, MetricName.ANSWER_RELEVANCY]
MAX_CONSECUTIVE_ANSWER_ERRORS = 3

Progress = Callable[[int, int, str], None]


def outcome_of(item: EvalItem, answer: Answer) -> str:
    """Abstention is an outcome, not a missing score."""
    if item.answerable is False:
        return "correct_abstention" if answer.abstained else "hallucinated_answer"
    if answer.abstained:
        return "false_abstention" if item.answerable else "abstained"
    return "answered"


def run_config(settings: Settings, judge: Judge, metrics: list[MetricName]) -> dict:
    judge_url, _ = settings.judge_endpoint
    return {**pipeline_config(settings), "judge_model": judge.model, "judge_base_url": judge_url,
            "metrics": [m.value for m in metrics]}


def run_evaluation(settings: Settings, items: list[EvalItem], eval_set: str, *, store: VectorStore,
                   embedder: Embeddings, llm: BaseChatModel, judge: Judge, runs: RunStore,
                   metrics: list[MetricName] | None = None, progress: Progress | None = None) -> str:
    """Returns the run id. Raises (before storing anything) if the collection or judge is unusable."""
    metrics = metrics or DEFAULT_METRICS
    store.check(settings.collection)
    judge.check()
    run_id = runs.create_run(eval_set, len(items), run_config(settings, judge, metrics))
    consecutive_errors = 0
    try:
        for idx, item in enumerate(items):
            if progress:
                progress(idx, len(items), item.question)
            row = _evaluate_one(settings, item, idx, store, embedder, llm, judge, metrics)
            runs.add_sample(run_id, row)
            consecutive_errors = consecutive_errors + 1 if row.outcome == "error" else 0
            if consecutive_errors >= MAX_CONSECUTIVE_ANSWER_ERRORS:
                runs.finish_run(run_id, "failed", f"stopped after {consecutive_errors} answer errors in a row: {row.error}")
                return run_id
    except BaseException as exc:  # KeyboardInterrupt included: keep the rows, mark the run
        runs.finish_run(run_id, "failed", f"interrupted: {exc.__class__.__name__}: {exc}")
        raise
    runs.finish_run(run_id, "completed")
    if progress:
        progress(len(items), len(items), "")
    return run_id


def _evaluate_one(settings: Settings, item: EvalItem, idx: int, store: VectorStore, embedder: Embeddings,
                  llm: BaseChatModel, judge: Judge, metrics: list[MetricName]) -> SampleRow:
    base = {"idx": idx, "item_id": item.id, "question": item.question, "reference": item.reference,
            "answerable": item.answerable, "kind": item.kind}
    try:
        answer = answer_question(settings, store, embedder, llm, item.question)
    except LLMError as exc:
        return SampleRow(**base, answer=None, abstained=None, abstain_reason=None, outcome="error", contexts=[],
                         metrics=[], error=f"answering failed: {exc}", seconds=None)
    contexts = [c.text for c in answer.contexts]
    results = asyncio.run(judge.score(item.question, answer.answer, contexts, metrics, answer.abstained))
    return SampleRow(
        **base, answer=answer.answer, abstained=answer.abstained, abstain_reason=answer.abstain_reason,
        outcome=outcome_of(item, answer),
        contexts=[{"id": c.id, "source": c.source, "score": c.score, "text": c.text} for c in answer.contexts],
        metrics=[r.model_dump(mode="json") for r in results], error=None, seconds=answer.seconds,
    )
