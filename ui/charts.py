"""Plotly figures for evaluation runs (pure functions of stored rows, so they are easy to test)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from evaluation.aggregate import MetricAggregate
from evaluation.runstore import SampleRow

METRIC_LABELS = {"faithfulness": "Faithfulness", "answer_relevancy": "Answer relevancy"}
COLORS = {"faithfulness": "#2563eb", "answer_relevancy": "#f59e0b"}
OUTCOME_COLORS = {
    "answered": "#16a34a", "correct_abstention": "#0ea5e9", "false_abstention": "#f59e0b",
    "hallucinated_answer": "#dc2626", "abstained": "#94a3b8", "error": "#6b7280",
}


def sample_table(samples: list[SampleRow], metrics: list[str]) -> pd.DataFrame:
    """One row per question with each metric's score (None when not scored) and the reason when not."""
    rows = []
    for s in samples:
        row = {"#": s.idx + 1, "question": s.question, "outcome": s.outcome, "answer": s.answer}
        by_metric = {m["metric"]: m for m in s.metrics}
        notes = []
        for metric in metrics:
            result = by_metric.get(metric)
            row[metric] = result["score"] if result and result["status"] == "scored" else None
            if result and result["status"] != "scored":
                notes.append(f"{metric} {result['status']}: {result['reason']}")
        if s.error:
            notes.append(s.error)
        row["notes"] = "; ".join(notes)
        rows.append(row)
    return pd.DataFrame(rows)


def scores_by_question(table: pd.DataFrame, aggregates: list[MetricAggregate]) -> go.Figure:
    """Grouped bars per question, one colour per metric, dashed line at each metric's mean."""
    fig = go.Figure()
    for agg in aggregates:
        if agg.metric not in table:
            continue
        fig.add_bar(
            name=f"{METRIC_LABELS.get(agg.metric, agg.metric)} ({agg.n_scored}/{agg.n_total} scored)",
            x=[f"Q{n}" for n in table["#"]], y=table[agg.metric], marker_color=COLORS.get(agg.metric),
            customdata=table[["question", "outcome"]], hovertemplate="%{customdata[0]}<br>%{customdata[1]}<br>score %{y:.2f}<extra></extra>",
        )
        if agg.mean is not None:
            fig.add_hline(y=agg.mean, line_dash="dash", line_color=COLORS.get(agg.metric),
                          annotation_text=f"mean {agg.mean:.2f}", annotation_position="top left")
    fig.update_layout(barmode="group", yaxis={"range": [0, 1.05], "title": "score"}, xaxis_title="question",
                      legend={"orientation": "h", "y": 1.12}, margin={"t": 40, "b": 40}, height=380)
    return fig


def outcomes_bar(counts: dict[str, int]) -> go.Figure:
    names = [k for k in OUTCOME_COLORS if k in counts]
    fig = go.Figure(go.Bar(x=[counts[k] for k in names], y=[k.replace("_", " ") for k in names], orientation="h",
                           marker_color=[OUTCOME_COLORS[k] for k in names], text=[counts[k] for k in names]))
    fig.update_layout(height=60 + 40 * len(names), margin={"t": 10, "b": 10}, xaxis_title="questions")
    return fig
