"""The question log's store: what an answer leaves in it, feedback, the off switch, retention, secrets, hostile text,
and `kill -9` (real processes: the CLI killed mid-answer, a writer killed mid-write)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from pydantic import ValidationError

from evaluation.evalset import load_eval_set, save_eval_set, saved_set_path
from evaluation.feedback import LOG_RUN, eval_items, labelled_run
from evaluation.aggregate import answer_check_curve, coverage_curve
from pipeline.chain import pipeline_config
from pipeline.question_log import Feedback, QuestionLog, log_answer, open_log
from settings import Settings
from tests.conftest import REPO
from tests.fake_openai import serving
from tests.hostile import HOSTILE_TEXT, PAYLOADS
from tests.log_seed import make_answer, seed

COLONY = "What was the name of the Florida Huguenot colony?"


@pytest.fixture
def log(settings: Settings) -> QuestionLog:
    return open_log(settings)


def test_an_answer_is_kept_with_its_verdicts_seconds_tokens_and_configuration(settings):
    answer = make_answer(COLONY, "The colony was named Fort Caroline.", p=0.91)
    entry_id = log_answer(settings, answer, "cli")
    [entry] = open_log(settings).entries()
    assert entry.id == entry_id and entry.via == "cli" and entry.question == COLONY
    assert entry.status == "answered" and entry.verdict == "1/1 claims supported" and entry.answer_check_p == 0.91
    assert entry.best_similarity == 0.7 and entry.collection == "sample"
    assert entry.llm_model == "qwen2.5-0.5b" and entry.judge_model == "qwen2.5-1.5b"
    assert entry.config == answer.config and entry.stages == answer.stages and entry.seconds == 9.0
    assert entry.tokens["answer"].read == 466 and entry.tokens["check"].cached == 200
    assert entry.record is None and entry.feedback is None  # the whole answer only when asked for
    assert open_log(settings).entry(entry_id).record == answer  # passages, claims, citations: all of it


def test_what_became_of_each_answer(log):
    ids = seed(log, [make_answer("a?", "Fort Caroline."), make_answer("b?", "Napoleon.", supported=False, p=0.2),
                     make_answer("c?", "Napoleon.", supported=False, abstain="unsupported_claims",
                                 config={"grounding_policy": "strict"}),
                     make_answer("d?", "", abstain="low_retrieval_score")])
    statuses = {e.id: e.status for e in log.entries()}
    assert [statuses[i] for i in ids] == ["answered", "flagged", "withheld", "abstained"]


def test_hostile_text_is_stored_exactly_as_it_came(log):
    answer = make_answer(HOSTILE_TEXT, HOSTILE_TEXT, source=PAYLOADS[0], passage=HOSTILE_TEXT)
    [entry_id] = seed(log, [answer])
    log.set_feedback(entry_id, Feedback(rating="down", correction=PAYLOADS[7]))
    entry = log.entry(entry_id)
    assert entry.question == entry.answer == HOSTILE_TEXT and entry.feedback.correction == PAYLOADS[7]
    assert entry.record.contexts[0].source == PAYLOADS[0] and entry.record.contexts[0].text == HOSTILE_TEXT


def test_feedback_is_stored_changed_and_cleared_and_labels_what_should_have_happened(log):
    answered, abstained = seed(log, [make_answer("a?", "Fort Caroline."), make_answer("b?", "", abstain="low_retrieval_score")])
    label = lambda i: log.entry(i).label  # noqa: E731
    assert label(answered) is None
    assert log.set_feedback(answered, Feedback(rating="up")) and label(answered) == "right answer"
    log.set_feedback(answered, Feedback(rating="down", correction="  Fort Caroline  "))
    assert label(answered) == "wrong answer" and log.entry(answered).feedback.correction == "Fort Caroline"
    log.set_feedback(answered, Feedback(rating="down", should_abstain=True))
    assert label(answered) == "should have abstained"
    log.set_feedback(abstained, Feedback(rating="up"))
    assert label(abstained) == "right to abstain"
    log.set_feedback(abstained, Feedback(rating="down", correction="Canberra"))
    assert label(abstained) == "should have answered"
    assert log.set_feedback(abstained, None) and log.entry(abstained).feedback is None
    assert not log.set_feedback(999, Feedback(rating="up"))  # not in the log: nothing written, and said so
    with pytest.raises(ValidationError, match="a thumbs up takes no correction"):
        Feedback(rating="up", correction="x")
    with pytest.raises(ValidationError, match="not both"):
        Feedback(rating="down", correction="x", should_abstain=True)


def test_the_off_switch_logs_nothing_and_makes_no_file(settings):
    off = settings.with_overrides(question_log=False)
    assert log_answer(off, make_answer("a?", "Fort Caroline."), "ask") is None
    assert open_log(off) is None and not off.question_log_db.exists()


def test_retention_keeps_the_newest_rows_and_those_with_feedback_and_the_file_bounded(log):
    ids = [log.record(make_answer(f"q{n}?", "Fort Caroline."), "ask", max_rows=5) for n in range(5)]
    log.set_feedback(ids[0], Feedback(rating="down", correction="Jean Ribault"))  # the oldest, labelled
    more = [log.record(make_answer(f"q{n}?", "Fort Caroline."), "ask", max_rows=5) for n in range(5, 8)]
    kept = sorted(e.id for e in log.entries())
    assert kept == [ids[0], ids[4], *more]  # unlabelled rows went first, oldest first; ids are never reused
    for n in range(8, 60):  # far beyond a new limit, with longer answers
        log.record(make_answer(f"q{n}?", "Fort Caroline. " * 50), "ask", max_rows=20)
    size = log.path.stat().st_size
    for n in range(60, 200):
        log.record(make_answer(f"q{n}?", "Fort Caroline. " * 50), "ask", max_rows=20)
    assert len(log.entries()) == 20
    assert log.path.stat().st_size <= size * 1.2  # freed pages are reused: the file stops growing


def test_nothing_secret_is_stored(settings):
    secret = settings.with_overrides(openai_api_key="sk-SECRET-KEY", judge_api_key="judge-SECRET",
                                     openai_base_url="https://user:PASSWORD@llm.example/v1?api-key=QUERYSECRET#frag",
                                     qdrant_api_key="qdrant-SECRET")
    answer = make_answer(COLONY, "Fort Caroline.", config=pipeline_config(secret))
    log_answer(secret, answer, "ask")
    stored = secret.question_log_db.read_bytes()
    for word in (b"SECRET", b"PASSWORD", b"user:", b"frag"):
        assert word not in stored, word
    assert b"https://llm.example/v1" in stored  # the endpoint is named, without its credentials


def test_feedback_becomes_an_eval_set_and_a_labelled_run_for_the_curves(settings, log):
    right, wrong, should_abstain, gated, unrated = seed(log, [
        make_answer("What was the colony called?", "Fort Caroline.", p=0.95),
        make_answer("Who founded the colony?", "Napoleon.", p=0.55, supported=False),
        make_answer("When did the colony reach Mars?", "In 1564.", p=0.8),
        make_answer("What is the capital of Australia?", "", abstain="low_retrieval_score", similarity=0.2),
        make_answer("How long is the Rhine?", "1,230 km."),
    ])
    log.set_feedback(right, Feedback(rating="up"))
    log.set_feedback(wrong, Feedback(rating="down", correction="Jean Ribault"))
    log.set_feedback(should_abstain, Feedback(rating="down", should_abstain=True))
    log.set_feedback(gated, Feedback(rating="up"))
    items = {i.question: i for i in eval_items(log.entries())}
    assert items["What was the colony called?"].reference == "Fort Caroline." and items["What was the colony called?"].answerable
    assert items["Who founded the colony?"].reference == "Jean Ribault" and items["Who founded the colony?"].answerable
    assert items["When did the colony reach Mars?"].answerable is False
    assert items["What is the capital of Australia?"].answerable is False
    assert items["How long is the Rhine?"].answerable is None and items["How long is the Rhine?"].reference is None
    path = save_eval_set(list(items.values()), saved_set_path(settings, "from-the-log"))
    assert [i.id for i in load_eval_set(path)] == [f"log-{n}" for n in (right, wrong, should_abstain, gated, unrated)]

    run = labelled_run(log.entries(rated_only=True, with_record=True))
    assert run.summary.id == LOG_RUN and run.summary.n_items == 4 and run.summary.config["min_score"] == 0.4
    assert {s.question: s.outcome for s in run.samples} == {
        "What was the colony called?": "correct_answer", "Who founded the colony?": "wrong_answer",
        "When did the colony reach Mars?": "hallucinated_answer", "What is the capital of Australia?": "correct_abstention"}
    points = {round(p.threshold, 2): p for p in answer_check_curve(run.samples, 0.0)}
    assert points[0.0].hallucination_rate == 0.5 and points[0.0].answer_accuracy == 0.5  # all kept
    at_085 = next(p for t, p in points.items() if t >= 0.85)  # the Mars answer (P 0.8) is withheld, the right one kept
    assert at_085.hallucination_rate == 0.0 and at_085.answer_accuracy == 0.5 and at_085.n_answered == 1
    assert coverage_curve(run.samples, 0.4)[0].threshold == 0.4


def test_the_cli_logs_its_answer_and_a_kill_9_mid_answer_keeps_every_finished_one(sample_data):
    """`python -m pipeline` against a fake endpoint: one answer finishes, the next is killed while the endpoint is
    still writing it; the log opens whole, with the first answer, and the next question is logged after it."""
    env = {**os.environ, "FQA_DATA_DIR": str(sample_data.data_dir)}
    with serving("The colony was named Fort Caroline.") as server:
        env["OPENAI_BASE_URL"] = server.base_url
        done = subprocess.run([sys.executable, "-m", "pipeline", COLONY], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-800:]
        asked = len(server.chat_requests)
        server.delay_s = 120  # the next answer is being written when the kill comes
        proc = subprocess.Popen([sys.executable, "-m", "pipeline", "Who founded Fort Caroline?"], cwd=REPO, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while len(server.chat_requests) == asked and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode()[-800:]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        server.delay_s = 0
        with sqlite3.connect(sample_data.question_log_db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        [kept] = QuestionLog(sample_data.question_log_db).entries(with_record=True)
        assert kept.question == COLONY and kept.via == "cli" and kept.answer == "The colony was named Fort Caroline."
        assert kept.record.contexts and kept.verdict == "1/1 claims supported"
        again = subprocess.run([sys.executable, "-m", "pipeline", "--json", "Who founded Fort Caroline?"], cwd=REPO,
                               env=env, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr[-800:]
    assert [e.question for e in QuestionLog(sample_data.question_log_db).entries()] == [
        "Who founded Fort Caroline?", COLONY]


WRITER = """
import sys
from pipeline.question_log import QuestionLog
from tests.log_seed import make_answer
log = QuestionLog(__import__("pathlib").Path(sys.argv[1]))
n = 0
while True:
    n += 1
    entry_id = log.record(make_answer(f"question {n}?", f"answer {n}. " * 200), "cli", 10_000)
    print(entry_id, flush=True)
"""


def test_a_writer_killed_mid_write_leaves_every_committed_answer_whole(tmp_path):
    path = tmp_path / "questions.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=REPO, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    committed = [int(proc.stdout.readline()) for _ in range(40)]
    os.kill(proc.pid, signal.SIGKILL)  # while it writes the 41st (or a later one)
    committed += [int(line) for line in proc.stdout.read().split()]
    proc.wait()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    entries = {e.id: e for e in QuestionLog(path).entries(with_record=True)}
    assert set(committed) <= set(entries) and len(entries) <= len(committed) + 1
    for entry in entries.values():  # no row half-written: its columns and its whole answer agree
        n = entry.question.split()[1].rstrip("?")
        assert entry.answer == f"answer {n}. " * 200 and entry.record.question == entry.question
        assert json.loads(entry.record.model_dump_json())["answer"] == entry.answer
