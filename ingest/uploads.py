"""Uploaded files arrive as (name, bytes); names are never trusted as paths, sizes are checked before staging.

An upload is untrusted input from whoever reaches the dashboard: its names may carry `../`, absolute paths, NUL
bytes or newlines (safe_name keeps one plain component), and its size may be meant to fill the disk or keep the
embedder busy for hours (screen_uploads applies the per-file and per-upload limits of the settings).
"""

from __future__ import annotations

import errno
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ingest.ingestor import FileOutcome
from ingest.loaders import LoadError, size_text
from ingest.store import StorageFullError
from settings import Settings

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    """Keep only the last path component and plain characters: '../../etc/passwd' -> 'passwd'."""
    base = _UNSAFE.sub("_", Path(name.replace("\\", "/")).name).strip("._")
    return base[:120] or "upload"


class UploadRefusedError(LoadError):
    """The whole upload is over a per-upload limit: nothing of it is staged or ingested."""


def upload_source(name: str) -> str:
    """The source name an uploaded file is cited by."""
    return f"upload/{safe_name(name)}"


def screen_uploads(files: list[tuple[str, int]], settings: Settings) -> dict[int, FileOutcome]:
    """Check an upload's (name, size) list against the limits before any byte is staged.

    Returns the files refused on their own (over the per-file limit), by position, as failed outcomes; the others
    may go in. Raises UploadRefusedError when the upload as a whole has too many files or, without the refused
    ones, too many bytes: the person re-uploads in parts, and nothing was half-written meanwhile.
    """
    if len(files) > settings.max_upload_files:
        raise UploadRefusedError(
            f"{len(files):,} files chosen; one upload takes at most {settings.max_upload_files:,} "
            "(FQA_MAX_UPLOAD_FILES). Upload them in parts, or copy the folder under data/ and ingest it as a folder. "
            "Nothing was ingested.")
    refused = {i: FileOutcome(upload_source(name), "failed",
                              reason=f"{safe_name(name)}: too large ({size_text(size)}; the limit per file is "
                                     f"{size_text(settings.max_file_bytes)}, FQA_MAX_FILE_BYTES); not read")
               for i, (name, size) in enumerate(files) if size > settings.max_file_bytes}
    total = sum(size for i, (_, size) in enumerate(files) if i not in refused)
    if total > settings.max_upload_bytes:
        raise UploadRefusedError(
            f"the files chosen hold {size_text(total)}; one upload takes at most {size_text(settings.max_upload_bytes)} "
            "(FQA_MAX_UPLOAD_BYTES). Upload them in parts. Nothing was ingested.")
    return refused


@contextmanager
def staged_uploads(uploads: list[tuple[str, bytes]], data_dir: Path) -> Iterator[list[tuple[Path, str]]]:
    """Write uploads into a private temp folder under data_dir; yield (path, source) pairs; clean up after.

    A disk that fills up while staging is a StorageFullError, and the files staged so far are removed with the folder.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    folder = None
    try:
        try:
            folder = Path(tempfile.mkdtemp(prefix="upload-", dir=data_dir))
            staged, used = [], set()
            for name, content in uploads:
                clean = safe_name(name)
                while clean in used:
                    clean = "_" + clean
                used.add(clean)
                path = folder / clean
                path.write_bytes(content)
                staged.append((path, f"upload/{clean}"))
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            raise StorageFullError(f"the disk holding {data_dir} is full: the uploaded files could not be staged, and "
                                   "nothing was ingested. Free some space and upload again.") from exc
        yield staged
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
