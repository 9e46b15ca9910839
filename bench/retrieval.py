"""Query latency (embed + search, dense and hybrid, and search alone) and write rates of the embedded engines.

    .venv/bin/python bench/retrieval.py --points 10000 100000 --queries 30

SYNTHETIC POINTS: embedding 100k real chunks takes hours here, so for each chunk count the store is filled
with real SciFact chunks embedded once (`--seed-docs`), replicated with a little noise on the dense vectors
(cosine ~0.9 to their seed; texts and BM25 vectors repeat). Engines: qdrant-edge on disk as the app opens it
(`open_client`, the default engine), before and after `VectorStore.optimize`, and qdrant-client local mode
in memory for reference (on disk it searches the same way, after loading every point). Write rates go
through VectorStore.replace_source (dense + BM25) into on-disk stores (`--write-sample` points).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # the repo, so bench/ingest.py does not shadow `ingest`

import numpy as np  # noqa: E402
from qdrant_client import QdrantClient  # noqa: E402
from qdrant_client import models as qm  # noqa: E402

from bench.common import percentile, scifact_docs, scifact_queries  # noqa: E402
from ingest import sparse  # noqa: E402
from ingest.embedder import embedder_info, make_embedder  # noqa: E402
from ingest.store import DENSE, SPARSE, VectorStore, open_client  # noqa: E402
from settings import Settings  # noqa: E402

NAME = "bench"


def seed_chunks(embedder, docs: int) -> tuple[list[str], np.ndarray, list[qm.SparseVector]]:
    texts = [f"{d['title']}\n\n{d['text']}"[:600] for d in scifact_docs(docs)]
    return texts, np.asarray(embedder.embed_documents(texts), dtype=np.float32), sparse.encode_documents(texts)


def synthetic_points(n: int, texts: list[str], vectors: np.ndarray, sparses: list[qm.SparseVector],
                     rng: np.random.Generator, start: int = 0) -> list[qm.PointStruct]:
    """Seed chunks repeated, each copy's vector nudged (cosine to its seed ~0.9) so neighbours stay realistic."""
    picks = rng.integers(0, len(texts), n)
    noisy = vectors[picks] + rng.normal(0, 0.025, (n, vectors.shape[1])).astype(np.float32)
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    return [qm.PointStruct(id=str(uuid.UUID(int=start + i + 1)), vector={DENSE: noisy[i].tolist(), SPARSE: sparses[p]},
                           payload={"text": texts[p], "source": f"doc{(start + i) // 3}", "title": "", "chunk_index": i % 3,
                                    "start": 0, "end": len(texts[p])})
            for i, p in enumerate(picks)]


def write_rate(store: VectorStore, texts: list[str], vectors: np.ndarray, count: int) -> float:
    """Points/s through replace_source (computes BM25, upserts, drops stale chunks), 50-chunk documents."""
    store.ensure_collection(NAME)
    began = time.perf_counter()
    for first in range(0, count, 50):
        idx = [i % len(texts) for i in range(first, min(count, first + 50))]
        chunks = [{"id": str(uuid.UUID(int=first + k + 1)), "payload": {"text": texts[i], "source": f"w{first}", "title": "",
                                                                          "chunk_index": k, "start": 0, "end": 1}}
                  for k, i in enumerate(idx)]
        store.replace_source(NAME, f"w{first}", chunks, vectors[idx].tolist(), keep_ids=[c["id"] for c in chunks])
    return count / (time.perf_counter() - began)


def latencies(store: VectorStore, embedder, queries: list[str]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"dense": [], "hybrid": [], "dense_search": [], "hybrid_search": []}
    for query in queries:
        t0 = time.perf_counter()
        vector = embedder.embed_query(query)
        t1 = time.perf_counter()
        store.search(NAME, vector, 4)
        t2 = time.perf_counter()
        store.hybrid_search(NAME, vector, query, 4, prefetch_limit=20)
        t3 = time.perf_counter()
        out["dense"].append(t2 - t0)
        out["hybrid"].append((t1 - t0) + (t3 - t2))
        out["dense_search"].append(t2 - t1)
        out["hybrid_search"].append(t3 - t2)
    return out


def fill(store: VectorStore, points: list[qm.PointStruct]) -> float:
    store.ensure_collection(NAME)
    began = time.perf_counter()
    for first in range(0, len(points), 1000):
        store.client.upsert(NAME, points=points[first:first + 1000], wait=True)
    return len(points) / (time.perf_counter() - began)


