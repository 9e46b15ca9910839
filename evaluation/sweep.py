"""Sweeps (chunk size/overlap × top-k grids) and the optimisation ladder: many runs on one eval set.

A sweep runs cheap first by default (`run_cheap_first`): every cell is screened by retrieval alone on the whole
eval set, and only the best few get the full LLM evaluation; `run_configs` evaluates every cell in full.

Each chunk configuration is ingested once into a collection of its own (reused when it already holds
chunks); every top-k of that chunk configuration searches the same collection. Progress reports an ETA
from the questions done so far. Cancelling is `should_continue` returning False (a callable, so a page's
threading.Event or a CLI's budget both fit): it is asked before each config, after each ingest and before each
question. Finished runs stay in the run store, tagged with the sweep or ladder id; the run in flight is marked
"cancelled" with the rows it completed, and `python -m evaluation resume RUN_ID` finishes it.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from evaluation.evalset import EvalItem
from evaluation.intervals import Estimate
from evaluation.metrics import JudgeUnavailableError, MetricName
from evaluation.runner import Components, Progress, ShouldContinue, run_evaluation
from evaluation.screening import STAGE_FULL, STAGE_RETRIEVAL, QueryMemo, estimates, pick_finalists, screen_config
from ingest.collections import collection_name
from ingest.embedder import embedder_info
from ingest.ingestor import ingest_whole, sources_for
from settings import Settings

CHUNK_FIELDS = ("chunk_strategy", "chunk_size", "chunk_overlap")
DEFAULT_FINALISTS = 2  # configs a cheap-first sweep evaluates in full: the best, and one to tell it from


class SweepError(ValueError):
    """A sweep or ladder definition that cannot run; the message says which value is wrong."""


class NamedConfig(BaseModel):
    name: str
    overrides: dict = Field(default_factory=dict)


@dataclass(frozen=True)
class SweepProgress:
    step: int  # 1-based config being run
    steps: int
    questions_done: int
    questions_total: int
    label: str
    elapsed_s: float
    eta_s: float | None  # None until the first question is done (of this stage)
    stage: str = ""  # a cheap-first sweep's stage (screening.STAGE_RETRIEVAL or STAGE_FULL); "" for one-stage runs

    def describe(self) -> str:
        eta = "" if self.eta_s is None else f" · about {self.eta_s / 60:.0f} min left" if self.eta_s >= 90 else f" · about {self.eta_s:.0f} s left"
        stage = f"{self.stage}: " if self.stage else ""
        return f"{stage}step {self.step}/{self.steps} ({self.label}) · {self.questions_done}/{self.questions_total} questions{eta}"


SweepProgressFn = Callable[[SweepProgress], None]


def chunk_collection_name(base: str, settings: Settings) -> str:
    """The collection holding `base`'s documents embedded and chunked as `settings` says."""
    return collection_name(base, embedder_info(settings).id, settings.chunk_strategy, settings.chunk_size,
                           settings.chunk_overlap)


def grid(chunk_sizes: list[int], chunk_overlaps: list[int], top_ks: list[int]) -> list[NamedConfig]:
    """Every valid (size, overlap) pair × every top-k, chunk configuration outermost so each is ingested once."""
    if not (chunk_sizes and chunk_overlaps and top_ks):
        raise SweepError("a sweep needs at least one chunk size, one overlap and one top-k")
    pairs = [(size, overlap) for size, overlap in itertools.product(chunk_sizes, chunk_overlaps) if overlap < size]
    if not pairs:
        raise SweepError("every overlap is at least as large as every chunk size: no chunk configuration is valid")
    return [NamedConfig(name=f"size {size} · overlap {overlap} · top-k {k}",
                        overrides={"chunk_size": size, "chunk_overlap": overlap, "top_k": k})
            for (size, overlap), k in itertools.product(pairs, top_ks)]


def load_ladder(path: Path) -> list[NamedConfig]:
    """A JSON list of {"name": ..., "overrides": {setting: value}}, baseline first."""
    try:
        steps = [NamedConfig.model_validate(s) for s in json.loads(path.read_text(encoding="utf-8"))]
    except (OSError, ValueError, TypeError, ValidationError) as exc:
        raise SweepError(f"{path}: not a ladder (a JSON list of {{name, overrides}}): {exc}") from exc
    if not steps:
        raise SweepError(f"{path}: the ladder has no steps")
    return steps


