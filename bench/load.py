"""Several people asking at once: N headless-Chromium sessions on one dashboard, each with its own question.

    .venv/bin/python bench/sessions.py --sessions 1 4

`samples/kb` is ingested into a temporary data folder and `streamlit run app.py` serves it on a free loopback
port, against the configured LLM endpoint (the bundled llama-server unless OPENAI_BASE_URL says otherwise). For
each session count, that many browser contexts (separate Streamlit sessions) open the Ask page together, each
types a different answerable question of the sample set and clicks Ask at the same moment. Printed per count:
how many sessions got a checked answer, how many showed another session's question or answer (mixed up), and the
p50 / p95 of click to checked answer. Bounded: loopback only, at most 8 sessions, each waits at most `--timeout`.
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
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

from playwright.async_api import async_playwright  # noqa: E402

from bench.common import percentile, read_jsonl  # noqa: E402
from tests.browser import CHROMIUM, CHROMIUM_ARGS, running_dashboard  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DONE = re.compile(r"\d+/\d+ claims supported")  # the badge of a checked answer (annotate, the default policy)


async def ask(browser, url: str, question: str, others: list[str], start: asyncio.Event,  # noqa: ANN001
              timeout_s: float) -> dict:
    """One session: open the Ask page, wait for the common start, ask, wait for the checked answer."""
    context = await browser.new_context(viewport={"width": 1280, "height": 1200})
    page = await context.new_page()
    try:
        await page.goto(url)
        await page.get_by_label("Question").fill(question, timeout=60_000)
        await start.wait()
        clicked = time.perf_counter()
        await page.get_by_role("button", name="Ask").click()
        await page.get_by_text(DONE).first.wait_for(timeout=timeout_s * 1000)
        seconds = time.perf_counter() - clicked
        text = await page.locator("[data-testid='stMain']").inner_text()
        return {"ok": True, "seconds": seconds, "mixed": any(other in text for other in others)}
    except Exception as exc:  # noqa: BLE001 - a bench reports every failure as a row, never stops midway
        return {"ok": False, "seconds": None, "mixed": False, "error": f"{type(exc).__name__}: {str(exc)[:120]}"}
    finally:
        await context.close()


async def round_of(url: str, questions: list[str], timeout_s: float) -> list[dict]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            start = asyncio.Event()
            tasks = [asyncio.create_task(ask(browser, url, q, [o for o in questions if o != q], start, timeout_s))
                     for q in questions]
            await asyncio.sleep(8)  # every page loaded and its question typed
            start.set()
            return await asyncio.gather(*tasks)
        finally:
            await browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 4], help="session counts (each 1-8)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds a session waits for its answer")
    parser.add_argument("--set", type=Path, default=REPO / "samples" / "eval" / "sample.jsonl")
    args = parser.parse_args(argv)
    if any(not 1 <= n <= 8 for n in args.sessions):
        parser.error("--sessions takes counts from 1 to 8")
    questions = [r["question"] for r in read_jsonl(args.set) if r.get("answerable")]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        subprocess.run([sys.executable, "-m", "ingest", "samples/kb", "--collection", "sample"], cwd=REPO, check=True,
                       env={**os.environ, "FQA_DATA_DIR": str(data)}, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        with running_dashboard(FQA_DATA_DIR=str(data)) as url:
            offset = 0
            for n in args.sessions:
                batch = questions[offset: offset + n]
                offset = (offset + n) % max(1, len(questions) - 8)
                rows = asyncio.run(round_of(url, batch, args.timeout))
                times = [r["seconds"] for r in rows if r["ok"]]
                timing = (f"p50 {statistics.median(times):.1f} s, p95 {percentile(times, 95):.1f} s"
                          if times else "no answers")
                print(f"{n} session(s) at once: {len(times)}/{n} answered, {sum(r['mixed'] for r in rows)} mixed up; "
                      f"click to checked answer {timing}")
                for r in rows:
                    if not r["ok"]:
                        print(f"  failed: {r['error']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
