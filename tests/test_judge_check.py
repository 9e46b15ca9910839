"""The judge trust report: its numbers on known inputs, pair files it must refuse, failures and cancels it must
survive (fake OpenAI server), and one end-to-end run of the real judge through the CLI."""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import threading
import time
from pathlib import Path

import pytest

from evaluation import __main__ as cli
from evaluation.cache import default_cache
from evaluation.judge_check import (BUNDLED_PAIRS, AnswerResult, Confusion, GroundingScore, JudgeInfo, PairFileError,
                                    TrustReport, auc, best_length_cut, latest_report, load_pairs, run_judge_check,
                                    summarise, verdict)
from evaluation.metrics import JudgeUnavailableError
from settings import Settings
from tests.fake_openai import serving


def test_auc_is_the_share_of_faithful_hallucinated_pairs_ranked_right_ties_half():
    assert auc([0.9, 0.8, 0.3, 0.1], [False, False, True, True]) == 1.0
    assert auc([0.1, 0.3, 0.8, 0.9], [False, False, True, True]) == 0.0
    assert auc([0.5, 0.5, 0.5, 0.5], [False, True, False, True]) == 0.5
    # faithful 0.9 and 0.4 against hallucinated 0.5 and 0.1: 3 of the 4 pairs are ordered right
    assert auc([0.9, 0.4, 0.5, 0.1], [False, False, True, True]) == 0.75
    # faithful 0.5 against hallucinated 0.5 (a tie: half) and 0.2 (right)
    assert auc([0.5, 0.5, 0.2], [False, True, True]) == 0.75
    assert auc([0.3, 0.7], [True, True]) is None  # no faithful answer: nothing to rank


def test_auc_agrees_with_counting_every_pair_on_random_scores():
    rng = random.Random(7)
    for _ in range(20):
        scores = [rng.choice([0.0, 0.25, 0.5, 0.75, 1.0]) for _ in range(15)]  # many ties on purpose
        truth = [rng.random() < 0.5 for _ in range(15)]
        if all(truth) or not any(truth):
            continue
        pairs = [(f, h) for f, h in itertools.product(
            [s for s, t in zip(scores, truth) if not t], [s for s, t in zip(scores, truth) if t])]
        counted = sum(1.0 if f > h else 0.5 if f == h else 0.0 for f, h in pairs) / len(pairs)
        assert auc(scores, truth) == pytest.approx(counted)


def test_confusion_and_balanced_accuracy_count_hallucinated_answers_as_the_positives():
    c = Confusion.of([True, True, False, False, True], [True, False, True, False, True])
    assert (c.tp, c.fp, c.fn, c.tn) == (2, 1, 1, 1)
    assert c.recall == pytest.approx(2 / 3) and c.specificity == 0.5 and c.precision == pytest.approx(2 / 3)
    assert c.balanced_accuracy == pytest.approx((2 / 3 + 1 / 2) / 2)
    # flagging everything is right on every hallucinated answer and wrong on every faithful one: chance
    assert Confusion.of([True] * 4, [True, True, True, False]).balanced_accuracy == 0.5
    assert Confusion.of([False, True], [False, False]).balanced_accuracy is None  # no hallucinated answer
    assert best_length_cut([1, 2, 3, 10, 12, 15], [False, False, False, True, True, True]) == 3


def _result(n: int, label: str, flagged: bool, p: float, words: int, missing: bool = False) -> AnswerResult:
    return AnswerResult(id=f"a{n}", qid=f"q{n // 2}", label=label, words=words, missing_terms=["X"] if missing else [],
                        grounding=GroundingScore(flagged=flagged, p_supported=p))


def judged_results() -> list[AnswerResult]:
    """8 answers: the grounding check flags 3 of 4 hallucinated and 1 of 4 faithful; length separates them fully."""
    return [_result(0, "faithful", False, 0.9, 2), _result(1, "hallucinated", True, 0.2, 12, missing=True),
            _result(2, "faithful", False, 0.8, 1), _result(3, "hallucinated", True, 0.3, 9),
            _result(4, "faithful", False, 0.7, 3), _result(5, "hallucinated", True, 0.1, 14, missing=True),
            _result(6, "faithful", True, 0.35, 2), _result(7, "hallucinated", False, 0.6, 10)]


def stored_report(settings: Settings, results: list[AnswerResult]) -> TrustReport:
    info = JudgeInfo.of(settings, ragas=False, faithfulness_cut=0.5)
    return TrustReport(id="20261201-120000-abcdef", started_at="2026-12-01T12:00:00+00:00",
                       finished_at="2026-12-01T12:30:00+00:00", status="completed", pairs="pairs.jsonl",
                       n_questions=len({r.qid for r in results}), n_answers=len(results), seconds=1800.0, judge=info,
                       scorers=summarise(results, info), answers=results)


