"""Retrieval quality per toggle on the SQuAD 2.0 sample: hit@1 / hit@k of the gold paragraph, and seconds.

    .venv/bin/python bench/rerank.py --limit 30
    .venv/bin/python bench/rerank.py --limit 30 --configs dense,cheap,hybrid,hybrid+cheap

The 411 paragraphs of ../shared/data/squad2/corpus.jsonl are written as one .txt file each and ingested
by the product's ingest path (chunking, dense + BM25 vectors) into Qdrant (in memory, or in `--qdrant-path`
so a second run skips the embedding: unchanged files are not re-embedded); the first
`--limit` answerable questions are asked under each configuration. A hit is a retrieved chunk from the
question's gold paragraph. The LLM configurations use the configured answering model (FQA_LLM_MODEL).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # the repo, so bench/rerank.py does not shadow modules

from qdrant_client import QdrantClient  # noqa: E402

from ingest.embedder import embedder_info, make_embedder  # noqa: E402
from ingest.ingestor import ingest_files, sources_for  # noqa: E402
from ingest.store import VectorStore  # noqa: E402
from pipeline.llm import make_chat_model  # noqa: E402
from pipeline.retrieval import retrieve  # noqa: E402
from settings import Settings  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SQUAD = Path(os.environ.get("FQA_SQUAD2", REPO.parent / "shared" / "data" / "squad2"))
CONFIGS = {  # name -> settings overrides
    "dense": {},
    "mmr": {"retrieval_mode": "mmr"},
    "cheap": {"rerank": "cheap"},
    "llm": {"rerank": "llm"},
    "hybrid": {"retrieval_mode": "hybrid"},
    "hybrid+cheap": {"retrieval_mode": "hybrid", "rerank": "cheap"},
    "hybrid+llm": {"retrieval_mode": "hybrid", "rerank": "llm"},
    "multi": {"query_expansion": "multi"},
    "hyde": {"query_expansion": "hyde"},
}


class FallbackCounter(logging.Handler):
    """Counts the pipeline's "failed ... falling back" warnings: LLM numbers mean little if the judge fell back."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def answerable_questions(limit: int) -> list[dict]:
    rows = [json.loads(line) for line in (SQUAD / "qa.jsonl").open(encoding="utf-8")]
    return [r for r in rows if r["answerable"]][:limit]


def ingest_corpus(store: VectorStore, embedder, settings: Settings, folder: Path) -> str:  # noqa: ANN001
    """Each paragraph as `squad2/<context_id>.txt`, so a chunk's source names its gold paragraph."""
    root = folder / "squad2"
    root.mkdir()
    for line in (SQUAD / "corpus.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        (root / f"{row['id']}.txt").write_text(row["text"], encoding="utf-8")
    report = ingest_files(store, embedder, sources_for(root), settings.collection, settings.chunk_size,
                          settings.chunk_overlap)
    return report.summary()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=30, help="answerable questions asked (default 30)")
    parser.add_argument("--configs", default="dense,cheap,llm,hybrid,hybrid+cheap",
                        help=f"comma-separated, from: {', '.join(CONFIGS)}")
    parser.add_argument("--top-k", type=int, default=4)
    parser.add_argument("--fetch-k", type=int, default=10)
    parser.add_argument("--qdrant-path", type=Path, help="keep the ingested corpus in this folder between runs")
    args = parser.parse_args(argv)
    names = args.configs.split(",")
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        parser.error(f"unknown configs {unknown}; choose from {', '.join(CONFIGS)}")

    base = Settings().with_overrides(collection="squad2", top_k=args.top_k, fetch_k=args.fetch_k)
    embedder = make_embedder(base)
    client = QdrantClient(path=str(args.qdrant_path)) if args.qdrant_path else QdrantClient(":memory:")
    store = VectorStore(client, embedder_info(base))
    llm = make_chat_model(base)
    questions = answerable_questions(args.limit)
    with tempfile.TemporaryDirectory() as folder:
        began = time.perf_counter()
        print(f"{ingest_corpus(store, embedder, base, Path(folder))} in {time.perf_counter() - began:.0f} s", flush=True)

    print(f"{len(questions)} answerable questions, top_k={args.top_k}, fetch_k={args.fetch_k}, "
          f"LLM {base.llm_model}")
    print(f"{'config':<14}{'hit@1':>8}{f'hit@{args.top_k}':>8}{'MRR':>8}{'s/question':>12}{'LLM fallbacks':>15}")
    results = {}
    fallbacks = FallbackCounter()
    logging.getLogger("pipeline").addHandler(fallbacks)
    for name in names:
        config = base.with_overrides(**CONFIGS[name])
        fallbacks.count = 0
        hits1 = hitsk = rr = 0.0
        began = time.perf_counter()
        for q in questions:
            gold = f"squad2/{q['context_id']}.txt"
            ranks = [i for i, c in enumerate(retrieve(config, store, embedder, llm, q["question"]), 1) if c.source == gold]
            hits1 += bool(ranks) and ranks[0] == 1
            hitsk += bool(ranks)
            rr += 1 / ranks[0] if ranks else 0.0
        seconds = (time.perf_counter() - began) / len(questions)
        n = len(questions)
        results[name] = (hits1 / n, hitsk / n, rr / n, seconds, fallbacks.count)
        print(f"{name:<14}{hits1 / n:>8.2f}{hitsk / n:>8.2f}{rr / n:>8.3f}{seconds:>12.2f}{fallbacks.count:>15}", flush=True)
    client.close()
    print("SUMMARY " + f"n={len(questions)} k={args.top_k} fetch_k={args.fetch_k} | " + " | ".join(
        f"{name}: hit@1 {h1:.2f} hit@k {hk:.2f} MRR {mrr:.3f} {s:.1f}s/q{f' ({fb} LLM fallbacks)' if fb else ''}"
        for name, (h1, hk, mrr, s, fb) in results.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
