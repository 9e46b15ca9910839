"""Split documents into chunks that remember exactly where they came from (character offsets, for highlighting).

Three strategies, each keeping `text[start:end] == chunk.text`:
- recursive: LangChain's RecursiveCharacterTextSplitter, size and overlap in characters (the default);
- token: windows of the embedder's own WordPiece tokens, so no chunk is silently truncated by its 256-token window;
- markdown: LangChain's MarkdownHeaderTextSplitter finds the sections, each is then size-bounded recursively and
  its chunks carry the header path ("Rhine > Course").
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter
from pydantic import BaseModel, ConfigDict, Field, model_validator
from tokenizers import Tokenizer

from ingest.embedder import EmbedderUnavailableError
from ingest.loaders import LoadedDocument, LoadError
from ops.models import embedder_dir
from settings import Settings

Strategy = Literal["recursive", "token", "markdown"]
STRATEGIES: tuple[Strategy, ...] = ("recursive", "token", "markdown")
EMBEDDER_WINDOW = 256  # MiniLM's max sequence length, including [CLS] and [SEP]
MAX_CHUNK_TOKENS = EMBEDDER_WINDOW - 2
_HEADERS = [("#", "h1"), ("##", "h2"), ("###", "h3"), ("####", "h4")]
_ID_NAMESPACE = uuid.UUID("6f1c2a1e-3b0e-4c43-9a55-6a8f2b7c9d10")


class ChunkSpec(BaseModel):
    """How to chunk: strategy, size and overlap (characters, or tokens for the token strategy)."""

    model_config = ConfigDict(frozen=True)

    strategy: Strategy = "recursive"
    size: int = Field(default=600, ge=1)
    overlap: int = Field(default=80, ge=0)

    @model_validator(mode="after")
    def _fits(self) -> ChunkSpec:
        if self.overlap >= self.size:
            raise ValueError(f"chunk_overlap ({self.overlap}) must be smaller than chunk_size ({self.size})")
        if self.strategy == "token" and self.size > MAX_CHUNK_TOKENS:
            raise ValueError(f"token chunks must fit the embedder's {EMBEDDER_WINDOW}-token window: chunk_size "
                             f"{self.size} is above {MAX_CHUNK_TOKENS} (2 tokens are reserved for [CLS]/[SEP])")
        return self

    @property
    def label(self) -> str:
        return f"{self.strategy}-{self.size}-{self.overlap}"

    @property
    def unit(self) -> str:
        return "tokens" if self.strategy == "token" else "characters"


class TokenCounter:
    """The embedder's tokenizer (tokenizer.json), without truncation or padding, counting content tokens only."""

    def __init__(self, tokenizer_json: Path) -> None:
        self._tok = Tokenizer.from_file(str(tokenizer_json))
        self._tok.no_truncation()
        self._tok.no_padding()

    def count(self, text: str) -> int:
        return len(self._tok.encode(text, add_special_tokens=False).ids)

    def offsets(self, text: str) -> list[tuple[int, int]]:
        return self._tok.encode(text, add_special_tokens=False).offsets


@lru_cache(maxsize=4)
def token_counter(model_dir: Path) -> TokenCounter:
    """Loaded once per model folder (≈ 0.1 s)."""
    return TokenCounter(model_dir / "tokenizer.json")


def spec_of(settings: Settings) -> ChunkSpec:
    return ChunkSpec(strategy=settings.chunk_strategy, size=settings.chunk_size, overlap=settings.chunk_overlap)


def tokenizer_for(settings: Settings) -> TokenCounter:
    """The bundled embedder's tokenizer (token counts in previews, and the token strategy)."""
    path = embedder_dir(settings) / "tokenizer.json"
    if not path.exists():
        raise EmbedderUnavailableError(f"the embedder's tokenizer is not installed ({path}). Run `make setup`.")
    return token_counter(path.parent)


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
    headers: str = ""  # markdown header path, "A > B"

    def payload(self, spec: ChunkSpec, ingested_at: str) -> dict:
        return {
            "text": self.text,
            "document_id": document_id(self.source),
            "source": self.source,
            "title": self.title,
            "chunk_index": self.chunk_index,
            "start": self.start,
            "end": self.end,
            "content_hash": self.content_hash,
            "headers": self.headers,
            "chunk_strategy": spec.strategy,
            "chunk_size": spec.size,
            "chunk_overlap": spec.overlap,
            "ingested_at": ingested_at,
        }


def document_id(source: str) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, source))


def _spans_recursive(text: str, size: int, overlap: int, offset: int = 0) -> list[tuple[int, int]]:
    splitter = RecursiveCharacterTextSplitter(chunk_size=size, chunk_overlap=overlap, add_start_index=True,
                                              strip_whitespace=True)
    spans = []
    for part in splitter.create_documents([text]):
        start = offset + int(part.metadata["start_index"])
        spans.append((start, start + len(part.page_content)))
    return spans


