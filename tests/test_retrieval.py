"""Retrieval toggles over the real sample KB (real embedder, embedded Qdrant), LLM steps scripted.

The spec: each mode returns `top_k` chunks; every chunk's `similarity` is its cosine to the question as
asked, whatever ranked it, and the minimum-score gate compares that cosine in every mode.
"""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from pipeline.chain import answer_question
from pipeline.rerank import bm25_scores
from pipeline.retrieval import reciprocal_rank_fusion, retrieve, stored_vectors
from settings import Settings

COLONY = "What was the name of the Florida Huguenot colony?"
OFF_TOPIC = "Where are clinical pharmacists not allowed to work with patients?"


class RecordingLLM(FakeListChatModel):
    """A scripted chat model that remembers the prompts it was sent."""

    prompts: list[str] = []

    def _call(self, messages, stop=None, run_manager=None, **kwargs):  # noqa: ANN001
        self.prompts.append("\n".join(str(m.content) for m in messages))
        return super()._call(messages, stop, run_manager, **kwargs)


def scripted(*responses: str) -> RecordingLLM:
    return RecordingLLM(responses=list(responses), prompts=[])


def cosines(store, embedder, question: str) -> dict[str, float]:
    """Every chunk's cosine to the question, from plain dense search over the whole collection."""
    return {c.id: c.score for c in store.search("sample", embedder.embed_query(question), 100)}


def dense(settings, store, embedder, question: str, k: int) -> list:
    return store.search(settings.collection, embedder.embed_query(question), k)


@pytest.fixture
def settings(settings):
    """Plain dense top-k: the baseline each toggle below is compared with (the product default is hybrid + rerank)."""
    return settings.with_overrides(retrieval_mode="dense", rerank="none")


def test_the_default_is_hybrid_with_cheap_rerank_and_keeps_cosine_similarities(settings, sample_store, embedder):
    default = Settings()
    assert (default.retrieval_mode, default.rerank) == ("hybrid", "cheap")
    config = settings.with_overrides(retrieval_mode=default.retrieval_mode, rerank=default.rerank)
    chunks = retrieve(config, sample_store, embedder, scripted("unused"), COLONY)
    assert len(chunks) == settings.top_k and "Fort Caroline" in chunks[0].text
    truth = cosines(sample_store, embedder, COLONY)
    assert all(c.similarity == pytest.approx(truth[c.id], abs=1e-4) for c in chunks)
    # and the citations a user sees carry that cosine, not the reranker's score
    answer = answer_question(config.with_overrides(grounding_policy="off"), sample_store, embedder,
                             scripted("The colony was named Fort Caroline [1]."), COLONY)
    assert answer.citations[0].score == pytest.approx(truth[answer.citations[0].chunk_id], abs=1e-4)


def test_dense_is_top_k_with_cosine_scores(settings, sample_store, embedder):
    chunks = retrieve(settings, sample_store, embedder, scripted("unused"), COLONY)
    assert [c.id for c in chunks] == [c.id for c in dense(settings, sample_store, embedder, COLONY, settings.top_k)]
    assert "Fort Caroline" in chunks[0].text
    assert all(c.similarity == c.score for c in chunks)


def test_mmr_keeps_the_best_chunk_and_trades_near_duplicates_for_variety(settings, sample_store, embedder):
    plain = retrieve(settings, sample_store, embedder, scripted("unused"), COLONY)
    mmr = retrieve(settings.with_overrides(retrieval_mode="mmr", mmr_lambda=0.5), sample_store, embedder,
                   scripted("unused"), COLONY)
    assert len(mmr) == settings.top_k and mmr[0].id == plain[0].id
    assert {c.id for c in mmr} != {c.id for c in plain}

    def redundancy(chunks) -> float:  # mean cosine between the chunks picked
        vectors = stored_vectors(sample_store, "sample", [c.id for c in chunks])
        units = [np.asarray(vectors[c.id]) / np.linalg.norm(vectors[c.id]) for c in chunks]
        return float(np.mean([a @ b for a, b in itertools.combinations(units, 2)]))

    assert redundancy(mmr) < redundancy(plain)
    truth = cosines(sample_store, embedder, COLONY)
    assert all(c.similarity == pytest.approx(truth[c.id], abs=1e-4) for c in mmr)
    pure_relevance = retrieve(settings.with_overrides(retrieval_mode="mmr", mmr_lambda=1.0), sample_store, embedder,
                              scripted("unused"), COLONY)
    assert [c.id for c in pure_relevance] == [c.id for c in plain]


