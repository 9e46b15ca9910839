"""Plotly figures for evaluation runs, sweeps and ladders (pure functions of stored rows, so they are easy to test)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from evaluation.aggregate import AbstentionReport, CoveragePoint, MetricAggregate
from evaluation.judge_check import Confusion
from evaluation.screening import SCREEN_LABELS, STAGE_FULL, STAGE_RETRIEVAL
from ui.safe_text import chart_literal

METRIC_LABELS = {"faithfulness": "Faithfulness", "answer_relevancy": "Answer relevancy",
                 "context_precision": "Context precision", "context_recall": "Context recall",
                 "seconds": "Latency (s)"}
# what the pipeline did with labelled questions (evaluation.export.run_means): shown beside the metrics per step
OUTCOME_RATE_LABELS = {"answer_accuracy": "Answerable answered right",
                       "hallucination_rate": "Unanswerable answered anyway"}
COLORS = {"faithfulness": "#2563eb", "answer_relevancy": "#f59e0b", "context_precision": "#10b981",
          "context_recall": "#8b5cf6", "seconds": "#64748b", "answer_accuracy": "#16a34a",
          "hallucination_rate": "#dc2626"}
# numbers where a lower value is the better cell (the interval chart lists the best first)
LOWER_IS_BETTER = {"false_abstention", "hallucination_rate", "seconds"}
STAGE_COLORS = {STAGE_FULL: "#2563eb", STAGE_RETRIEVAL: "#94a3b8"}
OUTCOME_COLORS = {
    "correct_answer": "#16a34a", "answered": "#22c55e", "wrong_answer": "#f97316", "correct_abstention": "#0ea5e9",
    "false_abstention": "#f59e0b", "hallucinated_answer": "#dc2626", "abstained": "#94a3b8", "error": "#6b7280",
}


def label(metric: str) -> str:
    return {**METRIC_LABELS, **OUTCOME_RATE_LABELS, **SCREEN_LABELS}.get(metric, metric.replace("_", " "))


def scores_by_question(table: pd.DataFrame, aggregates: list[MetricAggregate]) -> go.Figure:
    """Grouped bars per question, one colour per metric, dashed line at each metric's mean."""
    fig = go.Figure()
    for agg in aggregates:
        if agg.metric not in table:
            continue
        fig.add_bar(
            name=f"{label(agg.metric)} ({agg.n_scored}/{agg.n_total} scored)",
            x=[f"Q{n}" for n in table["#"]], y=table[agg.metric], marker_color=COLORS.get(agg.metric),
            customdata=table[["question", "outcome"]].map(chart_literal), hovertemplate="%{customdata[0]}<br>%{customdata[1]}<br>score %{y:.2f}<extra></extra>",
        )
        if agg.mean is not None:
            fig.add_hline(y=agg.mean, line_dash="dash", line_color=COLORS.get(agg.metric),
                          annotation_text=f"mean {agg.mean:.2f}", annotation_position="top left")
    fig.update_layout(barmode="group", yaxis={"range": [0, 1.05], "title": "score"}, xaxis_title="question",
                      legend={"orientation": "h", "y": 1.12}, margin={"t": 40, "b": 40}, height=380)
    return fig


def distributions(table: pd.DataFrame, aggregates: list[MetricAggregate]) -> go.Figure:
    """One box (with every point) per metric: where the scores of the scored samples lie."""
    fig = go.Figure()
    for agg in aggregates:
        if agg.metric in table and table[agg.metric].notna().any():
            fig.add_box(y=table[agg.metric], name=f"{label(agg.metric)}<br>{agg.n_scored} of {agg.n_total} scored",
                        boxpoints="all", jitter=0.4, pointpos=0, marker_color=COLORS.get(agg.metric),
                        customdata=table["question"].map(chart_literal),
                        hovertemplate="%{customdata}<br>%{y:.2f}<extra></extra>")
    fig.update_layout(yaxis={"range": [-0.05, 1.05], "title": "score"}, showlegend=False, height=340,
                      margin={"t": 20, "b": 20})
    return fig


