"""Qdrant access: embedded on disk by default, a server when QDRANT_URL is set, same calls for both.

Each collection records the embedder id and dimension that filled it; querying or adding with a
different embedder is refused with a clear error instead of returning nonsense neighbours.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from pydantic import BaseModel
from qdrant_client import QdrantClient
from qdrant_client import models as qm
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from ingest.embedder import EmbedderInfo
from settings import Settings


class StoreError(RuntimeError):
    """A Qdrant problem worded for a person."""


class StoreLockedError(StoreError):
    pass


class CollectionNotFoundError(StoreError):
    pass


class CollectionMismatchError(StoreError):
    pass


class StoredChunk(BaseModel):
    """A chunk as stored, with the similarity score of the query that found it."""

    id: str
    source: str
    title: str = ""
    chunk_index: int
    start: int
    end: int
    text: str
    score: float = 0.0


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    chunks: int
    documents: int
    embedder: str


def open_client(settings: Settings) -> QdrantClient:
    """One client per process: embedded Qdrant allows a single client per folder."""
    if settings.qdrant_url:
        client = QdrantClient(url=settings.qdrant_url, api_key=settings.qdrant_api_key, timeout=30)
        try:
            client.get_collections()
        except (ResponseHandlingException, UnexpectedResponse, OSError) as exc:
            raise StoreError(f"cannot reach the Qdrant server at {settings.qdrant_url}: {exc}") from exc
        return client
    settings.qdrant_path.mkdir(parents=True, exist_ok=True)
    try:
        return QdrantClient(path=str(settings.qdrant_path))
    except RuntimeError as exc:
        if "already accessed" in str(exc):
            raise StoreLockedError(
                f"the knowledge base in {settings.qdrant_path} is open in another process (often the running "
                "dashboard). Stop that process, or use a Qdrant server (set QDRANT_URL) for concurrent access."
            ) from exc
        raise


class VectorStore:
    """The operations ingest, retrieval and the pages need, over any QdrantClient."""

    def __init__(self, client: QdrantClient, embedder: EmbedderInfo) -> None:
        self.client = client
        self.embedder = embedder

    def ensure_collection(self, name: str) -> bool:
        """Create the collection if missing (returns True then); refuse one made by another embedder."""
        if self.client.collection_exists(name):
            self.check(name)
            return False
        self.client.create_collection(
            name,
            vectors_config=qm.VectorParams(size=self.embedder.dim, distance=qm.Distance.COSINE),
            metadata={"embedder": self.embedder.id, "dim": self.embedder.dim},
        )
        with warnings.catch_warnings():  # local mode ignores payload indexes (and says so); servers use it
            warnings.simplefilter("ignore", UserWarning)
            self.client.create_payload_index(name, "source", qm.PayloadSchemaType.KEYWORD)
        return True

    def check(self, name: str) -> None:
        if not self.client.collection_exists(name):
            known = ", ".join(self.names()) or "none yet"
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

    def names(self) -> list[str]:
        return sorted(c.name for c in self.client.get_collections().collections)

    def existing_ids(self, name: str, ids: list[str]) -> set[str]:
        if not ids:
            return set()
        return {str(p.id) for p in self.client.retrieve(name, ids=ids, with_payload=False, with_vectors=False)}

    def replace_source(self, name: str, source: str, chunks: list[dict], vectors: list[list[float]],
                       keep_ids: list[str]) -> None:
        """Upsert a document's new chunks, then drop its chunks that are no longer produced."""
        if chunks:
            self.client.upsert(
                name,
                points=[qm.PointStruct(id=c["id"], vector=v, payload=c["payload"]) for c, v in zip(chunks, vectors, strict=True)],
                wait=True,
            )
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

    def delete_collection(self, name: str) -> None:
        self.client.delete_collection(name)

    def count(self, name: str) -> int:
        return self.client.count(name, exact=True).count

    def search(self, name: str, vector: list[float], limit: int) -> list[StoredChunk]:
        self.check(name)
        hits = self.client.query_points(name, query=vector, limit=limit, with_payload=True).points
        return [_to_chunk(str(h.id), h.payload or {}, h.score) for h in hits]

    def scroll(self, name: str, limit: int = 10_000) -> list[StoredChunk]:
        points, _ = self.client.scroll(name, limit=limit, with_payload=True, with_vectors=False)
        return [_to_chunk(str(p.id), p.payload or {}, 0.0) for p in points]

    def describe(self) -> list[CollectionInfo]:
        infos = []
        for name in self.names():
            meta = self.client.get_collection(name).config.metadata or {}
            sources = {c.source for c in self.scroll(name)}
            infos.append(CollectionInfo(name, self.count(name), len(sources), str(meta.get("embedder", "?"))))
        return infos


def _to_chunk(point_id: str, payload: dict, score: float) -> StoredChunk:
    return StoredChunk(id=point_id, score=score, **{k: payload[k] for k in StoredChunk.model_fields if k in payload and k not in ("id", "score")})
