"""Sweeps and the ladder on the real sample KB: each chunk config ingested once, collections reused, progress, cancel."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from evaluation import __main__ as cli
from evaluation import sweep
from evaluation.evalset import load_eval_set
from evaluation.export import sweep_table
from evaluation.metrics import MetricName
from evaluation.runstore import RunStore
from evaluation.screening import STAGE_FULL, STAGE_RETRIEVAL, estimates, pick_finalists
from ingest import ingestor
from ingest.ingestor import IngestProgress, ingest_files
from evaluation.sweep import NamedConfig, SweepError, chunk_collection_name, grid, run_cheap_first, run_configs
from settings import Settings
from tests import test_eval_runner

KB = Settings().sample_kb
# the runner tests' fixtures (a fake OpenAI server, settings pointing at it, a three-question set)
eval_set, eval_settings, fake_llm = test_eval_runner.eval_set, test_eval_runner.eval_settings, test_eval_runner.fake_llm


@pytest.fixture
def ingest_calls(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = ingestor.ingest_configured

    def counting(settings, *args, **kwargs):
        calls.append(settings.collection)
        return real(settings, *args, **kwargs)

    monkeypatch.setattr(ingestor, "ingest_configured", counting)
    return calls


def test_grid_puts_chunk_configs_outermost_and_drops_invalid_pairs():
    configs = grid([300, 600], [60, 400], [2, 4])
    assert [c.overrides for c in configs] == [
        {"chunk_size": 300, "chunk_overlap": 60, "top_k": 2}, {"chunk_size": 300, "chunk_overlap": 60, "top_k": 4},
        {"chunk_size": 600, "chunk_overlap": 60, "top_k": 2}, {"chunk_size": 600, "chunk_overlap": 60, "top_k": 4},
        {"chunk_size": 600, "chunk_overlap": 400, "top_k": 2}, {"chunk_size": 600, "chunk_overlap": 400, "top_k": 4}]
    with pytest.raises(SweepError, match="no chunk configuration is valid"):
        grid([100], [100], [2])


def test_sweep_ingests_each_chunk_config_once_and_reuses_it(eval_settings, eval_set, fake_llm, ingest_calls):
    items = load_eval_set(eval_set)[:2]
    runs = RunStore(eval_settings.runs_db)
    seen = []
    with cli.components(eval_settings, runs) as parts:
        sweep_id, run_ids = run_configs(eval_settings, grid([300, 700], [60], [2, 4]), items, "two", parts, kind="sweep",
                                        kb_root=KB, progress=seen.append)
        names = parts.store.names()
    expected = [chunk_collection_name("sample", eval_settings.with_overrides(chunk_size=s, chunk_overlap=60)) for s in (300, 700)]
    assert ingest_calls == expected  # two chunk configs, four runs
    assert set(expected) <= set(names)
    stored = runs.runs_of("sweep_id", sweep_id)
    assert [r.id for r in stored] == run_ids
    assert [(r.config["chunk_size"], r.config["top_k"], r.config["collection"]) for r in stored] == [
        (300, 2, expected[0]), (300, 4, expected[0]), (700, 2, expected[1]), (700, 4, expected[1])]
    assert all(r.status == "completed" and r.n_done == 2 for r in stored)
    assert all(len(s.contexts) == 2 for s in runs.samples(run_ids[0]))
    assert seen[-1].questions_done == 8
    assert seen[-1].step == 4 and seen[-1].eta_s is not None and "step 4/4" in seen[-1].describe()

    # a second sweep over the same grid: no ingestion, no LLM call
    calls = len(fake_llm.chat_requests)
    with cli.components(eval_settings, runs) as parts:
        run_configs(eval_settings, grid([300, 700], [60], [2, 4]), items, "two", parts, kind="sweep", kb_root=KB)
    assert ingest_calls == expected and len(fake_llm.chat_requests) == calls


def test_cancel_stops_between_questions_and_keeps_what_ran(eval_settings, eval_set, ingest_calls):
    items = load_eval_set(eval_set)
    runs = RunStore(eval_settings.runs_db)
    budget = iter([True, True, True, False])  # step 1, question 1, question 2, question 3
    with cli.components(eval_settings, runs) as parts:
        _, run_ids = run_configs(eval_settings, [NamedConfig(name="baseline"), NamedConfig(name="k2", overrides={"top_k": 2})],
                                 items, "three", parts, kind="ladder", kb_root=KB, should_continue=lambda: next(budget, False))
    assert ingest_calls == []  # a ladder step that keeps the chunking uses the base collection
    [run] = [runs.run(r) for r in run_ids]
    assert run.status == "cancelled" and run.n_done == 2 and "cancelled after 2 of 3" in run.error


def test_a_cancelled_sweep_keeps_finished_runs_and_the_interrupted_one_resumes(eval_settings, eval_set, ingest_calls,
                                                                               capsys):
    """The Tune page's Cancel button sets a threading.Event; the sweep stops between questions."""
    eval_settings = eval_settings.with_overrides(min_score=0.40)  # 300-character chunks bring Australia to 0.3-0.4
    items = load_eval_set(eval_set)
    runs = RunStore(eval_settings.runs_db)
    cancel = threading.Event()

    def progress(p: sweep.SweepProgress) -> None:
        if p.step == 2 and p.questions_done == 4:  # step 2's second question is about to start
            cancel.set()

    with cli.components(eval_settings, runs) as parts:
        sweep_id, run_ids = run_configs(eval_settings, grid([300], [60], [2, 3, 4]), items, eval_set.name, parts,
                                        kind="sweep", kb_root=KB, eval_set_path=eval_set, progress=progress,
                                        should_continue=lambda: not cancel.is_set())
    assert len(ingest_calls) == 1
    stored = runs.runs_of("sweep_id", sweep_id)
    assert [r.id for r in stored] == run_ids  # no run for the third config
    assert [(r.config["top_k"], r.status, r.n_done) for r in stored] == [(2, "completed", 3), (3, "cancelled", 2)]
    assert "cancelled after 2 of 3 questions" in stored[1].error

    assert cli.main(["resume", run_ids[1]]) == 0
    assert f"run {run_ids[1]} (completed)" in capsys.readouterr().out
    resumed = runs.run(run_ids[1])
    assert resumed.status == "completed" and resumed.n_done == 3 and resumed.config["collection"] == ingest_calls[0]
    assert [s.outcome for s in runs.samples(run_ids[1])] == ["correct_answer", "wrong_answer", "correct_abstention"]