def outcomes_bar(counts: dict[str, int]) -> go.Figure:
    names = [k for k in OUTCOME_COLORS if k in counts]
    fig = go.Figure(go.Bar(x=[counts[k] for k in names], y=[k.replace("_", " ") for k in names], orientation="h",
                           marker_color=[OUTCOME_COLORS[k] for k in names], text=[counts[k] for k in names]))
    fig.update_layout(height=60 + 40 * len(names), margin={"t": 10, "b": 10}, xaxis_title="questions")
    return fig


def confusion_matrix(report: AbstentionReport) -> go.Figure:
    """Expected (answerable / unanswerable) × what the pipeline did, counts in the cells."""
    columns = ["correct answer", "wrong answer", "answer (unchecked)", "abstained"]
    rows = ["answerable", "unanswerable"]
    z = [[report.matrix.get(r, {}).get(c, 0) for c in columns] for r in rows]
    fig = go.Figure(go.Heatmap(z=z, x=columns, y=rows, text=z, texttemplate="%{text}", colorscale="Blues",
                               showscale=False, hovertemplate="%{y} → %{x}: %{z}<extra></extra>"))
    fig.update_layout(height=220, margin={"t": 10, "b": 10}, yaxis={"autorange": "reversed"})
    return fig


def trend(points: pd.DataFrame, metrics: list[str]) -> go.Figure:
    """Each metric's mean per run, oldest first (points: run, created_at, metric columns)."""
    fig = go.Figure()
    for metric in metrics:
        if metric in points and points[metric].notna().any():
            fig.add_scatter(x=points["run"], y=points[metric], mode="lines+markers", name=label(metric),
                            line_color=COLORS.get(metric))
    fig.update_layout(yaxis={"range": [0, 1.05], "title": "mean score"}, xaxis_title="run", height=340,
                      legend={"orientation": "h", "y": 1.15}, margin={"t": 40, "b": 40})
    return fig


def chunking(table: pd.DataFrame) -> pd.Series:
    """A sweep cell's heatmap row: its chunk size, or "size / overlap" when the sweep tried several overlaps.

    Cells are never averaged over overlaps: an average has no interval a person can read.
    """
    if table["chunk_overlap"].nunique() > 1:
        return table["chunk_size"].astype(str) + " / " + table["chunk_overlap"].astype(str)
    return table["chunk_size"].astype(str)


def with_interval(value: float | None, low: float | None, high: float | None, fmt: str = ".2f") -> str:
    """"0.85 [0.64, 0.95]": a cell's mean with its 95 % interval (just the mean when it has none)."""
    if value is None or pd.isna(value):
        return ""
    interval = "" if low is None or high is None or pd.isna(low) or pd.isna(high) else f" [{low:{fmt}}, {high:{fmt}}]"
    return f"{value:{fmt}}{interval}"


def _interval_of(cell: dict, metric: str) -> tuple[float | None, float | None, float | None]:
    return cell.get(metric), cell.get(f"{metric}_low"), cell.get(f"{metric}_high")