def validate(settings: Settings, configs: list[NamedConfig]) -> list[Settings]:
    """Each config's settings, or SweepError naming the step whose overrides are invalid."""
    out = []
    for config in configs:
        unknown = set(config.overrides) - set(Settings.model_fields)
        if unknown:
            raise SweepError(f"step {config.name!r}: unknown settings {sorted(unknown)}")
        try:
            out.append(settings.with_overrides(**config.overrides))
        except ValidationError as exc:
            raise SweepError(f"step {config.name!r}: {exc.errors()[0]['msg']}") from exc
    return out


def run_configs(settings: Settings, configs: list[NamedConfig], items: list[EvalItem], eval_set: str,
                parts: Components, *, kind: str, kb_root: Path, metrics: list[MetricName] | None = None,
                repeats: int = 1, eval_set_path: Path | None = None, progress: SweepProgressFn | None = None,
                should_continue: ShouldContinue | None = None) -> tuple[str, list[str]]:
    """Run every config on `items`; returns (sweep or ladder id, run ids). `kind` is "sweep" or "ladder".

    A config that changes chunking (every sweep config) searches its own collection, ingested from `kb_root`
    the first time; a ladder step that keeps the base chunking searches the base collection.
    """
    all_settings = validate(settings, configs)
    group_id = f"{kind}-" + uuid.uuid4().hex[:8]
    steps = [(step, config, s) for step, (config, s) in enumerate(zip(configs, all_settings, strict=True), start=1)]
    run_ids = _evaluate_steps(settings, steps, items, eval_set, parts, kind=kind, group_id=group_id, kb_root=kb_root,
                              metrics=metrics, repeats=repeats, eval_set_path=eval_set_path,
                              clock=_Clock(progress, len(steps), len(items)), should_continue=should_continue)
    return group_id, run_ids


def run_cheap_first(settings: Settings, configs: list[NamedConfig], items: list[EvalItem], eval_set: str,
                    parts: Components, *, kb_root: Path, finalists: int = DEFAULT_FINALISTS,
                    full_questions: int | None = None, metrics: list[MetricName] | None = None, repeats: int = 1,
                    eval_set_path: Path | None = None, progress: SweepProgressFn | None = None,
                    should_continue: ShouldContinue | None = None) -> tuple[str, list[str]]:
    """A sweep in two stages; returns (sweep id, run ids of the finalists' full evaluations).

    Stage 1 screens every config on every item by retrieval alone (evaluation/screening.py: no LLM call). Stage 2
    runs the full evaluation (answers and the Ragas judge) for the `finalists` configs that stage 1 ranks best, 0 for
    none, on the first `full_questions` items (all when None): a subset, since it costs minutes per question. One cut, not rounds of halving: stage 1 is already exact for every config on the whole
    set, so a second cheap round would rank the same numbers again, and each LLM round costs minutes per question.
    A cancel in stage 1 ends the sweep there (no config is judged on a partial ranking).
    """
    all_settings = validate(settings, configs)
    if finalists > 0:  # a judge that is down stops the sweep before anything is stored, as run_evaluation does
        try:
            parts.judge.check()
        except JudgeUnavailableError as exc:
            raise JudgeUnavailableError(f"{exc} (a cheap-first sweep with 0 finalists screens by retrieval alone and "
                                        "needs no LLM)") from exc
    group_id = "sweep-" + uuid.uuid4().hex[:8]
    clock = _Clock(progress, len(configs), len(items), STAGE_RETRIEVAL)
    screening = replace(parts, embedder=QueryMemo(parts.embedder))  # each question embedded once for every cell
    cells: dict[int, dict[str, Estimate]] = {}
    for step, (config, step_settings) in enumerate(zip(configs, all_settings, strict=True), start=1):
        if not _continues(should_continue):
            return group_id, []
        step_settings = _prepared(settings, step_settings, "sweep", parts, kb_root, should_continue)
        if step_settings is None:
            return group_id, []
        screen_id = screen_config(step_settings, items, eval_set, screening,
                                  _group_config("sweep", group_id, step, config, kb_root),
                                  clock.step(step, config.name), should_continue)
        if not _continues(should_continue):
            return group_id, []
        cells[step] = estimates(parts.runs.screen_rows(screen_id))
    chosen = pick_finalists(cells, finalists)
    steps = [(step, configs[step - 1], all_settings[step - 1]) for step in chosen]
    judged = items[:full_questions] if full_questions else items
    run_ids = _evaluate_steps(settings, steps, judged, eval_set, parts, kind="sweep", group_id=group_id, kb_root=kb_root,
                              metrics=metrics, repeats=repeats, eval_set_path=eval_set_path,
                              clock=_Clock(progress, len(steps), len(judged), STAGE_FULL), should_continue=should_continue)
    return group_id, run_ids


