"""The evaluation databases (runs, caches) open SQLite as every store does (ingest/sqlite.py); a full disk's message
says how to finish the run."""

from __future__ import annotations

from functools import partial

from ingest import sqlite

RESUME = "Free some space, then resume the run (python -m evaluation resume RUN_ID; answers already scored are kept)."
transaction = partial(sqlite.transaction, on_full=RESUME)
create = partial(sqlite.create, on_full=RESUME)
