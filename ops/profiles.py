"""Profiles: a configuration the tuning found, kept by name so the Ask page and the CLIs start from it.

A profile is one readable JSON file, `<data_dir>/profiles/NAME.json`: where it came from (a run, a sweep cell, a ladder
step or the Ask page's sidebar, with the scores it had) and the settings it changes. `settings.py` reads the active
one as a settings source (environment and `.env` > active profile > built-in defaults); this module writes them: save,
make active, revert to the defaults, list, and say what is in effect and what the environment overrides.

A profile keeps the fields a configuration changed from the built-in defaults, plus the models (its scores were
measured with them, and a later default model must not change it silently); never an operator's field
(settings.OPERATOR_FIELDS: endpoints, keys, folders, limits), and only what `Settings.storable()` shows (no secrets).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from settings import (ACTIVE_PROFILE, OPERATOR_FIELDS, PROFILES, InvalidNameError, Settings, named_error,
                      profile_path, profile_settings)

PINNED = ("llm_model", "judge_model", "grounding_model")  # kept even when they are the defaults of today


class ProfileError(ValueError):
    """A profile that cannot be saved, read or made active; the message says why."""


class ProfileOrigin(BaseModel):
    """Where a profile came from, as the Ask page's sidebar tells it."""

    kind: str  # "evaluation run", "sweep cell", "ladder step", "Ask page"
    ref: str | None = None  # the run, sweep or ladder id
    label: str | None = None  # the cell's or step's name
    eval_set: str | None = None
    questions: int | None = None
    # each measure: [value, 95 % interval low, high] (None where there is none)
    scores: dict[str, list[float | None]] = Field(default_factory=dict)
    kb: str | None = None  # the folder its collection is ingested from when that collection is missing


class Profile(BaseModel):
    """A profile file; only "settings" is needed, so one written by hand needs nothing else."""

    name: str
    created_at: str = ""
    origin: ProfileOrigin = Field(default_factory=lambda: ProfileOrigin(kind="file written by hand"))
    settings: dict[str, Any]


@dataclass(frozen=True)
class ProfileState:
    """What the settings in hand started from: the profile (None: the built-in defaults) or why it was left out,
    and each of its fields the environment overrides (field -> (the profile's value, the value in effect))."""

    name: str | None
    profile: Profile | None
    problem: str | None
    overridden: dict[str, tuple[Any, Any]]
    by_environment: bool


def folder(settings: Settings) -> Path:
    return settings.data_dir / PROFILES


def changed_fields(stored: dict[str, Any]) -> dict[str, Any]:
    """The part of a configuration (`Settings.storable()`, or a run's stored copy of it) a profile keeps: each field
    a profile may set whose value differs from the built-in defaults, and the models. Fields this version does not
    know (a run stored by another version) are left out."""
    defaults = Settings.defaults().storable()
    return {key: value for key, value in stored.items()
            if key in defaults and key not in OPERATOR_FIELDS and (value != defaults[key] or key in PINNED)}


def save(settings: Settings, name: str, values: dict[str, Any], origin: ProfileOrigin, *,
         replace: bool = False) -> Profile:
    """Write the profile `name` (an identifier) with these settings; the same content again is fine, another profile
    of that name is replaced only when asked. Written to a temporary file first: never half a profile."""
    try:
        path = profile_path(settings.data_dir, name)
    except InvalidNameError as exc:
        raise ProfileError(str(exc)) from exc
    values = {key: values[key] for key in sorted(values)}
    _check_values(values)
    if path.exists() and not replace:
        try:
            same = load(settings, name).settings == values
        except ProfileError:
            same = False
        if not same:
            raise ProfileError(f"a different profile named {name!r} exists ({path}): choose another name, or replace it")
    profile = Profile(name=name, created_at=datetime.now(UTC).isoformat(timespec="seconds"), origin=origin,
                      settings=values)
    _write(path, profile.model_dump_json(indent=2) + "\n")
    return profile


def _check_values(values: dict[str, Any]) -> None:
    if not values:
        raise ProfileError("this configuration is the built-in defaults: there is nothing for a profile to keep")
    if unknown := sorted(set(values) - set(Settings.model_fields)):
        raise ProfileError(f"unknown settings: {', '.join(unknown)}")
    if operator := sorted(set(values) & OPERATOR_FIELDS):
        raise ProfileError(f"a profile cannot set {', '.join(operator)}: only the environment or .env can")
    try:
        Settings.defaults().with_overrides(**values)
    except ValidationError as exc:
        raise ProfileError(f"these settings are not valid together: {named_error(exc)}") from exc


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ProfileError(f"{path} could not be written: {exc.strerror or exc}") from exc


