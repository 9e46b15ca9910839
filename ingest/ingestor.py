"""Ingest files into a collection, one file at a time, each file all-or-nothing.

A bad file is reported with its reason and never stops the others; a file whose chunks already
exist (same content-hash ids) is skipped without embedding, so re-ingesting is cheap. A csv/jsonl
file is several documents (one per row), written in one upsert so it, too, is all-or-nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from langchain_core.embeddings import Embeddings

from ingest.chunking import ChunkSpec, Strategy, TokenCounter, chunk_document, tokenizer_for
from ingest.loaders import MAX_FILE_BYTES, ROW_SUFFIXES, LoadError, discover, load_documents
from ingest.store import VectorStore
from settings import Settings


@dataclass(frozen=True)
class IngestProgress:
    files_done: int
    files_total: int
    chunks_added: int
    current: str  # the file being read now ("" when finished)
    elapsed_s: float
    eta_s: float | None  # from the bytes read so far; None until the first file is done

    def describe(self) -> str:
        eta = "" if self.eta_s is None else f" · about {_duration(self.eta_s)} left"
        now = f" · {self.current}" if self.current else ""
        return f"{self.files_done}/{self.files_total} files · {self.chunks_added} chunks added{eta}{now}"


Progress = Callable[[IngestProgress], None]


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

    def rows(self) -> list[dict]:
        """The outcome table the page and the CLI show."""
        return [{"file": o.source, "status": o.status, "chunks added": o.chunks, "reason": o.reason}
                for o in self.outcomes]


def sources_for(root: Path, include: list[str] | None = None, exclude: list[str] | None = None) -> list[tuple[Path, str]]:
    """Files under root with the names citations will show (relative to root's parent folder)."""
    return [(path, path.relative_to(root.parent).as_posix()) for path in discover(root, include, exclude)]


def ingest_files(store: VectorStore, embedder: Embeddings, files: list[tuple[Path, str]], collection: str,
                 chunk_size: int, chunk_overlap: int, progress: Progress | None = None, *,
                 strategy: Strategy = "recursive", tokenizer: TokenCounter | None = None,
                 max_file_bytes: int = MAX_FILE_BYTES) -> IngestReport:
    """Ingest `files` ((path, source name) pairs); `tokenizer` is needed by the token strategy only."""
    spec = ChunkSpec(strategy=strategy, size=chunk_size, overlap=chunk_overlap)
    created = store.ensure_collection(collection)
    report = IngestReport(collection)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    sizes = [path.stat().st_size if path.is_file() else 0 for path, _ in files]
    began, added = time.monotonic(), 0

    def tell(done: int, current: str) -> None:
        if progress:
            elapsed, read = time.monotonic() - began, sum(sizes[:done])
            eta = elapsed * (sum(sizes) - read) / read if done and read else None
            progress(IngestProgress(done, len(files), added, current, elapsed, eta))

    try:
        for done, (path, source) in enumerate(files):
            tell(done, source)
            outcome = _ingest_one(store, embedder, path, source, collection, spec, tokenizer, max_file_bytes, stamp)
            added += outcome.chunks
            report.outcomes.append(outcome)
    finally:
        report.total_chunks = store.count(collection)
        if created and report.total_chunks == 0:
            store.delete_collection(collection)  # nothing usable went in: leave no empty collection behind
    tell(len(files), "")
    return report


def ingest_configured(settings: Settings, store: VectorStore, embedder: Embeddings, files: list[tuple[Path, str]],
                      collection: str, progress: Progress | None = None) -> IngestReport:
    """ingest_files with the chunking and limits of `settings`: what the CLI and the page call."""
    tokenizer = tokenizer_for(settings) if settings.chunk_strategy == "token" else None
    return ingest_files(store, embedder, files, collection, settings.chunk_size, settings.chunk_overlap, progress,
                        strategy=settings.chunk_strategy, tokenizer=tokenizer, max_file_bytes=settings.max_file_bytes)


def _ingest_one(store: VectorStore, embedder: Embeddings, path: Path, source: str, collection: str,
                spec: ChunkSpec, tokenizer: TokenCounter | None, max_file_bytes: int, stamp: str) -> FileOutcome:
    try:
        docs = load_documents(path, source, max_file_bytes)
        chunks = [c for doc in docs for c in chunk_document(doc, spec, tokenizer)]
        existing = store.existing_ids(collection, [c.id for c in chunks])
        fresh = [c for c in chunks if c.id not in existing]
        vectors = embedder.embed_documents([c.text for c in fresh]) if fresh else []
        points = [{"id": c.id, "payload": c.payload(spec, stamp)} for c in fresh]
        wanted: dict[str, list[str]] = {doc.source: [] for doc in docs}
        for c in chunks:
            wanted[c.source].append(c.id)
        # one upsert for all of the file's documents (all-or-nothing), then drop chunks no longer produced
        first = docs[0].source
        store.replace_source(collection, first, points, vectors, wanted[first])
        if path.suffix.lower() in ROW_SUFFIXES:
            stored = _stored_rows(store, collection, source)
            for row in (r for r, ids in stored.items() if r != first and ids != set(wanted.get(r, []))):
                store.replace_source(collection, row, [], [], wanted.get(row, []))
    except LoadError as exc:
        return FileOutcome(source, "failed", reason=str(exc))
    except Exception as exc:  # noqa: BLE001 - one file's failure is reported, the others go on
        return FileOutcome(source, "failed", reason=f"{exc.__class__.__name__}: {exc}")
    return FileOutcome(source, "added" if fresh else "unchanged", chunks=len(fresh))


def _stored_rows(store: VectorStore, collection: str, source: str) -> dict[str, set[str]]:
    """Chunk ids per row document of a csv/jsonl file, as stored (scroll reads at most 10,000 chunks)."""
    rows: dict[str, set[str]] = {}
    for c in store.scroll(collection):
        if c.source.startswith(f"{source}#row"):
            rows.setdefault(c.source, set()).add(c.id)
    return rows


def delete_document(store: VectorStore, collection: str, source: str) -> int:
    """Delete a document (or every row of a csv/jsonl file) with all its chunks; returns chunks removed."""
    store.check(collection)
    before = store.count(collection)
    for doc in (source, *_stored_rows(store, collection, source)):
        store.replace_source(collection, doc, [], [], keep_ids=[])
    return before - store.count(collection)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"