def test_a_cancel_during_ingest_stores_no_run_and_leaves_no_partial_collection(eval_settings, eval_set, monkeypatch):
    """A collection that holds chunks is reused as complete by the next sweep, so a cancelled ingest leaves none."""
    written: list[int] = []

    def small_batches(settings, store, embedder, files, collection, progress=None, should_continue=None, refused=None):
        # batches of 8 chunks, so whole files are written before the cancel lands
        def added(p: IngestProgress) -> None:
            written.append(p.chunks_added)
        return ingest_files(store, embedder, files, collection, settings.chunk_size, settings.chunk_overlap, added,
                            batch_chunks=8, should_continue=should_continue)

    monkeypatch.setattr(ingestor, "ingest_configured", small_batches)
    runs = RunStore(eval_settings.runs_db)
    budget = iter([True] * 8)  # into step 1, then cancelled part-way through its ingest
    with cli.components(eval_settings, runs) as parts:
        _, run_ids = run_configs(eval_settings, grid([300], [60], [2]), load_eval_set(eval_set), "three", parts,
                                 kind="sweep", kb_root=KB, should_continue=lambda: next(budget, False))
        assert max(written) > 0  # some chunks were in the collection when the cancel came
        assert chunk_collection_name(eval_settings.collection, eval_settings.with_overrides(chunk_size=300, chunk_overlap=60)) \
            not in parts.store.names()
    assert run_ids == [] and runs.runs() == []


def test_ladder_cli_runs_steps_in_order(eval_settings, eval_set, tmp_path, capsys):
    steps = tmp_path / "ladder.json"
    steps.write_text(json.dumps([{"name": "baseline", "overrides": {}},
                                 {"name": "+ top-k 2", "overrides": {"top_k": 2}},
                                 {"name": "+ smaller chunks", "overrides": {"top_k": 2, "chunk_size": 300, "chunk_overlap": 40}}]))
    assert cli.main(["ladder", "--set", str(eval_set), "--steps", str(steps), "--limit", "2", "--metrics", "faithfulness"]) == 0
    out = capsys.readouterr().out
    assert "3 runs" in out and "+ smaller chunks: faithfulness 1.00 (2/2)" in out
    runs = RunStore(eval_settings.runs_db)
    ladder_id = runs.runs()[0].config["ladder_id"]
    assert [r.config["ladder_name"] for r in runs.runs_of("ladder_id", ladder_id)] == ["baseline", "+ top-k 2", "+ smaller chunks"]
    assert runs.runs_of("ladder_id", ladder_id)[2].config["collection"] == "sample__all-minilm-l6-v2-int8__recursive-300-40"


