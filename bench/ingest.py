"""Ingest throughput on the same chunks: raw embedder vs this pipeline vs a naive LangChain peer.

    .venv/bin/python bench/ingest.py --docs 500 [--engine edge|local] [--rounds 10]

N SciFact abstracts are written as .txt files. The pipeline ingests them (load, chunk, embed in batches
across files, dense + BM25 vectors, upsert into the embedded engine on disk). The same chunks (same loader
and chunker) are embedded by fastembed alone, unsorted, batch 32 (the ceiling), and stored by
`QdrantVectorStore.from_documents` / `add_documents` with the same embedder (the peer, local mode on disk).
The machine is shared (an LLM server runs), so the three take turns on the same slice of files, round after
round, and each one's time is summed: load swings hit all three alike and the ratios stay comparable.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # the repo, so bench/ingest.py does not shadow `ingest`

from langchain_core.documents import Document  # noqa: E402
from langchain_core.embeddings import Embeddings  # noqa: E402
from langchain_qdrant import QdrantVectorStore  # noqa: E402

from bench.common import max_rss_mb, peak_rss, scifact_docs  # noqa: E402
from ingest.chunking import ChunkSpec, chunk_document  # noqa: E402
from ingest.embedder import MINILM_NAME, embedder_info, make_embedder  # noqa: E402
from ingest.ingestor import ingest_files, sources_for  # noqa: E402
from ingest.loaders import load_documents  # noqa: E402
from ingest.store import VectorStore, open_client  # noqa: E402
from ops.models import embedder_dir  # noqa: E402
from settings import Settings  # noqa: E402


class Timed(Embeddings):
    """The pipeline's embedder, timing its calls: the rest of the pipeline's time is what overlap could hide."""

    def __init__(self, inner: Embeddings) -> None:
        self.inner, self.seconds = inner, 0.0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        began = time.perf_counter()
        try:
            return self.inner.embed_documents(texts)
        finally:
            self.seconds += time.perf_counter() - began

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=500, help="SciFact abstracts to ingest (corpus has 5,183)")
    parser.add_argument("--engine", choices=["edge", "local"], default="edge", help="embedded engine of the pipeline")
    parser.add_argument("--rounds", type=int, default=10, help="slices the three take turns on")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fqa-bench-ingest-"))
    settings = Settings(data_dir=work / "data", qdrant_engine=args.engine)
    spec = ChunkSpec(strategy="recursive", size=settings.chunk_size, overlap=settings.chunk_overlap)
    embedder = make_embedder(settings)
    embedder.embed_documents(["warm up the ONNX session"])
    folder = work / "scifact"
    folder.mkdir()
    for doc in scifact_docs(args.docs):
        (folder / f"{doc['id']}.txt").write_text(f"{doc['title']}\n\n{doc['text']}\n", encoding="utf-8")
    files = sources_for(folder)

    from fastembed import TextEmbedding

    raw_model = TextEmbedding(model_name=MINILM_NAME, specific_model_path=str(embedder_dir(settings)), threads=2)
    client = open_client(settings)
    store, timed = VectorStore(client, embedder_info(settings)), Timed(embedder)
    seconds = {"raw": 0.0, "pipeline": 0.0, "naive": 0.0}
    peaks = {"raw": 0.0, "pipeline": 0.0, "naive": 0.0}
    peer, chunks, failed = None, 0, []
    per_round = -(-len(files) // args.rounds)
    for first in range(0, len(files), per_round):
        batch = files[first:first + per_round]
        texts = [c.text for path, source in batch for doc in load_documents(path, source) for c in chunk_document(doc, spec)]
        chunks += len(texts)
        with peak_rss() as pipe:
            report = ingest_files(store, timed, batch, "bench", settings.chunk_size, settings.chunk_overlap)
        failed += report.failed
        with peak_rss() as raw:
            for _ in raw_model.embed(texts, batch_size=32):
                pass
        with peak_rss() as naive:
            documents = [Document(page_content=t) for t in texts]
            if peer is None:
                peer = QdrantVectorStore.from_documents(documents, embedder, path=str(work / "naive"), collection_name="naive")
            else:
                peer.add_documents(documents)
        for name, run in (("pipeline", pipe), ("raw", raw), ("naive", naive)):
            seconds[name] += run["seconds"]
            peaks[name] = max(peaks[name], run["peak_mb"])
        print(f"  round {first // per_round + 1}: {chunks} chunks so far, pipeline/raw {seconds['raw'] / seconds['pipeline']:.2f}, "
              f"pipeline/naive {seconds['naive'] / seconds['pipeline']:.2f}", flush=True)
    stored = store.count("bench")
    client.close()
    peer.client.close()
    assert not failed and stored == chunks, (failed[:3], stored, chunks)

    rate = {name: chunks / s for name, s in seconds.items()}
    print(f"{args.docs} SciFact abstracts -> {chunks} chunks (size {settings.chunk_size}, overlap {settings.chunk_overlap}), "
          f"{args.rounds} interleaved rounds")
    for name, label in (("raw", "raw fastembed (embed only, batch 32)"), ("pipeline", f"this pipeline, {args.engine} engine"),
                        ("naive", "naive LangChain from_documents")):
        print(f"  {label:46} {rate[name]:7.1f} chunks/s  {seconds[name]:7.1f} s  peak +{peaks[name]:.0f} MB RSS")
    outside = 1 - timed.seconds / seconds["pipeline"]
    print(f"  pipeline time outside embedding (what overlapping embed and upsert could hide at most): {outside:.0%}")
    print(f"SUMMARY engine={args.engine} docs={args.docs} chunks={chunks} raw={rate['raw']:.1f}/s "
          f"pipeline={rate['pipeline']:.1f}/s naive={rate['naive']:.1f}/s pipeline/raw={rate['pipeline'] / rate['raw']:.2f} "
          f"pipeline/naive={rate['pipeline'] / rate['naive']:.2f} outside_embedding={outside:.0%} "
          f"pipeline_peak=+{peaks['pipeline']:.0f}MB process_max_rss={max_rss_mb():.0f}MB")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
