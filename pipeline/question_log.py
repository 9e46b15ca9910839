"""The question log: every answer the Ask page and `python -m pipeline` give, with its verdicts, seconds, tokens and
configuration, and the feedback a person gives it (thumbs up or down, the correct answer, "should have abstained").

SQLite beside the run store (`<data_dir>/questions.sqlite`) with its conventions (ingest/sqlite.py): a short-lived
connection per call and one commit per answer, so `kill -9` loses at most the answer in flight, never half of one.
Nothing secret is stored: an answer's config names models and URLs without credentials, never a key
(pipeline.chain.pipeline_config). `FQA_QUESTION_LOG=false` turns the log off; `FQA_QUESTION_LOG_MAX_ROWS` bounds it:
each write removes the oldest rows beyond the limit, those without feedback first (a person's labels are what the log
is kept for). Text is stored as it came: the pages show it as literal text.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from ingest.sqlite import create, transaction
from pipeline.answer import Answer
from pipeline.llm import Tokens
from pipeline.retrieval import best_similarity
from settings import Settings

Via = Literal["ask", "cli"]
# what became of an answer: given and confirmed (or unchecked), given but marked by the check, withheld by the strict
# policy, or an abstention (nothing close enough was retrieved, or the model found no answer)
Status = Literal["answered", "flagged", "withheld", "abstained"]
# what a person's feedback says the pipeline should have done
Label = Literal["right answer", "wrong answer", "should have abstained", "right to abstain", "should have answered"]
MAX_CORRECTION = 2_000  # characters of a typed correct answer
ON_FULL = "Free some space: until then answers are given but not logged."

SCHEMA = """
CREATE TABLE IF NOT EXISTS questions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused: feedback for a removed row never lands on a later one
    asked_at TEXT NOT NULL,                 -- ISO 8601, UTC, when the answer was finished
    via TEXT NOT NULL,                      -- ask | cli
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    abstained INTEGER NOT NULL,
    abstain_reason TEXT,
    status TEXT NOT NULL,                   -- answered | flagged | withheld | abstained
    verdict TEXT,                           -- the grounding check's summary; NULL when it did not run
    answer_check_p REAL,                    -- P(supported) of the answer-level check, when it ran
    best_similarity REAL,                   -- what the min-score gate compared
    collection TEXT NOT NULL,
    llm_model TEXT NOT NULL,
    judge_model TEXT,                       -- NULL when no check ran
    config_key TEXT NOT NULL,               -- hash of config: the rows of one configuration
    config TEXT NOT NULL,                   -- JSON: pipeline_config of the answer (no secrets)
    seconds REAL NOT NULL,
    stages TEXT NOT NULL,                   -- JSON: seconds per stage (retrieval, answer, check)
    tokens TEXT NOT NULL,                   -- JSON: tokens read, written and cached per stage, where reported
    tokens_read INTEGER NOT NULL,
    tokens_written INTEGER NOT NULL,
    record TEXT NOT NULL,                   -- JSON: the whole Answer (passages, claims, citations) for the drill-down
    rating TEXT,                            -- up | down | NULL (no feedback)
    correction TEXT,                        -- the correct answer a person typed
    should_abstain INTEGER NOT NULL DEFAULT 0,
    feedback_at TEXT
);
CREATE INDEX IF NOT EXISTS questions_pruned_first ON questions ((rating IS NOT NULL), id);
"""
_COLUMNS = ("id, asked_at, via, question, answer, abstained, abstain_reason, status, verdict, answer_check_p, "
            "best_similarity, collection, llm_model, judge_model, config_key, config, seconds, stages, tokens, "
            "rating, correction, should_abstain, feedback_at")


class Feedback(BaseModel):
    """A person's word on one answer: thumbs up, or down with, optionally, the correct answer or "should have
    abstained" (the documents do not answer the question)."""

    rating: Literal["up", "down"]
    correction: str | None = Field(default=None, max_length=MAX_CORRECTION)
    should_abstain: bool = False

    @field_validator("correction")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @model_validator(mode="after")
    def _one_correction(self) -> Feedback:
        if self.rating == "up" and (self.correction or self.should_abstain):
            raise ValueError("a thumbs up takes no correction: it says the answer was right")
        if self.correction and self.should_abstain:
            raise ValueError("give the correct answer or mark it as one that should have been abstained, not both")
        return self


class LogEntry(BaseModel):
    """One logged answer as the log page lists it; `record` (the whole Answer) only when asked for."""

    id: int
    asked_at: datetime
    via: Via
    question: str
    answer: str
    abstained: bool
    abstain_reason: str | None
    status: Status
    verdict: str | None
    answer_check_p: float | None
    best_similarity: float | None
    collection: str
    llm_model: str
    judge_model: str | None
    config_key: str
    config: dict
    seconds: float
    stages: dict[str, float]
    tokens: dict[str, Tokens]
    feedback: Feedback | None = None
    feedback_at: datetime | None = None
    record: Answer | None = None

    @property
    def label(self) -> Label | None:
        """What the feedback says should have happened; None without feedback.

        On an abstention: thumbs up = right to abstain, down = should have answered (the correction, if given, is the
        answer). On an answer: up = right answer, down = wrong answer, or "should have abstained" when marked so.
        """
        if self.feedback is None:
            return None
        if self.abstained:
            return "right to abstain" if self.feedback.rating == "up" else "should have answered"
        if self.feedback.rating == "up":
            return "right answer"
        return "should have abstained" if self.feedback.should_abstain else "wrong answer"


