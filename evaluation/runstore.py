"""SQLite store of evaluation runs: config, one row per sample written as it completes, aggregates.

Rows are committed one by one, so a crash or a closed browser tab loses at most the sample in flight.
A run records the process running it (host and pid): one still "running" whose process on this host has ended
(killed, a crash, a restarted dashboard) is listed as failed, "interrupted", so nobody waits on it; resume goes on.
A cheap-first sweep's retrieval-only stage (evaluation/screening.py) is stored beside the runs as "screens", one per
sweep cell, in tables of their own: they have no answers or scores, so the Evaluation page, which lists runs, never
shows them as empty runs. Stores made before screens existed gain the (empty) tables on open.
"""

from __future__ import annotations

import json
import os
import socket
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
CREATE TABLE IF NOT EXISTS screens (   -- one sweep cell's retrieval-only stage; columns as in runs
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    status TEXT NOT NULL,            -- running | completed | failed | cancelled
    eval_set TEXT NOT NULL,
    n_items INTEGER NOT NULL,
    config TEXT NOT NULL,            -- JSON: sweep id, step and name, the retrieval settings used
    error TEXT
);
CREATE TABLE IF NOT EXISTS screen_samples (
    screen_id TEXT NOT NULL REFERENCES screens(id),
    idx INTEGER NOT NULL,
    item_id TEXT NOT NULL,
    question TEXT NOT NULL,
    reference TEXT,
    answerable INTEGER,
    kind TEXT,
    found_rank INTEGER,              -- 1-based rank of the first retrieved chunk holding the reference; NULL if none
    best_similarity REAL,            -- what the min-score gate compared
    gated INTEGER NOT NULL,          -- 1: the gate would abstain before the model is asked
    contexts TEXT,                   -- JSON list of {id, source, similarity}
    seconds REAL,
    PRIMARY KEY (screen_id, idx)
);
"""
# Columns added after the first release, with their types: a store made before them gains them on open.
OWNER_COLUMNS = {"owner_host": "TEXT", "owner_pid": "INTEGER"}  # the process running a run or screen
ADDED_COLUMNS = {"samples": {"answer_check_p": "REAL"}, "runs": OWNER_COLUMNS, "screens": OWNER_COLUMNS}


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


class ScreenRow(BaseModel):
    """One question of a retrieval-only sweep cell: where the reference answer was, and what the gate would do."""

    idx: int
    item_id: str
    question: str
    reference: str | None
    answerable: bool | None
    kind: str | None
    found_rank: int | None
    best_similarity: float | None
    gated: bool
    contexts: list[dict]
    seconds: float | None

    @property
    def expects_answer(self) -> bool:
        """Labelled answerable, or given a reference answer (which only an answerable question has)."""
        return self.answerable is True or (self.answerable is None and bool(self.reference))

    @property
    def outcome(self) -> str:
        """What retrieval alone tells about this question, in the words of the Tune page."""
        if self.answerable is False:
            return "correct_abstention" if self.gated else "passed_gate"
        if self.gated:
            return "false_abstention" if self.expects_answer else "abstained"
        if not self.reference:
            return "passed_gate"
        return "reference_found" if self.found_rank is not None else "reference_missed"


class RunStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        create(path, SCHEMA)
        with transaction(path) as conn:
            for table, columns in ADDED_COLUMNS.items():
                have = {r["name"] for r in conn.execute(f"PRAGMA table_info({table})")}
                for column, kind in columns.items():
                    if column not in have:
                        conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def create_run(self, eval_set: str, n_items: int, config: dict) -> str:
        return self._create("runs", eval_set, n_items, config)

    def add_sample(self, run_id: str, row: SampleRow) -> None:
        self._add_row("samples", "run_id", run_id, row)

    def finish_run(self, run_id: str, status: str = "completed", error: str | None = None) -> None:
        self._finish("runs", run_id, status, error)

    def runs(self) -> list[RunSummary]:
        return self._summaries("runs", "samples", "run_id")

    def create_screen(self, eval_set: str, n_items: int, config: dict) -> str:
        return self._create("screens", eval_set, n_items, config)

    def add_screen_row(self, screen_id: str, row: ScreenRow) -> None:
        self.add_screen_rows(screen_id, [row])

    def add_screen_rows(self, screen_id: str, rows: list[ScreenRow]) -> None:
        """Several retrieval-only rows in one transaction: one commit per row was half the stage's time."""
        self._add_rows("screen_samples", "screen_id", screen_id, rows)

    def finish_screen(self, screen_id: str, status: str = "completed", error: str | None = None) -> None:
        self._finish("screens", screen_id, status, error)

    def screens(self) -> list[RunSummary]:
        """Every stored retrieval-only sweep cell, newest first."""
        return self._summaries("screens", "screen_samples", "screen_id")

    def screens_of(self, sweep_id: str) -> list[RunSummary]:
        """The retrieval-only cells of one cheap-first sweep, oldest first."""
        return [s for s in reversed(self.screens()) if s.config.get("sweep_id") == sweep_id]

    def screen_rows(self, screen_id: str) -> list[ScreenRow]:
        with transaction(self.path) as conn:
            rows = conn.execute("SELECT * FROM screen_samples WHERE screen_id = ? ORDER BY idx", (screen_id,)).fetchall()
        return [ScreenRow(**{**{k: r[k] for k in r.keys() if k != "screen_id"}, "contexts": json.loads(r["contexts"] or "[]")})
                for r in rows]

    def _create(self, table: str, eval_set: str, n_items: int, config: dict) -> str:
        new_id = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        with transaction(self.path) as conn:
            conn.execute(
                f"INSERT INTO {table} (id, created_at, status, eval_set, n_items, config, owner_host, owner_pid) "
                "VALUES (?, ?, 'running', ?, ?, ?, ?, ?)",
                (new_id, datetime.now(UTC).isoformat(timespec="seconds"), eval_set, n_items, json.dumps(config),
                 socket.gethostname(), os.getpid()),
            )
        return new_id

    def _add_row(self, table: str, key: str, owner: str, row: BaseModel) -> None:
        self._add_rows(table, key, owner, [row])

    def _add_rows(self, table: str, key: str, owner: str, rows: list[BaseModel]) -> None:
        if not rows:
            return
        values = []
        for row in rows:
            data = row.model_dump()
            for field in ("contexts", "metrics"):
                if field in data:
                    data[field] = json.dumps(data[field])
            values.append((owner, *data.values()))
        columns = ", ".join([key, *data])
        marks = ", ".join("?" * (len(data) + 1))
        with transaction(self.path) as conn:
            conn.executemany(f"INSERT OR REPLACE INTO {table} ({columns}) VALUES ({marks})", values)

    def _finish(self, table: str, owner: str, status: str, error: str | None) -> None:
        """Set a run's status; setting "running" again (a resume) makes this process its owner."""
        with transaction(self.path) as conn:
            conn.execute(f"UPDATE {table} SET status = ?, error = ? WHERE id = ?", (status, error, owner))
            if status == "running":
                conn.execute(f"UPDATE {table} SET owner_host = ?, owner_pid = ? WHERE id = ?",
                             (socket.gethostname(), os.getpid(), owner))

    def _summaries(self, table: str, rows_table: str, key: str) -> list[RunSummary]:
        with transaction(self.path) as conn:
            rows = conn.execute(
                f"SELECT r.*, (SELECT COUNT(*) FROM {rows_table} s WHERE s.{key} = r.id) AS n_done "
                f"FROM {table} r ORDER BY r.rowid DESC"  # insertion order: ids made in the same second do not sort
            ).fetchall()
        return [RunSummary(**{**dict(r), "config": json.loads(r["config"]), **_interrupted(r)}) for r in rows]

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


def _interrupted(row: dict) -> dict:
    """{status, error} for a run left "running" by a process of this host that has ended; {} otherwise (finished,
    alive, on another host, or stored before owners were recorded)."""
    if row["status"] != "running" or row["owner_pid"] is None or row["owner_host"] != socket.gethostname():
        return {}
    try:
        os.kill(row["owner_pid"], 0)
    except ProcessLookupError:
        return {"status": "failed", "error": f"interrupted: the process running it (pid {row['owner_pid']}) ended "
                                             "before it finished"}
    except PermissionError:
        pass  # alive, another user's
    return {}
