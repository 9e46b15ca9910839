"""What the bench scripts share: the SciFact corpus, JSONL files, a peak-memory probe, percentiles."""

from __future__ import annotations

import json
import os
import resource
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

SCIFACT = Path(os.environ.get("FQA_SCIFACT", REPO.parent / "shared" / "data" / "scifact"))


def scifact_docs(limit: int) -> list[dict]:
    """The first `limit` abstracts as {"id", "title", "text"}."""
    docs = []
    with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            if len(docs) == limit:
                break
            row = json.loads(line)
            docs.append({"id": row["_id"], "title": row["title"], "text": row["text"]})
    return docs


def scifact_queries(limit: int) -> list[str]:
    with (SCIFACT / "queries.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line, _ in zip(handle, range(limit), strict=False)]


def read_jsonl(*paths: Path) -> list[dict]:
    """Every non-empty line of the files, in order, as a dict (data sets and earlier --out logs)."""
    return [json.loads(line) for path in paths for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@contextmanager
def peak_rss() -> Iterator[dict]:
    """Samples resident memory every 20 ms; yields a dict that gets `peak_mb` (above the start) on exit."""
    result, start, peak, done = {}, _rss_mb(), [0.0], threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], _rss_mb())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    began = time.perf_counter()
    try:
        yield result
    finally:
        done.set()
        thread.join()
        result["seconds"] = time.perf_counter() - began
        result["peak_mb"] = max(peak[0], _rss_mb()) - start


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]
