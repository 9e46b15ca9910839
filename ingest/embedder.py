"""Embedders behind LangChain's `Embeddings` interface, so the pipeline, Ragas and LangChain share one.

Default: the bundled int8 all-MiniLM-L6-v2 ONNX model through fastembed, loaded from the local model
cache (`make run` fetches it; no hub access). `FQA_EMBEDDING_PROVIDER=openai` switches to OpenAI.
"""

from __future__ import annotations

from dataclasses import dataclass

from langchain_core.embeddings import Embeddings

from ops.models import embedder_dir
from settings import Settings

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
    """fastembed over a local ONNX folder; sorts by length so batches pad less (measured ~2x on mixed chunks)."""

    def __init__(self, model_dir: str, threads: int = 2, batch_size: int = 32) -> None:
        from fastembed import TextEmbedding

        self._model = TextEmbedding(model_name=MINILM_NAME, specific_model_path=model_dir, threads=threads)
        self._batch_size = batch_size

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = self._model.embed([texts[i] for i in order], batch_size=self._batch_size)
        out: list[list[float]] = [[] for _ in texts]
        for i, vec in zip(order, vectors, strict=True):
            out[i] = vec.tolist()
        return out

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


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
