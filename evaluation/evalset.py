"""Eval sets: JSONL or CSV rows of question, optional reference, optional answerable flag."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from pydantic import BaseModel, ValidationError, field_validator


class EvalSetError(ValueError):
    """An eval set that cannot be used; the message lists each bad row."""


class EvalItem(BaseModel):
    id: str
    question: str
    reference: str | None = None
    answerable: bool | None = None
    kind: str | None = None

    @field_validator("question")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("question is empty")
        return value.strip()

    @field_validator("reference", "kind", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


def _rows(path: Path) -> list[dict]:
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as fh:
            return list(csv.DictReader(fh))
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise EvalSetError(f"{path.name} line {lineno}: not valid JSON ({exc.msg})") from exc
    return rows


def load_eval_set(path: Path) -> list[EvalItem]:
    if not path.exists():
        raise EvalSetError(f"{path}: no such file")
    if path.suffix.lower() not in (".jsonl", ".csv"):
        raise EvalSetError(f"{path.name}: use a .jsonl or .csv file with a 'question' column")
    items, problems = [], []
    for n, row in enumerate(_rows(path), start=1):
        row = {"id": str(row.get("id") or n), **{k: v for k, v in row.items() if k != "id"}}
        try:
            items.append(EvalItem.model_validate(row))
        except ValidationError as exc:
            reasons = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['msg']}" for e in exc.errors())
            problems.append(f"row {n}: {reasons}")
    if problems:
        raise EvalSetError(f"{path.name} has {len(problems)} invalid rows:\n" + "\n".join(problems[:20]))
    if not items:
        raise EvalSetError(f"{path.name} has no rows")
    return items
