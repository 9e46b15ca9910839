"""Embedders behind LangChain's `Embeddings` interface, so the pipeline, Ragas and LangChain share one.

Default: the bundled int8 all-MiniLM-L6-v2 ONNX model through fastembed, loaded from the local model
cache (`make run` fetches it; no hub access). `FQA_EMBEDDING_PROVIDER=openai` switches to OpenAI.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
from langchain_core.embeddings import Embeddings

from ops.models import embedder_dir
from settings import Settings

if TYPE_CHECKING:
    import onnxruntime as ort

MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_DIM = 384


class EmbedderUnavailableError(RuntimeError):
    """The embedding model cannot be loaded (not installed yet, or the provider is misconfigured)."""


@dataclass(frozen=True)
class EmbedderInfo:
    """What a collection records about the embedder that filled it."""

    id: str
    dim: int


class FastEmbedEmbeddings(Embeddings):
    """fastembed over a local ONNX folder; sorts by length so batches pad less (measured ~2x on mixed chunks).

    A single query runs on a session of its own: one thread, no spin-waiting. fastembed's 2-thread session
    (right for ingest batches) took 50 / 80 ms p50 / p95 for a 21-token query on the loaded 2-core machine
    against 29 / 45 ms for this one: each op waits for its slowest thread, and idle threads that spin after a
    run steal the core the search that follows needs. fastembed's own per-call overhead is under 1 ms.
    That session costs ≈ 90 MB of memory, so it is made at the first query (an ingest never makes it).
    """

    def __init__(self, model_dir: str, threads: int = 2, batch_size: int = 32, query_threads: int = 1) -> None:
        from fastembed import TextEmbedding

        self._model = TextEmbedding(model_name=MINILM_NAME, specific_model_path=model_dir, threads=threads)
        self._batch_size = batch_size
        self._model_dir = model_dir
        self._query_threads = query_threads
        self._tokenizer = self._model.model.tokenizer  # fastembed's: same truncation (256 tokens), no padding for one text

    @cached_property
    def _query_session(self) -> ort.InferenceSession:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = options.inter_op_num_threads = self._query_threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(f"{self._model_dir}/model.onnx", sess_options=options,
                                    providers=["CPUExecutionProvider"])

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = self._model.embed([texts[i] for i in order], batch_size=self._batch_size)
        out: list[list[float]] = [[] for _ in texts]
        for i, vec in zip(order, vectors, strict=True):
            out[i] = vec.tolist()
        return out

    def embed_query(self, text: str) -> list[float]:
        """What embed_documents([text])[0] returns (mean pooling over the tokens, L2-normalised), minus its
        batching, on the single-query session."""
        encoding = self._tokenizer.encode(text)
        ids = np.array([encoding.ids], dtype=np.int64)
        hidden = self._query_session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids),
                                                "token_type_ids": np.zeros_like(ids)})[0]
        pooled = hidden[0].mean(axis=0, dtype=np.float64)
        return (pooled / max(np.linalg.norm(pooled), 1e-12)).astype(np.float32).tolist()


def embedder_info(settings: Settings) -> EmbedderInfo:
    if settings.embedding_provider == "openai":
        dims = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
        model = settings.openai_embedding_model
        if model not in dims:
            raise EmbedderUnavailableError(f"unknown OpenAI embedding model {model!r}; known: {', '.join(dims)}")
        return EmbedderInfo(f"openai:{model}", dims[model])
    return EmbedderInfo("fastembed:all-MiniLM-L6-v2-int8", MINILM_DIM)


def make_embedder(settings: Settings) -> Embeddings:
    if settings.embedding_provider == "openai":
        from langchain_openai import OpenAIEmbeddings

        return OpenAIEmbeddings(
            model=settings.openai_embedding_model, api_key=settings.openai_api_key, base_url=settings.openai_base_url
        )
    folder = embedder_dir(settings)
    if not (folder / "model.onnx").exists():
        raise EmbedderUnavailableError(
            f"the embedding model is not installed in {folder}. Run `make setup` (or `python -m ops.models`)."
        )
    return FastEmbedEmbeddings(str(folder))
