"""Aggregates as a reader sees them: n of N scored, intervals over repeats, the abstention matrix, labels, coverage."""

from __future__ import annotations

import pytest

from evaluation.aggregate import abstention_report, aggregate, coverage_curve, failure_label
from evaluation.runner import eval_set_of_run, reference_found, settings_of_run
from evaluation.runstore import SampleRow


def row(idx: int, outcome: str, *, faithfulness: list[float | None] | None = None, answerable: bool | None = True,
        reference: str | None = "Fort Caroline", top: float = 0.7, contexts: list[str] | None = None) -> SampleRow:
    metrics = [{"metric": "faithfulness", "status": "scored" if s is not None else "failed", "score": s,
                "reason": None if s is not None else "judge returned unparseable output", "seconds": 1.0, "repeat": r}
               for r, s in enumerate(faithfulness or [])]
    texts = contexts if contexts is not None else ["The colony was named Fort Caroline by Ribault."]
    abstained = outcome in ("false_abstention", "correct_abstention")
    return SampleRow(idx=idx, item_id=str(idx), question=f"q{idx}", reference=reference, answerable=answerable, kind=None,
                     answer="I don't know." if abstained else "Fort Caroline.", abstained=abstained, abstain_reason=None,
                     outcome=outcome, contexts=[{"id": "c", "source": "kb/x.md", "score": top, "text": t} for t in texts],
                     metrics=metrics, error=None, seconds=2.0)


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


def test_a_run_stored_before_settings_were_recorded_can_still_be_resumed(settings):
    legacy = {"collection": "sample", "top_k": 3, "min_score": 0.5, "llm_model": "qwen2.5-1.5b",
              "llm_base_url": "http://127.0.0.1:9/v1", "metrics": ["faithfulness"]}
    restored = settings_of_run(settings, legacy)
    assert (restored.top_k, restored.min_score, restored.llm_model, restored.openai_base_url) == (
        3, 0.5, "qwen2.5-1.5b", "http://127.0.0.1:9/v1")
    assert eval_set_of_run(settings, legacy, "sample.jsonl") == settings.sample_eval_set
    assert eval_set_of_run(settings, legacy, "gone.jsonl") is None
