"""The real Qdrant engine in-process (qdrant-edge), behind the subset of QdrantClient that VectorStore uses.

qdrant-client's local mode commits one point per SQLite transaction (~65 points/s here) and searches by
brute force; qdrant-edge is Qdrant's own segment/HNSW engine as a library (measured in bench/retrieval.py).
It has no client API, so this adapter speaks qdrant-client's models on the outside and qdrant-edge's on
the inside; VectorStore stays one class for the embedded engine and a Qdrant server alike. Only the call
shapes VectorStore makes are translated; anything else raises NotImplementedError rather than guess.

Layout: one shard folder per collection under `path`, with `collection.json` beside it holding the
vector configuration and the collection metadata (embedder id), which a shard itself does not keep. A collection's
folder is `path / name` only for a name that passes `settings.identifier` and resolves directly inside `path`; a delete
removes only the two things a collection is made of, so a folder the store did not make is never emptied.

Memory: the engine keeps vectors, payloads (Memory.Cold by default) and the HNSW graph in memory-mapped files;
pages the process has touched count in its RSS until the kernel takes them back (docs/benchmarks.md, "Memory").
"""

from __future__ import annotations

import fcntl
import json
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import qdrant_edge as qe
from qdrant_client import models as qm
from qdrant_client.http.models import QueryResponse

from settings import identifier

# Memory tier of new collections' dense vectors; None = the engine's default (Cached: a built or opened segment's
# vectors are read in ahead). Cold saved 34 of 670 MB peak RSS ingesting 10,000 documents but made dense search
# after optimize at 100k 1.7 -> 14.9 ms p50 (pages read on first use), so it is only bench/ingest_memory.py's knob.
VECTOR_MEMORY: qe.Memory | None = None
RRF_K = 2  # qdrant-client's and Qdrant's default, so fused scores match the other code paths
_DISTANCES = {qm.Distance.COSINE: qe.Distance.Cosine, qm.Distance.DOT: qe.Distance.Dot,
              qm.Distance.EUCLID: qe.Distance.Euclid}


@dataclass
class _Params:
    vectors: dict[str, qm.VectorParams]
    sparse_vectors: dict[str, qm.SparseVectorParams]


@dataclass
class _Config:
    params: _Params
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class EdgeCollectionInfo:
    """The part of qdrant-client's CollectionInfo that callers read: `.config.params` and `.config.metadata`
    (no point count: counting walks every point, and VectorStore.check reads this before each search)."""

    config: _Config


@dataclass
class _Name:
    name: str


@dataclass
class _Collections:
    collections: list[_Name]


