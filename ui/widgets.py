"""Widgets more than one page uses: guarded resource access, collection picker, citations, errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import streamlit as st

from ingest.embedder import EmbedderUnavailableError
from ingest.store import StoreError, VectorStore
from pipeline.answer import Answer
from ui import resources

T = TypeVar("T")

KNOWN_ERRORS = (StoreError, EmbedderUnavailableError)


def guarded(load: Callable[[], T]) -> T:
    """Run a resource loader; on a known failure show the message and stop the page (no traceback)."""
    try:
        return load()
    except KNOWN_ERRORS as exc:
        st.error(str(exc), icon=":material/error:")
        st.stop()
        raise  # unreachable: st.stop() raises


def store_or_stop() -> VectorStore:
    return guarded(resources.vector_store)


def collection_picker(store: VectorStore, key: str) -> str | None:
    """Sidebar select of collections, remembered in the URL (?collection=…) so a view can be shared."""
    names = store.names()
    if not names:
        return None
    wanted = st.query_params.get("collection") or resources.settings().collection
    index = names.index(wanted) if wanted in names else 0
    name = st.sidebar.selectbox("Collection", names, index=index, key=key)
    st.query_params["collection"] = name
    return name


def empty_knowledge_base() -> None:
    st.info("The knowledge base is empty. Ingest documents first, or run `make run`, which loads the bundled sample.",
            icon=":material/inbox:")
    st.page_link("pages/knowledge_base.py", label="Open the Knowledge base page", icon=":material/upload:")


def show_answer(answer: Answer) -> None:
    if answer.abstained:
        best = answer.contexts[0].score if answer.contexts else 0.0
        why = {
            "low_retrieval_score": f"No passage is close enough to the question (best match {best:.2f}, threshold "
                                   f"{answer.config['min_score']:.2f}), so the model was not asked.",
            "model_abstained": "The model found no answer in the retrieved passages.",
            "empty_answer": "The model returned an empty answer.",
        }[answer.abstain_reason or "model_abstained"]
        st.warning(answer.answer, icon=":material/help:")
        st.caption(why)
    else:
        st.success(answer.answer, icon=":material/fact_check:")
        if not any(c.cited for c in answer.citations):
            st.caption("No answer sentence could be matched to a passage; all retrieved passages are listed.")
    st.caption(f"{answer.seconds:.1f} s · top-k {answer.config['top_k']} · model {answer.config['llm_model']}")
    for c in answer.citations:
        with st.expander(f"[{c.marker}] {c.source} · chunk {c.chunk_index} · score {c.score:.2f}"):
            st.text(c.text)
    if answer.abstained and answer.contexts:
        with st.expander("Closest passages (not used)"):
            for c in answer.contexts:
                st.caption(f"{c.source} · chunk {c.chunk_index} · score {c.score:.2f}")
                st.text(c.text)
