"""Does ingest memory stay flat as the corpus grows? Peak RSS of one ingest run at N and at 4N documents.

    .venv/bin/python bench/ingest_memory.py --docs 2500 10000 [--vectors cold]

Each size runs in a fresh subprocess (its ru_maxrss is that run's peak alone). Documents are SciFact abstracts
written as .txt files, replicated with a copy number past the corpus's 5,183. Loading, chunking, BM25 sparse
vectors and the qdrant-edge writes are the pipeline's own; the dense embedder is a stand-in that hashes text into
384-d vectors (langchain's DeterministicFakeEmbedding), because fastembed needs about an hour for 10,000
abstracts on this machine and its memory is the model plus one batch, the same at any corpus size.

Peak RSS (ru_maxrss) counts the engine's memory-mapped files too: pages of its vector, payload and index files
that the process has touched are resident until the kernel needs the memory back, and they come back from disk.
"heap" is the peak of anonymous RSS (/proc/self/status RssAnon, sampled every 20 ms), memory only the process
holds; an ingest needs that much RAM, the rest is page cache it can do without at the cost of disk reads.
`--vectors cold` makes the collection with qdrant-edge's Memory.Cold for dense vectors instead of its default
(ingest/store_edge.py says why the store keeps the default).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # the repo, so bench/ does not shadow `ingest`

from langchain_core.embeddings import DeterministicFakeEmbedding  # noqa: E402

import qdrant_edge as qe  # noqa: E402

from bench.common import scifact_docs  # noqa: E402
from ingest import store_edge  # noqa: E402
from ingest.embedder import embedder_info  # noqa: E402
from ingest.ingestor import ingest_configured, sources_for  # noqa: E402
from ingest.store import VectorStore, open_client  # noqa: E402
from settings import Settings  # noqa: E402

CORPUS = 5183


def write_corpus(folder: Path, n: int) -> None:
    docs = scifact_docs(min(n, CORPUS))
    for i in range(n):
        doc, copy = docs[i % len(docs)], i // len(docs)
        suffix = f" (copy {copy})" if copy else ""
        (folder / f"{doc['id']}-{copy}.txt").write_text(f"{doc['title']}{suffix}\n\n{doc['text']}\n", encoding="utf-8")


def anon_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child(n: int) -> dict:
    """One ingest of n documents into a fresh edge store; this process's peak RSS and peak heap."""
    peak_anon = [anon_mb()]

    def sample() -> None:
        while True:
            peak_anon[0] = max(peak_anon[0], anon_mb())
            time.sleep(0.02)

    threading.Thread(target=sample, daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="fqa-bench-mem-") as tmp:
        work = Path(tmp)
        (work / "docs").mkdir()
        write_corpus(work / "docs", n)
        settings = Settings(data_dir=work / "data")
        client = open_client(settings)
        try:
            store = VectorStore(client, embedder_info(settings))
            embedder = DeterministicFakeEmbedding(size=embedder_info(settings).dim)
            started = time.perf_counter()
            report = ingest_configured(settings, store, embedder, sources_for(work / "docs"), "memory")
            seconds = time.perf_counter() - started
            chunks = store.count("memory")
        finally:
            client.close()
    return {"docs": n, "chunks": chunks, "failed": len(report.failed), "seconds": round(seconds, 1),
            "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1), "heap_mb": round(peak_anon[0], 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, nargs="+", default=[2500, 10000], help="corpus sizes to compare")
    parser.add_argument("--vectors", choices=["default", "cold"], default="default",
                        help="memory tier of the dense vectors (the store uses the engine's default, Cached)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        store_edge.VECTOR_MEMORY = qe.Memory.Cold if args.vectors == "cold" else None
        print(json.dumps(child(args.child)))
        return 0
    results = []
    print(f"dense vectors {args.vectors}; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for n in args.docs:
        out = subprocess.run([sys.executable, __file__, "--child", str(n), "--vectors", args.vectors], capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = results[-1]
        print(f"{r['docs']:>6} documents  {r['chunks']:>6} chunks  {r['failed']} failed  peak RSS {r['peak_mb']:.0f} MB (heap {r['heap_mb']:.0f} MB)  "
              f"{r['seconds']:.0f} s")
    small, large = results[0], results[-1]
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"summary: peak RSS {small['peak_mb']:.0f} MB at {small['docs']} documents, {large['peak_mb']:.0f} MB at "
          f"{large['docs']} ({large['peak_mb'] / small['peak_mb']:.2f}x for {large['docs'] / small['docs']:.0f}x the corpus); heap "
          f"{small['heap_mb']:.0f} MB -> {large['heap_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
