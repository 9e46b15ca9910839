"""What a run or a sweep will cost, said before it starts (evaluation/cost.py has the numbers and where they are from)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from evaluation import cost
from evaluation.evalset import EvalItem, EvalSetError, load_eval_set
from evaluation.metrics import MetricName
from evaluation.runner import DEFAULT_METRICS
from evaluation.sweep import DEFAULT_FINALISTS
from settings import Settings

FULL_DEFAULT = 20  # questions a sweep's finalists are judged on unless the user chooses: the quick set's 20
SIZES = (10, 20, 50, 100)


def bundled_sets(settings: Settings) -> dict[str, list[EvalItem]]:
    """The bundled sample sets that can be read, by the name a page calls them."""
    sets = {}
    for label, path in (("quick", settings.sample_eval_set), ("large", settings.sample_eval_set_large)):
        try:
            sets[label] = load_eval_set(path)
        except EvalSetError:
            continue
    return sets


def sweep_set(settings: Settings) -> Path:
    """The set a sweep runs on: the large sample (its retrieval stage tells cells apart), else the quick one."""
    return settings.sample_eval_set_large if settings.sample_eval_set_large.exists() else settings.sample_eval_set


def evaluation_caption(settings: Settings, items: list[EvalItem], metrics: list[MetricName]) -> None:
    """Under the Evaluation page's run form: what this run and each bundled set would take with these metrics."""
    if not items or not metrics:
        return
    sizes = "; ".join(f"{label} sample, {len(rows)} questions: {cost.duration(cost.seconds(rows, metrics))}"
                      for label, rows in bundled_sets(settings).items())
    st.caption(f"**{len(items)} questions** with these metrics: **{cost.duration(cost.seconds(items, metrics))}** "
               f"with the bundled models on two CPU cores (answering plus the judge; cached answers and scores cost "
               f"nothing). The bundled sets: {sizes}. *Questions* takes the first N of a set.")


def sweep_caption(settings: Settings, path: Path) -> None:
    """Above the Tune page's sweep form: the retrieval stage's cost, and the full evaluation's per finalist by size."""
    try:
        items = load_eval_set(path)
    except EvalSetError:
        return
    per_finalist = ", ".join(f"{n} questions {cost.duration(cost.seconds(items[:n], DEFAULT_METRICS))}"
                             for n in (*[s for s in SIZES if s < len(items)], len(items)))
    st.caption(f"The sweep runs on `{path}` ({len(items)} questions, "
               f"{sum(i.answerable is True for i in items)} answerable). The retrieval stage screens every cell on "
               "every question without an LLM: seconds per cell, plus ingesting each new chunking once (under a "
               f"minute for the sample). The full evaluation, all four metrics, per finalist ({DEFAULT_FINALISTS} by "
               f"default), with the bundled models on two CPU cores: {per_finalist}.")
