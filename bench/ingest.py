"""Ingest throughput on the same chunks: raw embedder vs this pipeline vs a naive LangChain peer.

    .venv/bin/python bench/ingest.py --docs 500 [--engine local|edge]

The pipeline ingests N SciFact abstracts written as .txt files (load, chunk, embed, dense + BM25
vectors, upsert into the embedded engine on disk). The chunks it produced are then embedded by fastembed
alone (the ceiling) and stored by `QdrantVectorStore.from_documents` with the same embedder (the peer).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # the repo, so bench/ingest.py does not shadow `ingest`

from langchain_core.documents import Document  # noqa: E402
from langchain_qdrant import QdrantVectorStore  # noqa: E402
from qdrant_client import QdrantClient  # noqa: E402

from bench.common import max_rss_mb, peak_rss, scifact_docs  # noqa: E402
from ingest.embedder import MINILM_NAME, embedder_info, make_embedder  # noqa: E402
from ingest.ingestor import ingest_files, sources_for  # noqa: E402
from ingest.store import VectorStore  # noqa: E402
from ingest.store_edge import EdgeClient  # noqa: E402
from ops.models import embedder_dir  # noqa: E402
from settings import Settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=500, help="SciFact abstracts to ingest (corpus has 5,183)")
    parser.add_argument("--engine", choices=["local", "edge"], default="local", help="embedded engine of the pipeline")
    args = parser.parse_args()
    settings = Settings()
    embedder = make_embedder(settings)
    embedder.embed_documents(["warm up the ONNX session"])
    work = Path(tempfile.mkdtemp(prefix="fqa-bench-ingest-"))
    folder = work / "scifact"
    folder.mkdir()
    for doc in scifact_docs(args.docs):
        (folder / f"{doc['id']}.txt").write_text(f"{doc['title']}\n\n{doc['text']}\n", encoding="utf-8")

    client = EdgeClient(work / "pipeline") if args.engine == "edge" else QdrantClient(path=str(work / "pipeline"))
    store = VectorStore(client, embedder_info(settings))
    with peak_rss() as pipe:
        report = ingest_files(store, embedder, sources_for(folder), "bench", settings.chunk_size, settings.chunk_overlap)
    texts = [c.text for c in store.scroll("bench", limit=1_000_000)]
    client.close()
    assert not report.failed, report.failed[:3]

    from fastembed import TextEmbedding

    raw_model = TextEmbedding(model_name=MINILM_NAME, specific_model_path=str(embedder_dir(settings)), threads=2)
    with peak_rss() as raw:
        for _ in raw_model.embed(texts, batch_size=32):
            pass

    with peak_rss() as naive:
        peer = QdrantVectorStore.from_documents([Document(page_content=t) for t in texts], embedder,
                                                path=str(work / "naive"), collection_name="naive")
    peer.client.close()

    n = len(texts)
    rows = [("raw fastembed (embed only)", raw), (f"this pipeline, {args.engine} engine", pipe),
            ("naive LangChain from_documents", naive)]
    print(f"{args.docs} SciFact abstracts -> {n} chunks (size {settings.chunk_size}, overlap {settings.chunk_overlap})")
    for label, run in rows:
        print(f"  {label:46} {n / run['seconds']:7.1f} chunks/s  {run['seconds']:7.1f} s  peak +{run['peak_mb']:.0f} MB RSS")
    rate = {label: n / run["seconds"] for label, run in rows}
    raw_rate, pipe_rate, naive_rate = rate.values()
    print(f"SUMMARY engine={args.engine} docs={args.docs} chunks={n} raw={raw_rate:.1f}/s pipeline={pipe_rate:.1f}/s naive={naive_rate:.1f}/s "
          f"pipeline/raw={pipe_rate / raw_rate:.2f} pipeline/naive={pipe_rate / naive_rate:.2f} "
          f"pipeline_peak=+{pipe['peak_mb']:.0f}MB process_max_rss={max_rss_mb():.0f}MB")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
