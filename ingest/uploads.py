"""Uploaded files arrive as (name, bytes); names are never trusted as paths."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    """Keep only the last path component and plain characters: '../../etc/passwd' -> 'passwd'."""
    base = _UNSAFE.sub("_", Path(name.replace("\\", "/")).name).strip("._")
    return base[:120] or "upload"


@contextmanager
def staged_uploads(uploads: list[tuple[str, bytes]], data_dir: Path) -> Iterator[list[tuple[Path, str]]]:
    """Write uploads into a private temp folder under data_dir; yield (path, source) pairs; clean up after."""
    data_dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="upload-", dir=data_dir))
    try:
        staged, used = [], set()
        for name, content in uploads:
            clean = safe_name(name)
            while clean in used:
                clean = "_" + clean
            used.add(clean)
            path = folder / clean
            path.write_bytes(content)
            staged.append((path, f"upload/{clean}"))
        yield staged
    finally:
        shutil.rmtree(folder, ignore_errors=True)