def test_hybrid_ranks_by_fusion_but_reports_the_cosine(settings, sample_store, embedder):
    chunks = retrieve(settings.with_overrides(retrieval_mode="hybrid"), sample_store, embedder, scripted("unused"),
                      "Which Huguenot outpost was on Parris Island?")
    assert len(chunks) == settings.top_k
    assert any("Charlesfort" in c.text for c in chunks[:2])
    truth = cosines(sample_store, embedder, "Which Huguenot outpost was on Parris Island?")
    assert all(c.similarity == pytest.approx(truth[c.id], abs=1e-4) for c in chunks)
    assert [c.score for c in chunks] == sorted((c.score for c in chunks), reverse=True)


def test_bm25_prefers_the_passage_with_the_rare_query_terms():
    texts = ["The Huguenots founded Fort Caroline in Florida in 1564.",
             "The Huguenots left France for Switzerland and the Netherlands.",
             "The Rhine flows through Switzerland."]
    scores = bm25_scores("Which fort did the Huguenots build in Florida?", texts)
    assert scores[0] > scores[1] > scores[2] == 0.0


def test_cheap_rerank_reorders_the_fetched_candidates_and_keeps_the_cosine(settings, sample_store, embedder):
    question = "Who led the 1562 expedition that founded Charlesfort?"
    config = settings.with_overrides(rerank="cheap", fetch_k=10, top_k=3)
    chunks = retrieve(config, sample_store, embedder, scripted("unused"), question)
    candidates = {c.id for c in dense(settings, sample_store, embedder, question, 10)}
    assert len(chunks) == 3 and {c.id for c in chunks} <= candidates
    assert "Jean Ribault" in chunks[0].text and "Charlesfort" in chunks[0].text
    truth = cosines(sample_store, embedder, question)
    assert all(c.similarity == pytest.approx(truth[c.id], abs=1e-4) and c.score != c.similarity for c in chunks)


def test_llm_rerank_follows_the_judges_scores(settings, sample_store, embedder):
    config = settings.with_overrides(rerank="llm", fetch_k=4, top_k=2)
    candidates = dense(settings, sample_store, embedder, COLONY, 4)
    llm = scripted('{"score": 2}', '{"score": 9}', '{"score": 0}', '{"score": 6}')
    chunks = retrieve(config, sample_store, embedder, llm, COLONY)
    assert [c.id for c in chunks] == [candidates[1].id, candidates[3].id]
    assert [c.score for c in chunks] == [9, 6]
    assert len(llm.prompts) == 4 and all(f"Question: {COLONY}" in p for p in llm.prompts)
    assert candidates[2].text[:200] in llm.prompts[2]


def test_llm_rerank_retries_an_unparsable_verdict(settings, sample_store, embedder):
    config = settings.with_overrides(rerank="llm", fetch_k=3, top_k=3)
    candidates = dense(settings, sample_store, embedder, COLONY, 3)
    llm = scripted("Sure! The score is high.", '{"score": 1}', '{"score": 3}', '{"score": 8}')
    chunks = retrieve(config, sample_store, embedder, llm, COLONY)
    assert len(llm.prompts) == 4
    assert [c.id for c in chunks] == [candidates[2].id, candidates[1].id, candidates[0].id]


def test_llm_rerank_falls_back_to_the_cheap_reranker_when_the_judge_fails(settings, sample_store, embedder, caplog):
    llm_config = settings.with_overrides(rerank="llm", fetch_k=5, top_k=3)
    with caplog.at_level(logging.WARNING, logger="pipeline.rerank"):
        chunks = retrieve(llm_config, sample_store, embedder, scripted('{"score": "very"}'), COLONY)
    cheap = retrieve(settings.with_overrides(rerank="cheap", fetch_k=5, top_k=3), sample_store, embedder,
                     scripted("unused"), COLONY)
    assert [c.id for c in chunks] == [c.id for c in cheap]
    assert "LLM reranking failed, using the cheap reranker" in caplog.text


