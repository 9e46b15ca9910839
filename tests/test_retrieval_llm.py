"""The LLM-backed retrieval toggles against the real local model: its JSON parses, nothing falls back."""

from __future__ import annotations

import logging

import pytest

from pipeline.llm import make_chat_model
from pipeline.retrieval import retrieve


pytestmark = pytest.mark.llm


def test_multi_query_llm_rerank_and_hyde_work_with_the_real_model(llm_settings, sample_store, embedder, caplog):
    llm = make_chat_model(llm_settings)
    question = "What was the name of the Florida Huguenot colony?"
    with caplog.at_level(logging.WARNING, logger="pipeline"):
        expanded = retrieve(llm_settings.with_overrides(query_expansion="multi", expansion_queries=2, rerank="llm",
                                                        fetch_k=3, top_k=2), sample_store, embedder, llm, question)
        hyde = retrieve(llm_settings.with_overrides(query_expansion="hyde"), sample_store, embedder, llm, question)
    assert caplog.text == ""  # no "failed ... falling back" warning: every LLM reply was usable
    assert len(expanded) == 2 and any("Fort Caroline" in c.text for c in expanded)
    assert all(0 <= c.score <= 10 for c in expanded)  # the judge's 0-10 relevance
    assert len(hyde) == llm_settings.top_k and any("Fort Caroline" in c.text for c in hyde)
