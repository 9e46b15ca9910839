"""SQLite caches that make re-running an unchanged configuration free: judge scores and answers.

Judge results are keyed by everything a score depends on (metric, metric version, judge model, question,
answer, contexts, reference, repeat index). Answers are cached through LangChain's own LLM-cache hook,
keyed by the pipeline config plus the exact prompt; the prompt carries the retrieved chunks' text and chunk
ids are content hashes of that text, so the key is equivalent to (pipeline config, retrieved chunk ids, question).
Only successful results are cached: a failed judge call is tried again on the next run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.caches import RETURN_VAL_TYPE, BaseCache
from langchain_core.messages import message_to_dict, messages_from_dict
from langchain_core.outputs import ChatGeneration

from evaluation.sqlite import create, transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS judge (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def cache_key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


class ResultCache:
    """One SQLite file (default data/cache.sqlite) shared by the judge and answer caches; safe across processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        create(path, SCHEMA)

    def get(self, table: str, key: str) -> str | None:
        with transaction(self.path) as conn:
            row = conn.execute(f"SELECT value FROM {table} WHERE key = ?", (key,)).fetchone()  # noqa: S608 - fixed names
        return row[0] if row else None

    def put(self, table: str, key: str, value: str) -> None:
        with transaction(self.path) as conn:
            conn.execute(f"INSERT OR REPLACE INTO {table} (key, value) VALUES (?, ?)", (key, value))  # noqa: S608

    def clear(self, table: str) -> None:
        with transaction(self.path) as conn:
            conn.execute(f"DELETE FROM {table}")  # noqa: S608

    def answer_cache(self, pipeline_config: dict) -> AnswerCache:
        return AnswerCache(self, pipeline_config)


class AnswerCache(BaseCache):
    """LangChain LLM cache scoped to one pipeline config: `llm.model_copy(update={"cache": ...})`."""

    def __init__(self, store: ResultCache, pipeline_config: dict) -> None:
        self._store = store
        self._scope = cache_key(pipeline_config)
        self.hits = 0

    def _key(self, prompt: str, llm_string: str) -> str:
        return cache_key(self._scope, llm_string, prompt)

    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        value = self._store.get("answers", self._key(prompt, llm_string))
        if value is None:
            return None
        self.hits += 1
        return [ChatGeneration(message=m) for m in messages_from_dict(json.loads(value))]

    def update(self, prompt: str, llm_string: str, return_val: Sequence[Any]) -> None:
        if all(isinstance(g, ChatGeneration) for g in return_val):  # chat models only; plain LLMs are not used here
            messages = [message_to_dict(g.message) for g in return_val]  # type: ignore[attr-defined]
            self._store.put("answers", self._key(prompt, llm_string), json.dumps(messages))

    def clear(self, **kwargs: Any) -> None:
        self._store.clear("answers")


def default_cache(data_dir: Path) -> ResultCache:
    """The cache every CLI command and page shares, next to the run store."""
    return ResultCache(data_dir / "eval_cache.sqlite")
