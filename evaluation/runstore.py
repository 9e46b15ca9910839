"""SQLite store of evaluation runs: config, one row per sample written as it completes, aggregates.

Rows are committed one by one, so a crash or a closed browser tab loses at most the sample in flight.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from evaluation.sqlite import create, transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    status TEXT NOT NULL,            -- running | completed | failed | cancelled
    eval_set TEXT NOT NULL,
    n_items INTEGER NOT NULL,
    config TEXT NOT NULL,            -- JSON: pipeline + judge config
    error TEXT
);
CREATE TABLE IF NOT EXISTS samples (
    run_id TEXT NOT NULL REFERENCES runs(id),
    idx INTEGER NOT NULL,
    item_id TEXT NOT NULL,
    question TEXT NOT NULL,
    reference TEXT,
    answerable INTEGER,
    kind TEXT,
    answer TEXT,
    abstained INTEGER,
    abstain_reason TEXT,
    outcome TEXT,                    -- correct_answer | wrong_answer | answered | correct_abstention | false_abstention
                                     -- | hallucinated_answer | abstained | error
    contexts TEXT,                   -- JSON list of {id, source, score, similarity, text}
    metrics TEXT,                    -- JSON list of MetricResult
    error TEXT,
    seconds REAL,
    answer_check_p REAL,             -- the answer-level check's P(supported), when it ran
    PRIMARY KEY (run_id, idx)
);
"""
# Columns added after the first release, with their types: a store made before them gains them on open.
ADDED_COLUMNS = {"answer_check_p": "REAL"}


class RunSummary(BaseModel):
    id: str
    created_at: str
    status: str
    eval_set: str
    n_items: int
    n_done: int
    config: dict
    error: str | None = None


class SampleRow(BaseModel):
    idx: int
    item_id: str
    question: str
    reference: str | None
    answerable: bool | None
    kind: str | None
    answer: str | None
    abstained: bool | None
    abstain_reason: str | None
    outcome: str
    contexts: list[dict]
    metrics: list[dict]
    error: str | None
    seconds: float | None
    answer_check_p: float | None = None  # what a stricter answer check would have kept is read off this

    @property
    def top_score(self) -> float | None:
        """The best question-chunk cosine for this question: what the min-score gate compared.

        `score` is a rank score when fusion or a reranker ordered the chunks; rows stored before `similarity` was
        recorded only had dense search, where the two are the same.
        """
        values = [c.get("similarity", c.get("score")) for c in self.contexts]
        return max((v for v in values if v is not None), default=None)


class RunStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        create(path, SCHEMA)
        with transaction(path) as conn:
            have = {r["name"] for r in conn.execute("PRAGMA table_info(samples)")}
            for column, kind in ADDED_COLUMNS.items():
                if column not in have:
                    conn.execute(f"ALTER TABLE samples ADD COLUMN {column} {kind}")

    def create_run(self, eval_set: str, n_items: int, config: dict) -> str:
        run_id = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        with transaction(self.path) as conn:
            conn.execute(
                "INSERT INTO runs (id, created_at, status, eval_set, n_items, config) VALUES (?, ?, 'running', ?, ?, ?)",
                (run_id, datetime.now(UTC).isoformat(timespec="seconds"), eval_set, n_items, json.dumps(config)),
            )
        return run_id

    def add_sample(self, run_id: str, row: SampleRow) -> None:
        data = row.model_dump()
        data["contexts"] = json.dumps(data["contexts"])
        data["metrics"] = json.dumps(data["metrics"])
        columns = ", ".join(["run_id", *data])
        marks = ", ".join("?" * (len(data) + 1))
        with transaction(self.path) as conn:
            conn.execute(f"INSERT OR REPLACE INTO samples ({columns}) VALUES ({marks})", (run_id, *data.values()))

    def finish_run(self, run_id: str, status: str = "completed", error: str | None = None) -> None:
        with transaction(self.path) as conn:
            conn.execute("UPDATE runs SET status = ?, error = ? WHERE id = ?", (status, error, run_id))

    def runs(self) -> list[RunSummary]:
        with transaction(self.path) as conn:
            rows = conn.execute(
                "SELECT r.*, (SELECT COUNT(*) FROM samples s WHERE s.run_id = r.id) AS n_done "
                "FROM runs r ORDER BY r.rowid DESC"  # insertion order: ids made in the same second do not sort
            ).fetchall()
        return [RunSummary(**{**dict(r), "config": json.loads(r["config"])}) for r in rows]

    def runs_of(self, key: str, value: str) -> list[RunSummary]:
        """The runs of one sweep or ladder (`key` is "sweep_id" or "ladder_id" in their config), oldest first."""
        return [r for r in reversed(self.runs()) if r.config.get(key) == value]

    def run(self, run_id: str) -> RunSummary | None:
        return next((r for r in self.runs() if r.id == run_id), None)

    def samples(self, run_id: str) -> list[SampleRow]:
        with transaction(self.path) as conn:
            rows = conn.execute("SELECT * FROM samples WHERE run_id = ? ORDER BY idx", (run_id,)).fetchall()
        out = []
        for r in rows:
            data = {k: r[k] for k in r.keys() if k != "run_id"}
            data["contexts"] = json.loads(data["contexts"] or "[]")
            data["metrics"] = json.loads(data["metrics"] or "[]")
            out.append(SampleRow(**data))
        return out
