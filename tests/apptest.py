"""Shared AppTest plumbing: a fresh dashboard per test, with the app's cached resources released afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO
from ui import resources


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
