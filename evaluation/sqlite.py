"""One way to open the evaluation databases: a connection per call, committed on success and always closed."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def transaction(path: Path) -> Iterator[sqlite3.Connection]:
    """A short-lived connection: the dashboard and the CLI may write the same file, so nothing is held open.

    The 30 s timeout waits out the other writer; rows index by name or position (sqlite3.Row).
    """
    conn = sqlite3.connect(path, timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        with conn:
            yield conn
    finally:
        conn.close()


def create(path: Path, schema: str) -> None:
    """The database file and its tables, if missing (the folder too)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with transaction(path) as conn:
        conn.executescript(schema)
