"""Re-take the README's Tune screenshots from the runs stored in data/runs.sqlite.

    .venv/bin/python docs/screenshots.py --sweep SWEEP_ID --ladder LADDER_ID

Serves the dashboard like the browser tests do (set FQA_DATA_DIR to read another data folder), opens the Tune page in headless Chromium and saves the sweep
heatmaps (docs/tune_heatmaps.png) and the ladder chart (docs/tune_ladder.png). The ids are the sweep and ladder
ids `python -m evaluation sweep|ladder` print (the Tune page's selectboxes show them too).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path[0] = str(DOCS.parent)

from tests.browser import chromium_page, running_dashboard  # noqa: E402

CHART = '[data-testid="stPlotlyChart"]'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", help="sweep id: saves docs/tune_heatmaps.png")
    parser.add_argument("--ladder", help="ladder id: saves docs/tune_ladder.png")
    args = parser.parse_args()
    with running_dashboard() as url, chromium_page(height=1100) as page:
        page.goto(f"{url}/tune?" + "&".join(f"{k}={v}" for k, v in vars(args).items() if v))
        page.get_by_role("tab", name="Sweep heatmaps").wait_for(timeout=120_000)
        if args.sweep:
            page.locator(CHART).nth(3).wait_for(timeout=120_000)  # four heatmaps
            page.wait_for_timeout(2_000)  # plotly finishes drawing after the element appears
            page.get_by_test_id("stTabs").screenshot(path=str(DOCS / "tune_heatmaps.png"))
            print(f"saved {DOCS / 'tune_heatmaps.png'}")
        if args.ladder:
            page.get_by_role("tab", name="Optimisation ladder").click()
            ladder = page.get_by_test_id("stTabs").locator(CHART).filter(visible=True)
            ladder.wait_for(timeout=60_000)
            page.wait_for_timeout(2_000)
            ladder.screenshot(path=str(DOCS / "tune_ladder.png"))
            print(f"saved {DOCS / 'tune_ladder.png'}")


if __name__ == "__main__":
    main()
