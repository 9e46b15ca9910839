"""Ingest files into a collection, embedding chunks in batches across files, each file written all-or-nothing.

A bad file is reported with its reason and never stops the others; a file whose chunks already
exist (same content-hash ids) is skipped without embedding, so re-ingesting is cheap. A csv/jsonl
file is several documents (one per row), written in one upsert so it, too, is all-or-nothing.
Small files alone make tiny embedding batches (slow: bench/ingest.py), so new chunks wait in a
bounded buffer and are embedded together; each file is still upserted on its own, after its vectors exist.
A batch is embedded in slices of EMBED_SLICE chunks so progress (and a cancel) does not wait for a whole batch.
A disk too full for the next write (StorageFullError) stops the run with its message; files written stay.
Cancelling (`should_continue` returning False) stops before the next file or slice: the files of the batch being
embedded are dropped with their vectors, so no file is ever written in part, and every file not written is
reported "cancelled".
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from langchain_core.embeddings import Embeddings

from ingest.chunking import Chunk, ChunkSpec, Strategy, TokenCounter, chunk_within, tokenizer_for
from ingest.loaders import DEFAULT_LIMITS, ROW_SUFFIXES, FileLimits, LoadError, discover, load_documents
from ingest.store import StorageFullError, VectorStore
from settings import Settings

BATCH_CHUNKS = 256  # new chunks embedded together across files (bench/ingest.py)
EMBED_SLICE = 32  # chunks per embedder call within a batch (fastembed's own batch): a progress tick, a cancel point
# chunks added in one run that make indexing the collection worth its minutes (bench/retrieval.py, loaded machine:
# at 100k, dense search p95 541 -> 67 ms after a 375 s optimize; at 10k no gain for 102 s)
OPTIMIZE_AFTER = 20_000
OPTIMIZING = "building the search index"  # IngestProgress.current while the collection is optimized


@dataclass(frozen=True)
class IngestProgress:
    files_done: int
    files_total: int
    chunks_added: int  # written to the collection
    current: str  # the file being read now ("" when finished)
    elapsed_s: float
    eta_s: float | None  # from `fraction`; None until some work is done
    chunks_embedded: int = 0  # includes the batch being embedded, whose files are not written yet
    fraction: float = 0.0  # of the bytes to ingest: files settled, plus the waiting files' share of the batch embedded

    def describe(self) -> str:
        embedding = f" · {self.chunks_embedded} embedded" if self.chunks_embedded > self.chunks_added else ""
        eta = "" if self.eta_s is None else f" · about {_duration(self.eta_s)} left"
        now = f" · {self.current}" if self.current else ""
        return f"{self.files_done}/{self.files_total} files · {self.chunks_added} chunks added{embedding}{eta}{now}"


Progress = Callable[[IngestProgress], None]
ShouldContinue = Callable[[], bool]


@dataclass(frozen=True)
class FileOutcome:
    source: str
    status: Literal["added", "unchanged", "failed", "cancelled"]
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

    @property
    def cancelled(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.status == "cancelled"]

    def summary(self) -> str:
        counts = {s: sum(o.status == s for o in self.outcomes) for s in ("added", "unchanged", "failed", "cancelled")}
        stopped = f", {counts['cancelled']} cancelled (not ingested)" if counts["cancelled"] else ""
        return (f"{len(self.outcomes)} files: {counts['added']} added, {counts['unchanged']} unchanged, "
                f"{counts['failed']} failed{stopped}; collection {self.collection!r} holds {self.total_chunks} chunks")

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
                 limits: FileLimits = DEFAULT_LIMITS, batch_chunks: int = BATCH_CHUNKS,
                 embed_slice: int = EMBED_SLICE, optimize_after: int = OPTIMIZE_AFTER,
                 should_continue: ShouldContinue | None = None) -> IngestReport:
    """Ingest `files` ((path, source name) pairs); `tokenizer` is needed by the token strategy only. Each file is read
    within `limits` (bytes, pages, rows, chunks, CPU seconds) and refused with the setting that raises the limit.

    New chunks of consecutive files are embedded together once `batch_chunks` of them are waiting (memory
    stays bounded by that, plus the largest file), `embed_slice` per embedder call; each file is then written
    in its own upsert. A run that added `optimize_after` chunks or more ends by indexing the collection (progress
    says so meanwhile); a cancelled run does not (that can take minutes).
    """
    spec = ChunkSpec(strategy=strategy, size=chunk_size, overlap=chunk_overlap)
    created = store.ensure_collection(collection)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    sizes = [path.stat().st_size if path.is_file() else 0 for path, _ in files]
    total_bytes = sum(sizes)
    outcomes: dict[int, FileOutcome] = {}
    waiting: list[_File] = []
    began, added, read, embedded, batch_share = time.monotonic(), 0, 0, 0, 0.0
    cancelled = False

    def stopped() -> bool:
        nonlocal cancelled
        cancelled = cancelled or (should_continue is not None and not should_continue())
        return cancelled

    def tell(current: str) -> None:
        if progress:
            elapsed = time.monotonic() - began
            pending = sum(sizes[f.index] for f in waiting if f.index not in outcomes)
            fraction = ((read + pending * batch_share) / total_bytes if total_bytes
                        else len(outcomes) / max(len(files), 1))
            eta = elapsed * (1 - fraction) / fraction if fraction else None
            progress(IngestProgress(len(outcomes), len(files), added, current, elapsed, eta, embedded, fraction))

    def finish(index: int, outcome: FileOutcome, current: str) -> None:
        nonlocal added, read
        outcomes[index] = outcome
        added += outcome.chunks
        read += sizes[index]
        tell(current)

    def flush(current: str) -> None:
        nonlocal batch_share

        def sliced(done: int, of: int) -> None:
            nonlocal embedded, batch_share
            embedded += done
            batch_share += done / of
            tell(current)

        for index, outcome in _embed_and_write(store, embedder, collection, waiting, embed_slice, sliced, stopped):
            finish(index, outcome, current)
        waiting.clear()
        batch_share = 0.0

    try:
        for index, (path, source) in enumerate(files):
            if stopped():
                break
            tell(source)
            prepared = _prepare(store, path, source, index, collection, spec, tokenizer, limits, stamp)
            if isinstance(prepared, FileOutcome):
                finish(index, prepared, source)
                continue
            waiting.append(prepared)
            if sum(len(f.fresh) for f in waiting) >= batch_chunks:
                flush(source)
        if not stopped():
            flush("")
        if cancelled:
            tell("")
            for index, (_, source) in enumerate(files):
                outcomes.setdefault(index, FileOutcome(source, "cancelled"))
        elif added >= optimize_after:
            tell(OPTIMIZING)
            store.optimize(collection)
            tell("")
    finally:
        total = store.count(collection)
        if created and total == 0:
            store.delete_collection(collection)  # nothing usable went in: leave no empty collection behind
    if not files:
        tell("")
    return IngestReport(collection, [outcomes[i] for i in sorted(outcomes)], total)


def ingest_configured(settings: Settings, store: VectorStore, embedder: Embeddings, files: list[tuple[Path, str]],
                      collection: str, progress: Progress | None = None,
                      should_continue: ShouldContinue | None = None,
                      refused: list[FileOutcome] | None = None) -> IngestReport:
    """ingest_files with the chunking and limits of `settings`: what the CLI and the page call.

    `refused`: files turned away before reading (over an upload limit, a link out of the allowed folders); they
    head the report as failed with their reasons, so a person sees every file they asked for and its fate.
    """
    tokenizer = tokenizer_for(settings) if settings.chunk_strategy == "token" else None
    report = ingest_files(store, embedder, files, collection, settings.chunk_size, settings.chunk_overlap, progress,
                          strategy=settings.chunk_strategy, tokenizer=tokenizer, limits=FileLimits.of(settings),
                          should_continue=should_continue)
    report.outcomes[:0] = refused or []
    return report


def ingest_whole(settings: Settings, store: VectorStore, embedder: Embeddings, files: list[tuple[Path, str]],
                 collection: str, progress: Progress | None = None,
                 should_continue: ShouldContinue | None = None) -> IngestReport | None:
    """Ingest `files` into `collection` as `settings` chunk them, unless it already holds chunks (None then).

    For collections taken as complete once they are not empty (a sweep's per-chunking collections, a profile's), so
    one must never stay partial: a cancelled ingest deletes the collection it was writing.
    """
    if collection in store.names() and store.count(collection) > 0:
        return None
    report = ingest_configured(settings, store, embedder, files, collection, progress, should_continue)
    if report.cancelled and collection in store.names():
        store.delete_collection(collection)
    return report


@dataclass
class _File:
    """A parsed file whose new chunks wait to be embedded with those of the files after it."""

    index: int
    source: str
    docs: list[str]  # its document names: one, or one per csv/jsonl row
    wanted: dict[str, list[str]]  # chunk ids each document now has
    fresh: list[Chunk]  # chunks not stored yet
    payloads: list[dict]
    rows: bool


def _prepare(store: VectorStore, path: Path, source: str, index: int, collection: str, spec: ChunkSpec,
             tokenizer: TokenCounter | None, limits: FileLimits, stamp: str) -> _File | FileOutcome:
    """Load and chunk a file; an unchanged file is settled here (stale chunks dropped), without embedding."""
    try:
        docs = load_documents(path, source, limits)
        chunks = chunk_within(docs, spec, tokenizer, limits.max_chunks, source)
        existing = store.existing_ids(collection, [c.id for c in chunks])
        fresh = [c for c in chunks if c.id not in existing]
        wanted: dict[str, list[str]] = {doc.source: [] for doc in docs}
        for c in chunks:
            wanted[c.source].append(c.id)
        file = _File(index, source, list(wanted), wanted, fresh, [{"id": c.id, "payload": c.payload(spec, stamp)} for c in fresh],
                     path.suffix.lower() in ROW_SUFFIXES)
        if fresh:
            return file
        _write(store, collection, file, [])
    except StorageFullError:
        raise  # not this file's fault: the run stops, the files written so far stay
    except LoadError as exc:
        return FileOutcome(source, "failed", reason=str(exc))
    except Exception as exc:  # noqa: BLE001 - one file's failure is reported, the others go on
        return _failed(source, exc)
    return FileOutcome(source, "unchanged")


class _Cancelled(Exception):
    """Raised between embedding slices when the run is cancelled: nothing of the batch is written."""


def _embed(embedder: Embeddings, texts: list[str], size: int, sliced: Callable[[int, int], None],
           stopped: Callable[[], bool]) -> list[list[float]]:
    """Embed in slices of `size`, shortest first (the order fastembed batches in, so slices pad no more than one
    call would), reporting each slice as (its chunks, all chunks); raises _Cancelled at a slice boundary."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    vectors: list[list[float]] = [[] for _ in texts]
    for first in range(0, len(order), size):
        if stopped():
            raise _Cancelled
        part = order[first:first + size]
        for i, vector in zip(part, embedder.embed_documents([texts[i] for i in part]), strict=True):
            vectors[i] = vector
        sliced(len(part), len(texts))
    return vectors


