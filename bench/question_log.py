"""What does keeping an answer in the question log add to it? The log write against the answer's own seconds.

    .venv/bin/python bench/question_log.py --limit 8

`samples/kb` is ingested into a temporary data folder (on the same disk as data/, so commits cost what they cost
there); each eval question of `samples/eval/sample.jsonl` is answered by the real pipeline (stream_answer, default
settings, the grounding check on), then written with `log_answer`, the function the Ask page and the CLI call (open,
insert, prune beyond the retention limit, commit), twice: into a log holding only this run's answers, and into one
already at its retention limit (FQA_QUESTION_LOG_MAX_ROWS rows, so each write also removes the oldest). Printed: the
write's milliseconds p50 / p95 / max in both logs, the answers' seconds, and the ratio of the write to the answer.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench.common import percentile, read_jsonl  # noqa: E402
from ingest.embedder import embedder_info, make_embedder  # noqa: E402
from ingest.ingestor import ingest_configured, sources_for  # noqa: E402
from ingest.store import VectorStore, open_client  # noqa: E402
from pipeline.answer import Answer  # noqa: E402
from pipeline.chain import stream_answer  # noqa: E402
from pipeline.llm import make_chat_model  # noqa: E402
from pipeline.question_log import QuestionLog, log_answer  # noqa: E402
from settings import Settings  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def fill(settings: Settings, answer: Answer) -> None:
    """The log at its retention limit: one real answer, copied by doubling (INSERT … SELECT) up to the limit."""
    QuestionLog(settings.question_log_db).record(answer, "cli", settings.question_log_max_rows)
    columns = ("asked_at, via, question, answer, abstained, abstain_reason, status, verdict, answer_check_p, "
               "best_similarity, collection, llm_model, judge_model, config_key, config, seconds, stages, tokens, "
               "tokens_read, tokens_written, record")
    with sqlite3.connect(settings.question_log_db) as conn:
        while (n := conn.execute("SELECT COUNT(*) FROM questions").fetchone()[0]) < settings.question_log_max_rows:
            conn.execute(f"INSERT INTO questions ({columns}) SELECT {columns} FROM questions LIMIT ?",
                         (settings.question_log_max_rows - n,))


def timed_write(settings: Settings, answer: Answer) -> float:
    started = time.perf_counter()
    log_answer(settings, answer, "cli")
    return (time.perf_counter() - started) * 1000


def report(label: str, writes_ms: list[float], answers: list[Answer]) -> None:
    asked = [a.seconds for a in answers if "answer" in a.stages]  # the score gate answers without the model
    ratio = statistics.median(writes_ms) / 1000 / statistics.median(asked) if asked else float("nan")
    print(f"  {label:<38} write p50 {statistics.median(writes_ms):6.1f} ms · p95 {percentile(writes_ms, 95):6.1f} ms · "
          f"max {max(writes_ms):6.1f} ms · write / answer (medians) {ratio:.4f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=8, help="eval questions to answer (default 8)")
    parser.add_argument("--set", type=Path, default=REPO / "samples" / "eval" / "sample.jsonl")
    args = parser.parse_args(argv)
    base = Settings()
    questions = [row["question"] for row in read_jsonl(args.set)][: args.limit]
    (REPO / "data").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=REPO / "data", prefix="bench-question-log-") as tmp:
        settings = base.with_overrides(data_dir=Path(tmp) / "data", collection="bench")
        full = settings.with_overrides(data_dir=Path(tmp) / "full")
        store, embedder = VectorStore(open_client(settings), embedder_info(settings)), make_embedder(settings)
        llm = make_chat_model(settings)
        answers, fresh_ms, full_ms = [], [], []
        try:
            ingest_configured(settings, store, embedder, sources_for(REPO / "samples" / "kb"), settings.collection)
            print(f"load average before: {os.getloadavg()[0]:.1f}")
            for n, question in enumerate(questions):
                answer = stream_answer(settings, store, embedder, llm, question).finish()
                if n == 0:
                    fill(full, answer)
                answers.append(answer)
                fresh_ms.append(timed_write(settings, answer))
                full_ms.append(timed_write(full, answer))
                print(f"  {answer.seconds:5.1f} s answer ({'abstained' if answer.abstained else 'answered'}) · "
                      f"write {fresh_ms[-1]:5.1f} ms, {full_ms[-1]:5.1f} ms at the limit", flush=True)
            print(f"load average after: {os.getloadavg()[0]:.1f}")
        finally:
            store.client.close()
        asked = sorted(a.seconds for a in answers if "answer" in a.stages)
        print(f"\n{len(answers)} answers, {len(asked)} from the model: p50 {statistics.median(asked):.1f} s "
              f"(min {asked[0]:.1f} s); {len(answers) - len(asked)} abstained at the score gate "
              f"({max((a.seconds for a in answers if 'answer' not in a.stages), default=0):.2f} s at most)"
              if asked else f"\n{len(answers)} answers, none from the model")
        report("log with this run's answers", fresh_ms, answers)
        report(f"log at its limit ({settings.question_log_max_rows:,} rows)", full_ms, answers)
        print(f"  log file at the limit: {full.question_log_db.stat().st_size / 2**20:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
