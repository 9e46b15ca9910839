"""Plotly figures of the question log (pure functions of evaluation.log_report tables, so they are easy to test)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from evaluation.log_report import STATUSES, THUMBS_DOWN, THUMBS_UP

STATUS_COLORS = {"answered": "#16a34a", "flagged": "#f97316", "withheld": "#dc2626", "abstained": "#94a3b8"}
THUMB_COLORS = {"thumbs up": "#16a34a", "thumbs down": "#dc2626", "no feedback": "#cbd5e1"}
LEGEND = {"orientation": "h", "y": 1.15}


def status_shares(table: pd.DataFrame, bucket: str) -> go.Figure:
    """Per time bucket, the share of answers given and confirmed, flagged by the check, withheld, and abstained."""
    fig = go.Figure()
    for status in STATUSES:
        fig.add_bar(x=table["bucket"], y=table[status], name=status, marker_color=STATUS_COLORS[status],
                    customdata=(table[status] * table["answers"]).round().astype(int),
                    hovertemplate=f"%{{x}}<br>{status}: %{{y:.0%}} (%{{customdata}})<extra></extra>")
    fig.update_layout(barmode="stack", title=f"What became of the questions, per {bucket}", height=320,
                      yaxis={"tickformat": ".0%", "range": [0, 1]}, legend=LEGEND, margin={"t": 60, "b": 30})
    return fig


def p_supported(frame: pd.DataFrame, cut: float | None = None) -> go.Figure:
    """How the answer check's P(supported) spreads, split by feedback: the cut worth setting separates the thumbs."""
    fig = go.Figure()
    groups = {"thumbs up": frame["feedback"].isin(THUMBS_UP), "thumbs down": frame["feedback"].isin(THUMBS_DOWN)}
    groups["no feedback"] = ~(groups["thumbs up"] | groups["thumbs down"])
    for name, rows in groups.items():
        values = frame.loc[rows, "P(supported)"].dropna()
        if len(values):
            fig.add_histogram(x=values, name=f"{name} ({len(values)})", marker_color=THUMB_COLORS[name],
                              xbins={"start": 0, "end": 1.0001, "size": 0.05})
    if cut is not None:
        fig.add_vline(x=cut, line_dash="dash", line_color="#475569", annotation_text=f"cut {cut:.2f}")
    fig.update_layout(barmode="stack", title="The answer check's P(supported)", height=320, legend=LEGEND,
                      xaxis={"title": "P(supported)", "range": [0, 1]}, yaxis={"title": "answers"},
                      margin={"t": 60, "b": 30})
    return fig


def seconds(table: pd.DataFrame, bucket: str) -> go.Figure:
    """Seconds to a finished answer, p50 (solid) and p95 (dotted) per time bucket, one colour per configuration."""
    fig = go.Figure()
    colors = pio.templates["plotly"].layout.colorway
    for n, (name, rows) in enumerate(table.groupby("configuration", sort=False)):
        color = colors[n % len(colors)]
        for stat, dash in (("p50", None), ("p95", "dot")):
            fig.add_scatter(x=rows["bucket"], y=rows[f"seconds {stat}"], mode="lines+markers", line_dash=dash,
                            line_color=color, name=f"{name} {stat}", customdata=rows["answers"],
                            hovertemplate=f"%{{x}}<br>{stat} %{{y:.1f}} s over %{{customdata}} answers<extra></extra>")
    fig.update_layout(title=f"Seconds to a finished answer, per {bucket}", height=320, yaxis={"title": "seconds",
                      "rangemode": "tozero"}, legend=LEGEND, margin={"t": 60, "b": 30})
    return fig


def feedback_counts(table: pd.DataFrame, bucket: str) -> go.Figure:
    """Thumbs up and down given to the answers of each time bucket."""
    fig = go.Figure()
    for name in ("thumbs up", "thumbs down"):
        fig.add_bar(x=table["bucket"], y=table[name], name=name, marker_color=THUMB_COLORS[name],
                    hovertemplate=f"%{{x}}<br>{name}: %{{y}}<extra></extra>")
    fig.update_layout(barmode="stack", title=f"Feedback on the answers of each {bucket}", height=320,
                      yaxis={"title": "answers", "rangemode": "tozero"}, legend=LEGEND, margin={"t": 60, "b": 30})
    return fig