def _embed_and_write(store: VectorStore, embedder: Embeddings, collection: str, files: list[_File], size: int,
                     sliced: Callable[[int, int], None], stopped: Callable[[], bool]) -> Iterator[tuple[int, FileOutcome]]:
    """Embed the waiting files' chunks together, then write each file; yields each file's outcome, none for the
    files left when the run is cancelled (their chunks are never written in part)."""
    try:
        vectors = _embed(embedder, [c.text for f in files for c in f.fresh], size, sliced, stopped)
    except _Cancelled:
        return
    except Exception:  # noqa: BLE001 - find the file that cannot be embedded: embed them one by one
        vectors = None
    start = 0
    for file in files:
        try:
            if vectors is None:
                if stopped():
                    return
                mine = embedder.embed_documents([c.text for c in file.fresh])
            else:
                mine, start = vectors[start:start + len(file.fresh)], start + len(file.fresh)
            _write(store, collection, file, mine)
        except StorageFullError:
            raise  # every file after it would fail the same way: the run stops with the message
        except Exception as exc:  # noqa: BLE001 - one file's failure is reported, the others go on
            yield file.index, _failed(file.source, exc)
            continue
        yield file.index, FileOutcome(file.source, "added", chunks=len(file.fresh))


def _write(store: VectorStore, collection: str, file: _File, vectors: list[list[float]]) -> None:
    """One upsert for all of the file's documents (all-or-nothing), then drop chunks no longer produced."""
    first = file.docs[0]
    store.replace_source(collection, first, file.payloads, vectors, file.wanted[first])
    if file.rows:
        stored = _stored_rows(store, collection, file.source)
        for row in (r for r, ids in stored.items() if r != first and ids != set(file.wanted.get(r, []))):
            store.replace_source(collection, row, [], [], file.wanted.get(row, []))


def _failed(source: str, exc: Exception) -> FileOutcome:
    return FileOutcome(source, "failed", reason=f"{exc.__class__.__name__}: {exc}")


def _stored_rows(store: VectorStore, collection: str, source: str) -> dict[str, set[str]]:
    """Chunk ids per row document of a csv/jsonl file, as stored (a scan of the `source` fields)."""
    rows: dict[str, set[str]] = {}
    for point in store.points(collection, with_payload=["source"]):
        if (doc := (point.payload or {})["source"]).startswith(f"{source}#row"):
            rows.setdefault(doc, set()).add(str(point.id))
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
