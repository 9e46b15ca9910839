"""Several people at once: 1, 4 and 8 headless-Chromium sessions on one dashboard, each asking its own question.

    .venv/bin/python bench/load.py --sessions 1 4 8

`samples/kb` is ingested into a temporary data folder and `streamlit run app.py` serves it on a free loopback
port, against the configured LLM endpoint (the bundled llama-server unless OPENAI_BASE_URL says otherwise). For
each session count, that many browser contexts (separate Streamlit sessions) open the Ask page together, each
types a different answerable question of the sample set and clicks Ask at the same moment. Per count it prints:
how many sessions got a checked answer; how many showed another session's question (mixed up) or no answer card
headed by their own question; how many showed an error (a lock error, "already accessed", a
traceback: the one embedded store and the one model are shared by every session); how many answers hold the
question's reference answer (a check that an answer is about its own question, not asserted: the answering model
is sometimes wrong); the p50 / p95 from click to checked answer; and the peak resident memory (RSS, sampled every
0.5 s) of the dashboard process and of the LLM server (the router and its model processes). Bounded: loopback only,
at most 8 sessions, each waits at most `--timeout` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

sys.path[0] = str(Path(__file__).resolve().parent.parent)

from playwright.async_api import async_playwright  # noqa: E402

from bench.common import percentile, read_jsonl  # noqa: E402
from settings import Settings  # noqa: E402
from tests.browser import CHROMIUM, CHROMIUM_ARGS, running_dashboard  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DONE = re.compile(r"\d+/\d+ claims supported")  # the badge of a checked answer (annotate, the default policy)
FAILED = re.compile(r"already accessed|locked|is open in another process|Traceback|Error:", re.I)
MAX_SESSIONS = 8


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _read(pid: int, name: str) -> str:
    try:
        with open(f"/proc/{pid}/{name}", "rb") as handle:
            return handle.read().decode(errors="replace")
    except OSError:
        return ""


def _rss_mb(pid: int) -> float:
    match = re.search(r"VmRSS:\s+(\d+) kB", _read(pid, "status"))
    return int(match.group(1)) / 1024 if match else 0.0


def _tree(root: int) -> list[int]:
    """`root` and every process descended from it (the router and the model processes it started)."""
    parents = {pid: int(_read(pid, "stat").rsplit(")", 1)[-1].split()[1] or 0) for pid in _pids() if _read(pid, "stat")}
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return sorted(tree)


def _serving(port: int, program: str) -> int | None:
    """The pid of `program` started with `--port N` or `--server.port N` (the oldest, if several)."""
    flag = re.compile(rf"--(server\.)?port\x00{port}\x00")
    found = [pid for pid in _pids() if program in (cmd := _read(pid, "cmdline")) and flag.search(cmd + "\x00")]
    return min(found) if found else None


@contextmanager
def peak_memory(roots: dict[str, int | None]) -> Iterator[dict[str, float]]:
    """Peak RSS (MB) of each named process tree while the block runs, sampled every 0.5 s."""
    peaks = {name: 0.0 for name, pid in roots.items() if pid}
    stop = threading.Event()

    def sample() -> None:
        while True:
            for name, pid in roots.items():
                if pid:
                    peaks[name] = max(peaks[name], sum(_rss_mb(p) for p in _tree(pid)))
            if stop.wait(0.5):
                return

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peaks
    finally:
        stop.set()
        thread.join()


async def ask(browser, url: str, question: str, others: list[str], start: asyncio.Event,  # noqa: ANN001
              timeout_s: float) -> dict:
    """One session: open the Ask page, wait for the common start, ask, wait for the checked answer (or an error)."""
    context = await browser.new_context(viewport={"width": 1280, "height": 1200})
    page = await context.new_page()
    try:
        await page.goto(url)
        await page.get_by_label("Question").fill(question, timeout=60_000)
        await start.wait()
        clicked = time.perf_counter()
        await page.get_by_role("button", name="Ask").click()
        badge, alert = page.get_by_text(DONE).first, page.get_by_test_id("stAlertContentError").first
        await badge.or_(alert).wait_for(timeout=timeout_s * 1000)
        seconds = time.perf_counter() - clicked
        main = page.get_by_test_id("stMain")
        text = await main.inner_text()
        headings = [h.strip() for h in await main.locator("strong").all_inner_texts()]
        error = await alert.inner_text() if await alert.count() else ""
        crashed = await page.get_by_test_id("stException").count() > 0
        return {"ok": not error and await badge.count() > 0, "seconds": seconds, "error": error,
                "mixed": any(other in text for other in others), "own": question in headings,
                "failure_text": crashed or bool(FAILED.search(text)), "text": text}
    except Exception as exc:  # noqa: BLE001 - a bench reports every failure as a row, never stops midway
        return {"ok": False, "seconds": None, "mixed": False, "own": False, "failure_text": False, "text": "",
                "error": f"{type(exc).__name__}: {str(exc)[:160]}"}
    finally:
        await context.close()


async def round_of(url: str, questions: list[str], timeout_s: float) -> list[dict]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            start = asyncio.Event()
            tasks = [asyncio.create_task(ask(browser, url, q, [o for o in questions if o != q], start, timeout_s))
                     for q in questions]
            await asyncio.sleep(8 + len(questions))  # every page loaded and its question typed
            start.set()
            return await asyncio.gather(*tasks)
        finally:
            await browser.close()


def _reference_found(reference: str, text: str) -> bool:
    squash = lambda s: " ".join(re.sub(r"[^\w]+", " ", s.lower()).split())  # noqa: E731
    return bool(reference) and squash(reference) in squash(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 4, 8], help=f"session counts (each 1-{MAX_SESSIONS})")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds a session waits for its answer")
    parser.add_argument("--set", type=Path, default=REPO / "samples" / "eval" / "sample.jsonl")
    args = parser.parse_args(argv)
    if any(not 1 <= n <= MAX_SESSIONS for n in args.sessions):
        parser.error(f"--sessions takes counts from 1 to {MAX_SESSIONS}")
    items = [r for r in read_jsonl(args.set) if r.get("answerable")]
    if len(items) < max(args.sessions):
        parser.error(f"{args.set} has {len(items)} answerable questions; the largest round needs {max(args.sessions)}")
    llm_port = urlparse(Settings().openai_base_url).port
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        subprocess.run([sys.executable, "-m", "ingest", "samples/kb", "--collection", "sample"], cwd=REPO, check=True,
                       env={**os.environ, "FQA_DATA_DIR": str(data)}, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        with running_dashboard(FQA_DATA_DIR=str(data)) as url:
            roots = {"dashboard": _serving(urlparse(url).port, "streamlit"),
                     "LLM server": _serving(llm_port, "llama-server")}
            for n in args.sessions:
                batch = items[:n]  # every session its own question; rounds share the first ones (cache as in use)
                with peak_memory(roots) as peaks:
                    rows = asyncio.run(round_of(url, [r["question"] for r in batch], args.timeout))
                times = [r["seconds"] for r in rows if r["ok"]]
                timing = (f"p50 {statistics.median(times):.1f} s, p95 {percentile(times, 95):.1f} s"
                          if times else "no answers")
                refs = sum(_reference_found(item.get("reference") or "", r["text"]) for item, r in zip(batch, rows))
                memory = ", ".join(f"{name} {mb:.0f} MB" for name, mb in peaks.items())
                print(f"{n} session(s) at once: {len(times)}/{n} answered, {sum(r['mixed'] for r in rows)} mixed up, "
                      f"{sum(not r['own'] for r in rows)} without a card for their own question, "
                      f"{sum(bool(r['error']) or r['failure_text'] for r in rows)} errors; reference in the answer "
                      f"{refs}/{n}; click to checked answer {timing}; peak RSS {memory}", flush=True)
                for r in rows:
                    if r["error"] or r["failure_text"]:
                        print(f"  error: {r['error'] or r['text'][:200]}", flush=True)
    print(f"total {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