def test_the_bundled_ladder_is_valid_for_these_settings():
    steps = sweep.load_ladder(Path("evaluation/ladders/default.json"))
    assert steps[0].name == "baseline (dense)"
    configured = sweep.validate(Settings(), steps)
    # one change per step: dense -> hybrid -> + rerank -> + expansion -> + strict grounding
    assert [(s.retrieval_mode, s.rerank, s.query_expansion) for s in configured][:4] == [
        ("dense", "none", "none"), ("hybrid", "none", "none"), ("hybrid", "cheap", "none"), ("hybrid", "cheap", "multi")]
    assert configured[-1].grounding_policy == "strict"


def test_cheap_first_screens_every_cell_without_the_llm_then_judges_only_the_best(eval_settings, fake_llm, ingest_calls):
    """Two questions of the bundled set whose retrieval is known: "Pick TV" (answerable; with 700-character chunks and
    top-k 1 its best chunk scores 0.38, under the 0.40 gate, and 0.47 with top-k 4; 0.52 with 300-character chunks)
    and an off-topic one every cell refuses. So the cell (700, top-k 1) ranks last, and grid order would pick it."""
    eval_settings = eval_settings.with_overrides(min_score=0.40)  # the gate these scores are placed against
    sample = load_eval_set(eval_settings.sample_eval_set)
    items = [sample[5], sample[15]]
    assert (items[0].reference, items[1].kind) == ("Pick TV", "off_topic")
    runs = RunStore(eval_settings.runs_db)
    seen: list[tuple[str, int, int]] = []  # (stage, step, chat requests the LLM had served by then)

    def progress(p: sweep.SweepProgress) -> None:
        seen.append((p.stage, p.step, len(fake_llm.chat_requests)))

    with cli.components(eval_settings, runs) as parts:
        sweep_id, run_ids = run_cheap_first(eval_settings, grid([300, 700], [60], [1, 4]), items, "two", parts,
                                            kb_root=KB, finalists=3, metrics=[MetricName.FAITHFULNESS],
                                            progress=progress)
    assert len(ingest_calls) == 2  # each chunking ingested once, for both stages
    screens = runs.screens_of(sweep_id)
    assert [(s.config["sweep_step"], s.status, s.n_done) for s in screens] == [(n, "completed", 2) for n in (1, 2, 3, 4)]
    cells = {s.config["sweep_step"]: estimates(runs.screen_rows(s.id)) for s in screens}
    assert {step: c["false_abstention"].value for step, c in cells.items()} == {1: 0.0, 2: 0.0, 3: 1.0, 4: 0.0}
    assert all(c["reference_found"].value == 1.0 and c["right_abstention"].value == 1.0 for c in cells.values())

    retrieval = [served for stage, _, served in seen if stage == STAGE_RETRIEVAL]
    assert len(retrieval) >= 8 and set(retrieval) == {0}  # no LLM call while screening
    assert {step for stage, step, _ in seen if stage == STAGE_FULL} == {1, 2, 3}  # three finalists, judged in turn
    assert fake_llm.chat_requests  # the finalists were answered and judged

    stored = runs.runs_of("sweep_id", sweep_id)
    assert [r.id for r in stored] == run_ids
    assert [r.config["sweep_step"] for r in stored] == pick_finalists(cells, 3) == [1, 2, 4]
    assert all(r.status == "completed" and r.n_done == 2 for r in stored)
    table = sweep_table(runs, sweep_id)
    assert list(table["stage"]) == [STAGE_FULL, STAGE_FULL, STAGE_RETRIEVAL, STAGE_FULL]
    assert list(table["rank"]) == [1, 2, 4, 3]
    assert table["faithfulness"].isna().tolist() == [False, False, True, False]


