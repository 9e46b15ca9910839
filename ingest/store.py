"""Qdrant access: embedded on disk by default, a server when QDRANT_URL is set, same calls for both.

Each collection records the embedder id and dimension that filled it; querying or adding with a
different embedder is refused with a clear error instead of returning nonsense neighbours.

Collections hold a named dense vector and a named BM25 sparse vector (Qdrant applies IDF at query time),
both computed here from the chunk text, so `hybrid_search` can fuse keyword and semantic matches (RRF).
Collections made before that (one unnamed dense vector) still serve dense search; hybrid search on
them asks for a re-ingest.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel
from qdrant_client import QdrantClient
from qdrant_client import models as qm
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from ingest import sparse
from ingest.embedder import EmbedderInfo
from ingest.store_edge import EdgeClient
from settings import InvalidNameError, Settings, identifier, public_url


class StoreError(RuntimeError):
    """A storage problem (Qdrant, the disk under it) worded for a person."""


class StoreLockedError(StoreError):
    pass


class CollectionNotFoundError(StoreError):
    pass


class CollectionMismatchError(StoreError):
    pass


class InvalidCollectionNameError(StoreError):
    """A collection name that is no identifier (`settings.identifier`): refused before any folder or server is touched."""


def collection_identifier(name: str) -> str:
    """`name` when it may name a collection; InvalidCollectionNameError (a StoreError every page and CLI words) if not."""
    try:
        return identifier(name, "collection")
    except InvalidNameError as exc:
        raise InvalidCollectionNameError(str(exc)) from exc


class StorageFullError(StoreError):
    """Not enough free disk for a write; raised before writing, so what is stored stays as it was."""


# Free disk the embedded edge engine must keep beyond a write's own size. It writes through memory-mapped files, and a
# page it cannot back on a full disk kills the whole process with SIGBUS (measured on a full ext4 volume: the ingest
# died with no message, rc 135, at 256 kB free; 1 MB free took 210 chunks). The files written before are intact (its
# WAL replays on the next open), but a dashboard would vanish. 16 MB is far above what one file's write needs.
MIN_FREE_BYTES = 16 * 2**20


def ensure_room(folder: Path, need: int, what: str) -> None:
    """Raise StorageFullError unless the disk holding `folder` has `need` bytes free plus MIN_FREE_BYTES."""
    free = shutil.disk_usage(folder).free
    if free < need + MIN_FREE_BYTES:
        raise StorageFullError(
            f"the disk holding {folder} is (nearly) full: {free / 2**20:.1f} MB free, {(need + MIN_FREE_BYTES) / 2**20:.1f} "
            f"MB needed to {what}. Nothing was written for it and what is stored is intact; free some space and try "
            "again (files already ingested are skipped)."
        )


DENSE = "dense"
SPARSE = "sparse"


class StoredChunk(BaseModel):
    """A chunk as stored, with the scores of the query that found it.

    `score` ranks (cosine for dense search, the fusion score for hybrid search); `similarity` is always the
    query-chunk cosine similarity, which is what a minimum-similarity gate must compare against.
    """

    id: str
    source: str
    title: str = ""
    chunk_index: int
    start: int
    end: int
    text: str
    score: float = 0.0
    similarity: float | None = None


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    chunks: int
    documents: int
    embedder: str
    hybrid: bool  # False: made before keyword vectors existed; re-ingest it for hybrid search
    disk_mb: float | None  # None on a Qdrant server


def embedded_path(settings: Settings) -> Path:
    """The folder of the embedded engine `settings.qdrant_engine` picks: "edge" (qdrant-edge, the default) in
    `<data_dir>/qdrant-edge`, "local" (qdrant-client's local mode, the engine of earlier versions) in `qdrant_path`."""
    return settings.qdrant_path.with_name("qdrant-edge") if settings.qdrant_engine == "edge" else settings.qdrant_path


def legacy_collections(edge_path: Path) -> list[str]:
    """Collections of a local-mode store beside an edge store (`<data_dir>/qdrant`) that the edge store lacks:
    made by an earlier version, readable again after `python -m ingest migrate`. Reads local mode's meta.json,
    without opening it (which would load every point)."""
    meta = edge_path.with_name("qdrant") / "meta.json"
    if not meta.exists():
        return []
    names = json.loads(meta.read_text()).get("collections", {})
    return sorted(n for n in names if not (edge_path / n / "collection.json").exists())


def open_client(settings: Settings) -> QdrantClient | EdgeClient:
    """One client per process: embedded Qdrant allows a single client per folder.

    QDRANT_URL set: a server (qdrant-client). Otherwise the embedded engine in `embedded_path(settings)`.
    """
    if settings.qdrant_url:
        client = QdrantClient(url=settings.qdrant_url, api_key=settings.qdrant_api_key, timeout=30)
        try:
            client.get_collections()
        except (ResponseHandlingException, UnexpectedResponse, OSError) as exc:
            raise StoreError(f"cannot reach the Qdrant server at {public_url(settings.qdrant_url)}: {exc}") from exc
        return client
    folder = embedded_path(settings)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return EdgeClient(folder) if settings.qdrant_engine == "edge" else QdrantClient(path=str(folder))
    except RuntimeError as exc:
        if "already accessed" in str(exc):
            raise StoreLockedError(locked_message(folder)) from exc
        raise


def locked_message(folder: Path) -> str:
    """What holds the embedded store's folder and what to do about it, in words a person can act on."""
    holder = lock_holder(folder / ".lock")
    if holder is None:
        who, stop = " (often the running dashboard)", "stop that process"
    elif holder[0] == os.getpid():
        who, stop = f" (another client in this same process, PID {holder[0]})", "close that client first"
    else:
        pid, command = holder
        who = f" (PID {pid}: {command})"
        stop = f"stop it (Ctrl+C in its terminal, or `kill {pid}`)"
    return (f"the knowledge base in {folder} is open in another process{who}. Embedded Qdrant allows one process per "
            f"folder: {stop}, then try again; or use a Qdrant server (set QDRANT_URL) for concurrent access.")


def lock_holder(lock_file: Path) -> tuple[int, str] | None:
    """(pid, command line) of the process holding a flock on `lock_file`, from Linux's /proc/locks; None elsewhere
    or when it cannot be told (both embedded engines lock `<folder>/.lock` with flock)."""
    try:
        stat = lock_file.stat()
        locks = Path("/proc/locks").read_text()
    except OSError:
        return None
    wanted = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
    for line in locks.splitlines():
        fields = line.split()
        if "->" in fields or wanted not in fields:  # "->": a process waiting for the lock, not holding it
            continue
        pid = int(fields[fields.index(wanted) - 1])
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return pid, "command unknown"
        command = " ".join(raw.replace(b"\0", b" ").decode(errors="replace").split())
        return pid, (command[:117] + "...") if len(command) > 120 else command
    return None


class VectorStore:
    """The operations ingest, retrieval and the pages need, over a QdrantClient (server or local mode) or an
    EdgeClient (qdrant-edge), which answers the same calls."""

    page_size = 1000  # points per scroll request when listing, counting documents or scanning a whole collection

    def __init__(self, client: QdrantClient | EdgeClient, embedder: EmbedderInfo) -> None:
        self.client = client
        self.embedder = embedder
        self._hybrid: dict[str, bool] = {}  # layout per collection; get_collection counts every point in local mode

    def ensure_collection(self, name: str) -> bool:
        """Create the collection if missing (returns True then); refuse one made by another embedder."""
        if self.client.collection_exists(collection_identifier(name)):
            self.check(name)
            return False
        self._ensure_room(0, f"create the collection {name!r}")
        self.client.create_collection(
            name,
            vectors_config={DENSE: qm.VectorParams(size=self.embedder.dim, distance=qm.Distance.COSINE)},
            sparse_vectors_config={SPARSE: qm.SparseVectorParams(modifier=qm.Modifier.IDF)},
            metadata={"embedder": self.embedder.id, "dim": self.embedder.dim, "sparse": sparse.MODEL_ID},
        )
        with warnings.catch_warnings():  # local mode ignores payload indexes (and says so); servers use it
            warnings.simplefilter("ignore", UserWarning)
            self.client.create_payload_index(name, "source", qm.PayloadSchemaType.KEYWORD)
        return True

    def check(self, name: str) -> None:
        if not self.client.collection_exists(collection_identifier(name)):
            known = ", ".join(self.names()) or "none yet"
            if isinstance(self.client, EdgeClient) and name in legacy_collections(self.client.path):
                raise CollectionNotFoundError(
                    f"collection {name!r} is in the store of an earlier version ({self.client.path.with_name('qdrant')}, "
                    "qdrant-client local mode), not in the current engine. Copy it over with: python -m ingest migrate"
                )
            raise CollectionNotFoundError(
                f"collection {name!r} does not exist (collections: {known}). Ingest documents first: "
                f"python -m ingest PATH --collection {name}"
            )
        meta = self.client.get_collection(name).config.metadata or {}
        if meta.get("embedder") != self.embedder.id or meta.get("dim") != self.embedder.dim:
            raise CollectionMismatchError(
                f"collection {name!r} was built with embedder {meta.get('embedder')} ({meta.get('dim')} dims) but the "
                f"current embedder is {self.embedder.id} ({self.embedder.dim} dims). Switch the embedder back or "
                "ingest into a new collection."
            )

    def is_hybrid(self, name: str) -> bool:
        """True for collections with named dense + sparse vectors; False for the older single-vector layout."""
        if name not in self._hybrid:
            self._hybrid[name] = SPARSE in (self.client.get_collection(name).config.params.sparse_vectors or {})
        return self._hybrid[name]

    def names(self) -> list[str]:
        return sorted(c.name for c in self.client.get_collections().collections)

    def existing_ids(self, name: str, ids: list[str]) -> set[str]:
        if not ids:
            return set()
        return {str(p.id) for p in self.client.retrieve(name, ids=ids, with_payload=False, with_vectors=False)}

    def replace_source(self, name: str, source: str, chunks: list[dict], vectors: list[list[float]],
                       keep_ids: list[str]) -> None:
        """Upsert a document's new chunks (dense vectors given, sparse ones computed from payload["text"]),
        then drop its chunks that are no longer produced."""
        self._ensure_room(_write_bytes(chunks, vectors), f"write {source}")
        self.upsert(name, chunks, vectors)
        self.client.delete(
            name,
            points_selector=qm.FilterSelector(
                filter=qm.Filter(
                    must=[qm.FieldCondition(key="source", match=qm.MatchValue(value=source))],
                    must_not=[qm.HasIdCondition(has_id=keep_ids)],
                )
            ),
            wait=True,
        )

    def upsert(self, name: str, chunks: list[dict], vectors: list[list[float]]) -> None:
        """Write chunks ({"id", "payload"}) with their dense vectors, in one request; BM25 vectors come from the text."""
        if chunks:
            self._ensure_room(_write_bytes(chunks, vectors), f"write {len(chunks)} chunks into {name!r}")
            self.client.upsert(name, points=self._points(name, chunks, vectors), wait=True)

    def optimize(self, name: str) -> None:
        """Index a collection after a bulk load (blocks): the edge engine has no background optimizer, and its
        fresh segments are searched by brute force (bench/retrieval.py). Servers optimize by themselves; local
        mode has nothing to optimize."""
        if isinstance(self.client, EdgeClient):
            # it writes the indexed segments beside the old ones before dropping those
            self._ensure_room(int((self._disk_mb(name) or 0) * 2**20), f"build the search index of {name!r} (its "
                              "chunks are stored and searchable meanwhile, only slower)")
            self.client.optimize(name)

    def _ensure_room(self, need: int, what: str) -> None:
        """Refuse a write the disk cannot hold, before the edge engine starts it (see MIN_FREE_BYTES: it would die
        of SIGBUS mid-write). Local mode (SQLite) fails a write cleanly, and a server minds its own disk."""
        if isinstance(self.client, EdgeClient):
            ensure_room(self.client.path, need, what)

    def delete_collection(self, name: str) -> None:
        self._hybrid.pop(collection_identifier(name), None)
        self.client.delete_collection(name)

    def count(self, name: str) -> int:
        return self.client.count(name, exact=True).count

    def search(self, name: str, vector: list[float], limit: int) -> list[StoredChunk]:
        """Dense top-`limit` by cosine similarity (`score` == `similarity`)."""
        self.check(name)
        using = DENSE if self.is_hybrid(name) else None
        hits = self.client.query_points(name, query=vector, using=using, limit=limit, with_payload=True).points
        return [_to_chunk(str(h.id), h.payload or {}, h.score, h.score) for h in hits]

    def hybrid_search(self, name: str, dense_vector: list[float], query_text: str, limit: int,
                      prefetch_limit: int | None = None) -> list[StoredChunk]:
        """Dense and BM25 candidates (`prefetch_limit` each, default 4 x limit) fused by reciprocal rank.

        `score` is the RRF score (rank only); `similarity` is each chunk's cosine to `dense_vector`.
        """
        self.check(name)
        if not self.is_hybrid(name):
            raise CollectionMismatchError(
                f"collection {name!r} was ingested before hybrid search existed and has no keyword (sparse) vectors. "
                f"Use dense search, or re-ingest it: delete the collection and run python -m ingest PATH --collection {name}"
            )
        depth = prefetch_limit or 4 * limit
        hits = self.client.query_points(  # twice the limit: a tie at the cut-off is decided below, not by the engine
            name,
            prefetch=[qm.Prefetch(query=dense_vector, using=DENSE, limit=depth),
                      qm.Prefetch(query=sparse.encode_query(query_text), using=SPARSE, limit=depth)],
            query=qm.FusionQuery(fusion=qm.Fusion.RRF),
            limit=2 * limit, with_payload=True, with_vectors=[DENSE],
        ).points
        query = _unit(dense_vector)
        chunks = [_to_chunk(str(h.id), h.payload or {}, h.score, float(_unit(h.vector[DENSE]) @ query)) for h in hits]
        # RRF ties are common (rank 1 + rank 3 scores as rank 3 + rank 1), and the engine orders them by its internal
        # point order, which changed when a collection was reopened: the same question then got other chunks. Ties
        # go to the chunk closer to the question, then by id, so a question always gets the same chunks.
        chunks.sort(key=lambda c: (-c.score, -(c.similarity or 0.0), c.id))
        return chunks[:limit]

    def dense_vectors(self, name: str, ids: list[str]) -> dict[str, list[float]]:
        """The stored dense vectors of these points (either collection layout), e.g. for MMR."""
        points = self.client.retrieve(name, ids=ids, with_payload=False, with_vectors=True)
        return {str(p.id): p.vector[DENSE] if isinstance(p.vector, dict) else p.vector for p in points}

    def scroll(self, name: str, limit: int | None = None) -> list[StoredChunk]:
        """The collection's chunks (all of them, or the first `limit`), read page by page."""
        chunks = []
        for point in self.points(name, with_payload=True):
            if limit is not None and len(chunks) >= limit:
                break
            chunks.append(_to_chunk(str(point.id), point.payload or {}, 0.0))
        return chunks

    def points(self, name: str, with_payload: bool | list[str] = True,
               with_vectors: bool | list[str] = False) -> Iterator[qm.Record]:
        """Every point, `page_size` per request: a single scroll request returns at most its limit."""
        offset = None
        while True:
            page, offset = self.client.scroll(name, limit=self.page_size, offset=offset,
                                              with_payload=with_payload, with_vectors=with_vectors)
            yield from page
            if offset is None or not page:
                return

    def sources(self, name: str) -> set[str]:
        """The document names in a collection (reads only the `source` field of each chunk)."""
        return {(p.payload or {})["source"] for p in self.points(name, with_payload=["source"])}

    def describe(self) -> list[CollectionInfo]:
        infos = []
        for name in self.names():
            meta = self.client.get_collection(name).config.metadata or {}
            sources = self.sources(name)
            infos.append(CollectionInfo(name, self.count(name), len(sources), str(meta.get("embedder", "?")),
                                        self.is_hybrid(name), self._disk_mb(name)))
        return infos

    def _disk_mb(self, name: str) -> float | None:
        if isinstance(self.client, EdgeClient):
            folder = self.client.path / name
        elif (location := getattr(self.client._client, "location", None)) and location != ":memory:":  # noqa: SLF001
            folder = Path(location) / "collection" / name  # qdrant-client local mode's own layout
        else:
            return None
        # blocks in use, not file sizes: qdrant-edge preallocates sparse 32 MB files
        used = sum(f.stat().st_blocks * 512 for f in folder.rglob("*") if f.is_file())
        return round(used / 2**20, 2)

    def _points(self, name: str, chunks: list[dict], vectors: list[list[float]]) -> list[qm.PointStruct]:
        if not self.is_hybrid(name):
            return [qm.PointStruct(id=c["id"], vector=v, payload=c["payload"]) for c, v in zip(chunks, vectors, strict=True)]
        sparse_vectors = sparse.encode_documents([c["payload"]["text"] for c in chunks])
        return [qm.PointStruct(id=c["id"], vector={DENSE: v, SPARSE: s}, payload=c["payload"])
                for c, v, s in zip(chunks, vectors, sparse_vectors, strict=True)]


def _write_bytes(chunks: list[dict], vectors: list[list[float]]) -> int:
    """A generous estimate of the disk a write takes: vectors and payloads, in the log, the segment and an index."""
    return 3 * (sum(4 * len(v) for v in vectors) + sum(2 * len(json.dumps(c["payload"])) for c in chunks))


def _unit(vector: list[float]) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float32)
    return array / (np.linalg.norm(array) or 1.0)


_CHUNK_FIELDS = [k for k in StoredChunk.model_fields if k not in ("id", "score", "similarity")]


def _to_chunk(point_id: str, payload: dict, score: float, similarity: float | None = None) -> StoredChunk:
    return StoredChunk(id=point_id, score=score, similarity=similarity, **{k: payload[k] for k in _CHUNK_FIELDS if k in payload})
