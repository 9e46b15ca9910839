"""BM25-style sparse vectors for hybrid retrieval, computed offline.

fastembed's `Qdrant/bm25` normally downloads a folder holding only a stopword list; we ship that folder
(`ingest/bm25`: an empty `config.json` and our own `english.txt`), so it loads without a hub. It lowercases,
drops punctuation and stopwords, Snowball-stems (py-rust-stemmers) and hashes each stem to an index.
Documents get BM25 term-frequency weights; queries get 1 per term; the collection's IDF modifier
supplies the inverse document frequency at query time, so adding documents never re-weights old ones.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from qdrant_client import models as qm

MODEL_DIR = Path(__file__).with_name("bm25")
MODEL_ID = "fastembed:Qdrant/bm25+english-stopwords"  # recorded on collections: queries must use the same encoder


@cache
def _model():
    from fastembed import SparseTextEmbedding

    return SparseTextEmbedding("Qdrant/bm25", specific_model_path=str(MODEL_DIR), language="english")


def terms(text: str) -> list[str]:
    """The stems a text is indexed by (what matches between a query and a chunk)."""
    model = _model().model
    return model._stem(model.tokenizer.tokenize(text.lower()))  # noqa: SLF001 - the exact steps embed() uses


def encode_documents(texts: list[str]) -> list[qm.SparseVector]:
    return [_to_qdrant(e) for e in _model().embed(texts, batch_size=256)]


def encode_query(text: str) -> qm.SparseVector:
    return _to_qdrant(next(iter(_model().query_embed(text))))


def _to_qdrant(embedding) -> qm.SparseVector:
    return qm.SparseVector(indices=embedding.indices.tolist(), values=embedding.values.astype(float).tolist())
