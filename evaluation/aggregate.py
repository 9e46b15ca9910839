"""Per-metric aggregates that always say how many samples were actually scored; abstention outcomes and labels.

With r judgements per sample (repeatability runs) a sample's score is the mean of its scored judgements, and
the 95 % interval is Student's t over the r run-level means (one mean per repeat index).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Sequence

from pydantic import BaseModel
from scipy.stats import t as student_t

from evaluation.intervals import Estimate, mean, rate
from evaluation.runner import normalize_text
from evaluation.runstore import SampleRow

OUTCOMES = ["correct_answer", "wrong_answer", "answered", "false_abstention", "correct_abstention",
            "hallucinated_answer", "abstained", "error"]
EXPECTED = {"correct_answer": "answerable", "wrong_answer": "answerable", "false_abstention": "answerable",
            "correct_abstention": "unanswerable", "hallucinated_answer": "unanswerable"}
GOT = {"correct_answer": "correct answer", "wrong_answer": "wrong answer", "answered": "answer (unchecked)",
       "hallucinated_answer": "answer (unchecked)", "false_abstention": "abstained", "correct_abstention": "abstained",
       "abstained": "abstained", "error": "error"}


class MetricAggregate(BaseModel):
    metric: str
    mean: float | None
    n_scored: int
    n_failed: int
    n_skipped: int
    n_total: int
    repeats: int = 1
    ci_low: float | None = None  # 95 % interval of the run mean over repeats; None with one judgement
    ci_high: float | None = None

    @property
    def label(self) -> str:
        mean = "n/a" if self.mean is None else f"{self.mean:.2f}"
        ci = f" ±{(self.ci_high - self.ci_low) / 2:.2f}" if self.ci_low is not None and self.ci_high is not None else ""
        return f"{self.metric}: {mean}{ci} ({self.n_scored} of {self.n_total} scored)"


def metric_status(sample: SampleRow, metric: str) -> tuple[str, float | None, str | None]:
    """(status, score, reason) of one metric of one sample, its repeats folded: scored if any repeat scored."""
    results = [m for m in sample.metrics if m["metric"] == metric]
    if sample.outcome == "error":
        return "failed", None, sample.error
    scores = [m["score"] for m in results if m["status"] == "scored"]
    if scores:
        return "scored", sum(scores) / len(scores), None
    if not results:
        return "missing", None, None
    return results[0]["status"], None, results[0].get("reason")


def _interval(per_repeat_means: list[float]) -> tuple[float | None, float | None]:
    if len(per_repeat_means) < 2:
        return None, None
    mean = statistics.fmean(per_repeat_means)
    half = student_t.ppf(0.975, len(per_repeat_means) - 1) * statistics.stdev(per_repeat_means) / len(per_repeat_means) ** 0.5
    return max(0.0, mean - half), min(1.0, mean + half)


def aggregate(samples: list[SampleRow], metrics: list[str]) -> list[MetricAggregate]:
    out = []
    for metric in metrics:
        folded = [metric_status(s, metric) for s in samples]
        scores = [score for status, score, _ in folded if status == "scored" and score is not None]
        statuses = Counter(status for status, _, _ in folded)
        repeats = sorted({m.get("repeat", 0) for s in samples for m in s.metrics if m["metric"] == metric}) or [0]
        per_repeat = []
        for r in repeats:
            values = [m["score"] for s in samples for m in s.metrics
                      if m["metric"] == metric and m.get("repeat", 0) == r and m["status"] == "scored"]
            if values:
                per_repeat.append(statistics.fmean(values))
        low, high = _interval(per_repeat)
        out.append(MetricAggregate(
            metric=metric, mean=statistics.fmean(scores) if scores else None, n_scored=len(scores),
            n_failed=statuses["failed"], n_skipped=statuses["skipped"], n_total=len(samples), repeats=len(repeats),
            ci_low=low, ci_high=high,
        ))
    return out


def question_estimates(samples: list[SampleRow], metrics: list[str]) -> dict[str, Estimate]:
    """A run's numbers with 95 % intervals over its questions (a sweep cell's spread, unlike `aggregate`'s over repeats).

    Each metric: the mean of the scored questions (bootstrap); answer_accuracy / hallucination_rate: shares of the
    labelled answerable / unanswerable questions (Wilson); seconds: mean answer latency (bootstrap).
    """
    out = {metric: mean([score for status, score, _ in (metric_status(s, metric) for s in samples)
                         if status == "scored" and score is not None]) for metric in metrics}
    counts = Counter(s.outcome for s in samples)
    answerable = sum(counts[o] for o, expected in EXPECTED.items() if expected == "answerable")
    unanswerable = sum(counts[o] for o, expected in EXPECTED.items() if expected == "unanswerable")
    out["answer_accuracy"] = rate(counts["correct_answer"], answerable)
    out["hallucination_rate"] = rate(counts["hallucinated_answer"], unanswerable)
    out["seconds"] = mean([s.seconds for s in samples if s.seconds is not None])
    return out


def outcome_counts(samples: list[SampleRow]) -> dict[str, int]:
    return dict(Counter(s.outcome for s in samples))


class AbstentionReport(BaseModel):
    """The confusion matrix (expected: answerable / unanswerable × what the pipeline did) and its rates."""

    matrix: dict[str, dict[str, int]]
    rates: dict[str, float | None]
    n_labelled: int
    n_total: int


ANSWER_ACCURACY = "answer accuracy (answerable)"
HALLUCINATION_RATE = "hallucination rate (unanswerable)"  # unanswerable questions answered anyway


def _rate(num: int, den: int) -> float | None:
    return num / den if den else None


def abstention_report(samples: list[SampleRow]) -> AbstentionReport:
    counts = Counter(s.outcome for s in samples)
    matrix: dict[str, dict[str, int]] = {"answerable": {}, "unanswerable": {}}
    for outcome, n in counts.items():
        if outcome in EXPECTED:
            row = matrix[EXPECTED[outcome]]
            row[GOT[outcome]] = row.get(GOT[outcome], 0) + n
    answerable = counts["correct_answer"] + counts["wrong_answer"] + counts["false_abstention"]
    unanswerable = counts["correct_abstention"] + counts["hallucinated_answer"]
    rates = {
        ANSWER_ACCURACY: _rate(counts["correct_answer"], answerable),
        "false abstention rate (answerable)": _rate(counts["false_abstention"], answerable),
        "correct abstention rate (unanswerable)": _rate(counts["correct_abstention"], unanswerable),
        HALLUCINATION_RATE: _rate(counts["hallucinated_answer"], unanswerable),
    }
    return AbstentionReport(matrix=matrix, rates=rates, n_labelled=answerable + unanswerable, n_total=len(samples))


def failure_label(sample: SampleRow) -> str:
    """What went wrong with one sample, in the words of the drill-down: retrieval miss, hallucination, …

    A wrong answer is a retrieval miss only if its stored passages lack the reference; rows stored without passages
    (bench runs) are not called one.
    """
    if sample.outcome == "error":
        return "error"
    if sample.outcome == "correct_abstention":
        return "correct abstention"
    if sample.outcome == "hallucinated_answer":
        return "hallucination"
    searched = sample.contexts or sample.outcome == "false_abstention"  # an answer always had passages; none stored: unknown
    if sample.reference and searched and sample.outcome in ("false_abstention", "wrong_answer"):
        if not any(normalize_text(sample.reference) in normalize_text(c.get("text", "")) for c in sample.contexts):
            return "retrieval miss"
    if sample.outcome == "false_abstention":
        return "false abstention"
    status, faithfulness, _ = metric_status(sample, "faithfulness")
    if status == "scored" and faithfulness is not None and faithfulness < 0.5:
        return "hallucination"
    if sample.outcome == "wrong_answer":
        return "wrong answer"
    return "ok"


class CoveragePoint(BaseModel):
    threshold: float
    coverage: float  # share of questions that would be answered
    faithfulness: float | None  # mean faithfulness of those answered and scored
    hallucination_rate: float | None  # unanswerable questions answered anyway, of all unanswerable
    answer_accuracy: float | None = None  # answerable questions answered right, of all answerable with a reference
    n_answered: int


def threshold_points(samples: list[SampleRow], score: Callable[[SampleRow], float | None],
                     thresholds: Sequence[float]) -> list[CoveragePoint]:
    """What refusing the answered questions whose `score` falls below each threshold would do.

    A sample without a score counts as refused at every threshold.
    """
    usable = [s for s in samples if s.outcome != "error"]
    if not usable:
        return []
    scores = {s.idx: score(s) for s in usable}
    unanswerable = [s for s in usable if EXPECTED.get(s.outcome) == "unanswerable"]
    answerable = [s for s in usable if EXPECTED.get(s.outcome) == "answerable"]
    points = []
    for threshold in thresholds:
        answered = [s for s in usable if not s.abstained and (v := scores[s.idx]) is not None and v >= threshold]
        faithful = [sc for s in answered if (st := metric_status(s, "faithfulness"))[0] == "scored" and (sc := st[1]) is not None]
        points.append(CoveragePoint(
            threshold=round(threshold, 4), coverage=len(answered) / len(usable),
            faithfulness=statistics.fmean(faithful) if faithful else None,
            hallucination_rate=_rate(sum(s.outcome == "hallucinated_answer" for s in answered), len(unanswerable)),
            answer_accuracy=_rate(sum(s.outcome == "correct_answer" for s in answered), len(answerable)),
            n_answered=len(answered)))
    return points


def threshold_curve(samples: list[SampleRow], score: Callable[[SampleRow], float | None], low: float,
                    steps: int = 21) -> list[CoveragePoint]:
    """`threshold_points` at `steps` evenly spaced thresholds from `low` up to the highest score seen."""
    high = max((v for s in samples if s.outcome != "error" and (v := score(s)) is not None), default=low)
    return threshold_points(samples, score, [low + (max(high, low) - low) * i / (steps - 1) for i in range(steps)])


def coverage_curve(samples: list[SampleRow], run_min_score: float, steps: int = 21) -> list[CoveragePoint]:
    """What raising the min retrieval score would do, from the stored top similarity of each sample.

    Only thresholds at or above the run's own min score can be read off a stored run: below it the
    questions the gate refused were never answered.
    """
    return threshold_curve(samples, lambda s: s.top_score, run_min_score, steps)


FOLDED_CHECKS = "answer_check_p_folds_checks"
"""Run config key: true when a run's stored answer-check P is already 0 wherever the claim checks, the term veto or
the detail check withhold the answer (runs a bench stores from replayed strict decisions), so its curve is the strict
policy's, not the answer check's alone."""


def answer_check_curve(samples: list[SampleRow], run_cut: float, steps: int = 21) -> list[CoveragePoint]:
    """What a stricter answer check would do: answers whose P(supported) falls below the cut are withheld.

    `run_cut` is the run's own cut under the strict policy (answers below it were already withheld, their text
    is gone) and 0 under annotate. Claim verdicts are left aside; [] when no sample has a stored P.
    """
    if all(s.answer_check_p is None for s in samples):
        return []
    return threshold_curve(samples, lambda s: s.answer_check_p, run_cut, steps)
