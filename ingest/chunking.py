"""Split documents into chunks that remember where they came from (character offsets, for highlighting)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from ingest.loaders import LoadedDocument

_ID_NAMESPACE = uuid.UUID("6f1c2a1e-3b0e-4c43-9a55-6a8f2b7c9d10")


@dataclass(frozen=True)
class Chunk:
    id: str  # uuid derived from document + position + content: re-ingesting the same text gives the same id
    source: str
    title: str
    chunk_index: int
    start: int
    end: int
    text: str
    content_hash: str

    def payload(self, chunk_size: int, chunk_overlap: int, ingested_at: str) -> dict:
        return {
            "text": self.text,
            "source": self.source,
            "title": self.title,
            "chunk_index": self.chunk_index,
            "start": self.start,
            "end": self.end,
            "content_hash": self.content_hash,
            "chunk_size": chunk_size,
            "chunk_overlap": chunk_overlap,
            "ingested_at": ingested_at,
        }


def chunk_document(doc: LoadedDocument, chunk_size: int, chunk_overlap: int) -> list[Chunk]:
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=chunk_size, chunk_overlap=chunk_overlap, add_start_index=True, strip_whitespace=True
    )
    chunks = []
    for index, part in enumerate(splitter.create_documents([doc.text])):
        text = part.page_content
        start = int(part.metadata["start_index"])
        digest = hashlib.sha256(text.encode()).hexdigest()
        chunk_id = str(uuid.uuid5(_ID_NAMESPACE, f"{doc.source}\x00{start}\x00{digest}"))
        chunks.append(Chunk(chunk_id, doc.source, doc.title, index, start, start + len(text), text, digest))
    return chunks
