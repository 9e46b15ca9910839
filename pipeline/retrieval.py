"""Retrieval behind one call, whatever the toggles: dense, MMR or hybrid search, query expansion, reranking.

Order of the steps: expand the question into search queries (multi-query or HyDE) -> search each (dense or
hybrid, `fetch_k` deep when a later step chooses among candidates) -> fuse the rankings by reciprocal rank
-> pick `top_k` diverse ones (MMR) -> rerank. With MMR the reranker orders the diverse set MMR chose.

Every chunk returned carries `similarity`, the cosine between the question *as asked* and the chunk, in
every mode: the minimum-similarity gate compares against it, so the gate keeps its meaning when a toggle
changes the order or the scores (fusion and rerank scores are ranks, not similarities).
"""

from __future__ import annotations

import numpy as np
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.vectorstores.utils import maximal_marginal_relevance

from ingest.store import DENSE, StoredChunk, VectorStore
from pipeline.query_expansion import hypothetical_passage, paraphrases
from pipeline.rerank import rerank, similarity
from settings import Settings

RRF_K = 60  # the usual reciprocal-rank-fusion constant (Cormack et al. 2009; Qdrant uses the same)


def retrieve(settings: Settings, store: VectorStore, embedder: Embeddings, llm: BaseChatModel,
             question: str) -> list[StoredChunk]:
    """The `top_k` chunks for the question under the settings' retrieval toggles, best first."""
    name = settings.collection
    question_vector = embedder.embed_query(question)
    searches = _search_queries(settings, embedder, llm, question, question_vector)
    chooses = settings.retrieval_mode != "dense" or settings.rerank != "none" or len(searches) > 1
    depth = max(settings.fetch_k, settings.top_k) if chooses else settings.top_k
    rankings = [_search(settings, store, text, vector, depth) for text, vector in searches]
    candidates = rankings[0] if len(rankings) == 1 else reciprocal_rank_fusion(rankings)[:depth]
    if settings.query_expansion != "none" or settings.retrieval_mode == "mmr":
        vectors = stored_vectors(store, name, [c.id for c in candidates])
        candidates = [c.model_copy(update={"similarity": _cosine(question_vector, vectors[c.id])}) for c in candidates]
        if settings.retrieval_mode == "mmr":
            picked = maximal_marginal_relevance(np.asarray(question_vector), [vectors[c.id] for c in candidates],
                                                lambda_mult=settings.mmr_lambda, k=settings.top_k)
            candidates = [candidates[i] for i in picked]
    return rerank(settings.rerank, llm, question, candidates)[: settings.top_k]


def retrieval_config(settings: Settings) -> dict:
    """The retrieval toggles, recorded with every answer and evaluation run so runs can be compared."""
    return {"retrieval_mode": settings.retrieval_mode, "fetch_k": settings.fetch_k, "mmr_lambda": settings.mmr_lambda,
            "rerank": settings.rerank, "query_expansion": settings.query_expansion,
            "expansion_queries": settings.expansion_queries}


def best_similarity(chunks: list[StoredChunk]) -> float | None:
    """The highest question-chunk cosine among the chunks (what the minimum-score gate compares)."""
    return max((similarity(c) for c in chunks), default=None)


def below_gate(best: float | None, min_score: float) -> bool:
    """The score gate: nothing retrieved, or the best cosine under `min_score`, means abstain without the model."""
    return best is None or best < min_score


def reciprocal_rank_fusion(rankings: list[list[StoredChunk]]) -> list[StoredChunk]:
    """Merge rankings: each chunk scores sum(1 / (RRF_K + rank)) over the rankings that hold it."""
    fused: dict[str, float] = {}
    first: dict[str, StoredChunk] = {}
    for ranking in rankings:
        for rank, chunk in enumerate(ranking, start=1):
            fused[chunk.id] = fused.get(chunk.id, 0.0) + 1.0 / (RRF_K + rank)
            first.setdefault(chunk.id, chunk)
    order = sorted(fused, key=fused.__getitem__, reverse=True)
    return [first[i].model_copy(update={"score": fused[i]}) for i in order]


def stored_vectors(store: VectorStore, name: str, ids: list[str]) -> dict[str, list[float]]:
    """The dense vectors of these points, from either collection layout (named or single vector)."""
    points = store.client.retrieve(name, ids=ids, with_payload=False, with_vectors=True)
    return {str(p.id): p.vector[DENSE] if isinstance(p.vector, dict) else p.vector for p in points}


def _search_queries(settings: Settings, embedder: Embeddings, llm: BaseChatModel, question: str,
                    question_vector: list[float]) -> list[tuple[str, list[float]]]:
    """(keyword text, dense vector) per search: the question, plus rewrites, or a HyDE passage's vector."""
    if settings.query_expansion == "multi":
        rewrites = paraphrases(llm, question, settings.expansion_queries, settings)
        return [(question, question_vector)] + [(q, embedder.embed_query(q)) for q in rewrites]
    if settings.query_expansion == "hyde":
        passage = hypothetical_passage(llm, question)
        return [(question, embedder.embed_query(passage) if passage else question_vector)]
    return [(question, question_vector)]


def _search(settings: Settings, store: VectorStore, text: str, vector: list[float], limit: int) -> list[StoredChunk]:
    if settings.retrieval_mode == "hybrid":
        return store.hybrid_search(settings.collection, vector, text, limit, prefetch_limit=max(limit, settings.fetch_k))
    return store.search(settings.collection, vector, limit)


def _cosine(a: list[float], b: list[float]) -> float:
    u, v = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    return float(u @ v / ((np.linalg.norm(u) * np.linalg.norm(v)) or 1.0))
