"""Eval sets: JSONL or CSV rows of question, optional reference, optional answerable flag.

Sets live in three places: the bundled sample, the SQuAD 2.0 sample next to the repo (if present) and the
person's own sets under `<data_dir>/evalsets/` (saved from the editor or generated from a knowledge base).
A set file is untrusted (an upload, a spreadsheet's export): `read_rows` is its one way in, reading it with the
knowledge base's text and row readers, and whatever fails there ends as an EvalSetError with a one-line reason.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from pydantic import BaseModel, ValidationError, field_validator

from ingest.loaders import LoadError, csv_records, decode_text, jsonl_records, plain_reason
from ingest.uploads import safe_name
from settings import InvalidNameError, Settings, identifier

EVALSETS = "evalsets"  # folder under the data dir
SQUAD_SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "squad2" / "qa.jsonl"
FIELDS = ("id", "question", "reference", "answerable", "kind", "source")


class EvalSetError(ValueError):
    """An eval set that cannot be used; the message lists each bad row."""


class EvalSetExistsError(EvalSetError):
    """Saving would replace an existing set, and replacing was not asked for."""


class KeptUpload(NamedTuple):
    path: Path  # where the upload is now
    taken: Path | None  # a different set that already had the upload's name, left as it was


class EvalItem(BaseModel):
    id: str
    question: str
    reference: str | None = None
    answerable: bool | None = None
    kind: str | None = None
    source: str | None = None  # the document a generated question was written from

    @field_validator("question")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("question is empty")
        return value.strip()

    @field_validator("reference", "kind", "source", "answerable", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        # a blank CSV cell, or an empty cell of the editor (NaN), means "not given"
        if value is None or (isinstance(value, float) and value != value):
            return None
        return None if isinstance(value, str) and not value.strip() else value


def read_rows(path: Path) -> list[dict]:
    """The raw rows of a .jsonl or .csv file, before validation (the editor shows invalid rows too)."""
    if not path.exists():
        raise EvalSetError(f"{path}: no such file")
    if path.suffix.lower() not in (".jsonl", ".csv"):
        raise EvalSetError(f"{path.name}: use a .jsonl or .csv file with a 'question' column")
    try:
        text = decode_text(path.read_bytes(), path.name)
        return (csv_records if path.suffix.lower() == ".csv" else jsonl_records)(text, path.name)
    except LoadError as exc:
        raise EvalSetError(str(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - the one boundary: a file that breaks a reader is refused, not a traceback
        raise EvalSetError(f"{path.name}: cannot be read ({plain_reason(exc)})") from exc


def validate_rows(rows: list[dict]) -> tuple[list[EvalItem], dict[int, str]]:
    """Items of the valid rows, and for each invalid row (numbered from 1) why it is invalid."""
    items, problems = [], {}
    for n, row in enumerate(rows, start=1):
        row = {k: v for k, v in row.items() if isinstance(k, str)}
        if not row.get("reference") and isinstance(row.get("answers"), list) and row["answers"]:
            row["reference"] = row["answers"][0]  # SQuAD rows: the first gold answer is the reference
        ident = row.get("id")
        row["id"] = str(n) if ident is None or (isinstance(ident, float) and ident != ident) or not str(ident).strip() \
            else str(ident)
        try:
            items.append(EvalItem.model_validate(row))
        except ValidationError as exc:
            problems[n] = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['msg']}" for e in exc.errors())
    return items, problems


def load_eval_set(path: Path) -> list[EvalItem]:
    items, problems = validate_rows(read_rows(path))
    if problems:
        raise EvalSetError(f"{path.name} has {len(problems)} invalid rows:\n"
                           + "\n".join(f"row {n}: {why}" for n, why in list(problems.items())[:20]))
    if not items:
        raise EvalSetError(f"{path.name} has no rows")
    return items


def saved_set_path(settings: Settings, name: str) -> Path:
    """Where a set of this name is saved; the name becomes a file name, so it passes the identifier check."""
    try:
        stem = identifier(name.strip().removesuffix(".jsonl"), "eval set")
    except InvalidNameError as exc:
        raise EvalSetError(str(exc)) from exc
    return settings.data_dir / EVALSETS / f"{stem}.jsonl"


def save_eval_set(items: list[EvalItem], path: Path, *, overwrite: bool = False) -> Path:
    """Write a set as JSONL (written to a temporary file first, so a crash never leaves half a set)."""
    if not items:
        raise EvalSetError("the set has no questions: add at least one row before saving")
    if path.exists() and not overwrite:
        free = next(p for p in _same_name_paths(path) if not p.exists())
        raise EvalSetExistsError(f"{path} already exists: choose another name (e.g. {free.stem}), or allow "
                                 "overwriting it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(item.model_dump_json(exclude_none=True) + "\n" for item in items), encoding="utf-8")
    os.replace(tmp, path)
    return path


def _same_name_paths(path: Path) -> Iterator[Path]:
    """name.jsonl, then name-2.jsonl, name-3.jsonl…: where a set goes when its name is taken."""
    yield path
    for n in itertools.count(2):
        yield path.with_name(f"{path.stem}-{n}{path.suffix}")


def keep_upload(settings: Settings, name: str, data: bytes) -> KeptUpload:
    """Keep an uploaded set under `<data_dir>/evalsets/` so runs can name it, without ever replacing a saved set.

    The browser's file name is sanitised, never used as a path. When a different set already has that name, the
    upload gets the first free name-2, name-3…; a set with the same bytes is reused, so an upload kept on every
    rerun of the page is stored once. An unreadable upload raises `EvalSetError` and is not kept.
    """
    clean = safe_name(name)
    with tempfile.TemporaryDirectory() as tmp:  # checked under its own name, so errors name the person's file
        probe = Path(tmp) / clean
        probe.write_bytes(data)
        load_eval_set(probe)
    wanted = settings.data_dir / EVALSETS / clean
    wanted.parent.mkdir(parents=True, exist_ok=True)
    for path in _same_name_paths(wanted):
        try:
            with path.open("xb") as fh:  # exclusive create: never over a file, even one written meanwhile
                fh.write(data)
        except FileExistsError:
            if path.read_bytes() != data:
                continue
        return KeptUpload(path, None if path == wanted else wanted)


def available_sets(settings: Settings, squad: Path = SQUAD_SAMPLE) -> dict[str, Path]:
    """Label -> path of every set a person can pick: the bundled samples (quick and large), the SQuAD sample if
    present, saved sets."""
    sets = {"Bundled sample": settings.sample_eval_set}
    if settings.sample_eval_set_large.exists():
        sets["Bundled sample, large"] = settings.sample_eval_set_large
    if squad.exists():
        sets["SQuAD 2.0 sample"] = squad
    folder = settings.data_dir / EVALSETS
    if folder.is_dir():
        sets.update({f"Saved: {p.name}": p for p in sorted(folder.iterdir())
                     if p.suffix.lower() in (".jsonl", ".csv") and not p.name.startswith(".")})
    return sets
