"""A key goes only to the endpoint it was configured for; credentials written into a URL are never stored or shown.

The review found the answering endpoint's key sent to the judge's host whenever FQA_JUDGE_BASE_URL was set without
FQA_JUDGE_API_KEY. Both fake servers here record the Authorization header of every request they receive.
"""

from __future__ import annotations

import asyncio
import json

import openai

from evaluation.metrics import Judge, MetricName
from evaluation.runner import run_config, settings_of_run
from ops.dashboard import banner
from pipeline.chain import pipeline_config
from pipeline.llm import explain_llm_error
from settings import NO_KEY, Settings, public_url
from tests.apptest import fresh_app
from tests.fake_openai import serving

ANSWER_KEY = "sk-answering-endpoint-only"
SECRET_URL = "http://alice:s3cret-pass@127.0.0.1:9/v1?api-key=s3cret-query#frag"


def test_the_judge_at_its_own_url_never_receives_the_answering_key(settings, embedder):
    with serving() as judge_host:
        config = settings.with_overrides(openai_api_key=ANSWER_KEY, judge_base_url=judge_host.base_url)
        judge = Judge(config, embedder)
        judge.check()
        results = asyncio.run(judge.score("What is the capital of France?", "Paris is the capital of France.",
                                          ["Paris is the capital of France."], [MetricName.FAITHFULNESS], False))
    assert results[0].status == "scored"
    assert judge_host.authorizations and all(ANSWER_KEY not in (a or "") for a in judge_host.authorizations)
    assert set(judge_host.authorizations) == {f"Bearer {NO_KEY}"}


def test_the_judge_gets_its_own_key_and_the_answering_endpoint_keeps_its_own(settings):
    own = settings.with_overrides(openai_api_key=ANSWER_KEY, judge_base_url="http://judge.example/v1",
                                  judge_api_key="sk-judge")
    assert own.judge_endpoint == ("http://judge.example/v1", "sk-judge")
    same = settings.with_overrides(openai_api_key=ANSWER_KEY)  # no judge URL: the judge is the answering endpoint
    assert same.judge_endpoint == (same.openai_base_url, ANSWER_KEY)


def test_start_up_says_when_the_second_endpoint_has_no_key(settings):
    alone = settings.with_overrides(judge_base_url="http://judge.example/v1")
    assert "has no FQA_JUDGE_API_KEY" in banner(alone, 8501)
    assert "FQA_JUDGE_API_KEY" not in banner(settings, 8501)
    assert "FQA_JUDGE_API_KEY" not in banner(alone.with_overrides(judge_api_key="sk-judge"), 8501)


def test_a_url_loses_its_credentials_before_it_is_stored_or_shown(settings, embedder):
    assert public_url(SECRET_URL) == "http://127.0.0.1:9/v1"
    assert public_url("https://[::1]:8443/v1") == "https://[::1]:8443/v1"
    config = settings.with_overrides(openai_base_url=SECRET_URL, judge_base_url=SECRET_URL, judge_api_key="k",
                                     qdrant_url=SECRET_URL)
    stored = json.dumps([pipeline_config(config), run_config(config, Judge(config, embedder), [MetricName.FAITHFULNESS])])
    assert "s3cret" not in stored and "alice" not in stored
    # a resumed run gets this machine's configured URL back, credentials and all
    assert settings_of_run(config, json.loads(stored)[1]).openai_base_url == SECRET_URL
    error = explain_llm_error(openai.APIConnectionError(request=None), config)  # type: ignore[arg-type]
    assert "s3cret" not in str(error) and "127.0.0.1:9" in str(error)


def test_the_ask_page_names_the_endpoint_without_its_credentials(sample_data, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", SECRET_URL)
    with fresh_app(timeout=120) as app:
        app.run()
        assert not app.exception
        shown = "\n".join(str(c.value) for c in app.sidebar.caption)
        assert "127.0.0.1:9/v1" in shown and "s3cret" not in shown and "alice" not in shown
