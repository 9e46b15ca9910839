"""Aggregates as a reader sees them: n of N scored, intervals over repeats, the abstention matrix, labels, coverage."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from evaluation.aggregate import abstention_report, aggregate, answer_check_curve, coverage_curve, failure_label
from evaluation.runner import eval_set_of_run, reference_found, settings_of_run
from evaluation.runstore import SCHEMA, RunStore, SampleRow
from tests.conftest import REPO


def row(idx: int, outcome: str, *, faithfulness: list[float | None] | None = None, answerable: bool | None = True,
        reference: str | None = "Fort Caroline", top: float = 0.7, contexts: list[str] | None = None,
        p: float | None = None) -> SampleRow:
    metrics = [{"metric": "faithfulness", "status": "scored" if s is not None else "failed", "score": s,
                "reason": None if s is not None else "judge returned unparseable output", "seconds": 1.0, "repeat": r}
               for r, s in enumerate(faithfulness or [])]
    texts = contexts if contexts is not None else ["The colony was named Fort Caroline by Ribault."]
    abstained = outcome in ("false_abstention", "correct_abstention")
    return SampleRow(idx=idx, item_id=str(idx), question=f"q{idx}", reference=reference, answerable=answerable, kind=None,
                     answer="I don't know." if abstained else "Fort Caroline.", abstained=abstained, abstain_reason=None,
                     outcome=outcome, contexts=[{"id": "c", "source": "kb/x.md", "score": top, "text": t} for t in texts],
                     metrics=metrics, error=None, seconds=2.0, answer_check_p=p)


def test_reference_check_ignores_case_and_punctuation_but_not_words():
    assert reference_found("Fort Caroline", "It was named fort caroline.")
    assert reference_found("2,290 m3/s", "About 2,290 m3/s at the border.")
    assert not reference_found("Aare", "The Aarau river.")


def test_repeats_give_a_sample_mean_and_a_95_percent_interval():
    samples = [row(0, "correct_answer", faithfulness=[1.0, 0.5, 1.0]), row(1, "correct_answer", faithfulness=[0.5, 0.5, 0.0]),
               row(2, "correct_answer", faithfulness=[None, None, None])]
    [agg] = aggregate(samples, ["faithfulness"])
    assert (agg.n_scored, agg.n_failed, agg.n_total, agg.repeats) == (2, 1, 3, 3)
    assert agg.mean == pytest.approx((2.5 / 3 + 1.0 / 3) / 2)
    # run means per repeat: 0.75, 0.5, 0.5 -> t(2) interval around 0.583
    assert agg.ci_low < agg.mean < agg.ci_high
    assert agg.ci_high - agg.ci_low == pytest.approx(2 * 4.303 * 0.1443 / 3 ** 0.5, rel=0.01)
    assert "(2 of 3 scored)" in agg.label and "±" in agg.label
    [single] = aggregate([row(0, "correct_answer", faithfulness=[0.8])], ["faithfulness"])
    assert single.ci_low is None and single.label == "faithfulness: 0.80 (1 of 1 scored)"


def test_abstention_confusion_matrix_and_rates():
    samples = [row(0, "correct_answer"), row(1, "wrong_answer"), row(2, "false_abstention"), row(3, "correct_answer"),
               row(4, "correct_abstention", answerable=False, reference=None),
               row(5, "hallucinated_answer", answerable=False, reference=None)]
    report = abstention_report(samples)
    assert report.matrix == {"answerable": {"correct answer": 2, "wrong answer": 1, "abstained": 1},
                             "unanswerable": {"abstained": 1, "answer (unchecked)": 1}}
    assert report.rates["answer accuracy (answerable)"] == 0.5
    assert report.rates["false abstention rate (answerable)"] == 0.25
    assert report.rates["hallucination rate (unanswerable)"] == 0.5
    assert (report.n_labelled, report.n_total) == (6, 6)


def test_failure_labels_separate_retrieval_misses_from_hallucinations():
    assert failure_label(row(0, "false_abstention", contexts=["Nothing about colonies."])) == "retrieval miss"
    assert failure_label(row(1, "false_abstention")) == "false abstention"
    assert failure_label(row(2, "hallucinated_answer", answerable=False, reference=None)) == "hallucination"
    assert failure_label(row(3, "correct_answer", faithfulness=[0.2])) == "hallucination"
    assert failure_label(row(4, "correct_abstention", answerable=False, reference=None)) == "correct abstention"
    assert failure_label(row(5, "correct_answer", faithfulness=[1.0])) == "ok"
    assert failure_label(row(6, "wrong_answer", contexts=[])) == "wrong answer"  # no passages stored: no verdict on them
    assert failure_label(row(7, "false_abstention", contexts=[])) == "retrieval miss"  # nothing was retrieved at all


def test_coverage_curve_trades_answered_questions_for_faithfulness():
    samples = [row(0, "correct_answer", faithfulness=[1.0], top=0.8), row(1, "wrong_answer", faithfulness=[0.2], top=0.5),
               row(2, "hallucinated_answer", answerable=False, reference=None, faithfulness=[0.0], top=0.45),
               row(3, "correct_abstention", answerable=False, reference=None, top=0.3)]
    curve = coverage_curve(samples, run_min_score=0.4, steps=5)
    assert curve[0].threshold == 0.4 and curve[-1].threshold == 0.8
    assert [p.n_answered for p in curve] == [3, 2, 1, 1, 1]
    assert curve[0].coverage == 0.75 and curve[0].faithfulness == pytest.approx(0.4)
    assert curve[0].hallucination_rate == 0.5 and curve[1].hallucination_rate == 0.0
    assert curve[-1].faithfulness == 1.0


def test_answer_check_curve_shows_what_a_stricter_cut_withholds():
    """Near misses get a middling P: a cut between them and the right answers withholds them and keeps the rest."""
    samples = [row(0, "correct_answer", p=0.92), row(1, "correct_answer", p=0.79),
               row(2, "hallucinated_answer", answerable=False, reference=None, p=0.83),
               row(3, "hallucinated_answer", answerable=False, reference=None, p=0.55),
               row(4, "wrong_answer", p=0.6), row(5, "correct_abstention", answerable=False, reference=None)]
    curve = answer_check_curve(samples, run_cut=0.0, steps=24)  # 0.04 apart, up to the highest P (0.92)
    at = {round(p.threshold, 2): p for p in curve}
    assert at[0.0].n_answered == 5 and at[0.0].hallucination_rate == pytest.approx(2 / 3)
    assert at[0.0].answer_accuracy == pytest.approx(2 / 3)
    assert at[0.76].n_answered == 3 and at[0.76].hallucination_rate == pytest.approx(1 / 3)  # the 0.83 near miss stays
    assert at[0.76].answer_accuracy == pytest.approx(2 / 3)  # both right answers kept, the wrong one withheld
    assert at[0.88].hallucination_rate == 0.0 and at[0.88].answer_accuracy == pytest.approx(1 / 3)
    assert answer_check_curve([row(0, "correct_answer")], run_cut=0.0) == []  # no P stored: no curve


def test_a_run_store_made_before_answer_check_p_gains_the_column(tmp_path):
    path = tmp_path / "runs.sqlite"
    with sqlite3.connect(path) as conn:  # the samples table as the first release made it
        conn.executescript(SCHEMA.replace("    answer_check_p REAL,             -- the answer-level check's P(supported), when it ran\n", ""))
        conn.execute("INSERT INTO runs VALUES ('old', '2026-11-01T00:00:00', 'completed', 'sample.jsonl', 1, '{}', NULL)")
        conn.execute("INSERT INTO samples (run_id, idx, item_id, question, outcome) VALUES ('old', 0, 'q', 'Who?', 'answered')")
    assert "answer_check_p" not in {r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(samples)")}
    runs = RunStore(path)
    [old] = runs.samples("old")
    assert old.question == "Who?" and old.answer_check_p is None
    runs.add_sample("old", row(1, "correct_answer", p=0.8))
    assert [s.answer_check_p for s in runs.samples("old")] == [None, 0.8]


def test_a_run_left_running_by_a_process_that_ended_is_listed_as_interrupted(tmp_path):
    path = tmp_path / "runs.sqlite"
    mine = RunStore(path).create_run("sample.jsonl", 2, {})
    made_elsewhere = (f"from pathlib import Path; from evaluation.runstore import RunStore; "
                      f"print(RunStore(Path({str(path)!r})).create_run('sample.jsonl', 2, {{}}))")
    gone = subprocess.run([sys.executable, "-c", made_elsewhere], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout.strip()  # its process has exited: nobody will finish it
    with sqlite3.connect(path) as conn:
        dead_pid = conn.execute("SELECT owner_pid FROM runs WHERE id = ?", (gone,)).fetchone()[0]
        conn.execute("INSERT INTO runs (id, created_at, status, eval_set, n_items, config) "
                     "VALUES ('legacy', '2026-11-01T00:00:00', 'running', 's.jsonl', 1, '{}')")  # no owner recorded
        conn.execute("INSERT INTO runs (id, created_at, status, eval_set, n_items, config, owner_host, owner_pid) "
                     "VALUES ('remote', '2026-11-01T00:00:00', 'running', 's.jsonl', 1, '{}', 'another-host', ?)",
                     (dead_pid,))  # a pid on another machine cannot be checked from here
    status = {r.id: (r.status, r.error) for r in RunStore(path).runs()}
    assert status[mine] == ("running", None)  # this process is alive
    assert status[gone] == ("failed", f"interrupted: the process running it (pid {dead_pid}) ended before it finished")
    assert status["legacy"] == ("running", None) and status["remote"] == ("running", None)
    RunStore(path).finish_run(gone, "running")  # a resume: this process owns it now
    assert RunStore(path).run(gone).status == "running"


def test_a_run_stored_before_settings_were_recorded_can_still_be_resumed(settings):
    legacy = {"collection": "sample", "top_k": 3, "min_score": 0.5, "llm_model": "qwen2.5-1.5b",
              "llm_base_url": "http://127.0.0.1:9/v1", "metrics": ["faithfulness"]}
    restored = settings_of_run(settings, legacy)
    assert (restored.top_k, restored.min_score, restored.llm_model, restored.openai_base_url) == (
        3, 0.5, "qwen2.5-1.5b", "http://127.0.0.1:9/v1")
    assert eval_set_of_run(settings, legacy, "sample.jsonl") == settings.sample_eval_set
    assert eval_set_of_run(settings, legacy, "gone.jsonl") is None
