"""A cheap-first sweep's retrieval stage on the bundled large sample set: how long it takes, and whether it separates.

    .venv/bin/python bench/screening.py [--set samples/eval/sample_large.jsonl] [--sizes 300,600] [--top-ks 2,4]

The sample knowledge base is ingested (the product's ingest path) into a temporary data folder once per chunking, then
`evaluation.sweep.run_cheap_first` screens every cell on every question with 0 finalists (no LLM call), three times in
the same run: as sweeps do (each question embedded once for all cells, `screening.QueryMemo`; rows stored
`SCREEN_BATCH` at a time), and two peers: embedding every question again in every cell, and that with one commit per
row (the code before). Printed: `make run`'s ingest of the sample (wall seconds, the `python -m ingest` command), the
stage's wall seconds of each (ratios peer / ours), each cell's reference-found rate and MRR with their 95 %
intervals, and which pairs of cells have intervals that do not overlap.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # the repo, so bench/ does not shadow modules

from evaluation import screening, sweep  # noqa: E402
from evaluation.evalset import load_eval_set  # noqa: E402
from evaluation.export import sweep_table  # noqa: E402
from evaluation.runner import Components  # noqa: E402
from evaluation.runstore import RunStore  # noqa: E402
from evaluation.screening import QueryMemo  # noqa: E402
from ingest.embedder import embedder_info, make_embedder  # noqa: E402
from ingest.store import VectorStore, open_client  # noqa: E402
from settings import Settings  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MEASURES = ("reference_found", "mrr")


def ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def separated(table, measure: str) -> list[tuple[str, str]]:
    """Pairs of cells whose 95 % intervals on `measure` do not overlap, the better first."""
    cells = table.to_dict("records")
    pairs = []
    for a, b in itertools.permutations(cells, 2):
        if a[f"{measure}_low"] > b[f"{measure}_high"]:
            pairs.append((a["name"], b["name"]))
    return pairs


def make_run_ingest(data: Path) -> float:
    """`make run`'s ingest of the sample (a process of its own, model loading included): wall seconds."""
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ingest", "samples/kb", "--collection", "sample"], cwd=REPO, check=True,
                   env={**os.environ, "FQA_DATA_DIR": str(data), "FQA_PROFILE": "none"}, capture_output=True)
    return time.perf_counter() - began


def retrieval_seconds(runs: RunStore, sweep_id: str) -> float:
    return sum(r.seconds or 0.0 for s in runs.screens_of(sweep_id) for r in runs.screen_rows(s.id))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, default=REPO / "samples" / "eval" / "sample_large.jsonl")
    parser.add_argument("--sizes", type=ints, default=[300, 600])
    parser.add_argument("--top-ks", type=ints, default=[2, 4])
    args = parser.parse_args()
    items = load_eval_set(args.set)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        print(f"make run's ingest of samples/kb: {make_run_ingest(data):.1f} s wall (python -m ingest, model load "
              f"included); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        settings = Settings(data_dir=data, profile="none", openai_base_url="http://127.0.0.1:9/v1")
        client = open_client(settings)
        try:
            store, embedder = VectorStore(client, embedder_info(settings)), make_embedder(settings)
            runs = RunStore(settings.runs_db)
            parts = Components(store=store, embedder=embedder, llm=None, judge=None, runs=runs)  # 0 finalists
            configs = sweep.grid(args.sizes, [80], args.top_ks)
            began = time.perf_counter()
            sweep.run_cheap_first(settings, configs, items[:1], "warm-up", parts, kb_root=REPO / "samples" / "kb",
                                  finalists=0)  # ingests each chunking once, so both timings below are retrieval only
            print(f"ingesting {len({c.overrides['chunk_size'] for c in configs})} chunkings for the sweep: "
                  f"{time.perf_counter() - began:.1f} s")
            timings = {}
            variants = {"ours: each question embedded once, rows stored 50 at a time": (True, screening.SCREEN_BATCH),
                        "peer 1: embedded in every cell, rows stored 50 at a time": (False, screening.SCREEN_BATCH),
                        "peer 2 (the code before): embedded in every cell, one commit per row": (False, 1)}
            for label, (memo, batch) in variants.items():
                sweep.QueryMemo = QueryMemo if memo else (lambda e: e)  # the peers: a pass-through, not the memo
                screening.SCREEN_BATCH = batch
                began = time.perf_counter()
                sweep_id, _ = sweep.run_cheap_first(settings, configs, items, args.set.name, parts,
                                                    kb_root=REPO / "samples" / "kb", finalists=0)
                timings[label] = (time.perf_counter() - began, retrieval_seconds(runs, sweep_id), sweep_id)
            sweep.QueryMemo, screening.SCREEN_BATCH = QueryMemo, 50
            for label, (wall, summed, _) in timings.items():
                print(f"stage 1, {len(configs)} cells × {len(items)} questions, {label}: {wall:.1f} s wall "
                      f"({summed:.1f} s summed over the retrievals)")
            ours, *peers = (wall for wall, _, _ in timings.values())
            print("ratios peer / ours: " + ", ".join(f"{peer / ours:.2f}" for peer in peers))
            table = sweep_table(runs, next(iter(timings.values()))[2]).sort_values("rank")
            for _, cell in table.iterrows():
                print(f"  #{cell['rank']:.0f} {cell['name']}: " + ", ".join(
                    f"{m} {cell[m]:.2f} [{cell[f'{m}_low']:.2f}, {cell[f'{m}_high']:.2f}]" for m in MEASURES))
            for measure in MEASURES:
                pairs = separated(table, measure)
                print(f"{measure}: {len(pairs)} pairs of cells whose intervals do not overlap"
                      + "".join(f"\n  {a} > {b}" for a, b in pairs))
        finally:
            client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
