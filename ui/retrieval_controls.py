"""The retrieval strategy toggles as sidebar widgets, one function shared by every page that answers questions."""

from __future__ import annotations

import streamlit as st

from settings import Settings

MODES = {"dense": "Semantic (dense)", "mmr": "Semantic, diversified (MMR)", "hybrid": "Hybrid: semantic + keywords"}
RERANKERS = {"none": "Off", "cheap": "Keywords + similarity (fast)", "llm": "LLM judge (one call per candidate)"}
EXPANSIONS = {"none": "Off", "multi": "Rewrite the question (multi-query, LLM)", "hyde": "Hypothetical answer (HyDE, LLM)"}


def retrieval_controls(base: Settings, key_prefix: str, hybrid_available: bool = True) -> dict[str, object]:
    """Render the toggles in the sidebar (keys `<key_prefix>.*`); returns overrides for `Settings.with_overrides`.

    `hybrid_available` is False for collections ingested before keyword vectors existed: hybrid is then
    not offered, with a note saying how to get it.
    """
    modes = [m for m in MODES if hybrid_available or m != "hybrid"]
    with st.sidebar.expander("Retrieval strategy", icon=":material/tune:", key=f"{key_prefix}.box"):
        mode = st.selectbox("Search", modes, index=modes.index(base.retrieval_mode) if base.retrieval_mode in modes else 0,
                            format_func=MODES.__getitem__, key=f"{key_prefix}.mode",
                            help="Hybrid adds BM25 keyword matching (names, numbers, rare words) fused by rank; "
                                 "MMR trades near-duplicate passages for different ones.")
        if not hybrid_available:
            st.caption("Hybrid search needs keyword vectors: re-ingest this collection to enable it.")
        mmr_lambda = st.slider("MMR: relevance (1) vs diversity (0)", 0.0, 1.0, base.mmr_lambda, 0.1,
                               key=f"{key_prefix}.mmr_lambda", disabled=mode != "mmr")
        rerank = st.selectbox("Rerank candidates", list(RERANKERS), index=list(RERANKERS).index(base.rerank),
                              format_func=RERANKERS.__getitem__, key=f"{key_prefix}.rerank",
                              help="Fetch more candidates, reorder them, keep the top-k. The LLM judge is slow on "
                                   "CPU and falls back to the fast reranker when it fails.")
        expansion = st.selectbox("Query expansion", list(EXPANSIONS), index=list(EXPANSIONS).index(base.query_expansion),
                                 format_func=EXPANSIONS.__getitem__, key=f"{key_prefix}.expansion",
                                 help="The LLM rewrites the question or drafts an answer passage to search with. "
                                      "The minimum-similarity check still compares your question as asked.")
        fetch_k = st.slider("Candidates fetched before choosing top-k", 1, max(50, base.fetch_k), base.fetch_k,
                            key=f"{key_prefix}.fetch_k", disabled=mode == "dense" and rerank == "none"
                            and expansion == "none")
    return {"retrieval_mode": mode, "mmr_lambda": mmr_lambda, "rerank": rerank, "query_expansion": expansion,
            "fetch_k": fetch_k}
