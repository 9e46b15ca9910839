"""Hostile documents inside the size limits: what a small file costs an ingest with the per-file budgets off (as before
issue 21) and on (the defaults), each case in a fresh process.

    .venv/bin/python bench/hostile.py

Cases: a 4 kB PDF naming one page 90,000 times (FQA_MAX_PDF_PAGES) and a 1.5 MB CSV of 200,000 short rows
(FQA_MAX_ROWS_PER_FILE), and the same files cut to the default budgets (2,000 pages, 20,000 rows), which are read:
the most such a file can still cost. All go through `ingest_configured`, the CLI's and the page's function, into a fresh embedded
store, with an embedder that refuses to embed: what is measured is reading, chunking and preparing the chunks, all of
which happens before the first vector. CPU is the process's user + system seconds during the ingest; memory is its
peak RSS during the ingest (VmHWM, reset just before) minus its RSS just before. The peer is the same file with the
budgets off, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # the repo, so bench/ does not shadow `ingest`

from ingest.embedder import embedder_info  # noqa: E402
from ingest.ingestor import ingest_configured  # noqa: E402
from ingest.store import VectorStore, open_client  # noqa: E402
from settings import Settings  # noqa: E402
from tests.pdf import write_pdf_repeated_page  # noqa: E402

OFF = {"max_pdf_pages": 10**9, "max_rows_per_file": 10**9, "max_chunks_per_file": 10**9, "max_extract_seconds": 1e9}


def rows(folder: Path, n: int) -> Path:
    path = folder / "rows.csv"
    path.write_text("text\n" + "".join(f"r{i}\n" for i in range(n)))
    return path


# the two reproductions of issue 21, and files just inside the default budgets: the most one file may still cost
CASES = {"pdf-90000-pages": lambda folder: write_pdf_repeated_page(folder / "pages.pdf", 300),
         "csv-200000-rows": lambda folder: rows(folder, 200_000),
         "pdf-2000-pages": lambda folder: write_pdf_repeated_page(folder / "pages.pdf", 40, 50),
         "csv-20000-rows": lambda folder: rows(folder, 20_000)}


class RefusingEmbedder:
    """Stops the ingest at its first vector: what came before is what the budgets bound."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise RuntimeError(f"not embedding {len(texts)} chunks (bench)")


def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def child(case: str, budgets: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="fqa-bench-hostile-") as tmp:
        work = Path(tmp)
        path = CASES[case](work)
        settings = Settings(data_dir=work / "data", **(OFF if budgets == "off" else {}))
        client = open_client(settings)
        try:
            store = VectorStore(client, embedder_info(settings))
            Path("/proc/self/clear_refs").write_text("5")  # peak RSS from here on
            rss_before = status_kb("VmRSS")
            usage, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            report = ingest_configured(settings, store, RefusingEmbedder(), [(path, path.name)], "hostile")
            after, seconds = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - started
        finally:
            client.close()
        [outcome] = report.outcomes
        return {"case": case, "budgets": budgets, "bytes": path.stat().st_size, "seconds": round(seconds, 2),
                "cpu_s": round(after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime, 2),
                "peak_mb": round((status_kb("VmHWM") - rss_before) / 1024, 1), "reason": outcome.reason[:150]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--child", nargs=2, metavar=("CASE", "BUDGETS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for case in args.cases:
        found = {}
        for budgets in ("off", "on"):
            out = subprocess.run([sys.executable, __file__, "--child", case, budgets], capture_output=True, text=True,
                                 check=True)
            found[budgets] = r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{case:>16} ({r['bytes']:,} bytes) budgets {budgets:>3}: CPU {r['cpu_s']:6.2f} s, wall "
                  f"{r['seconds']:6.2f} s, peak +{r['peak_mb']:6.1f} MB  | {r['reason']}")
        off, on = found["off"], found["on"]
        print(f"{case:>16}: budgets on use {on['cpu_s'] / max(off['cpu_s'], 0.01):.3f}x the CPU and "
              f"{on['peak_mb'] / max(off['peak_mb'], 0.1):.3f}x the peak memory of budgets off")
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
