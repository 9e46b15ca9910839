"""Folder ingest reads only under the folders the operator allowed (settings.ingest_roots).

The dashboard has no login: anyone who reaches it could otherwise type `/etc` or a home directory into the folder
field and then ask questions about what it holds. Paths are compared as real paths (symlinks and `..` resolved), so
neither a link inside an allowed folder nor `data/../..` leads out; a file inside an allowed folder that is itself
a link out of the allowed folders is refused on its own, with its reason, while the other files go in.
The page and `python -m ingest PATH` both call `allowed_sources`; bench scripts and tests that ingest their own
temporary folders call ingest_files directly and are not user-facing.
"""

from __future__ import annotations

import os
from pathlib import Path

from ingest.ingestor import FileOutcome, sources_for
from ingest.loaders import LoadError


class OutsideRootsError(LoadError):
    """A folder or file outside the allowed roots; the message names them and how to add one."""


def real_roots(roots: list[Path]) -> list[Path]:
    """The allowed folders as absolute real paths (relative ones from the working directory)."""
    return [Path(os.path.realpath(root)) for root in roots]


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


def check_folder(path: Path, roots: list[Path]) -> Path:
    """The real path of `path` when it lies under an allowed root; otherwise OutsideRootsError.

    Checked before anything else, so a refused path's existence is not revealed either.
    """
    real = Path(os.path.realpath(path))
    if not _inside(real, real_roots(roots)):
        via = f" (it leads to {real})" if real != Path(os.path.abspath(path)) else ""
        raise OutsideRootsError(f"{path} is outside the folders Faithful QA may read{via}. {roots_hint(roots)}")
    return real


def allowed_sources(path: Path, roots: list[Path], include: list[str] | None = None,
                    exclude: list[str] | None = None) -> tuple[list[tuple[Path, str]], list[FileOutcome]]:
    """The files to ingest under `path` ((path, source name) pairs, as `sources_for` names them) and the files
    refused because they are links leading out of the allowed roots (reported as failed, with the reason).

    Raises OutsideRootsError when `path` itself is outside, LoadError when it does not exist.
    """
    folder = check_folder(path, roots)
    allowed = real_roots(roots)
    files, refused = [], []
    for file, source in sources_for(folder, include, exclude):
        target = Path(os.path.realpath(file))
        if _inside(target, allowed):
            files.append((target, source))
        else:
            refused.append(FileOutcome(source, "failed", reason=f"{source}: a link to {target}, outside the folders "
                                                                 "Faithful QA may read (FQA_INGEST_ROOTS); not read"))
    return files, refused
