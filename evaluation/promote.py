"""What "Use this configuration" keeps of a run, a sweep cell or a ladder step: its settings and its scores.

A run stores the settings it was made with (`Settings.storable()`), and a cheap-first sweep's retrieval-only cell
stores them too (evaluation/screening.py); a profile keeps the part that differs from the built-in defaults
(ops.profiles.changed_fields). The scores come with their 95 % intervals, so the Ask page can say what the
configuration it starts from measured, and on what.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, NamedTuple

from evaluation.aggregate import question_estimates
from evaluation.intervals import Estimate
from evaluation.runner import settings_of_run
from evaluation.runstore import RunStore, RunSummary
from evaluation.screening import SCREEN_METRICS, estimates
from ops.profiles import ProfileError, ProfileOrigin, changed_fields
from settings import Settings

RUN_MEASURES = ("faithfulness", "answer_relevancy", "context_precision", "context_recall", "answer_accuracy",
                "hallucination_rate")


class Draft(NamedTuple):
    """A profile not saved yet: a name to suggest, the settings it would keep, where they came from."""

    name: str
    settings: dict[str, Any]
    origin: ProfileOrigin


def _scores(found: dict[str, Estimate], measures: tuple[str, ...] | list[str]) -> dict[str, list[float | None]]:
    return {m: [found[m].value, found[m].low, found[m].high] for m in measures
            if m in found and found[m].value is not None}


def _name(*parts: object) -> str:
    """A suggested profile name: the parts joined, every character outside an identifier's alphabet made a '-'."""
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", "-".join(str(p) for p in parts if p not in (None, ""))).strip("-._")
    return (text or "profile")[:100]


def _stored_settings(base: Settings, config: dict) -> dict[str, Any]:
    """The settings a run or screen was made with, as stored; rebuilt from its config for ones stored before that."""
    if isinstance(config.get("settings"), dict):
        return config["settings"]
    return settings_of_run(base, config).storable()


def _kind(config: dict) -> tuple[str, str | None, str | None]:
    """(kind, group id, member name) of a run: a ladder step, a sweep cell or an evaluation run of its own."""
    for kind, label in (("ladder", "ladder step"), ("sweep", "sweep cell")):
        if config.get(f"{kind}_id"):
            return label, config[f"{kind}_id"], config.get(f"{kind}_name")
    return "evaluation run", None, None


def from_run(base: Settings, runs: RunStore, run: RunSummary) -> Draft:
    """A run's settings and its scores over its questions (the Ragas metrics it ran, answers right, unanswerable
    questions answered)."""
    samples = runs.samples(run.id)
    if not samples:
        raise ProfileError(f"run {run.id} has no answered questions yet: there is nothing to go on")
    kind, group, label = _kind(run.config)
    found = question_estimates(samples, run.config.get("metrics", []))
    step = run.config.get("ladder_step") or run.config.get("sweep_step")
    origin = ProfileOrigin(kind=kind, ref=group or run.id, label=label, eval_set=run.eval_set, questions=len(samples),
                           scores=_scores(found, RUN_MEASURES), kb=run.config.get("kb_root"))
    name = _name(group, f"step{step}") if group else _name("run", run.id)
    return Draft(name, changed_fields(_stored_settings(base, run.config)), origin)


def from_sweep_cell(base: Settings, runs: RunStore, sweep_id: str, step: int) -> Draft:
    """A cheap-first sweep cell: its settings, its retrieval-only numbers on every question and, for a finalist, the
    full evaluation's scores too. A sweep evaluated in full has runs only: each cell is its run."""
    screen = next((s for s in runs.screens_of(sweep_id) if s.config.get("sweep_step") == step), None)
    run = next((r for r in runs.runs_of("sweep_id", sweep_id) if r.config.get("sweep_step") == step), None)
    if screen is None:
        if run is None:
            raise ProfileError(f"sweep {sweep_id} has no cell {step}")
        return from_run(base, runs, run)
    rows = runs.screen_rows(screen.id)
    if not rows:
        raise ProfileError(f"cell {step} of sweep {sweep_id} screened no question yet: there is nothing to go on")
    scores = _scores(estimates(rows), SCREEN_METRICS)
    if run is not None and (samples := runs.samples(run.id)):
        scores |= _scores(question_estimates(samples, run.config.get("metrics", [])), RUN_MEASURES)
    config = screen.config
    origin = ProfileOrigin(kind="sweep cell", ref=sweep_id, label=config.get("sweep_name"), eval_set=screen.eval_set,
                           questions=len(rows), scores=scores, kb=config.get("kb_root") or str(base.sample_kb))
    name = _name(sweep_id, f"size{config.get('chunk_size')}", f"overlap{config.get('chunk_overlap')}",
                 f"k{config.get('top_k')}")
    return Draft(name, changed_fields(_stored_settings(base, config)), origin)


def from_choices(settings: Settings, kb: Path | None = None) -> Draft:
    """The Ask page's sidebar choices as they stand (no scores: nothing was measured)."""
    origin = ProfileOrigin(kind="Ask page", label="sidebar choices", kb=str(kb) if kb else None)
    return Draft("my-choices", changed_fields(settings.storable()), origin)
