"""Uploaded files arrive as (name, bytes); names are never trusted as paths, sizes are checked before staging.

An upload is untrusted input from whoever reaches the dashboard: its names may carry `../`, absolute paths, NUL
bytes, newlines, right-to-left overrides or hundreds of characters (safe_name keeps one plain, readable component of
bounded length with its extension, in any script), and its size may be meant to fill the disk or keep the embedder
busy for hours (screen_uploads applies the per-file and per-upload limits of the settings).
"""

from __future__ import annotations

import errno
import hashlib
import re
import shutil
import unicodedata
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ingest.ingestor import FileOutcome
from ingest.loaders import LoadError, size_text
from ingest.store import StorageFullError
from settings import Settings

# a staged file's name in UTF-8 bytes at most: under every file system's 255, with room for a "~tag" and a "-2"
MAX_NAME_BYTES = 150
MAX_EXTENSION = 16  # characters after the last dot that still count as the extension
_RUN_OF_UNSAFE = re.compile("\x00+")


def _plain(ch: str) -> bool:
    """Letters, marks and digits of any script, and . - _ : what a file name may keep as it is."""
    return ch in "._-" or unicodedata.category(ch)[0] in "LMN"


def _fit(stem: str, tag: str, ext: str) -> str:
    """stem + tag + ext within MAX_NAME_BYTES, the stem cut at a character boundary when it must be."""
    room = MAX_NAME_BYTES - len((tag + ext).encode())
    return stem.encode()[:room].decode(errors="ignore") + tag + ext


def _split(name: str) -> tuple[str, str]:
    stem, dot, ext = name.rpartition(".")
    return (stem, dot + ext) if dot and stem and 0 < len(ext) <= MAX_EXTENSION else (name, "")


def _tag(original: str) -> str:
    """A short tag of the whole original name: names cut to the same beginning stay apart, the same way every time."""
    return "~" + hashlib.sha256(original.encode(errors="surrogatepass")).hexdigest()[:8]


def safe_name(name: str) -> str:
    """One plain, readable file name for an uploaded name: the last path component, letters and digits of any script
    kept, anything else (separators, controls, invisible and direction-changing characters, punctuation) turned into
    '_', the extension kept: '../../etc/passwd' -> 'passwd', '会议纪要.md' -> '会议纪要.md', 'a (1).pdf' -> 'a_1_.pdf'.
    A name over MAX_NAME_BYTES keeps its beginning and extension plus a tag of the whole name."""
    base = unicodedata.normalize("NFC", name.replace("\\", "/").rsplit("/", 1)[-1])
    stem, ext = _split(_RUN_OF_UNSAFE.sub("_", "".join(ch if _plain(ch) else "\x00" for ch in base)).rstrip("._"))
    stem = stem.lstrip("._") or "upload"  # never hidden, never "." or "..", never only an extension
    return stem + ext if len((stem + ext).encode()) <= MAX_NAME_BYTES else _fit(stem, _tag(name), ext)


def unique_names(names: list[str]) -> list[str]:
    """safe_name of each name, made unique within the list (case-insensitively, as some file systems compare): a name
    taken by an earlier one gets the tag of its original name, or a number when the originals are the same."""
    used: set[str] = set()
    out = []
    for name in names:
        clean = safe_name(name)
        stem, ext = _split(clean)
        for candidate in (clean, _fit(stem, _tag(name), ext),
                          *(_fit(stem, f"{_tag(name)}-{n}", ext) for n in range(2, len(names) + 2))):
            if candidate.casefold() not in used:
                break
        used.add(candidate.casefold())
        out.append(candidate)
    return out


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
            staged = []
            for (_, content), clean in zip(uploads, unique_names([name for name, _ in uploads]), strict=True):
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