def test_a_cancel_while_screening_judges_nothing(eval_settings, eval_set, fake_llm):
    runs = RunStore(eval_settings.runs_db)
    cancel = threading.Event()

    def progress(p: sweep.SweepProgress) -> None:
        if p.stage == STAGE_RETRIEVAL and p.step == 2 and p.questions_done == 4:  # step 2's second question starts
            cancel.set()

    with cli.components(eval_settings, runs) as parts:
        sweep_id, run_ids = run_cheap_first(eval_settings, grid([300], [60], [2, 3, 4]), load_eval_set(eval_set),
                                            "three", parts, kb_root=KB, progress=progress,
                                            should_continue=lambda: not cancel.is_set())
    assert run_ids == [] and runs.runs() == [] and fake_llm.chat_requests == []
    # the question in flight is finished and stored; no screen for step 3
    assert [(s.status, s.n_done) for s in runs.screens_of(sweep_id)] == [("completed", 3), ("cancelled", 2)]


def test_sweep_cli_is_cheap_first_and_needs_no_llm_for_retrieval_only(sample_data, eval_set, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens there
    args = ["sweep", "--set", str(eval_set), "--chunk-sizes", "300", "--chunk-overlaps", "60", "--top-ks", "2,4"]
    assert cli.main([*args, "--finalists", "0"]) == 0
    out = capsys.readouterr().out
    assert "stage 1, retrieval only (no LLM call): 2 configs, 6 questions" in out
    assert "#1 size 300 · overlap 60 · top-k 2: reference found (hit rate) 1.00 [0.34, 1.00]" in out
    assert out.count("-> retrieval only (completed)") == 2 and "0 runs" in out
    runs = RunStore(sample_data.runs_db)
    assert len(runs.screens()) == 2 and runs.runs() == []

    assert cli.main(args) == 1  # two finalists need the judge: its absence stops the sweep before anything is stored
    assert "a cheap-first sweep with 0 finalists screens by retrieval alone and needs no LLM" in capsys.readouterr().err
    assert len(runs.screens()) == 2


def test_finalists_are_judged_on_the_first_questions_chosen_and_screening_embeds_each_question_once(
        eval_settings, eval_set, fake_llm, monkeypatch):
    runs = RunStore(eval_settings.runs_db)
    embedded: list[str] = []
    stage: list[str] = []

    with cli.components(eval_settings, runs) as parts:
        real = parts.embedder.embed_query
        monkeypatch.setattr(parts.embedder, "embed_query",
                            lambda text: (embedded.append(text) if not stage else None) or real(text))
        sweep_id, run_ids = run_cheap_first(
            eval_settings, grid([300], [60], [2, 3, 4]), load_eval_set(eval_set), "three", parts, kb_root=KB,
            finalists=1, full_questions=2, metrics=[MetricName.FAITHFULNESS],
            progress=lambda p: stage.append(p.stage) if p.stage == STAGE_FULL else None)
    assert [s.n_done for s in runs.screens_of(sweep_id)] == [3, 3, 3]  # every question screened in every cell
    assert [(r.n_items, r.n_done, r.status) for r in map(runs.run, run_ids)] == [(2, 2, "completed")]  # judged on 2
    assert sorted(embedded) == sorted(item.question for item in load_eval_set(eval_set))  # 3 cells, 3 embeddings
    cell = runs.screens_of(sweep_id)[0].config
    assert cell["settings"]["top_k"] == 2 and cell["kb_root"] == str(KB)  # what a profile made from it keeps


def test_the_large_sample_set_tells_the_default_sweep_cells_apart_by_retrieval_alone(sample_data, monkeypatch, capsys):
    """Issue 24: on the bundled large set, the Tune page's default grid screened by retrieval (0 finalists, no LLM)
    ranks the cells with 95 % intervals that do not all overlap, on a retrieval measure, the best cell first."""
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens there: no LLM is needed
    large = Settings().sample_eval_set_large
    assert cli.main(["sweep", "--set", str(large), "--chunk-sizes", "300,600", "--chunk-overlaps", "80",
                     "--top-ks", "2,4", "--finalists", "0"]) == 0
    assert "stage 1, retrieval only (no LLM call): 4 configs, 1752 questions" in capsys.readouterr().out
    runs = RunStore(sample_data.runs_db)
    [sweep_id] = {s.config["sweep_id"] for s in runs.screens()}
    table = sweep_table(runs, sweep_id).sort_values("rank")
    apart = {measure: [(a["name"], b["name"]) for a in table.to_dict("records") for b in table.to_dict("records")
                       if a[f"{measure}_low"] > b[f"{measure}_high"]] for measure in ("reference_found", "mrr")}
    assert apart["reference_found"] or apart["mrr"], table
    best, worst = table.iloc[0], table.iloc[-1]
    assert (best["name"], worst["name"]) in apart["reference_found"] + apart["mrr"]  # ranked by what tells them apart
