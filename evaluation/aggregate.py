"""Per-metric aggregates that always say how many samples were actually scored."""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel

from evaluation.runstore import SampleRow


class MetricAggregate(BaseModel):
    metric: str
    mean: float | None
    n_scored: int
    n_failed: int
    n_skipped: int
    n_total: int

    @property
    def label(self) -> str:
        mean = "n/a" if self.mean is None else f"{self.mean:.2f}"
        return f"{self.metric}: {mean} ({self.n_scored} of {self.n_total} scored)"


def aggregate(samples: list[SampleRow], metrics: list[str]) -> list[MetricAggregate]:
    out = []
    for metric in metrics:
        results = [m for s in samples for m in s.metrics if m["metric"] == metric]
        scores = [m["score"] for m in results if m["status"] == "scored"]
        statuses = Counter(m["status"] for m in results)
        out.append(MetricAggregate(
            metric=metric,
            mean=sum(scores) / len(scores) if scores else None,
            n_scored=len(scores),
            n_failed=statuses["failed"] + sum(1 for s in samples if s.outcome == "error"),
            n_skipped=statuses["skipped"],
            n_total=len(samples),
        ))
    return out


def outcome_counts(samples: list[SampleRow]) -> dict[str, int]:
    return dict(Counter(s.outcome for s in samples))
