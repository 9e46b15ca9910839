"""Folder ingest reads only under the folders the operator allowed (settings.ingest_roots).

The dashboard has no login: anyone who reaches it could otherwise type `/etc` or a home directory into the folder
field and then ask questions about what it holds. Paths are compared as real paths (symlinks and `..` resolved), so
neither a link inside an allowed folder nor `data/../..` leads out; a file inside an allowed folder that is itself
a link out of the allowed folders is refused on its own, with its reason, while the other files go in.
The page and `python -m ingest PATH` both call `allowed_sources`; bench scripts and tests that ingest their own
temporary folders call ingest_files directly and are not user-facing.

A check is only as good as the open that follows it: the loader opens each file below an allowed folder without
following a link at any level (ingest.loaders), so a file or folder swapped for a link after this check is refused,
not followed. Refusals name the path the person gave, never where a link leads (a link to /proc/self/cwd would
otherwise print the dashboard's working directory).
"""

from __future__ import annotations

import os
from pathlib import Path

from ingest.ingestor import FileOutcome, sources_for
from ingest.loaders import LoadError, plain_reason, real_roots


class OutsideRootsError(LoadError):
    """A folder or file outside the allowed roots; the message names them and how to add one."""


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def roots_hint(roots: list[Path]) -> str:
    """Where folder ingest may read, and how to allow another folder: for the refusal and the folder field's help."""
    if not roots:
        return ("Folder ingest is turned off (FQA_INGEST_ROOTS is empty). Upload the files instead, or set "
                "FQA_INGEST_ROOTS to the folders it may read and restart the dashboard.")
    shown = ", ".join(str(r) for r in real_roots(roots))
    example = os.pathsep.join([*(str(r) for r in roots), "/path/to/your/docs"])
    return (f"Folder ingest reads only under: {shown}. Copy the documents into one of these, or add their folder to "
            f"FQA_INGEST_ROOTS (folders separated by '{os.pathsep}', e.g. FQA_INGEST_ROOTS={example}) and restart "
            "the dashboard.")


def _typed(path: Path) -> str:
    """A typed path as a message may show it: control characters (a NUL, a line break) written as escapes, and at
    most 200 characters."""
    shown = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in str(path))
    return shown if len(shown) <= 200 else shown[:199] + "…"


def check_folder(path: Path, roots: list[Path]) -> Path:
    """The real path of `path` when it lies under an allowed root; otherwise OutsideRootsError.

    Checked before anything else, so a refused path's existence is not revealed either; nor is where a link leads.
    """
    if not str(path).isprintable():
        raise LoadError(f"{_typed(path)}: a folder path with a control character in it (a NUL byte or a line break); "
                        "type the folder's path as it is on disk")
    real = Path(os.path.realpath(path))
    if not _inside(real, real_roots(roots)):
        via = " (it is a link, or passes through one, leading out of them)" if real != Path(os.path.abspath(path)) else ""
        raise OutsideRootsError(f"{path} is outside the folders Faithful QA may read{via}. {roots_hint(roots)}")
    return real


def allowed_sources(path: Path, roots: list[Path], include: list[str] | None = None,
                    exclude: list[str] | None = None) -> tuple[list[tuple[Path, str]], list[FileOutcome]]:
    """The files to ingest under `path` ((path, source name) pairs, as `sources_for` names them) and the files
    refused because they are links leading out of the allowed roots (reported as failed, with the reason).

    Raises OutsideRootsError when `path` itself is outside, LoadError when it does not exist or cannot be used as a
    path at all (a name too long, a folder that cannot be listed): one line, never a traceback.
    """
    try:
        folder = check_folder(path, roots)
        allowed = real_roots(roots)
        files, refused = [], []
        for file, source in sources_for(folder, include, exclude):
            target = Path(os.path.realpath(file))
            if _inside(target, allowed):
                files.append((target, source))
            else:
                refused.append(FileOutcome(source, "failed", reason=f"{source}: a link leading outside the folders "
                                                                     "Faithful QA may read (FQA_INGEST_ROOTS); not read"))
    except LoadError:
        raise
    except (OSError, ValueError) as exc:
        raise LoadError(f"{_typed(path)}: not a usable folder ({plain_reason(exc)})") from exc
    return files, refused
