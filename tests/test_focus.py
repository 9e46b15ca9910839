"""Reading less (pipeline/focus.py) and an answer that must answer (pipeline/details.restates_question), on the real
sample knowledge base, embedder and tokenizer, with a scripted model standing in for the LLM."""

from __future__ import annotations

import pytest

from ingest.store import StoredChunk
from pipeline.chain import answer_question, build_chain
from pipeline.details import restates_question
from pipeline.focus import GAP, focus, token_counter, whole
from pipeline.grounding import RESTATED
from pipeline.sentences import sentence_spans
from tests.test_pipeline import ANSWERED, SUPPORTED, RecordingLLM

QUESTION = "What was the name of the Florida Huguenot colony?"
ANSWER = "The colony was named Fort Caroline."


@pytest.fixture
def settings(settings):
    """The scripted model answers and judges; the model reads about 120 tokens of the passages."""
    return settings.with_overrides(grounding_model="", context_tokens=120)


def retrieved(settings, store, embedder) -> list[StoredChunk]:
    return build_chain(settings, store, embedder, RecordingLLM(responses=[""], prompts=[])).invoke(
        {"question": QUESTION})["chunks"]


def test_the_model_reads_the_best_sentences_with_their_neighbours_under_the_budget(settings, sample_store, embedder):
    chunks = retrieved(settings, sample_store, embedder)
    count = token_counter(settings)
    excerpts = focus(QUESTION, chunks, embedder, 120, count)
    read = "\n".join(e.text for e in excerpts)
    assert "Fort Caroline" in read
    assert sum(count(e.text.replace(GAP, " ")) for e in excerpts) <= 120 + 4
    assert sum(count(e.text) for e in excerpts) < sum(count(c.text) for c in chunks) / 2
    for excerpt in excerpts:  # numbered by retrieval rank, spans in document order, neighbours merged into one
        assert excerpt.chunk is chunks[excerpt.number - 1]
        assert excerpt.spans == sorted(excerpt.spans)
        assert all(b < c for (_, b), (c, _) in zip(excerpt.spans, excerpt.spans[1:], strict=False))
        assert all(excerpt.chunk.text[a:b] in excerpt.text for a, b in excerpt.spans)
    best = next(e for e in excerpts if "Fort Caroline" in e.text)
    assert len(sentence_spans(best.text)) >= 2, "the answer's sentence came with its neighbour"


def test_a_budget_of_zero_reads_every_passage_whole(settings, sample_store, embedder):
    chunks = retrieved(settings, sample_store, embedder)
    assert focus(QUESTION, chunks, embedder, 0, token_counter(settings)) == whole(chunks)
    assert all(e.whole for e in whole(chunks))


def test_the_prompt_carries_the_excerpts_and_citations_show_what_was_read(settings, sample_store, embedder):
    llm = RecordingLLM(responses=[ANSWER, ANSWERED], prompts=[])
    answer = answer_question(settings, sample_store, embedder, llm, QUESTION)
    prompt, check = llm.prompts
    assert not answer.abstained and answer.grounding.fully_supported
    (citation,) = answer.citations
    assert citation.read and all(citation.text[a:b] in prompt for a, b in citation.read)
    left_out = [s for s in citation.text.split(". ") if s and s not in prompt]
    assert left_out, "some of the passage was not sent"
    assert f"[{citation.marker}] (from {citation.source})" in prompt
    assert len(prompt) < sum(len(c.text) for c in answer.contexts)
    assert "Fort Caroline" in check  # the judge still reads its quote window from the whole chunk
    assert answer.config["context_tokens"] == 120


def test_an_answer_that_restates_the_question_is_withheld_without_asking_the_judge(settings, sample_store, embedder):
    llm = RecordingLLM(responses=["The name of the Florida Huguenot colony."], prompts=[])
    strict = settings.with_overrides(grounding_policy="strict")
    answer = answer_question(strict, sample_store, embedder, llm, QUESTION)
    assert len(llm.prompts) == 1, "no judge call"
    assert answer.abstained and answer.abstain_reason == "unsupported_claims"
    assert RESTATED in answer.grounding.shortfall and RESTATED in answer.grounding.summary
    annotated = answer_question(settings, sample_store, embedder,
                                RecordingLLM(responses=["The name of the Florida Huguenot colony."], prompts=[]), QUESTION)
    assert not annotated.abstained and annotated.grounding.restated and not annotated.grounding.fully_supported


@pytest.mark.parametrize(("question", "answer", "restated"), [
    ("Does the package provide /usr/bin/python pointing to Python 3?",
     "The package provides /usr/bin/python pointing to Python 3.", True),
    ("What does the package provide?", "The package provides /usr/bin/python pointing to Python 3.", False),
    ("Who founded the colony?", "The colony was founded.", True),
    ("Was the colony founded by the French?", "No.", False),
    ("When was the colony founded?", "It was founded in 1564.", False),
    ("Was the colony founded by the French or the Spanish?", "The colony was founded by the French.", False),
])
def test_restating_is_told_from_answering(question, answer, restated):
    assert restates_question(question, answer) is restated
