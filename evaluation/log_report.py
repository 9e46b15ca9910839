"""What the question log says, as tables the log page filters, charts and lists: one row per answer, shares and
seconds per time bucket and per configuration. Pure functions of stored entries, so they are easy to test."""

from __future__ import annotations

from datetime import date

import pandas as pd

from pipeline.question_log import LogEntry

STATUSES = ["answered", "flagged", "withheld", "abstained"]
# feedback labels (pipeline.question_log.Label) by the thumb that gave them
THUMBS_UP = ("right answer", "right to abstain")
THUMBS_DOWN = ("wrong answer", "should have abstained", "should have answered")
# config fields worth naming when they tell two configurations apart, with how they read
SHORT_NAMES = {"llm_model": "", "collection": "", "retrieval_mode": "", "grounding_policy": "", "top_k": "top-k ",
               "min_score": "min score ", "grounding_answer_threshold": "cut ", "rerank": "rerank ",
               "query_expansion": "expand ", "grounding_model": "judge ", "grounding_scope": "judge reads "}


def config_labels(configs: dict[str, dict]) -> dict[str, str]:
    """A readable name for each configuration (by config key): its answering model and whatever else sets it apart
    from the others ("qwen2.5-0.5b · cut 0.85"); two that differ only in fields not named here keep their key."""
    varying = [f for f in {f for c in configs.values() for f in c}
               if len({repr(c.get(f)) for c in configs.values()}) > 1]
    named = [f for f in SHORT_NAMES if f in varying and f != "llm_model"]
    labels = {key: " · ".join([str(c.get("llm_model", "?")),
                               *(f"{SHORT_NAMES[f]}{c.get(f)}" for f in named)]) for key, c in configs.items()}
    if len(set(labels.values())) < len(labels):  # the difference is in a field not named above
        labels = {key: f"{label} · {key[:6]}" for key, label in labels.items()}
    return labels


def log_frame(entries: list[LogEntry]) -> pd.DataFrame:
    """One row per logged answer, newest first: what the table shows and the charts count."""
    labels = config_labels({e.config_key: e.config for e in entries})
    rows = [{
        "id": e.id, "asked": e.asked_at, "question": e.question, "answer": e.answer, "status": e.status,
        "verdict": e.verdict or "", "P(supported)": e.answer_check_p, "feedback": e.label or "",
        "correction": (e.feedback.correction if e.feedback else None) or "", "collection": e.collection,
        "model": e.llm_model, "configuration": labels[e.config_key], "seconds": e.seconds,
        **{f"{stage} s": e.stages.get(stage) for stage in ("retrieval", "answer", "check")},
        "tokens read": sum(t.read for t in e.tokens.values()), "tokens written": sum(t.written for t in e.tokens.values()),
        "via": e.via,
    } for e in entries]
    frame = pd.DataFrame(rows, columns=["id", "asked", "question", "answer", "status", "verdict", "P(supported)",
                                        "feedback", "correction", "collection", "model", "configuration", "seconds",
                                        "retrieval s", "answer s", "check s", "tokens read", "tokens written", "via"])
    frame["asked"] = pd.to_datetime(frame["asked"], utc=True)
    return frame


def filter_log(frame: pd.DataFrame, *, flagged: bool = False, abstained: bool = False, thumbs_down: bool = False,
               collections: list[str] | None = None, models: list[str] | None = None, since: date | None = None,
               until: date | None = None) -> pd.DataFrame:
    """The rows that match every filter given: flagged (marked or withheld by the check), abstained (withheld
    included), thumbs down, in these collections, by these models, asked between these dates (UTC, inclusive)."""
    keep = pd.Series(True, index=frame.index)
    if flagged:
        keep &= frame["status"].isin(["flagged", "withheld"])
    if abstained:
        keep &= frame["status"].isin(["withheld", "abstained"])
    if thumbs_down:
        keep &= frame["feedback"].isin(THUMBS_DOWN)
    if collections:
        keep &= frame["collection"].isin(collections)
    if models:
        keep &= frame["model"].isin(models)
    day = frame["asked"].dt.date
    if since:
        keep &= day >= since
    if until:
        keep &= day <= until
    return frame[keep]


def bucket(frame: pd.DataFrame) -> tuple[pd.Series, str]:
    """Each row's time bucket and the bucket's name: hours over at most two days, days over at most 90, else weeks,
    so a new log and a year-old one both chart as a few dozen bars at most."""
    span = frame["asked"].max() - frame["asked"].min() if len(frame) else pd.Timedelta(0)
    if span <= pd.Timedelta(days=2):
        return frame["asked"].dt.floor("h"), "hour"
    if span <= pd.Timedelta(days=90):
        return frame["asked"].dt.floor("D"), "day"
    return frame["asked"].dt.tz_localize(None).dt.to_period("W").dt.start_time.dt.tz_localize("UTC"), "week"


def _summary(group: pd.DataFrame) -> dict:
    statuses = group["status"].value_counts()
    feedback = group["feedback"]
    return {
        "answers": len(group),
        **{status: statuses.get(status, 0) / len(group) for status in STATUSES},
        "seconds p50": group["seconds"].quantile(0.5), "seconds p95": group["seconds"].quantile(0.95),
        "mean P(supported)": group["P(supported)"].mean(),
        "thumbs up": int(feedback.isin(THUMBS_UP).sum()), "thumbs down": int(feedback.isin(THUMBS_DOWN).sum()),
    }


def over_time(frame: pd.DataFrame, by_configuration: bool = False) -> tuple[pd.DataFrame, str]:
    """Per time bucket (and configuration): answers, share of each status, seconds p50 and p95, mean P(supported),
    thumbs up and down; with the bucket's name."""
    buckets, name = bucket(frame)
    keys = [buckets.rename("bucket"), *([frame["configuration"]] if by_configuration else [])]
    rows = [{**dict(zip(["bucket", "configuration"], key if isinstance(key, tuple) else (key,), strict=False)),
             **_summary(group)} for key, group in frame.groupby(keys, sort=True)]
    return pd.DataFrame(rows), name


def per_configuration(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration, most answers first: the same numbers as `over_time`, and when it was used."""
    rows = [{"configuration": name, **_summary(group), "first asked": group["asked"].min(),
             "last asked": group["asked"].max()} for name, group in frame.groupby("configuration")]
    return pd.DataFrame(rows).sort_values("answers", ascending=False, kind="stable") if rows else pd.DataFrame()
