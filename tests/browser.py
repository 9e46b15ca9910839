"""Shared browser-test plumbing: `streamlit run` in a subprocess and a page in headless Debian Chromium."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Locator, Page, Route, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.paths import REPO, free_port

ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium floods the closed network with refused connections.
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@contextmanager
def running_dashboard(script: str = "app.py", **env: str) -> Iterator[str]:
    """`streamlit run <script>` (the dashboard by default) on a free port with extra environment; yields its URL
    once /_stcore/health is ok. The repository is on the import path whatever folder the script is in."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true", "--server.address",
         "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=1).text == "ok":
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail(f"streamlit did not start: {proc.stdout.read().decode()[-2000:]}")
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@contextmanager
def chromium_page(height: int = 900) -> Iterator[Page]:
    if not os.path.exists(CHROMIUM):
        pytest.fail("Debian chromium is not installed; `make test` installs it (make browser)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1280, "height": height})
        finally:
            browser.close()


@dataclass
class Offsite:
    """What a page tried beyond its own origin: requests (aborted), websockets, and dialogs (dismissed)."""

    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


def block_offsite(page: Page, own: str) -> Offsite:
    """Intercept every request of the page's context (popups and workers included): those for `own`'s origin go
    through, any other is recorded and aborted, so a leak is caught without the network. Dialogs are recorded."""
    seen, origin = Offsite(), urlsplit(own).netloc

    def route(r: Route) -> None:
        if urlsplit(r.request.url).netloc == origin:
            r.continue_()
        else:
            seen.requests.append(r.request.url)
            r.abort()

    page.context.route("**/*", route)
    page.on("websocket", lambda ws: None if urlsplit(ws.url).netloc == origin else seen.requests.append(ws.url))
    page.on("dialog", lambda d: (seen.dialogs.append(f"{d.type}: {d.message}"), d.dismiss()))
    return seen


def wait_idle(page: Page, timeout: float = 60_000) -> None:
    """Wait until no script run is in progress (the attribute Streamlit's own browser tests wait on); at once if idle."""
    page.locator("[data-testid='stApp'][data-test-script-state='notRunning']").wait_for(state="attached", timeout=timeout)


def choose(page: Page, selectbox_label: str, option: str, tries: int = 4, within: Locator | None = None) -> None:
    """Pick `option` in the Streamlit selectbox showing `selectbox_label` (inside `within` when two labels match).

    A rerun that lands while the list is open closes it (seen on a loaded machine: the option never showed), so
    wait for the app to be idle before opening it, and type the option to filter the list (a long list renders
    only the options in view); open it again if a rerun closed it anyway, also between the option showing and the
    click (seen in a fresh clone: the option was detached from the page and the click waited out its 30 s).
    """
    box = (within or page).get_by_test_id("stSelectbox").filter(has_text=selectbox_label)
    item = page.get_by_role("option", name=option)
    for attempt in range(tries):
        wait_idle(page)
        box.click()
        box.get_by_role("combobox").fill(option)
        try:
            item.click(timeout=10_000)
            return
        except PlaywrightTimeoutError:
            if attempt == tries - 1:
                raise