def test_the_report_sets_the_judge_beside_length_and_the_term_veto_and_says_so_in_words(settings):
    report = stored_report(settings, judged_results())
    grounding, veto, length = (report.scorer(s) for s in ("grounding", "term_veto", "length"))
    assert report.scorer("faithfulness") is None  # not asked for
    assert grounding.balanced_accuracy == 0.75 and grounding.n_scored == 8
    # P ranks faithful above hallucinated except 0.35 (faithful) under 0.6 (hallucinated): 15 of 16 pairs
    assert grounding.auc == pytest.approx(15 / 16)
    assert (veto.confusion.tp, veto.confusion.fp) == (2, 0) and veto.balanced_accuracy == 0.75
    assert length.balanced_accuracy == 1.0 and "above 3 words" in length.cut
    said = verdict(report)
    assert "75 % of answers" in said and "worse than answer length alone (100 %)" in said
    assert "rough guide" in said and "Only 8 answers" in said


def test_an_answer_the_judge_failed_on_is_left_out_of_its_numbers_only(settings):
    results = judged_results()
    results[7] = results[7].model_copy(update={"grounding": None, "grounding_error": "judge timed out"})
    report = stored_report(settings, results)
    grounding = report.scorer("grounding")
    assert (grounding.n_scored, grounding.n_failed, grounding.first_error) == (7, 1, "judge timed out")
    assert grounding.balanced_accuracy == pytest.approx((3 / 3 + 3 / 4) / 2)
    assert report.scorer("length").n_scored == 8  # the baselines need no judge


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


ROW = {"knowledge": "Paris is the capital of France.", "question": "What is the capital of France?"}


@pytest.mark.parametrize("lines, expected", [
    ([json.dumps({**ROW, "answer": "Paris", "label": "faithful"}), "{not json"], "pairs.jsonl: line 2 is not valid JSON"),
    ([json.dumps({**ROW, "answer": "Paris"})], "line 1: label: Field required"),
    ([json.dumps({**ROW, "answer": "Paris", "label": "true"})], "line 1: label: Input should be 'faithful' or"),
    ([json.dumps({**ROW, "answer": "", "label": "faithful"})], "line 1: answer: String should have at least 1"),
    (["[1, 2]"], "pairs.jsonl: line 1 is not a JSON object"),
    ([json.dumps({**ROW, "answer": "Paris", "label": "faithful"})], "has only 'faithful' answers"),
    ([""], "has no rows"),
])
def test_a_malformed_pair_file_is_refused_naming_the_line_and_the_field(tmp_path, lines, expected):
    with pytest.raises(PairFileError) as caught:
        load_pairs(_write(tmp_path, lines))
    assert expected in str(caught.value)


