"""Storage faults (issue 14): the embedded store held by another process. Real processes, the real engines."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from ingest import __main__ as ingest_cli
from tests.apptest import fresh_app
from tests.conftest import REPO

HOLD = ("import sys; from settings import Settings; from ingest.store import open_client; "
        "client = open_client(Settings()); print('holding', flush=True); sys.stdin.read(); client.close()")


@contextmanager
def store_held_elsewhere(**env: str) -> Iterator[subprocess.Popen]:
    """A second process with the embedded store of the test's settings open, until the block ends."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD], cwd=REPO, env={**os.environ, **env}, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == "holding\n"
        yield proc
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


@pytest.mark.parametrize("engine", ["edge", "local"])
def test_the_cli_names_the_process_holding_the_store_and_how_to_stop_it(settings, capsys, monkeypatch, engine):
    monkeypatch.setenv("FQA_QDRANT_ENGINE", engine)
    with store_held_elsewhere() as holder:
        assert ingest_cli.main(["samples/kb", "--collection", "sample"]) == 2
        err = capsys.readouterr().err
        assert f"is open in another process (PID {holder.pid}: {sys.executable} -c import sys; from settings" in err
        assert f"stop it (Ctrl+C in its terminal, or `kill {holder.pid}`), then try again" in err
    assert ingest_cli.main(["samples/kb", "--collection", "sample"]) == 0  # once it is gone, ingest works


def test_the_knowledge_base_page_says_which_process_holds_the_store(settings):
    with store_held_elsewhere() as holder, fresh_app() as app:
        app.run()
        app.switch_page("views/knowledge_base.py").run()
        assert not app.exception
        [error] = app.error
        assert f"open in another process (PID {holder.pid}: " in error.value and f"kill {holder.pid}" in error.value
