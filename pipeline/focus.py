"""Read less: the retrieved passages cut to the sentences that can hold the answer, before the model reads them.

An answer's time is nearly all the model reading its prompt (docs/benchmarks.md, "Where an answer's seconds go"). So
the prompt carries, of each passage, only the sentences that match the question best (the cheap reranker's mix of
BM25 and dense cosine, applied to sentences), each with the sentence before and after so that a pronoun keeps its
name, merged per passage in document order, under a budget of tokens. Every kept piece keeps its chunk and character
span: citations show what was sent, and the grounding check still reads its quote window from the whole chunk. The
budget was chosen on tuning questions only (docs/benchmarks.md, "Reading less").
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from langchain_core.embeddings import Embeddings
from pydantic import BaseModel

from ingest.chunking import tokenizer_for
from ingest.embedder import EmbedderUnavailableError
from ingest.store import StoredChunk
from pipeline.sentences import sentence_spans
from pipeline.rerank import LEXICAL_WEIGHT, bm25_scores
from settings import Settings

GAP = " … "  # between two kept pieces of one passage that are not adjacent

Span = tuple[int, int]
Counter = Callable[[str], int]


class Excerpt(BaseModel):
    """What the model reads of one retrieved chunk: its kept spans, in document order (the whole chunk when unfocused)."""

    number: int  # the block's [n]: the chunk's rank among everything retrieved, kept when other blocks are left out
    chunk: StoredChunk
    spans: list[Span]

    @property
    def text(self) -> str:
        return GAP.join(self.chunk.text[start:end] for start, end in self.spans)

    @property
    def whole(self) -> bool:
        return self.spans == [(0, len(self.chunk.text))]


def whole(chunks: list[StoredChunk]) -> list[Excerpt]:
    """Every chunk in full: what the model read before focusing (and reads with a budget of 0)."""
    return [Excerpt(number=n, chunk=c, spans=[(0, len(c.text))]) for n, c in enumerate(chunks, start=1)]


def token_counter(settings: Settings) -> Counter:
    """Tokens as the bundled embedder's tokenizer counts them (close to the answering models' for English prose);
    about four characters a token when it is not installed (an OpenAI embedder)."""
    try:
        return tokenizer_for(settings).count
    except EmbedderUnavailableError:
        return lambda text: -(-len(text) // 4)


class Sentences(BaseModel):
    """Every sentence of the retrieved chunks, with how well it matches the question and what it costs to read."""

    model_config = {"arbitrary_types_allowed": True}

    chunks: list[StoredChunk]
    where: list[tuple[int, Span]]  # (chunk index, span in its text)
    scores: np.ndarray
    costs: list[int]


def score_sentences(question: str, chunks: list[StoredChunk], embedder: Embeddings, count: Counter) -> Sentences:
    """Split the chunks into sentences and score each against the question (one embedding call for all of them)."""
    where = [(ci, span) for ci, chunk in enumerate(chunks) for span in sentence_spans(chunk.text)]
    texts = [chunks[ci].text[start:end] for ci, (start, end) in where]
    scores = sentence_scores(question, texts, embedder) if texts else np.zeros(0, dtype=np.float32)
    return Sentences(chunks=chunks, where=where, scores=scores, costs=[count(text) for text in texts])


def focus(question: str, chunks: list[StoredChunk], embedder: Embeddings, budget: int, count: Counter,
          neighbours: int = 1) -> list[Excerpt]:
    """The excerpts the model reads: best-matching sentences with `neighbours` either side, up to `budget` tokens.
    A budget of 0 keeps every chunk whole (and scores nothing)."""
    if budget <= 0:
        return whole(chunks)
    return select(score_sentences(question, chunks, embedder, count), budget, neighbours)


def select(table: Sentences, budget: int, neighbours: int = 1) -> list[Excerpt]:
    """Sentences best first, each with its window; a window that no longer fits is skipped for a smaller one further
    down, and the best one always goes in. Chunks with nothing kept are left out."""
    chunks, sentences, costs = table.chunks, table.where, table.costs
    if not sentences:
        return whole(chunks)
    scores = table.scores
    kept: set[int] = set()
    used = 0
    for i in np.argsort(-scores, kind="stable"):
        window = [j for j in range(i - neighbours, i + neighbours + 1)
                  if 0 <= j < len(sentences) and sentences[j][0] == sentences[i][0] and j not in kept]
        cost = sum(costs[j] for j in window)
        if kept and used + cost > budget:
            continue
        kept.update(window)
        used += cost
    excerpts = []
    for ci, chunk in enumerate(chunks):
        spans = [sentences[j][1] for j in sorted(kept) if sentences[j][0] == ci]
        if spans:
            excerpts.append(Excerpt(number=ci + 1, chunk=chunk, spans=_merged(spans, chunk.text)))
    return excerpts


def sentence_scores(question: str, texts: list[str], embedder: Embeddings) -> np.ndarray:
    """LEXICAL_WEIGHT * BM25 over the sentences (scaled to 0-1 by the best) + the rest * cosine to the question."""
    vectors = np.asarray(embedder.embed_documents([question, *texts]), dtype=np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    cosine = vectors[1:] @ vectors[0]
    lexical = np.asarray(bm25_scores(question, texts), dtype=np.float32)
    return LEXICAL_WEIGHT * lexical / (lexical.max() or 1.0) + (1 - LEXICAL_WEIGHT) * cosine


def _merged(spans: list[Span], text: str) -> list[Span]:
    """Spans in order, neighbours joined into one (only whitespace between them)."""
    merged: list[Span] = []
    for start, end in spans:
        if merged and not text[merged[-1][1]:start].strip():
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged
