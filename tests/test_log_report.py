"""The question log's tables and charts as pure functions: configuration names, time buckets, shares, percentiles."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from evaluation.log_report import bucket, config_labels, filter_log, log_frame, over_time, per_configuration
from pipeline.question_log import Feedback, LogEntry, config_key
from tests.log_seed import CONFIG, make_answer
from ui import log_charts

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def entry(n: int, status: str, seconds: float, *, hours: float = 0, p: float | None = 0.8, config: dict | None = None,
          rating: str | None = None) -> LogEntry:
    config = {**CONFIG, **(config or {})}
    answer = make_answer(f"q{n}?", "Fort Caroline.", config=config)
    return LogEntry(id=n, asked_at=START + timedelta(hours=hours), via="ask", question=answer.question,
                    answer=answer.answer, abstained=status in ("withheld", "abstained"), abstain_reason=None,
                    status=status, verdict=None, answer_check_p=p, best_similarity=0.7, collection="sample",
                    llm_model=config["llm_model"], judge_model=None, config_key=config_key(config), config=config,
                    seconds=seconds, stages={}, tokens={}, feedback=Feedback(rating=rating) if rating else None)


def test_a_configuration_is_named_by_its_model_and_what_sets_it_apart():
    one = {**CONFIG}
    cut = {**CONFIG, "grounding_answer_threshold": 0.85}
    model = {**CONFIG, "llm_model": "qwen2.5-1.5b"}
    assert config_labels({"a": one}) == {"a": "qwen2.5-0.5b"}
    assert config_labels({"a": one, "b": cut}) == {"a": "qwen2.5-0.5b · cut 0.75", "b": "qwen2.5-0.5b · cut 0.85"}
    assert config_labels({"a": one, "c": model}) == {"a": "qwen2.5-0.5b", "c": "qwen2.5-1.5b"}
    unnamed = {**CONFIG, "prompt_version": "v9"}  # a field the names leave out: the key tells them apart
    labels = config_labels({"key-one": one, "key-two": unnamed})
    assert labels == {"key-one": "qwen2.5-0.5b · key-on", "key-two": "qwen2.5-0.5b · key-tw"}


@pytest.mark.parametrize(("hours", "name"), [(3, "hour"), (24 * 10, "day"), (24 * 200, "week")])
def test_charts_bucket_by_hour_day_or_week_as_the_log_grows(hours, name):
    frame = log_frame([entry(1, "answered", 5, hours=0), entry(2, "answered", 5, hours=hours)])
    buckets, got = bucket(frame)
    assert got == name and buckets.nunique() == 2


def test_shares_percentiles_and_thumbs_per_bucket_and_per_configuration():
    strict = {"grounding_policy": "strict", "llm_model": "qwen2.5-1.5b"}
    frame = log_frame([entry(1, "answered", 4, rating="up"), entry(2, "flagged", 10, rating="down"),
                       entry(3, "abstained", 0.2, p=None, rating="up"), entry(4, "answered", 6),
                       entry(5, "withheld", 12, hours=60, config=strict)])
    table, name = over_time(frame)
    assert name == "day" and list(table["answers"]) == [4, 1]
    first = table.iloc[0]
    assert (first["answered"], first["flagged"], first["abstained"], first["withheld"]) == (0.5, 0.25, 0.25, 0)
    assert first["seconds p50"] == 5.0 and first["thumbs up"] == 2 and first["thumbs down"] == 1
    assert sum(table.iloc[1][s] for s in ("answered", "flagged", "withheld", "abstained")) == 1
    configs = per_configuration(frame)
    assert list(configs["answers"]) == [4, 1] and configs.iloc[1]["withheld"] == 1.0
    by_config, _ = over_time(frame, by_configuration=True)
    assert set(by_config["configuration"]) == set(configs["configuration"])
    fig = log_charts.seconds(by_config, name)
    assert len(fig.data) == 2 * 2  # p50 and p95 per configuration
    assert len(log_charts.status_shares(table, name).data) == 4
    shown = log_charts.p_supported(frame, 0.75)
    assert sorted(t.name for t in shown.data) == ["no feedback (2)", "thumbs down (1)", "thumbs up (1)"]


def test_filters_keep_rows_matching_every_one():
    frame = log_frame([entry(1, "answered", 4, rating="up"), entry(2, "flagged", 10, rating="down"),
                       entry(3, "withheld", 12, hours=48, config={"llm_model": "qwen2.5-1.5b"}),
                       entry(4, "abstained", 0.2, hours=48)])
    ids = lambda **f: sorted(filter_log(frame, **f)["id"])  # noqa: E731
    assert ids(flagged=True) == [2, 3] and ids(abstained=True) == [3, 4] and ids(thumbs_down=True) == [2]
    assert ids(models=["qwen2.5-1.5b"]) == [3] and ids(flagged=True, abstained=True) == [3]
    assert ids(since=date(2026, 12, 2)) == [3, 4] and ids(until=date(2026, 12, 1)) == [1, 2]
