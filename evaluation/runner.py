"""Evaluate an eval set: answer each question with the pipeline, judge it, store the row at once.

One sample's failure (answer or judge) is recorded with its reason and the run goes on; an
endpoint that is down before the run starts stops it before anything is stored. A run stores the
settings that produced it, so an interrupted run can be resumed from its first missing row.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel

from evaluation.cache import ResultCache, cache_key
from evaluation.evalset import EvalItem
from evaluation.metrics import Judge, MetricName
from evaluation.runstore import RunStore, SampleRow
from ingest.store import VectorStore
from pipeline.answer import Answer
from pipeline.chain import answer_question, pipeline_config
from pipeline.grounding import judge_settings
from pipeline.llm import LLMError, make_chat_model
from pipeline.rerank import similarity
from settings import URL_FIELDS, Settings, public_url

DEFAULT_METRICS = [MetricName.FAITHFULNESS, MetricName.ANSWER_RELEVANCY, MetricName.CONTEXT_PRECISION,
                   MetricName.CONTEXT_RECALL]
MAX_CONSECUTIVE_ANSWER_ERRORS = 3

Progress = Callable[[int, int, str], None]
ShouldContinue = Callable[[], bool]


@dataclass
class Components:
    """What a run talks to; built once by the CLI or the page and shared by every run of a sweep."""

    store: VectorStore
    embedder: Embeddings
    llm: BaseChatModel
    judge: Judge
    runs: RunStore
    cache: ResultCache | None = None


_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


def normalize_text(text: str) -> str:
    """Lower case, punctuation to spaces, single spaces: for containment checks."""
    return " ".join(_NON_WORD.sub(" ", text.lower()).split())


def reference_found(reference: str, answer: str) -> bool:
    """The cheap correctness check: the reference appears in the answer, ignoring case and punctuation."""
    ref = normalize_text(reference)
    return bool(ref) and f" {ref} " in f" {normalize_text(answer)} "


def outcome_of(item: EvalItem, answer: Answer) -> str:
    """Abstention is an outcome, not a missing score; an answer with a reference is checked against it."""
    if item.answerable is False:
        return "correct_abstention" if answer.abstained else "hallucinated_answer"
    if answer.abstained:
        return "false_abstention" if item.answerable or item.reference else "abstained"
    if item.reference:
        return "correct_answer" if reference_found(item.reference, answer.answer) else "wrong_answer"
    return "answered"


def run_config(settings: Settings, judge: Judge, metrics: list[MetricName], repeats: int = 1,
               eval_set_path: Path | None = None, extra: dict | None = None) -> dict:
    judge_url, _ = settings.judge_endpoint
    return {**pipeline_config(settings), "chunk_size": settings.chunk_size, "chunk_overlap": settings.chunk_overlap,
            "judge_model": judge.model, "judge_base_url": public_url(judge_url), "metrics": [m.value for m in metrics],
            "repeats": repeats, "eval_set_path": str(eval_set_path) if eval_set_path else None,
            "settings": settings.storable(), **(extra or {})}


def settings_of_run(base: Settings, config: dict) -> Settings:
    """The settings a stored run was made with (on top of this machine's secrets and folders).

    Runs stored before the full settings were recorded fall back to the pipeline keys of their config. A URL was
    stored without its credentials: where it is this machine's configured one, the configured one (with them) is used.
    """
    stored = dict(config.get("settings") or {k: v for k, v in config.items() if k in Settings.model_fields})
    if "llm_base_url" in config and "settings" not in config:
        stored["openai_base_url"] = config["llm_base_url"]
    for field in URL_FIELDS:
        if stored.get(field) and stored[field] == public_url(getattr(base, field)):
            stored[field] = getattr(base, field)
    return base.with_overrides(**stored)


def eval_set_of_run(base: Settings, config: dict, eval_set: str) -> Path | None:
    """Where a stored run's eval set is: its recorded path, else a file of that name in the usual places."""
    recorded = config.get("eval_set_path")
    candidates = [Path(recorded)] if recorded else [base.sample_eval_set, base.data_dir / "evalsets" / eval_set]
    return next((p for p in candidates if p.name == eval_set and p.exists()), None)


def run_evaluation(settings: Settings, items: list[EvalItem], eval_set: str, parts: Components, *,
                   metrics: list[MetricName] | None = None, repeats: int = 1, eval_set_path: Path | None = None,
                   extra_config: dict | None = None, progress: Progress | None = None,
                   should_continue: ShouldContinue | None = None) -> str:
    """Returns the run id. Raises (before storing anything) if the collection or judge is unusable."""
    metrics = metrics or DEFAULT_METRICS
    parts.store.check(settings.collection)
    parts.judge.check()
    config = run_config(settings, parts.judge, metrics, repeats, eval_set_path, extra_config)
    run_id = parts.runs.create_run(eval_set, len(items), config)
    _execute(settings, run_id, items, set(), parts, metrics, repeats, progress, should_continue)
    return run_id


def resume_evaluation(settings: Settings, run_id: str, items: list[EvalItem], parts: Components, *,
                      progress: Progress | None = None, should_continue: ShouldContinue | None = None) -> str:
    """Continue a stored run from its first missing row, with the metrics and repeats it started with."""
    run = parts.runs.run(run_id)
    if run is None:
        raise KeyError(run_id)
    parts.store.check(settings.collection)
    parts.judge.check()
    done = {s.idx for s in parts.runs.samples(run_id) if s.outcome != "error"}
    parts.runs.finish_run(run_id, "running")
    metrics = [MetricName(m) for m in run.config.get("metrics", [])] or DEFAULT_METRICS
    _execute(settings, run_id, items, done, parts, metrics, int(run.config.get("repeats", 1)), progress, should_continue)
    return run_id


def _execute(settings: Settings, run_id: str, items: list[EvalItem], done: set[int], parts: Components,
             metrics: list[MetricName], repeats: int, progress: Progress | None,
             should_continue: ShouldContinue | None) -> None:
    llm, grounding = _answer_models(settings, parts)
    consecutive_errors = 0
    try:
        for idx, item in enumerate(items):
            if idx in done:
                continue
            if should_continue is not None and not should_continue():
                parts.runs.finish_run(run_id, "cancelled", f"cancelled after {idx} of {len(items)} questions")
                return
            if progress:
                progress(idx, len(items), item.question)
            row = _evaluate_one(settings, item, idx, parts, llm, grounding, metrics, repeats)
            parts.runs.add_sample(run_id, row)
            consecutive_errors = consecutive_errors + 1 if row.outcome == "error" else 0
            if consecutive_errors >= MAX_CONSECUTIVE_ANSWER_ERRORS:
                parts.runs.finish_run(run_id, "failed", f"stopped after {consecutive_errors} answer errors in a row: {row.error}")
                return
    except BaseException as exc:  # KeyboardInterrupt included: keep the rows, mark the run
        parts.runs.finish_run(run_id, "failed", f"interrupted: {exc.__class__.__name__}: {exc}")
        raise
    parts.runs.finish_run(run_id, "completed")
    if progress:
        progress(len(items), len(items), "")


def _answer_models(settings: Settings, parts: Components) -> tuple[BaseChatModel, BaseChatModel | None]:
    """The answering model and, when one is configured apart, the grounding model, both behind the answer cache.

    Streaming is turned off on the copies: LangChain consults its LLM cache on invoke, not on stream.
    """
    if parts.cache is None:
        return parts.llm, None
    cache = parts.cache.answer_cache(pipeline_config(settings))

    def cached(model: BaseChatModel) -> BaseChatModel:
        return model.model_copy(update={"cache": cache, "disable_streaming": True})

    grounding = cached(make_chat_model(judge_settings(settings))) if settings.grounding_model else None
    return cached(parts.llm), grounding


def _evaluate_one(settings: Settings, item: EvalItem, idx: int, parts: Components, llm: BaseChatModel,
                  grounding: BaseChatModel | None, metrics: list[MetricName], repeats: int) -> SampleRow:
    base = {"idx": idx, "item_id": item.id, "question": item.question, "reference": item.reference,
            "answerable": item.answerable, "kind": item.kind}
    try:
        answer = answer_question(settings, parts.store, parts.embedder, llm, item.question, grounding)
    except LLMError as exc:
        return SampleRow(**base, answer=None, abstained=None, abstain_reason=None, outcome="error", contexts=[],
                         metrics=[], error=f"answering failed: {exc}", seconds=None)
    seconds = _answer_seconds(settings, parts.cache, item, answer)
    contexts = [c.text for c in answer.contexts]
    results = asyncio.run(parts.judge.score(item.question, answer.answer, contexts, metrics, answer.abstained,
                                            reference=item.reference, repeats=repeats))
    return SampleRow(
        **base, answer=answer.answer, abstained=answer.abstained, abstain_reason=answer.abstain_reason,
        outcome=outcome_of(item, answer),
        contexts=[{"id": c.id, "source": c.source, "score": c.score, "similarity": similarity(c), "text": c.text}
                  for c in answer.contexts],
        metrics=[r.model_dump(mode="json") for r in results], error=None, seconds=seconds,
        answer_check_p=check.p_supported if (check := answer.grounding and answer.grounding.answer_check) else None,
    )


def _answer_seconds(settings: Settings, cache: ResultCache | None, item: EvalItem, answer: Answer) -> float:
    """Latency of the first, uncached answer for this config and these chunks: a cached re-run keeps it."""
    if cache is None:
        return answer.seconds
    key = cache_key("answer-seconds", pipeline_config(settings), item.question, [c.id for c in answer.contexts])
    stored = cache.get("answers", key)
    if stored is not None:
        return float(stored)
    cache.put("answers", key, repr(answer.seconds))
    return answer.seconds
