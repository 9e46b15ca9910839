"""Stage 1 of a cheap-first sweep: retrieval alone on a tiny knowledge base whose answers are known, no LLM call,
and the 95 % intervals the Tune page draws around every cell."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from evaluation import intervals
from evaluation.evalset import EvalItem
from evaluation.metrics import Judge
from evaluation.runner import Components
from evaluation.runstore import RunStore, ScreenRow
from evaluation.screening import estimates, llm_free, pick_finalists, screen_config, screen_item
from ingest.ingestor import ingest_files, sources_for
from pipeline.llm import make_chat_model
from pipeline.retrieval import retrieve
from settings import Settings
from tests.fake_openai import serving

DOCS = {
    # the question about the Zorblat river matches this one, which does not hold the answer ...
    "zorblat.md": "The Zorblat river is long. The Zorblat river flows north through many green valleys of Kelvania.",
    # ... this one does (the answer is not worded like the question, so it ranks second)
    "quorrin.md": "Mount Quorrin stands in the high hills of Kelvania; a famous river has its source there.",
    "bread.md": "Baking bread needs flour, water, salt and yeast, and an oven hot enough to bake the loaf.",
}
ITEMS = [
    EvalItem(id="source", question="Where is the source of the Zorblat river?", reference="Mount Quorrin",
             answerable=True),
    EvalItem(id="bread", question="What does baking bread need?", reference="yeast", answerable=True),
    EvalItem(id="painter", question="Who painted the Zorblat river valleys?", reference="Leonardo", answerable=True),
    EvalItem(id="capital", question="What is the capital of Australia?", answerable=False),
]


@pytest.fixture
def fake_llm():
    with serving() as server:
        yield server


@pytest.fixture
def tiny(tmp_path: Path, settings: Settings, store, embedder, fake_llm) -> tuple[Settings, Components]:
    """The three documents above ingested (one chunk each), top-k 3, every LLM step on and pointed at the fake server."""
    kb = tmp_path / "kb"
    kb.mkdir()
    for name, text in DOCS.items():
        (kb / name).write_text(text, encoding="utf-8")
    report = ingest_files(store, embedder, sources_for(kb), "tiny", 600, 80)
    assert report.total_chunks == 3
    config = settings.with_overrides(collection="tiny", top_k=3, query_expansion="multi", rerank="llm",
                                     openai_base_url=fake_llm.base_url)
    parts = Components(store=store, embedder=embedder, llm=make_chat_model(config), judge=Judge(config, embedder),
                       runs=RunStore(config.runs_db))
    return config, parts


def test_stage_one_finds_the_reference_and_its_rank_and_never_calls_the_llm(tiny, fake_llm):
    config, parts = tiny
    screen_id = screen_config(config, ITEMS, "tiny.jsonl", parts, {"sweep_id": "sweep-t", "sweep_step": 1})
    assert fake_llm.chat_requests == []  # multi-query expansion and the LLM reranker were both forced off
    [screen] = parts.runs.screens_of("sweep-t")
    assert (screen.id, screen.status, screen.n_done) == (screen_id, "completed", 4)
    assert (screen.config["query_expansion"], screen.config["rerank"]) == ("none", "cheap")

    rows = parts.runs.screen_rows(screen_id)
    assert [r.found_rank for r in rows] == [2, 1, None, None]  # no document says "Leonardo"; the last has no answer
    found = estimates(rows)
    assert found["reference_found"].value == pytest.approx(2 / 3)
    assert found["mrr"].value == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert [r.gated for r in rows][:2] == [False, False] and rows[3].gated  # Australia is nowhere near these documents
    assert found["right_abstention"].value == 1.0
    assert rows[0].outcome == "reference_found" and rows[2].outcome == "reference_missed"
    assert rows[3].outcome == "correct_abstention"

    # the control: the same retrieval with the LLM steps left on does call the model, so the count above means something
    retrieve(config, parts.store, parts.embedder, parts.llm, ITEMS[0].question)
    assert fake_llm.chat_requests


def test_the_gate_is_read_from_the_best_similarity_as_the_pipeline_reads_it(tiny):
    config, parts = tiny
    shut = llm_free(config.with_overrides(min_score=0.99))  # no chunk is that close: every question abstains
    rows = [screen_item(shut, parts, item, n) for n, item in enumerate(ITEMS)]
    assert all(r.gated for r in rows)
    found = estimates(rows)
    assert found["false_abstention"].value == 1.0 and found["right_abstention"].value == 1.0
    assert [r.outcome for r in rows] == ["false_abstention"] * 3 + ["correct_abstention"]
    with pytest.raises(ValueError, match="must not call the LLM"):
        screen_item(config, parts, ITEMS[0], 0)  # settings that would call the model are refused


def test_a_cancel_between_questions_keeps_the_rows_made(tiny):
    config, parts = tiny
    budget = iter([True, True, False])
    screen_id = screen_config(config, ITEMS, "tiny.jsonl", parts, {"sweep_id": "sweep-c", "sweep_step": 1},
                              should_continue=lambda: next(budget, False))
    [screen] = parts.runs.screens_of("sweep-c")
    assert (screen.status, screen.n_done) == ("cancelled", 2) and "cancelled after 2 of 4" in screen.error
    assert [r.item_id for r in parts.runs.screen_rows(screen_id)] == ["source", "bread"]


def _row(idx: int, found_rank: int | None, gated: bool = False, answerable: bool = True) -> ScreenRow:
    return ScreenRow(idx=idx, item_id=str(idx), question="q", reference="r" if answerable else None,
                     answerable=answerable, kind=None, found_rank=found_rank, best_similarity=0.5, gated=gated,
                     contexts=[], seconds=0.01)


def test_finalists_are_the_best_by_reference_found_then_mrr_then_false_abstentions():
    cells = {
        1: estimates([_row(0, 2), _row(1, None)]),  # found 1/2
        2: estimates([_row(0, 2), _row(1, 2)]),  # found 2/2 at rank 2
        3: estimates([_row(0, 1), _row(1, 1, gated=True)]),  # found 2/2 at rank 1, one false abstention
        4: estimates([_row(0, 1), _row(1, 1)]),  # found 2/2 at rank 1
        5: estimates([_row(0, 1), _row(1, 1)]),  # the same as step 4: the earlier step wins the tie
    }
    assert pick_finalists(cells, 2) == [4, 5]
    assert pick_finalists(cells, 10) == [4, 5, 3, 2, 1]
    assert pick_finalists(cells, 0) == []


def test_intervals_hold_the_estimate_and_narrow_as_questions_are_added():
    small, large = intervals.rate(6, 10), intervals.rate(60, 100)
    assert small.value == large.value == 0.6
    for e in (small, large):
        assert 0.0 <= e.low < e.value < e.high <= 1.0
    assert large.high - large.low < (small.high - small.low) / 2
    assert intervals.rate(0, 10).low == 0.0 and intervals.rate(10, 10).high == pytest.approx(1.0)
    assert intervals.rate(0, 0).value is None

    scores = [0.2, 0.9, 0.5, 0.7, 0.4]
    few, many = intervals.mean(scores), intervals.mean(scores * 20)
    assert few.value == pytest.approx(0.54) and many.value == pytest.approx(0.54)
    for e in (few, many):
        assert e.low < e.value < e.high
    assert many.high - many.low < (few.high - few.low) / 2
    assert intervals.mean(scores) == few  # seeded: the same rows give the same interval on every render
    assert intervals.mean([0.8]) == intervals.Estimate(0.8, None, None, 1)  # one question: no interval
    assert intervals.mean([1.0, 1.0, 1.0]).low == 1.0


def test_a_store_made_before_screens_opens_keeps_its_runs_and_stores_screens(tmp_path: Path):
    path = tmp_path / "runs.sqlite"
    with sqlite3.connect(path) as conn:  # the first release's tables: no screens, no answer_check_p
        conn.executescript(
            "CREATE TABLE runs (id TEXT PRIMARY KEY, created_at TEXT NOT NULL, status TEXT NOT NULL, eval_set TEXT NOT "
            "NULL, n_items INTEGER NOT NULL, config TEXT NOT NULL, error TEXT);"
            "CREATE TABLE samples (run_id TEXT NOT NULL, idx INTEGER NOT NULL, item_id TEXT NOT NULL, question TEXT NOT "
            "NULL, reference TEXT, answerable INTEGER, kind TEXT, answer TEXT, abstained INTEGER, abstain_reason TEXT, "
            "outcome TEXT, contexts TEXT, metrics TEXT, error TEXT, seconds REAL, PRIMARY KEY (run_id, idx));"
            "INSERT INTO runs VALUES ('old', '2026-01-01T00:00:00+00:00', 'completed', 'sample.jsonl', 0, '{}', NULL);")
    conn.close()
    runs = RunStore(path)
    assert [r.id for r in runs.runs()] == ["old"] and runs.screens() == []
    screen_id = runs.create_screen("sample.jsonl", 1, {"sweep_id": "sweep-new", "sweep_step": 1})
    runs.add_screen_row(screen_id, _row(0, 1))
    runs.finish_screen(screen_id)
    assert [s.n_done for s in runs.screens_of("sweep-new")] == [1] and runs.screen_rows(screen_id) == [_row(0, 1)]
    assert [r.id for r in runs.runs()] == ["old"]  # a screen is not a run: the Evaluation page never lists it
