"""Ingest files into a collection, one file at a time, each file all-or-nothing.

A bad file is reported with its reason and never stops the others; a file whose chunks already
exist (same content-hash ids) is skipped without embedding, so re-ingesting is cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from langchain_core.embeddings import Embeddings

from ingest.chunking import chunk_document
from ingest.loaders import LoadError, discover, load_file
from ingest.store import VectorStore

Progress = Callable[[int, int, str], None]  # (files done, files total, current file)


@dataclass(frozen=True)
class FileOutcome:
    source: str
    status: Literal["added", "unchanged", "failed"]
    chunks: int = 0
    reason: str = ""


@dataclass
class IngestReport:
    collection: str
    outcomes: list[FileOutcome] = field(default_factory=list)
    total_chunks: int = 0

    @property
    def failed(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def summary(self) -> str:
        counts = {s: sum(o.status == s for o in self.outcomes) for s in ("added", "unchanged", "failed")}
        return (f"{len(self.outcomes)} files: {counts['added']} added, {counts['unchanged']} unchanged, "
                f"{counts['failed']} failed; collection {self.collection!r} holds {self.total_chunks} chunks")


def sources_for(root: Path) -> list[tuple[Path, str]]:
    """Files under root with the names citations will show (relative to root's parent folder)."""
    base = root.parent if root.is_dir() else root.parent
    return [(path, path.relative_to(base).as_posix()) for path in discover(root)]


def ingest_files(store: VectorStore, embedder: Embeddings, files: list[tuple[Path, str]], collection: str,
                 chunk_size: int, chunk_overlap: int, progress: Progress | None = None) -> IngestReport:
    created = store.ensure_collection(collection)
    report = IngestReport(collection)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        for done, (path, source) in enumerate(files):
            if progress:
                progress(done, len(files), source)
            report.outcomes.append(_ingest_one(store, embedder, path, source, collection, chunk_size, chunk_overlap, stamp))
    finally:
        report.total_chunks = store.count(collection)
        if created and report.total_chunks == 0:
            store.delete_collection(collection)  # nothing usable went in: leave no empty collection behind
    if progress:
        progress(len(files), len(files), "")
    return report


def _ingest_one(store: VectorStore, embedder: Embeddings, path: Path, source: str, collection: str,
                chunk_size: int, chunk_overlap: int, stamp: str) -> FileOutcome:
    try:
        doc = load_file(path, source)
        chunks = chunk_document(doc, chunk_size, chunk_overlap)
        ids = [c.id for c in chunks]
        existing = store.existing_ids(collection, ids)
        fresh = [c for c in chunks if c.id not in existing]
        vectors = embedder.embed_documents([c.text for c in fresh]) if fresh else []
        points = [{"id": c.id, "payload": c.payload(chunk_size, chunk_overlap, stamp)} for c in fresh]
        store.replace_source(collection, source, points, vectors, keep_ids=ids)
    except LoadError as exc:
        return FileOutcome(source, "failed", reason=str(exc))
    except Exception as exc:  # noqa: BLE001 - one file's failure is reported, the others go on
        return FileOutcome(source, "failed", reason=f"{exc.__class__.__name__}: {exc}")
    return FileOutcome(source, "added" if fresh else "unchanged", chunks=len(fresh))