class EdgeClient:
    """QdrantClient look-alike over one qdrant-edge shard per collection, stored under `path`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = (self.path / ".lock").open("w")
        try:  # one client per folder, as in qdrant-client's local mode (and with the same message)
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._lock.close()
            raise RuntimeError(f"Storage folder {self.path} is already accessed by another instance of EdgeClient") from exc
        self._shards: dict[str, qe.EdgeShard] = {}
        # the dashboard shares this client between sessions (threads): two first searches of a collection at once
        # each loaded its shard, and the second failed on the first's WAL lock ("Can't init WAL: WouldBlock")
        self._loading = threading.Lock()
        # collection.json parsed once: only this client writes the folder (the lock), and searches read it each time
        self._infos: dict[str, EdgeCollectionInfo] = {}

    def _folder(self, collection_name: str) -> Path:
        """The collection's folder: an identifier's, directly inside the store's folder (not through a link)."""
        folder = self.path / identifier(collection_name, "collection")
        if folder.resolve().parent != self.path.resolve():
            raise ValueError(f"collection {collection_name!r} leads out of the store's folder {self.path}; refused")
        return folder

    # collections
    def collection_exists(self, collection_name: str) -> bool:
        return (self._folder(collection_name) / "collection.json").exists()

    def get_collections(self) -> _Collections:
        return _Collections([_Name(p.parent.name) for p in sorted(self.path.glob("*/collection.json"))])

    def create_collection(self, collection_name: str, vectors_config: dict[str, qm.VectorParams],
                          sparse_vectors_config: dict[str, qm.SparseVectorParams] | None = None,
                          metadata: dict[str, Any] | None = None) -> bool:
        if not isinstance(vectors_config, dict):
            raise NotImplementedError("the edge engine stores named vectors only")
        sparse = sparse_vectors_config or {}
        config = qe.EdgeConfig(
            vectors={n: qe.EdgeVectorParams(size=v.size, distance=_DISTANCES[v.distance], memory=VECTOR_MEMORY)
                     for n, v in vectors_config.items()},
            sparse_vectors={n: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf if s.modifier == qm.Modifier.IDF else None)
                            for n, s in sparse.items()},
        )
        folder = self._folder(collection_name)
        self._infos.pop(collection_name, None)
        self._shards[collection_name] = qe.EdgeShard.create(str(folder / "shard"), config)
        record = {"vectors": {n: v.model_dump(mode="json", exclude_none=True) for n, v in vectors_config.items()},
                  "sparse_vectors": {n: s.model_dump(mode="json", exclude_none=True) for n, s in sparse.items()},
                  "metadata": metadata or {}}
        (folder / "collection.json").write_text(json.dumps(record, indent=1))  # written last: marks it complete
        return True

    def get_collection(self, collection_name: str) -> EdgeCollectionInfo:
        if collection_name not in self._infos:
            record = json.loads((self._folder(collection_name) / "collection.json").read_text())
            params = _Params({n: qm.VectorParams(**v) for n, v in record["vectors"].items()},
                             {n: qm.SparseVectorParams(**s) for n, s in record["sparse_vectors"].items()})
            self._infos[collection_name] = EdgeCollectionInfo(_Config(params, record["metadata"]))
        return self._infos[collection_name]

    def delete_collection(self, collection_name: str) -> bool:
        """Remove what `create_collection` made: its marker first (so a crash leaves no half collection listed), then
        its shard, then the folder if nothing else is in it. Returns False when there was no collection."""
        folder = self._folder(collection_name)
        self._infos.pop(collection_name, None)
        shard = self._shards.pop(collection_name, None)
        if shard is not None:
            shard.close()
        marker = folder / "collection.json"
        if not marker.is_file():
            return False
        marker.unlink()
        shutil.rmtree(folder / "shard", ignore_errors=True)  # rmtree never follows a link
        try:
            folder.rmdir()
        except OSError:
            pass  # something the store did not make is in it: left as it was
        return True

    def create_payload_index(self, collection_name: str, field_name: str, field_schema: qm.PayloadSchemaType) -> None:
        schema = {qm.PayloadSchemaType.KEYWORD: qe.PayloadSchemaType.Keyword}[field_schema]
        self._shard(collection_name).update(qe.UpdateOperation.create_field_index(field_name, schema))

    def optimize(self, collection_name: str) -> bool:
        """Build the HNSW index and merge segments (queries ~10x faster after a bulk load); blocks."""
        return self._shard(collection_name).optimize()

    def close(self) -> None:
        for shard in self._shards.values():
            shard.flush()
            shard.close()
        self._shards.clear()
        self._lock.close()  # releases the folder lock

    # points
    def upsert(self, collection_name: str, points: list[qm.PointStruct], wait: bool = True) -> None:
        # No flush per call (~0.1 s each): the shard's WAL replays unflushed updates after a crash (checked
        # by killing the process); close() flushes.
        shard = self._shard(collection_name)
        shard.update(qe.UpdateOperation.upsert_points(
            [qe.Point(_point_id(p.id), _vector(p.vector), p.payload or {}) for p in points]))

    def delete(self, collection_name: str, points_selector: qm.FilterSelector | qm.PointIdsList, wait: bool = True) -> None:
        shard = self._shard(collection_name)
        if isinstance(points_selector, qm.FilterSelector):
            shard.update(qe.UpdateOperation.delete_points_by_filter(_filter(points_selector.filter)))
        else:
            shard.update(qe.UpdateOperation.delete_points([_point_id(i) for i in points_selector.points]))

    def retrieve(self, collection_name: str, ids: list, with_payload: bool = True,
                 with_vectors: bool | list[str] = False) -> list[qm.Record]:
        records = self._shard(collection_name).retrieve([_point_id(i) for i in ids], with_payload, with_vectors)
        return [_record(r) for r in records]

    def count(self, collection_name: str, exact: bool = True) -> qm.CountResult:
        return qm.CountResult(count=self._shard(collection_name).count(qe.CountRequest()))

    def scroll(self, collection_name: str, limit: int = 10, offset: Any = None, scroll_filter: qm.Filter | None = None,
               with_payload: bool = True, with_vectors: bool | list[str] = False) -> tuple[list[qm.Record], Any]:
        records, next_offset = self._shard(collection_name).scroll(qe.ScrollRequest(
            offset=offset, limit=limit, filter=_filter(scroll_filter) if scroll_filter else None,
            with_payload=with_payload, with_vector=with_vectors))
        return [_record(r) for r in records], next_offset

    def query_points(self, collection_name: str, query: Any = None, using: str | None = None,
                     prefetch: list[qm.Prefetch] | None = None, limit: int = 10, with_payload: bool = True,
                     with_vectors: bool | list[str] = False) -> QueryResponse:
        request = qe.QueryRequest(limit=limit, query=_query(query, using),
                                  prefetches=[qe.Prefetch(limit=p.limit, query=_query(p.query, p.using)) for p in prefetch or []],
                                  with_payload=with_payload, with_vector=with_vectors)
        hits = self._shard(collection_name).query(request)
        return QueryResponse(points=[qm.ScoredPoint(id=str(h.id), version=h.version, score=h.score,
                                                       payload=h.payload, vector=_vector_out(h.vector)) for h in hits])

    def _shard(self, name: str) -> qe.EdgeShard:
        if (shard := self._shards.get(name)) is not None:
            return shard
        with self._loading:  # one load per collection, however many threads ask for it first
            if name not in self._shards:
                if not self.collection_exists(name):
                    raise ValueError(f"Collection {name} not found")
                self._shards[name] = qe.EdgeShard.load(str(self._folder(name) / "shard"))
            return self._shards[name]