def sweep_heatmap(table: pd.DataFrame, metric: str) -> go.Figure:
    """Metric mean over chunking (rows) × top-k (columns) of a `evaluation.export.sweep_table`, each cell's text its
    mean and 95 % interval; a cell without this metric says which stage it reached instead ("retrieval only").

    Plotly heatmap cells cannot be selected (streamlit#8760), so a transparent square marker sits on each cell
    and carries the click: it holds the cell's run id (see `clicked_run`). The heatmap below it only paints.
    """
    fmt = ".1f" if metric == "seconds" else ".2f"
    cells = table.assign(row=chunking(table), col=table["top_k"].astype(str)).to_dict("records")
    rows = list(dict.fromkeys(c["row"] for c in cells))
    cols = [str(k) for k in sorted({int(c["top_k"]) for c in cells})]
    at = {(c["row"], c["col"]): c for c in cells}
    z = [[at[(r, k)].get(metric) if (r, k) in at else None for k in cols] for r in rows]
    text = [[with_interval(*_interval_of(at[(r, k)], metric), fmt) if (r, k) in at else "" for k in cols] for r in rows]
    scale = "Greys" if metric == "seconds" else "Viridis"
    fig = go.Figure(go.Heatmap(
        z=z, x=cols, y=rows, text=text, texttemplate="%{text}", colorscale=scale, hoverinfo="skip",
        zmin=None if metric == "seconds" else 0, zmax=None if metric == "seconds" else 1,
    ))
    fig.add_scatter(
        x=[c["col"] for c in cells], y=[c["row"] for c in cells], mode="markers+text",
        customdata=[c.get("run_id") if isinstance(c.get("run_id"), str) else None for c in cells],
        text=["" if with_interval(c.get(metric), None, None) else c["stage"] for c in cells], textfont={"color": "#64748b"},
        hovertext=[_cell_hover(c, metric, fmt) for c in cells], hovertemplate="%{hovertext}<extra></extra>",
        marker={"symbol": "square", "size": 40, "opacity": 0}, showlegend=False, name="",
        selected={"marker": {"opacity": 0}}, unselected={"marker": {"opacity": 0}},
    )
    # no hover cut-off: a click anywhere in a cell picks its (nearest) marker
    fig.update_layout(title=label(metric), xaxis={"title": "top-k", "type": "category"},
                      yaxis={"title": "chunk size" + (" / overlap" if " / " in rows[0] else ""), "type": "category"},
                      height=300, margin={"t": 40, "b": 40}, hovermode="closest", hoverdistance=-1,
                      clickmode="event+select")
    return fig


def _cell_hover(cell: dict, metric: str, fmt: str) -> str:
    value = with_interval(*_interval_of(cell, metric), fmt)
    shown = f"{label(metric)} {value} (mean [95 % interval])" if value else f"{label(metric)}: not measured"
    run = cell.get("run_id")
    opens = f"<br>run {run}, click to open" if isinstance(run, str) else ""
    return f"{cell['name']}<br>{shown}<br>stage reached: {cell['stage']}{opens}"


def sweep_intervals(table: pd.DataFrame, metric: str) -> go.Figure:
    """Each cell's mean as a point and its 95 % interval as a bar, best first: cells whose bars overlap are ones the
    eval set cannot tell apart. Coloured by the stage the cell reached."""
    shown = table[table[metric].notna()]
    order = list(shown.sort_values(metric, ascending=metric in LOWER_IS_BETTER, kind="stable")["name"])
    fig = go.Figure()
    for stage, color in STAGE_COLORS.items():
        part = shown[shown["stage"] == stage]
        if part.empty:
            continue
        low = (part[metric] - part[f"{metric}_low"]).fillna(0)
        high = (part[f"{metric}_high"] - part[metric]).fillna(0)
        fig.add_scatter(x=part[metric], y=part["name"], mode="markers", name=stage, marker={"color": color, "size": 9},
                        error_x={"type": "data", "symmetric": False, "array": high, "arrayminus": low, "color": color},
                        customdata=part[[f"{metric}_low", f"{metric}_high", "n"]],
                        hovertemplate="%{y}<br>%{x:.2f} [%{customdata[0]:.2f}, %{customdata[1]:.2f}], "
                                      "%{customdata[2]} questions<extra></extra>")
    fig.update_layout(title=f"{label(metric)}: mean and 95 % interval per cell",
                      xaxis={"title": label(metric), "range": None if metric == "seconds" else [-0.02, 1.02]},
                      yaxis={"categoryorder": "array", "categoryarray": order[::-1], "title": None},
                      height=120 + 28 * len(order), margin={"t": 40, "b": 40}, legend={"orientation": "h", "y": 1.08})
    return fig


