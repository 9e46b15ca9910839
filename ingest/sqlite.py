"""One way to open the SQLite stores (evaluation runs, caches, the question log): a connection per call, committed on
success and always closed."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ingest.store import StorageFullError

TRY_AGAIN = "Free some space, then try again."


@contextmanager
def transaction(path: Path, on_full: str = TRY_AGAIN) -> Iterator[sqlite3.Connection]:
    """A short-lived connection: the dashboard and the CLIs may write the same file, so nothing is held open.

    The 30 s timeout waits out the other writer; rows index by name or position (sqlite3.Row). A full disk is a
    StorageFullError (a StoreError, so every page and CLI already words it), never a half-written row; `on_full` says
    what to do then.
    """
    conn = sqlite3.connect(path, timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        with conn:
            yield conn
    except sqlite3.OperationalError as exc:
        if "disk is full" not in str(exc):  # SQLITE_FULL
            raise
        # SQLite rolled the transaction back: every row committed before is intact and readable
        raise StorageFullError(
            f"the disk holding {path} is full ({shutil.disk_usage(path.parent).free / 2**20:.1f} MB free): this write "
            f"was not saved; everything saved before it is intact. {on_full}"
        ) from exc
    finally:
        conn.close()


def create(path: Path, schema: str, on_full: str = TRY_AGAIN) -> None:
    """The database file and its tables, if missing (the folder too)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with transaction(path, on_full) as conn:
        conn.executescript(schema)