def _point_id(point_id: Any) -> Any:
    return str(point_id) if not isinstance(point_id, int) else point_id


def _vector(vector: Any) -> Any:
    if isinstance(vector, dict):
        return {n: qe.SparseVector(v.indices, v.values) if isinstance(v, qm.SparseVector) else v for n, v in vector.items()}
    return vector


def _vector_out(vector: Any) -> Any:
    if isinstance(vector, dict):
        return {n: qm.SparseVector(indices=list(v.indices), values=list(v.values)) if isinstance(v, qe.SparseVector) else v
                for n, v in vector.items()}
    return vector


def _record(record: qe.Record) -> qm.Record:
    return qm.Record(id=str(record.id), payload=record.payload, vector=_vector_out(record.vector))


def _query(query: Any, using: str | None) -> Any:
    if query is None:
        return None
    if isinstance(query, qm.FusionQuery):
        return qe.Fusion.Rrf(k=RRF_K) if query.fusion == qm.Fusion.RRF else qe.Fusion.Dbsf()
    if isinstance(query, qm.SparseVector):
        return qe.Query.Nearest(qe.SparseVector(query.indices, query.values), using=using)
    if isinstance(query, list):
        return qe.Query.Nearest(query, using=using)
    raise NotImplementedError(f"query {type(query).__name__} is not translated for the edge engine")


def _filter(flt: qm.Filter) -> qe.Filter:
    return qe.Filter(must=[_condition(c) for c in flt.must or []] or None,
                     should=[_condition(c) for c in flt.should or []] or None,
                     must_not=[_condition(c) for c in flt.must_not or []] or None)


def _condition(condition: Any) -> Any:
    if isinstance(condition, qm.HasIdCondition):
        return qe.HasIdCondition({_point_id(i) for i in condition.has_id})
    if isinstance(condition, qm.FieldCondition) and isinstance(condition.match, qm.MatchValue):
        return qe.FieldCondition(key=condition.key, match=qe.MatchValue(condition.match.value))
    if isinstance(condition, qm.FieldCondition) and isinstance(condition.match, qm.MatchAny):
        return qe.FieldCondition(key=condition.key, match=qe.MatchAny(condition.match.any))
    raise NotImplementedError(f"filter condition {condition!r} is not translated for the edge engine")
