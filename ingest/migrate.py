"""Copy the knowledge base of earlier versions (qdrant-client local mode) into the edge engine.

Earlier versions stored collections in <data_dir>/qdrant with qdrant-client's local mode; the default
embedded engine is now qdrant-edge in <data_dir>/qdrant-edge, which cannot read that folder. Nothing is
re-embedded: points keep their ids, dense vectors and payloads; BM25 vectors are recomputed from the chunk
text, so collections of the older single-vector layout serve hybrid search afterwards. The old folder is
left untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from qdrant_client import QdrantClient

from ingest.embedder import EmbedderInfo
from ingest.store import DENSE, VectorStore
from ingest.store_edge import EdgeClient


@dataclass(frozen=True)
class Migrated:
    name: str
    chunks: int
    status: Literal["copied", "already there", "skipped"]
    reason: str = ""


def migrate_local(source: Path, target: EdgeClient, page_size: int = 500) -> list[Migrated]:
    """Copy every collection of the local-mode store in `source` that `target` lacks; one result per collection."""
    local = QdrantClient(path=str(source))
    try:
        return [_copy(local, target, name, page_size) for name in sorted(c.name for c in local.get_collections().collections)]
    finally:
        local.close()


def _copy(local: QdrantClient, target: EdgeClient, name: str, page_size: int) -> Migrated:
    count = local.count(name, exact=True).count
    if target.collection_exists(name):
        return Migrated(name, count, "already there")
    meta = local.get_collection(name).config.metadata or {}
    if "embedder" not in meta or "dim" not in meta:
        return Migrated(name, count, "skipped", "no embedder recorded on it (not made by this app)")
    embedder = EmbedderInfo(str(meta["embedder"]), int(meta["dim"]))
    old, new = VectorStore(local, embedder), VectorStore(target, embedder)
    old.page_size = page_size
    new.ensure_collection(name)
    try:
        page: list = []
        for point in old.points(name, with_payload=True, with_vectors=True):
            page.append(point)
            if len(page) == page_size:
                _write(new, name, page)
                page = []
        _write(new, name, page)
        if new.count(name) != count:
            raise RuntimeError(f"copied {new.count(name)} of {count} chunks")
    except BaseException:
        new.delete_collection(name)  # a half-copied collection would look complete next time
        raise
    return Migrated(name, count, "copied")


def _write(store: VectorStore, name: str, points: list) -> None:
    vectors = [p.vector[DENSE] if isinstance(p.vector, dict) else p.vector for p in points]
    store.upsert(name, [{"id": str(p.id), "payload": p.payload or {}} for p in points], vectors)
