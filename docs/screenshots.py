"""Re-take the README's Ask, Tune and question log screenshots from what data/ holds (runs.sqlite, questions.sqlite).

    .venv/bin/python docs/screenshots.py --ask QUESTION --sweep SWEEP_ID --ladder LADDER_ID --curve RUN_ID --log ENTRY_ID

Serves the dashboard like the browser tests do (set FQA_DATA_DIR to read another data folder), opens the Tune page in
headless Chromium and saves the sweep heatmaps (docs/tune_heatmaps.png), the ladder chart (docs/tune_ladder.png) and
one run's answer-check curve (docs/tune_answer_check.png); then the Question log page with one logged answer opened
(docs/question_log.png). The ids are those `python -m evaluation sweep|ladder` and `bench/abstention.py --save-run`
print (the Tune page's selectboxes show them too) and the log page's `#` column. `--ask` asks the question on the Ask
page with the configured models (the LLM server must be running) and saves the checked answer (docs/ask.png).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path[0] = str(DOCS.parent)

from tests.browser import chromium_page, running_dashboard, wait_idle  # noqa: E402

CHART = '[data-testid="stPlotlyChart"]'


def save_tab_chart(page, tab: str, path: Path) -> None:  # noqa: ANN001 - a Playwright page
    """Open a Tune tab and save its one visible chart once plotly has drawn it."""
    page.get_by_role("tab", name=tab).click()
    chart = page.get_by_test_id("stTabs").locator(CHART).filter(visible=True)
    chart.wait_for(timeout=60_000)
    page.wait_for_timeout(2_000)
    chart.screenshot(path=str(path))
    print(f"saved {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", help="sweep id: saves docs/tune_heatmaps.png")
    parser.add_argument("--ladder", help="ladder id: saves docs/tune_ladder.png")
    parser.add_argument("--curve", metavar="RUN_ID", help="run id: saves docs/tune_answer_check.png")
    parser.add_argument("--log", metavar="ENTRY_ID", help="logged answer to open: saves docs/question_log.png")
    parser.add_argument("--ask", metavar="QUESTION", help="question to ask on the Ask page: saves docs/ask.png")
    args = parser.parse_args()
    query = {"sweep": args.sweep, "ladder": args.ladder, "run": args.curve, "gate": args.curve and "answer_check"}
    with running_dashboard() as url, chromium_page(height=2600) as page:  # tall: charts below the fold stay blank
        if any(query.values()):
            page.goto(f"{url}/tune?" + "&".join(f"{k}={v}" for k, v in query.items() if v))
            page.get_by_role("tab", name="Sweep heatmaps").wait_for(timeout=120_000)
        if args.sweep:
            page.locator(CHART).nth(3).wait_for(timeout=120_000)  # four heatmaps
            page.get_by_test_id("stDataFrame").first.wait_for(timeout=60_000)  # the cells' table, below the charts
            page.wait_for_timeout(5_000)  # plotly and the table's canvas finish drawing after the elements appear
            page.get_by_test_id("stTabs").screenshot(path=str(DOCS / "tune_heatmaps.png"))
            print(f"saved {DOCS / 'tune_heatmaps.png'}")
        for wanted, tab, name in ((args.ladder, "Optimisation ladder", "tune_ladder.png"),
                                  (args.curve, "Coverage trade-offs", "tune_answer_check.png")):
            if wanted:
                save_tab_chart(page, tab, DOCS / name)
        if args.log:
            save_log(page, url, args.log)
        if args.ask:
            save_ask(page, url, args.ask)


def save_log(page, url: str, entry_id: str) -> None:  # noqa: ANN001 - a Playwright page
    """The Question log page, the table and one answer opened (down to its feedback), once everything has drawn."""
    page.set_viewport_size({"width": 1280, "height": 1760})
    page.goto(f"{url}/log?q={entry_id}")
    page.locator(".st-key-log-drilldown [data-testid='stFeedback']").wait_for(timeout=120_000)
    wait_idle(page)
    page.wait_for_timeout(5_000)  # the table's canvas and the widgets finish drawing after the elements appear
    page.screenshot(path=str(DOCS / "question_log.png"))
    print(f"saved {DOCS / 'question_log.png'}")


def save_ask(page, url: str, question: str) -> None:  # noqa: ANN001 - a Playwright page
    """The Ask page with one question asked and its checked answer shown, the first citation opened."""
    page.set_viewport_size({"width": 1300, "height": 1500})
    page.goto(url)
    page.get_by_label("Question").fill(question, timeout=120_000)  # the first open loads the embedder
    page.get_by_role("button", name="Ask").click()
    page.get_by_test_id("stFeedback").wait_for(timeout=600_000)  # its thumbs show once the answer is checked
    wait_idle(page)
    page.get_by_test_id("stExpander").filter(has_text="chunk").first.locator("summary").click()
    page.wait_for_timeout(2_000)
    page.screenshot(path=str(DOCS / "ask.png"))
    print(f"saved {DOCS / 'ask.png'}")


if __name__ == "__main__":
    main()