def clicked_run(event) -> str | None:
    """The run id of the heatmap cell a user clicked (st.plotly_chart's selection event), if any."""
    points = (event or {}).get("selection", {}).get("points", [])
    return next((p["customdata"] for p in points if isinstance(p.get("customdata"), str)), None)


def ladder(table: pd.DataFrame, metrics: list[str]) -> go.Figure:
    """The step chart: each metric (and outcome rate) per ladder step, in the order the steps were taken."""
    fig = go.Figure()
    for metric in metrics:
        if metric in table and table[metric].notna().any():
            fig.add_scatter(x=table["step_name"], y=table[metric], mode="lines+markers+text", line_shape="hv",
                            name=label(metric), line_color=COLORS.get(metric), texttemplate="%{y:.2f}",
                            textposition="top center", line_dash="dot" if metric in OUTCOME_RATE_LABELS else "solid")
    fig.update_layout(yaxis={"range": [0, 1.1], "title": "mean score / share"}, xaxis_title="step", height=380,
                      legend={"orientation": "h", "y": 1.15}, margin={"t": 40, "b": 40})
    return fig


def coverage(points: list[CoveragePoint], threshold_label: str = "min score", cut: float | None = None) -> go.Figure:
    """Faithfulness, answer accuracy and hallucination rate as a threshold rises.

    Against coverage (the share answered) by default; with `cut` (the configured threshold, drawn as a line)
    against the threshold itself, coverage then being one more line: a cut is what the user sets.
    """
    fig = go.Figure()
    by_cut = cut is not None
    lines = [("faithfulness", "faithfulness of answered", COLORS["faithfulness"], ".2f"),
             ("answer_accuracy", "answerable answered right", OUTCOME_COLORS["correct_answer"], ".0%"),
             ("hallucination_rate", "unanswerable answered anyway", OUTCOME_COLORS["hallucinated_answer"], ".0%")]
    if by_cut:
        lines.append(("coverage", "share of questions answered", "#94a3b8", ".0%"))
    for field, name, color, fmt in lines:
        values = [getattr(p, field) for p in points]
        if all(v is None for v in values):
            continue
        fig.add_scatter(x=[p.threshold if by_cut else p.coverage for p in points], y=values, mode="lines+markers",
                        name=name, line_color=color, line_dash="dot" if field == "coverage" else None,
                        customdata=[[p.threshold, p.n_answered, p.coverage] for p in points],
                        hovertemplate=f"{threshold_label} %{{customdata[0]:.2f}}: %{{customdata[1]}} answered"
                                      f"<br>coverage %{{customdata[2]:.0%}}<br>{name} %{{y:{fmt}}}<extra></extra>")
    if by_cut:
        fig.add_vline(x=cut, line_dash="dash", line_color="#475569", annotation_text=f"configured cut {cut:.2f}")
    fig.update_layout(xaxis={"title": threshold_label if by_cut else "coverage (share of questions answered)",
                             "tickformat": ".2f" if by_cut else ".0%"},
                      yaxis={"range": [0, 1.05]}, height=360, legend={"orientation": "h", "y": 1.15},
                      margin={"t": 40, "b": 40})
    return fig


def judge_confusion(confusion: Confusion, title: str) -> go.Figure:
    """A judge against labels: true label (faithful / hallucinated) × what it did (let through / flagged)."""
    z = [[confusion.tn, confusion.fp], [confusion.fn, confusion.tp]]
    fig = go.Figure(go.Heatmap(z=z, x=["let through", "flagged"], y=["faithful", "hallucinated"], text=z,
                               texttemplate="%{text}", colorscale="Blues", showscale=False,
                               hovertemplate="%{y} answers %{x}: %{z}<extra></extra>"))
    fig.update_layout(title={"text": title, "font": {"size": 14}}, height=230, margin={"t": 40, "b": 10},
                      yaxis={"autorange": "reversed", "title": "label"}, xaxis={"title": "judge"})
    return fig