def test_the_cli_refuses_a_bad_pair_file_in_one_line_with_a_nonzero_exit(settings, tmp_path, capsys):
    assert cli.main(["judge-check", "--pairs", str(tmp_path / "missing.jsonl")]) == 2
    assert "missing.jsonl: cannot be read" in capsys.readouterr().err
    bad = _write(tmp_path, [json.dumps({**ROW, "answer": "Paris", "label": "faithful"}), "{not json"])
    assert cli.main(["judge-check", "--pairs", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: pairs.jsonl: line 2 is not valid JSON")


def test_rows_without_ids_pair_up_by_question_and_the_limit_counts_questions(tmp_path):
    rows = [{**ROW, "answer": "Paris", "label": "faithful"}, {**ROW, "answer": "Lyon, since 1990.", "label": "hallucinated"},
            {"knowledge": "Rome is in Italy.", "question": "Where is Rome?", "answer": "Italy", "label": "faithful"}]
    loaded = load_pairs(_write(tmp_path, [json.dumps(r) for r in rows]), questions=1)
    assert [r.answer for r in loaded] == ["Paris", "Lyon, since 1990."]
    assert {r.qid for r in loaded} == {ROW["question"]} and loaded[0].id != loaded[1].id
    bundled = load_pairs(BUNDLED_PAIRS)
    assert len(bundled) == 40 and sum(r.hallucinated for r in bundled) == 20  # the 20 shipped questions, both answers


@pytest.fixture
def fake_judge(settings, monkeypatch):
    with serving() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        yield server, settings.with_overrides(openai_base_url=server.base_url)


def test_a_judge_failure_on_one_answer_is_recorded_the_rest_scored_and_a_rerun_asks_only_about_it(fake_judge, embedder):
    server, settings = fake_judge
    rows = load_pairs(BUNDLED_PAIRS, questions=2)
    # the fake judge replies prose to a prompt with this marker, and Ragas and the grounding check both re-ask first
    rows[1] = rows[1].model_copy(update={"answer": rows[1].answer + " GARBAGE"})
    seen = []
    report = run_judge_check(settings, rows, "two questions", embedder, ragas=True, cache=default_cache(settings.data_dir),
                             progress=seen.append)
    assert report.status == "completed" and report.n_answers == 4
    failed = [a for a in report.answers if a.grounding_error]
    assert [a.id for a in failed] == [rows[1].id] and "not the verdict JSON" in failed[0].grounding_error
    assert [a.id for a in report.answers if a.faithfulness_error] == [rows[1].id]
    for name in ("grounding", "faithfulness"):
        assert (report.scorer(name).n_scored, report.scorer(name).n_failed) == (3, 1)
    assert report.scorer("length").n_scored == 4
    assert [p.done for p in seen] == [0, 1, 2, 3, 4] and seen[-1].failed == 1
    assert latest_report(settings) == report  # stored: the page shows it without recomputing
    assert report.judge.grounding_endpoint == report.judge.ragas_endpoint == server.base_url

    before = len(server.chat_requests)
    again = run_judge_check(settings, rows, "two questions", embedder, ragas=True, cache=default_cache(settings.data_dir))
    asked = server.chat_requests[before:]
    assert asked and all("GARBAGE" in json.dumps(r) for r in asked)  # only the failed answer is asked about again
    assert [a.grounding for a in again.answers] == [a.grounding for a in report.answers]


def test_a_cancelled_check_keeps_and_stores_the_answers_done(fake_judge, embedder):
    _, settings = fake_judge
    rows = load_pairs(BUNDLED_PAIRS, questions=2)
    answered = iter([True, True, False])
    report = run_judge_check(settings, rows, "two questions", embedder, should_continue=lambda: next(answered))
    assert report.status == "cancelled" and [a.id for a in report.answers] == [r.id for r in rows[:2]]
    assert report.n_questions == 1  # the one question both its answers were scored for, not the two asked for
    assert latest_report(settings).status == "cancelled"


def test_an_unreachable_judge_fails_before_any_answer(settings, embedder):
    down = settings.with_overrides(openai_base_url="http://127.0.0.1:9/v1")
    with pytest.raises(JudgeUnavailableError, match="grounding judge.*127.0.0.1:9"):
        run_judge_check(down, load_pairs(BUNDLED_PAIRS, questions=1), "one", embedder)
    assert latest_report(settings) is None


@pytest.mark.llm
def test_the_real_judge_scores_labelled_answers_end_to_end_through_the_cli(llm_settings, llm_base_url, tmp_path, capsys):
    rows = [json.loads(line) for line in BUNDLED_PAIRS.read_text(encoding="utf-8").splitlines()]
    shortest = sorted({r["qid"]: len(r["knowledge"]) for r in rows}.items(), key=lambda kv: kv[1])[:2]
    keep = {qid for qid, _ in shortest}
    pairs = _write(tmp_path, [json.dumps(r) for r in rows if r["qid"] in keep])

    code = cli.main(["judge-check", "--pairs", str(pairs), "--json"])
    report = TrustReport.model_validate_json(capsys.readouterr().out)
    assert code == 0 and report.status == "completed" and report.n_answers == 4 and report.n_questions == 2
    assert report.judge.grounding_model == "qwen2.5-1.5b" and report.judge.grounding_endpoint == llm_base_url
    grounding = report.scorer("grounding")
    assert grounding.n_scored + grounding.n_failed == 4 and grounding.n_scored >= 1, grounding.first_error
    c = grounding.confusion
    assert c.tp + c.fp + c.fn + c.tn == grounding.n_scored
    # the real server returns log-probabilities: every scored answer has a P(supported) to rank by
    assert all(0.0 <= a.grounding.p_supported <= 1.0 for a in report.answers if a.grounding)
    assert latest_report(llm_settings) == report


def test_ctrl_c_on_the_cli_stores_the_report_of_the_answers_done(fake_judge, capsys):
    server, settings = fake_judge
    server.delay_s = 0.3  # several seconds for the bundled 40 answers: time to be interrupted

    def interrupt_once_judging() -> None:
        while len(server.chat_requests) < 4:  # a couple of answers under way
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)  # Python's default, or SIG_IGN when started in the background
    threading.Thread(target=interrupt_once_judging, daemon=True).start()
    code = cli.main(["judge-check", "--pairs", str(BUNDLED_PAIRS), "--json"])
    report = TrustReport.model_validate_json(capsys.readouterr().out)
    assert code == 1 and report.status == "cancelled" and 0 < report.n_answers < 40
    assert latest_report(settings) == report
    assert signal.getsignal(signal.SIGINT) is before  # Ctrl-C is itself again afterwards
