"""The repository's folder and a free loopback port. Kept apart from conftest.py, which pins the tests' models and
turns the first chart off when imported, so that helpers also run outside pytest (tests/browser.py from
bench/load.py and docs/screenshots.py) serve the dashboard with the operator's settings."""

from __future__ import annotations

import socket
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
