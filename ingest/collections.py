"""Names for per-configuration collections, so chunking configs can be compared side by side."""

from __future__ import annotations

import re

from ingest.chunking import ChunkSpec
from settings import identifier


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def collection_name(base: str, embedder_id: str, strategy: str, size: int, overlap: int) -> str:
    """Deterministic, readable: ("sample", "fastembed:all-MiniLM-L6-v2-int8", "recursive", 600, 80) ->
    "sample__all-minilm-l6-v2-int8__recursive-600-80" (the provider prefix is dropped). Always an identifier
    (settings.identifier): the parts are slugs, cut short enough that the whole fits."""
    spec = ChunkSpec(strategy=strategy, size=size, overlap=overlap)
    name = f"{_slug(base)[:40] or 'kb'}__{_slug(embedder_id.split(':', 1)[-1])[:40] or 'embedder'}__{spec.label}"
    return identifier(name, "collection")
