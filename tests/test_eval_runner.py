"""Evaluation runs end to end on the real sample KB (real embedder, embedded Qdrant) against a fake OpenAI server.

The fake server counts every chat request per model, which is how "a re-run makes zero LLM calls" is proven.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from evaluation import __main__ as cli
from evaluation.evalset import load_eval_set
from evaluation.metrics import Judge, MetricName
from evaluation.runner import run_evaluation
from evaluation.runstore import RunStore
from settings import Settings
from tests.fake_openai import serving

log = logging.getLogger(__name__)
ANSWER_MODEL, JUDGE_MODEL = "qwen2.5-0.5b", "qwen2.5-1.5b"
ITEMS = [
    {"id": "hug", "question": "What was the name of the Florida Huguenot colony?", "reference": "Fort Caroline",
     "answerable": True},
    {"id": "rhine", "question": "What is the major tributary for the Rhine?", "reference": "Aare", "answerable": True},
    {"id": "aus", "question": "What is the capital of Australia?", "answerable": False},
]


@pytest.fixture
def fake_llm():
    with serving("The colony was named Fort Caroline.") as server:
        yield server


@pytest.fixture
def eval_settings(sample_data, fake_llm, monkeypatch) -> Settings:
    monkeypatch.setenv("OPENAI_BASE_URL", fake_llm.base_url)
    monkeypatch.setenv("FQA_JUDGE_BASE_URL", fake_llm.base_url)
    return Settings()


@pytest.fixture
def eval_set(tmp_path) -> Path:
    path = tmp_path / "three.jsonl"
    path.write_text("".join(json.dumps(item) + "\n" for item in ITEMS), encoding="utf-8")
    return path


def _run(settings: Settings, eval_set: Path, **kwargs) -> str:
    runs = RunStore(settings.runs_db)
    with cli.components(settings, runs) as parts:
        return run_evaluation(settings, load_eval_set(eval_set), eval_set.name, parts, eval_set_path=eval_set, **kwargs)


def test_outcomes_scores_and_a_rerun_that_makes_zero_llm_calls(eval_settings, eval_set, fake_llm):
    first = _run(eval_settings, eval_set)
    answer_calls, judge_calls = len(fake_llm.requests_for(ANSWER_MODEL)), len(fake_llm.requests_for(JUDGE_MODEL))
    assert answer_calls >= 2 and judge_calls > 0
    runs = RunStore(eval_settings.runs_db)
    rows = runs.samples(first)
    assert [r.outcome for r in rows] == ["correct_answer", "wrong_answer", "correct_abstention"]
    by_metric = {m["metric"]: m for m in rows[0].metrics}
    assert set(by_metric) == {m.value for m in MetricName}
    assert all(m["status"] == "scored" for m in by_metric.values())
    # the refusal: answer metrics skipped, never NaN; no reference, so context metrics skipped with that reason
    refusal = {m["metric"]: (m["status"], m["reason"]) for m in rows[2].metrics}
    assert refusal["faithfulness"][0] == "skipped" and refusal["context_recall"] == ("skipped", "no reference answer")
    assert rows[2].top_score is not None and rows[2].top_score < eval_settings.min_score

    second = _run(eval_settings, eval_set)
    assert len(fake_llm.requests_for(ANSWER_MODEL)) == answer_calls  # zero answering calls
    assert len(fake_llm.requests_for(JUDGE_MODEL)) == judge_calls  # zero judge calls
    again = runs.samples(second)
    assert [(r.answer, r.outcome, r.seconds) for r in again] == [(r.answer, r.outcome, r.seconds) for r in rows]
    assert [m["score"] for r in again for m in r.metrics] == [m["score"] for r in rows for m in r.metrics]
    assert all(m["cached"] for r in again for m in r.metrics if m["status"] == "scored")

    # a changed pipeline config (top-k) is a different answer key: the model is asked again
    _run(eval_settings.with_overrides(top_k=2), eval_set)
    assert len(fake_llm.requests_for(ANSWER_MODEL)) > answer_calls


RAGAS_PROMPT = "Now perform the same with the following input"  # every Ragas metric prompt says it


def test_each_question_is_answered_once_and_judged_in_one_block_before_the_next(eval_settings, eval_set, fake_llm):
    """All metrics of one sample back to back (its answer shared by them), then the next question: what a served
    prompt cache and a resumable, row-by-row run both want."""
    _run(eval_settings, eval_set)
    steps = ["judge" if RAGAS_PROMPT in json.dumps(r["messages"]) else "answer" if r["model"] == ANSWER_MODEL
             else "check" for r in fake_llm.chat_requests]
    blocks = [step for i, step in enumerate(steps) if i == 0 or step != steps[i - 1]]
    # two answered questions (the third is refused by the score gate before any model call)
    assert blocks == ["answer", "check", "judge"] * 2
    assert steps.count("answer") == 2


class InterruptedJudge(Judge):
    """Dies while judging the second sample, as a killed process would."""

    calls = 0

    async def score(self, *args, **kwargs):
        InterruptedJudge.calls += 1
        if InterruptedJudge.calls == 2:
            raise KeyboardInterrupt("killed")
        return await super().score(*args, **kwargs)


def test_an_interrupted_run_resumes_from_its_first_missing_row(eval_settings, eval_set, fake_llm, monkeypatch, capsys):
    runs = RunStore(eval_settings.runs_db)
    with cli.components(eval_settings, runs) as parts:
        parts.judge.__class__ = InterruptedJudge
        with pytest.raises(KeyboardInterrupt):
            run_evaluation(eval_settings, load_eval_set(eval_set), eval_set.name, parts, eval_set_path=eval_set)
    [run] = runs.runs()
    assert run.status == "failed" and "interrupted" in run.error and run.n_done == 1
    first_row = runs.samples(run.id)[0]
    answers_before = len(fake_llm.requests_for(ANSWER_MODEL))

    # a new process: settings come back from the stored run, not from this environment
    monkeypatch.setenv("FQA_TOP_K", "9")
    assert cli.main(["resume", run.id]) == 0
    resumed = runs.run(run.id)
    assert resumed.status == "completed" and resumed.n_done == 3
    rows = runs.samples(run.id)
    assert rows[0] == first_row
    assert [r.outcome for r in rows] == ["correct_answer", "wrong_answer", "correct_abstention"]
    assert all(len(r.contexts) == eval_settings.top_k for r in rows)
    assert len(fake_llm.requests_for(ANSWER_MODEL)) - answers_before <= 1 + 1  # the rhine answer (+ its grounding check)
    assert f"run {run.id} (completed)" in capsys.readouterr().out
    assert cli.main(["resume", run.id]) == 2  # completed runs are not resumed


def test_export_csv_json_and_finetuning_jsonl(eval_settings, eval_set, capsys, tmp_path):
    run_id = _run(eval_settings, eval_set)
    capsys.readouterr()
    assert cli.main(["export", run_id, "--format", "csv"]) == 0
    csv_text = capsys.readouterr().out
    assert csv_text.splitlines()[0].startswith("#,id,question,reference,outcome,label,answer")
    assert "correct_answer" in csv_text and "correct abstention" in csv_text
    out = tmp_path / "run.json"
    assert cli.main(["export", run_id, "--format", "json", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["abstention"]["rates"]["hallucination rate (unanswerable)"] == 0.0
    assert len(data["samples"]) == 3
    assert cli.main(["export", run_id, "--format", "finetune", "--min-faithfulness", "0.9"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # the two answered questions (faithfulness 1.0 from the fake judge); the refusal is not a training pair
    assert len(records) == 2
    roles = [m["role"] for m in records[0]["messages"]]
    assert roles == ["system", "user", "assistant"]
    assert "What was the name of the Florida Huguenot colony?" in records[0]["messages"][1]["content"]
    assert "huguenots.md" in records[0]["messages"][1]["content"]
    assert records[0]["messages"][2]["content"] == "The colony was named Fort Caroline."


def test_cli_refuses_invalid_input_with_a_nonzero_exit(eval_settings, tmp_path, capsys):
    assert cli.main(["run", "--set", str(tmp_path / "missing.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"question": "What is the Aare?"}\n{"question": "unterminated\n', encoding="utf-8")
    assert cli.main(["run", "--set", str(broken)]) == 2
    assert "broken.jsonl: line 2 is not valid JSON" in capsys.readouterr().err
    assert cli.main(["export", "no-such-run"]) == 2
    assert cli.main(["sweep", "--set", "samples/eval/sample.jsonl", "--chunk-sizes", "50", "--chunk-overlaps", "80",
                     "--top-ks", "2"]) == 2
    assert "no chunk configuration is valid" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["sweep", "--set", "samples/eval/sample.jsonl", "--chunk-sizes", "big", "--top-ks", "2"])
    assert exit_info.value.code == 2
    ladder = tmp_path / "ladder.json"
    ladder.write_text(json.dumps([{"name": "bad", "overrides": {"top_k": 0}}]))
    assert cli.main(["ladder", "--set", "samples/eval/sample.jsonl", "--steps", str(ladder)]) == 1
    assert "step 'bad'" in capsys.readouterr().err


@pytest.mark.llm
def test_real_models_score_context_precision_and_recall_and_a_rerun_is_all_cached(llm_settings, sample_data, tmp_path):
    """The local 0.5B answers, the local 1.5B judges; one context per question keeps it to a few judge calls."""
    path = tmp_path / "two.jsonl"
    path.write_text("".join(json.dumps(item) + "\n" for item in (ITEMS[0], ITEMS[2])), encoding="utf-8")
    settings = llm_settings.with_overrides(top_k=1)
    metrics = [MetricName.CONTEXT_PRECISION, MetricName.CONTEXT_RECALL]
    first = _run(settings, path, metrics=metrics)
    runs = RunStore(settings.runs_db)
    hug, aus = runs.samples(first)
    assert aus.outcome == "correct_abstention"  # the retrieval gate: no model call
    assert [m["status"] for m in aus.metrics] == ["skipped", "skipped"]
    results = {m["metric"]: m for m in hug.metrics}
    for result in results.values():
        assert result["status"] in ("scored", "failed")
        assert (result["score"] is not None) == (result["status"] == "scored")
    assert any(m["status"] == "scored" for m in hug.metrics), hug.metrics
    started = time.perf_counter()
    second = _run(settings, path, metrics=metrics)
    again = runs.samples(second)[0]
    assert again.answer == hug.answer
    # the answer check's P is stored with the sample (the Tune page's answer-check curve reads it), cached or not
    assert hug.answer_check_p is not None and 0.0 <= hug.answer_check_p <= 1.0 and aus.answer_check_p is None
    assert again.answer_check_p == hug.answer_check_p
    assert [m["score"] for m in again.metrics if m["status"] == "scored"] == [
        m["score"] for m in hug.metrics if m["status"] == "scored"]
    assert all(m["cached"] for m in again.metrics if m["status"] == "scored")
    log.warning("real judge: %s; cached re-run took %.1f s", [(m["metric"], m["status"], m["score"], m["seconds"])
                                                              for m in hug.metrics], time.perf_counter() - started)