def status_of(answer: Answer) -> Status:
    if answer.abstain_reason == "unsupported_claims":
        return "withheld"
    if answer.abstained:
        return "abstained"
    if answer.grounding is not None and not answer.grounding.fully_supported:
        return "flagged"
    return "answered"


def config_key(config: dict) -> str:
    """A short, stable name for one configuration: every answer made with the same settings shares it."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:12]


class QuestionLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        create(path, SCHEMA, ON_FULL)

    def record(self, answer: Answer, via: Via, max_rows: int) -> int:
        """Store a finished answer in one commit (and remove the oldest rows beyond `max_rows`); its id."""
        check = answer.grounding.answer_check if answer.grounding else None
        row = {
            "asked_at": datetime.now(UTC).isoformat(timespec="seconds"), "via": via, "question": answer.question,
            "answer": answer.answer, "abstained": answer.abstained, "abstain_reason": answer.abstain_reason,
            "status": status_of(answer), "verdict": answer.grounding.summary if answer.grounding else None,
            "answer_check_p": check.p_supported if check else None,
            "best_similarity": best_similarity(answer.contexts), "collection": answer.config.get("collection", ""),
            "llm_model": answer.config.get("llm_model", ""),
            "judge_model": answer.grounding.model if answer.grounding else None,
            "config_key": config_key(answer.config), "config": json.dumps(answer.config, default=str),
            "seconds": answer.seconds, "stages": json.dumps(answer.stages),
            "tokens": json.dumps({stage: t.model_dump() for stage, t in answer.tokens.items()}),
            "tokens_read": sum(t.read for t in answer.tokens.values()),
            "tokens_written": sum(t.written for t in answer.tokens.values()),
            "record": answer.model_dump_json(),
        }
        with transaction(self.path, ON_FULL) as conn:
            new_id = conn.execute(f"INSERT INTO questions ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                                  tuple(row.values())).lastrowid
            conn.execute("DELETE FROM questions WHERE id IN (SELECT id FROM questions ORDER BY (rating IS NOT NULL), id "
                         "LIMIT max(0, (SELECT COUNT(*) FROM questions) - ?))", (max_rows,))
        return new_id

    def set_feedback(self, entry_id: int, feedback: Feedback | None) -> bool:
        """Store (or, with None, clear) the feedback on one answer; False when the answer is no longer in the log."""
        values = ((feedback.rating, feedback.correction, feedback.should_abstain,
                   datetime.now(UTC).isoformat(timespec="seconds")) if feedback else (None, None, False, None))
        with transaction(self.path, ON_FULL) as conn:
            changed = conn.execute("UPDATE questions SET rating = ?, correction = ?, should_abstain = ?, feedback_at = ? "
                                   "WHERE id = ?", (*values, entry_id)).rowcount
        return changed == 1

    def entries(self, *, rated_only: bool = False, with_record: bool = False) -> list[LogEntry]:
        """Every logged answer, newest first (or only those with feedback); `with_record` adds the whole Answer."""
        columns = _COLUMNS + (", record" if with_record else "")
        where = " WHERE rating IS NOT NULL" if rated_only else ""
        with transaction(self.path, ON_FULL) as conn:
            rows = conn.execute(f"SELECT {columns} FROM questions{where} ORDER BY id DESC").fetchall()
        return [_entry(r) for r in rows]

    def entry(self, entry_id: int) -> LogEntry | None:
        """One logged answer with its whole Answer, or None when it is not (or no longer) in the log."""
        with transaction(self.path, ON_FULL) as conn:
            row = conn.execute(f"SELECT {_COLUMNS}, record FROM questions WHERE id = ?", (entry_id,)).fetchone()
        return _entry(row) if row else None


def _entry(row) -> LogEntry:  # noqa: ANN001 - a sqlite3.Row
    data = {k: row[k] for k in row.keys()}
    rating, correction, should_abstain = data.pop("rating"), data.pop("correction"), data.pop("should_abstain")
    record = data.pop("record", None)
    for field in ("config", "stages", "tokens"):
        data[field] = json.loads(data[field])
    return LogEntry(**data, record=Answer.model_validate_json(record) if record else None,
                    feedback=Feedback(rating=rating, correction=correction, should_abstain=bool(should_abstain))
                    if rating else None)


def open_log(settings: Settings) -> QuestionLog | None:
    """The question log, or None when `FQA_QUESTION_LOG` turns it off."""
    return QuestionLog(settings.question_log_db) if settings.question_log else None


def log_answer(settings: Settings, answer: Answer, via: Via) -> int | None:
    """The one way a given answer is logged (the Ask page and the CLI): its id in the log, or None when the log is
    off. A full disk is a StorageFullError: the answer stands, it is only not logged."""
    log = open_log(settings)
    return None if log is None else log.record(answer, via, settings.question_log_max_rows)
