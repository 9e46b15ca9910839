"""What an evaluation will cost before it runs: minutes with the bundled models on two CPU cores.

From measured seconds (docs/benchmarks.md, 2026-12-02, the 20 sample questions with all four metrics): answering and
checking one question (`ANSWER_SECONDS`), and each metric per scored question (metrics.SECONDS_PER_QUESTION). Which
questions a metric scores follows from the set: faithfulness and answer relevancy score answers (every answerable
question, and the share of unanswerable ones the pipeline answered anyway on that run, `UNANSWERABLE_ANSWERED`);
context precision and recall score questions with a reference answer. A sample's metric calls run
`judge_concurrency` at a time, so a sample takes the longest metric or the sum over the slots, whichever is more.
That model gives 19.5 min for the measured run (measured: 20 min 19 s). Another machine or endpoint differs.
"""

from __future__ import annotations

from collections.abc import Iterable

from evaluation.evalset import EvalItem
from evaluation.metrics import NEEDS_REFERENCE, SECONDS_PER_QUESTION, MetricName

ANSWER_SECONDS = 7.0  # answering and checking one question (the default since 2026-12-05 takes 0.94x: same figure)
UNANSWERABLE_ANSWERED = 0.4  # unanswerable questions the default pipeline answered anyway: 4 of 10 on that run


def _judging(metrics: list[MetricName], concurrency: int) -> float:
    seconds = [SECONDS_PER_QUESTION[m] for m in metrics]
    return max(max(seconds), sum(seconds) / concurrency) if seconds else 0.0


def seconds(items: Iterable[EvalItem], metrics: Iterable[MetricName], concurrency: int = 2) -> float:
    """Expected wall seconds to answer and judge `items` with `metrics` (the bundled models, two cores)."""
    metrics = list(metrics)
    total = 0.0
    for item in items:
        on_answer = [m for m in metrics if m not in NEEDS_REFERENCE]
        on_reference = [m for m in metrics if m in NEEDS_REFERENCE] if item.reference else []
        answered = UNANSWERABLE_ANSWERED if item.answerable is False else 1.0
        both = _judging(on_answer + on_reference, concurrency)
        total += ANSWER_SECONDS + answered * both + (1 - answered) * _judging(on_reference, concurrency)
    return total


def duration(total_seconds: float) -> str:
    """"about 20 min", "about 6 h 20 min": how a cost reads on a page."""
    minutes = max(1, round(total_seconds / 60))
    if minutes < 60:
        return f"about {minutes} min"
    return f"about {minutes // 60} h" + (f" {minutes % 60} min" if minutes % 60 else "")