def _spans_token(text: str, size: int, overlap: int, counter: TokenCounter) -> list[tuple[int, int]]:
    """Windows of `size` tokens stepping by size - overlap; each window re-counted so it never exceeds size."""
    offsets = counter.offsets(text)
    spans, first = [], 0
    while first < len(offsets):
        last = min(first + size, len(offsets)) - 1
        # a window cut inside a word can re-tokenize differently on its own: shrink until it fits
        while last > first and counter.count(text[offsets[first][0]:offsets[last][1]]) > size:
            last -= 1
        spans.append((offsets[first][0], offsets[last][1]))
        if last == len(offsets) - 1:
            break
        first = max(first + 1, last + 1 - overlap)
    return spans


def _sections(text: str) -> list[tuple[int, int, str]]:
    """Markdown sections as (start, end, header path), located in the original text.

    The splitter rewrites whitespace, so each section is found again by its header line and its last line;
    a header with no text of its own (e.g. "## Tickets" right before "### Adults") goes with the next section.
    """
    parts = MarkdownHeaderTextSplitter(_HEADERS, strip_headers=False).split_text(text)
    found: list[tuple[int, str, str]] = []  # (header position, header path, last line)
    cursor = 0
    for part in parts:
        path = " > ".join(part.metadata[key] for _, key in _HEADERS if key in part.metadata)
        lines = part.page_content.split("\n")
        header = re.compile(rf"^[ \t]*{re.escape(lines[0].strip())}[ \t]*$", re.M).search(text, cursor) \
            if lines[0].lstrip().startswith("#") else None
        if header:
            found.append((header.start(), path, lines[-1].strip()))
            cursor = header.end()
        elif not found:
            found.append((0, path, lines[-1].strip()))  # text before the first header
        else:
            found[-1] = (*found[-1][:2], lines[-1].strip())
    sections, start = [], 0
    for i, (pos, path, last) in enumerate(found):
        limit = found[i + 1][0] if i + 1 < len(found) else len(text)
        at = text.rfind(last, pos, limit) if last else -1
        end = len(text) if i + 1 == len(found) else (at + len(last) if at >= 0 else limit)
        sections.append((start, end, path))
        start = end
    return sections or [(0, len(text), "")]


def chunk_spans(text: str, spec: ChunkSpec, counter: TokenCounter | None = None) -> list[tuple[int, int, str]]:
    """(start, end, header path) of every chunk of `text` under `spec`."""
    if spec.strategy == "token":
        if counter is None:
            raise ValueError("the token strategy needs the embedder's tokenizer")
        return [(s, e, "") for s, e in _spans_token(text, spec.size, spec.overlap, counter)]
    if spec.strategy == "markdown":
        return [(s, e, path) for start, end, path in _sections(text)
                for s, e in _spans_recursive(text[start:end], spec.size, spec.overlap, offset=start)]
    return [(s, e, "") for s, e in _spans_recursive(text, spec.size, spec.overlap)]


def chunk_document(doc: LoadedDocument, spec: ChunkSpec, counter: TokenCounter | None = None) -> list[Chunk]:
    chunks = []
    for index, (start, end, headers) in enumerate(chunk_spans(doc.text, spec, counter)):
        text = doc.text[start:end]
        digest = hashlib.sha256(text.encode()).hexdigest()
        chunk_id = str(uuid.uuid5(_ID_NAMESPACE, f"{doc.source}\x00{start}\x00{digest}"))
        chunks.append(Chunk(chunk_id, doc.source, doc.title, index, start, end, text, digest, headers))
    return chunks


def fewest_chunks(text: str, spec: ChunkSpec) -> int:
    """A lower bound on the chunks `text` makes, without chunking it: every non-space character lies in some chunk
    of at most `size` characters (token strategy: every word is at least one token of a chunk of at most `size`)."""
    units = len(text.split()) if spec.strategy == "token" else len(re.sub(r"\s+", "", text))
    return -(-units // spec.size)


def chunk_within(docs: list[LoadedDocument], spec: ChunkSpec, counter: TokenCounter | None, max_chunks: int,
                 name: str) -> list[Chunk]:
    """The chunks of a file's documents, or a LoadError once they are sure to pass `max_chunks`
    (FQA_MAX_CHUNKS_PER_FILE): each document is measured with `fewest_chunks` before it is chunked, so a huge text is
    refused before its chunks are made."""
    too_many = LoadError(f"{name}: more than {max_chunks:,} chunks at chunk size {spec.size} {spec.unit}, the limit "
                         "per file (FQA_MAX_CHUNKS_PER_FILE); not read. Split it, choose larger chunks, or raise "
                         "FQA_MAX_CHUNKS_PER_FILE")
    chunks: list[Chunk] = []
    for doc in docs:
        if len(chunks) + fewest_chunks(doc.text, spec) > max_chunks:
            raise too_many
        chunks += chunk_document(doc, spec, counter)
        if len(chunks) > max_chunks:
            raise too_many
    return chunks