def test_multi_query_finds_chunks_only_the_rewrites_reach(settings, sample_store, embedder):
    question = "Where did the French Protestants try to settle in North America?"
    rewrites = '{"queries": ["What was the name of the Florida Huguenot colony?", "Which fort did Laudonniere found?"]}'
    llm = scripted(rewrites)
    config = settings.with_overrides(query_expansion="multi", expansion_queries=2, fetch_k=6)
    chunks = retrieve(config, sample_store, embedder, llm, question)
    assert "Write 2 rewrites of: " + question in llm.prompts[0]
    plain = dense(settings, sample_store, embedder, question, 6)
    assert "Fort Caroline" not in plain[0].text
    assert len(chunks) == settings.top_k and "Fort Caroline" in chunks[0].text
    assert {c.id for c in chunks} - {c.id for c in plain}  # a chunk the question alone did not fetch
    truth = cosines(sample_store, embedder, question)
    assert all(c.similarity == pytest.approx(truth[c.id], abs=1e-4) for c in chunks)


def test_multi_query_falls_back_to_the_question_when_rewrites_are_unusable(settings, sample_store, embedder, caplog):
    config = settings.with_overrides(query_expansion="multi")
    with caplog.at_level(logging.WARNING, logger="pipeline.query_expansion"):
        chunks = retrieve(config, sample_store, embedder, scripted("Here are some rewrites:", "1. Florida?"), COLONY)
    plain = dense(settings, sample_store, embedder, COLONY, settings.fetch_k)[: settings.top_k]
    assert [c.id for c in chunks] == [c.id for c in plain]
    assert "multi-query expansion failed" in caplog.text


def test_hyde_searches_with_the_hypothetical_passage(settings, sample_store, embedder):
    question = "What did the French Protestants call their settlement near present-day Jacksonville?"
    passage = ("In 1564 French Huguenots under René Goulaine de Laudonnière founded Fort Caroline in Florida, "
               "near present-day Jacksonville; the Spanish destroyed it in 1565.")
    llm = scripted(passage)
    chunks = retrieve(settings.with_overrides(query_expansion="hyde"), sample_store, embedder, llm, question)
    assert len(llm.prompts) == 1 and llm.prompts[0].endswith(question)
    by_passage = dense(settings, sample_store, embedder, passage, settings.fetch_k)[: settings.top_k]
    assert [c.id for c in chunks] == [c.id for c in by_passage] and "Fort Caroline" in chunks[0].text
    truth = cosines(sample_store, embedder, question)
    assert all(c.similarity == pytest.approx(truth[c.id], abs=1e-4) for c in chunks)


def test_reciprocal_rank_fusion_rewards_chunks_ranked_high_in_several_lists(sample_store):
    a, b, c = sample_store.scroll("sample")[:3]
    fused = reciprocal_rank_fusion([[a, b, c], [b, c], [c, b]])
    assert [x.id for x in fused] == [b.id, c.id, a.id]
    assert fused[0].score == pytest.approx(1 / 62 + 1 / 61 + 1 / 62)


@pytest.mark.parametrize("toggles", [
    {"retrieval_mode": "mmr"},
    {"retrieval_mode": "hybrid"},
    {"rerank": "cheap"},
    {"retrieval_mode": "hybrid", "rerank": "cheap"},
])
def test_off_topic_question_abstains_in_every_mode_without_calling_the_model(settings, sample_store, embedder,
                                                                             toggles):
    config = settings.with_overrides(**toggles)
    llm = scripted("Pharmacists may not work in hospitals [1].")
    answer = answer_question(config, sample_store, embedder, llm, OFF_TOPIC)
    assert answer.abstained and answer.abstain_reason == "low_retrieval_score"
    assert llm.prompts == []
    assert max(c.similarity for c in answer.contexts) < settings.min_score
    assert {k: answer.config[k] for k in toggles} == toggles
