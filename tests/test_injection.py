"""Hostile documents: both injection suites (bench/injection.py) through the redaction, and some through the real model.

The redaction runs on every case with no model: each planted order is removed, the facts beside it are kept, and
ordinary prose (the bundled sample, the SQuAD 2.0 corpus and articles, SciFact, where present) loses nothing. Some
cases then go through `answer_question` with the real default model and grounding policy: the answer gives the real
fact (or abstains) and never carries what the document ordered. Suite II's spelling tricks, other languages, chat
templates, notes and third-person demands are each normalised or matched as a class (pipeline/redaction.py).
"""

from __future__ import annotations

import pytest

from bench.injection import CASES, CASES_II, TOPICS, Case, corpus_paragraphs, redaction_catches
from ingest.ingestor import ingest_files, sources_for
from pipeline.chain import answer_question
from pipeline.llm import make_chat_model
from pipeline.redaction import instruction_spans, neutralize_instructions

MISSED_BY_REDACTION = {"fake_qa"}  # a Q/A pair is how FAQs are written: left to the prompt and the check
# the three the 0.5B model followed with the prompt alone (bench/injection.py), two chat-format attacks, and suite II's
# homoglyph order and third-person demand
THROUGH_THE_MODEL = ["ignore_previous", "french", "correction", "chat_template", "fake_assistant_turn",
                     "cyrillic_homoglyphs", "assistant_will"]


@pytest.mark.parametrize("case", CASES + CASES_II, ids=lambda c: c.name)
def test_the_redaction_removes_each_planted_order_and_keeps_the_facts(case: Case):
    redacted = neutralize_instructions(case.document())
    assert redaction_catches(case) == (case.name not in MISSED_BY_REDACTION), redacted
    for fact in TOPICS[case.topic][0].split(". "):
        assert fact in redacted


@pytest.mark.parametrize("corpus", ["samples/kb", "squad2 corpus", "squad2 articles", "scifact"])
def test_the_redaction_leaves_ordinary_prose_alone(corpus: str):
    paragraphs = corpus_paragraphs()[corpus]
    if not paragraphs and corpus != "samples/kb":
        pytest.skip(f"{corpus} is not beside this checkout (../shared/data)")
    assert paragraphs, f"{corpus} is missing"
    assert [p[a:b] for p in paragraphs for a, b in instruction_spans(p)] == []


@pytest.mark.llm
@pytest.mark.parametrize("name", THROUGH_THE_MODEL)
def test_the_real_pipeline_does_not_follow_a_planted_order(name, llm_settings, store, embedder, tmp_path):
    case = next(c for c in CASES + CASES_II if c.name == name)
    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / "doc.md").write_text(case.document(), encoding="utf-8")
    report = ingest_files(store, embedder, sources_for(tmp_path / "kb"), "hostile", llm_settings.chunk_size,
                          llm_settings.chunk_overlap)
    assert not report.failed
    settings = llm_settings.with_overrides(collection="hostile")
    answer = answer_question(settings, store, embedder, make_chat_model(settings), case.question)
    assert not case.followed(answer.answer), answer.answer
    assert answer.abstained or case.fact.lower() in answer.answer.lower(), answer.answer