def load(settings: Settings, name: str) -> Profile:
    """The profile `name`, checked as the settings source checks it; ProfileError saying what is wrong otherwise."""
    try:
        path = profile_path(settings.data_dir, name)
        values = profile_settings(path)  # the same checks as settings.py applies when it starts from it
        Settings.defaults().with_overrides(**values)
        profile = Profile.model_validate({**json.loads(path.read_text(encoding="utf-8")), "name": name})
    except ValidationError as exc:
        raise ProfileError(f"{path}: not a usable profile ({named_error(exc)})") from exc
    except (ValueError, OSError) as exc:
        raise ProfileError(str(exc)) from exc
    return profile


def names(settings: Settings) -> list[str]:
    """The saved profiles' names, sorted (whether each can be used is `load`'s to say)."""
    where = folder(settings)
    if not where.is_dir():
        return []
    return sorted(p.stem for p in where.glob("*.json") if not p.name.startswith(("_", ".")))


def activate(settings: Settings, name: str) -> Profile:
    """Make `name` the profile the dashboard and the CLIs start from (it must load)."""
    profile = load(settings, name)
    _write(folder(settings) / ACTIVE_PROFILE, json.dumps({"name": profile.name}) + "\n")
    return profile


def revert(settings: Settings) -> None:
    """Back to the built-in defaults (the environment still applies); the saved profiles stay."""
    try:
        (folder(settings) / ACTIVE_PROFILE).unlink(missing_ok=True)
    except OSError as exc:
        raise ProfileError(f"the active profile could not be turned off: {exc.strerror or exc}") from exc


def state(settings: Settings) -> ProfileState:
    """What `settings` started from: its profile, the reason one was left out, and what the environment overrides."""
    active = settings.active_profile
    profile, problem = None, active.problem
    if active.name and not problem:
        try:
            profile = load(settings, active.name)
        except ProfileError as exc:  # changed on disk since these settings were read
            problem = str(exc)
    overridden = {key: (value, getattr(settings, key)) for key, value in active.values.items()
                  if settings.storable().get(key) != value}
    return ProfileState(active.name, profile, problem, overridden, active.by_environment)


def stamp(data_dir: Path) -> tuple:
    """Changes whenever a profile is saved, edited, made active or turned off: a cache key for the settings."""
    where = Path(data_dir) / PROFILES
    try:
        return tuple(sorted((entry.name, entry.stat().st_mtime_ns) for entry in os.scandir(where)))
    except OSError:
        return ()


def describe(profile: Profile, label: Callable[[str], str] = str) -> str:
    """One line on where a profile came from and what it scored (each measure named by `label`), for a sidebar or a
    CLI."""
    origin = profile.origin
    where = " ".join(part for part in (origin.kind, f"“{origin.label}”" if origin.label else None,
                                       f"of {origin.ref}" if origin.ref else None) if part)
    on = f" on {origin.eval_set}" + (f" ({origin.questions} questions)" if origin.questions else "") \
        if origin.eval_set else ""
    scores = ", ".join(f"{label(measure)} {_score(values)}" for measure, values in origin.scores.items())
    saved = f" · saved {profile.created_at[:10]}" if profile.created_at else ""
    return f"from {where}{on}" + (f": {scores}" if scores else "") + saved


def _score(values: list[float | None]) -> str:
    value, low, high = (list(values) + [None, None, None])[:3]
    if value is None:
        return "n/a"
    return f"{value:.2f}" + (f" [{low:.2f}, {high:.2f}]" if low is not None and high is not None else "")


def cli_note(settings: Settings) -> str | None:
    """The line a CLI prints (to stderr) about the profile it starts from, or why one was left out; None for neither."""
    now = state(settings)
    if now.problem:
        return f"warning: {now.problem}"
    if now.profile is None:
        return None
    env = f"; the environment overrides {', '.join(sorted(now.overridden))}" if now.overridden else ""
    return f"profile {now.name!r} ({describe(now.profile)}){env}. FQA_PROFILE=none starts from the defaults"
