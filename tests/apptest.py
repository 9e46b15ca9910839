"""Shared AppTest plumbing: a fresh dashboard per test, with the app's cached resources released afterwards."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO
from ui import jobs, resources
from ui.safe_text import WORD_JOINER

_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()<>#+\-!|~$&=:.])")  # what ui.safe_text.literal escapes


@contextmanager
def fresh_app(timeout: float = 60) -> Iterator[AppTest]:
    """The dashboard with no cached resources; afterwards its Qdrant client (one per folder) is closed."""
    st.cache_resource.clear()
    try:
        yield AppTest.from_file(str(REPO / "app.py"), default_timeout=timeout)
    finally:
        try:
            resources.vector_store().client.close()
        except Exception:  # noqa: BLE001 - nothing was opened, or the folder is gone
            pass
        st.cache_resource.clear()


def run_ingest(app: AppTest) -> AppTest:
    """Click Ingest on the Knowledge base page: the run starts a background job and shows its bar; wait for the
    job, then rerun the page (in a browser the polling fragment does that rerun)."""
    app.button(key="kb.ingest").click().run()
    assert not app.exception
    assert jobs.registry().get(app.session_state["kb.job"]).done.wait(120), "the ingest job did not finish"
    return app.run()


def plain(markdown: str) -> str:
    """Markdown as a person reads it: literal()'s escapes and autolink-breaking word joiners removed."""
    return _ESCAPE.sub(r"\1", markdown).replace(WORD_JOINER, "")


def texts(elements) -> str:  # noqa: ANN001 - an AppTest ElementList
    """The elements' texts as a person reads them, one a line."""
    return "\n".join(plain(str(e.value)) for e in elements)