def ms(values: list[float], q: float) -> float:
    return 1000 * percentile(values, q)


def load() -> str:
    """The 1-minute load average: the machine is shared, so every latency is read beside it."""
    return f"load {os.getloadavg()[0]:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, nargs="+", default=[10_000], help="chunk counts to measure at")
    parser.add_argument("--queries", type=int, default=30, help="SciFact queries timed per engine and size")
    parser.add_argument("--seed-docs", type=int, default=300, help="real chunks embedded to derive the points from")
    parser.add_argument("--local-max", type=int, default=10_000,
                        help="largest count local mode is timed at (brute force: ~400 ms a query at 100k, RECIPES)")
    parser.add_argument("--write-sample", type=int, default=500, help="points written through replace_source per engine")
    args = parser.parse_args()
    settings = Settings()
    info = embedder_info(settings)
    embedder = make_embedder(settings)
    texts, vectors, sparses = seed_chunks(embedder, args.seed_docs)
    embedder.embed_query("warm-up")  # the query session is made at the first query: not a latency to time
    queries = scifact_queries(args.queries)
    work = Path(tempfile.mkdtemp(prefix="fqa-bench-retrieval-"))

    local_disk = open_client(Settings(data_dir=work / "write", qdrant_engine="local"))
    edge_disk = open_client(Settings(data_dir=work / "write", qdrant_engine="edge"))
    writes = {"local": write_rate(VectorStore(local_disk, info), texts, vectors, args.write_sample),
              "edge": write_rate(VectorStore(edge_disk, info), texts, vectors, args.write_sample)}
    local_disk.close()
    edge_disk.close()
    print(f"write through replace_source, {args.write_sample} points on disk: "
          f"local {writes['local']:.0f} points/s, edge {writes['edge']:.0f} points/s")

    summary = [f"write local={writes['local']:.0f}/s edge={writes['edge']:.0f}/s"]
    rng = np.random.default_rng(0)
    for n in args.points:
        points = synthetic_points(n, texts, vectors, sparses, rng)
        engines: list[tuple[str, VectorStore, float]] = []
        if n <= args.local_max:
            local = VectorStore(QdrantClient(":memory:"), info)
            engines.append(("local (qdrant-client)", local, fill(local, points)))
        edge_client = open_client(Settings(data_dir=work / f"edge-{n}", qdrant_engine="edge"))
        edge = VectorStore(edge_client, info)
        engines.append(("edge", edge, fill(edge, points)))
        rows = [(label, store, rate, latencies(store, embedder, queries)) for label, store, rate in engines]
        loads = [load()]
        began = time.perf_counter()
        edge.optimize(NAME)
        optimize_s = time.perf_counter() - began
        rows.append((f"edge after optimize ({optimize_s:.1f} s)", edge, 0.0, latencies(edge, embedder, queries)))
        loads.append(load())
        print(f"\n{n} chunks ({len(texts)} real chunks replicated with noise), {len(queries)} queries, top-4 "
              f"(hybrid: 20 per prefetch), latency in ms; {loads[0]} before optimizing, {loads[1]} after")
        print(f"  {'engine':34} {'fill pts/s':>10} {'dense p50':>9} {'p95':>6} {'hybrid p50':>10} {'p95':>6}"
              f" {'search-only dense p50/p95':>26} {'hybrid p50/p95':>15}")
        for label, _, rate, lat in rows:
            print(f"  {label:34} {rate:10.0f} {ms(lat['dense'], 50):9.1f} {ms(lat['dense'], 95):6.1f}"
                  f" {ms(lat['hybrid'], 50):10.1f} {ms(lat['hybrid'], 95):6.1f}"
                  f" {ms(lat['dense_search'], 50):17.1f}/{ms(lat['dense_search'], 95):<8.1f}"
                  f" {ms(lat['hybrid_search'], 50):7.1f}/{ms(lat['hybrid_search'], 95):.1f}")
        lat = {label.split(" ")[0] + ("_opt" if "optimize" in label else ""): values for label, _, _, values in rows}
        summary.append(f"n={n}: " + "; ".join(
            f"{kind} p95 " + " ".join(f"{engine}={ms(values[kind], 95):.1f}ms" for engine, values in lat.items())
            for kind in ("dense", "hybrid", "dense_search")) + f"; optimize {optimize_s:.0f}s; {', '.join(loads)}")
        for _, store, _, _ in rows[:-1]:
            store.client.close()
    print(f"\nSUMMARY (synthetic: {len(texts)} real chunks replicated with noise) " + " | ".join(summary))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