@dataclass
class _Clock:
    """Turns one run's (done, total, question) progress into SweepProgress over a whole stage, with its ETA."""

    progress: SweepProgressFn | None
    steps: int
    per_step: int
    stage: str = ""
    began: float = field(default_factory=time.monotonic)

    def step(self, n: int, label: str) -> Progress:
        def tell(done: int, _total: int = 0, _question: str = "") -> None:
            if self.progress:
                finished, total = (n - 1) * self.per_step + done, self.steps * self.per_step
                elapsed = time.monotonic() - self.began
                eta = elapsed * (total - finished) / finished if finished else None
                self.progress(SweepProgress(n, self.steps, finished, total, label, elapsed, eta, self.stage))
        return tell


def _continues(should_continue: ShouldContinue | None) -> bool:
    return should_continue is None or should_continue()


def _group_config(kind: str, group_id: str, step: int, config: NamedConfig, kb_root: Path) -> dict:
    """What a member run or screen records of its group; `kb_root` is where its own collection is ingested from, so
    a profile made from it can ingest that collection again where it is missing."""
    return {f"{kind}_id": group_id, f"{kind}_step": step, f"{kind}_name": config.name, "overrides": config.overrides,
            "kb_root": str(kb_root)}


def _prepared(base: Settings, step_settings: Settings, kind: str, parts: Components, kb_root: Path,
              should_continue: ShouldContinue | None) -> Settings | None:
    """The step's settings pointed at its own chunking's collection (ingested if new), or at the base collection.

    None when cancelled while ingesting (which can take minutes): the caller stores nothing for this step.
    """
    if kind == "sweep" or any(getattr(step_settings, f) != getattr(base, f) for f in CHUNK_FIELDS):
        step_settings = step_settings.with_overrides(collection=chunk_collection_name(base.collection, step_settings))
        _ensure_ingested(step_settings, parts, kb_root, should_continue)
        if not _continues(should_continue):
            return None
    return step_settings


def _evaluate_steps(settings: Settings, steps: list[tuple[int, NamedConfig, Settings]], items: list[EvalItem],
                    eval_set: str, parts: Components, *, kind: str, group_id: str, kb_root: Path,
                    metrics: list[MetricName] | None, repeats: int, eval_set_path: Path | None, clock: _Clock,
                    should_continue: ShouldContinue | None) -> list[str]:
    """The full evaluation of each (step number, config, settings), stored as runs of the group; their ids."""
    run_ids: list[str] = []
    for n, (step, config, step_settings) in enumerate(steps, start=1):
        if not _continues(should_continue):
            break
        step_settings = _prepared(settings, step_settings, kind, parts, kb_root, should_continue)
        if step_settings is None:
            break
        tell = clock.step(n, config.name)
        tell(0)
        run_ids.append(run_evaluation(
            step_settings, items, eval_set, parts, metrics=metrics, repeats=repeats, eval_set_path=eval_set_path,
            extra_config=_group_config(kind, group_id, step, config, kb_root), progress=tell,
            should_continue=should_continue))
    return run_ids


def _ensure_ingested(settings: Settings, parts: Components, kb_root: Path,
                     should_continue: ShouldContinue | None = None) -> None:
    """Ingest the config's collection unless it holds chunks; a cancelled ingest leaves no collection behind
    (a non-empty collection is taken as complete: the next sweep reuses it)."""
    report = ingest_whole(settings, parts.store, parts.embedder, sources_for(kb_root), settings.collection,
                          should_continue=should_continue)
    if report is None or report.cancelled:
        return
    if report.total_chunks == 0:
        reasons = "; ".join(f"{o.source}: {o.reason}" for o in report.failed) or "no files found"
        raise SweepError(f"nothing could be ingested from {kb_root} into {settings.collection!r}: {reasons}")
