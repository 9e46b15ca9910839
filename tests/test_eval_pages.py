"""The Evaluation and Tune pages through Streamlit's AppTest, on stored runs shaped like real ones."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from evaluation import sweep
from evaluation.evalset import EvalItem, save_eval_set, saved_set_path
from evaluation.aggregate import FOLDED_CHECKS
from evaluation.metrics import MetricName
from evaluation.runstore import RunStore, SampleRow, ScreenRow
from evaluation.export import sweep_table
from evaluation.screening import STAGE_FULL, STAGE_RETRIEVAL
from settings import Settings
from tests import test_eval_runner
from tests.apptest import fresh_app, plain, texts
from ui import charts, jobs

# a fake OpenAI server as answering model and judge, and settings pointing at it (from the runner tests)
eval_settings, fake_llm = test_eval_runner.eval_settings, test_eval_runner.fake_llm
METRICS = ["faithfulness", "answer_relevancy", "context_precision", "context_recall"]
HUGUENOT_CONTEXT = {"id": "c1", "source": "kb/huguenots.md", "score": 0.71,
                    "text": "Jean Ribault founded the colony of Fort Caroline in Florida in 1564."}
RHINE_CONTEXT = {"id": "c2", "source": "kb/rhine.md", "score": 0.52, "text": "The Rhine flows through Basel."}
OFF_TOPIC = {"id": "c3", "source": "kb/rhine.md", "score": 0.31, "text": "The Rhine is 1,230 km long."}


def _metric(name: str, score: float | None, status: str = "scored", reason: str | None = None) -> dict:
    return {"metric": name, "status": status, "score": score, "reason": reason, "seconds": 20.0, "repeat": 0}


def _rows(faithful_rhine: bool) -> list[SampleRow]:
    skipped_ref = [_metric(m, None, "skipped", "no reference answer") for m in ("context_precision", "context_recall")]
    refusal = [_metric(m, None, "skipped", "answer is an abstention") for m in ("faithfulness", "answer_relevancy")]
    rhine_answer = "I don't know based on the provided documents." if faithful_rhine else "The Aare joins at Basel in 1564."
    rhine_metrics = (refusal if faithful_rhine else [_metric("faithfulness", 0.0), _metric("answer_relevancy", 0.7)]) + [
        _metric("context_precision", 0.0), _metric("context_recall", 0.0)]
    return [
        SampleRow(idx=0, item_id="hug", question="What was the name of the Florida Huguenot colony?", reference="Fort Caroline",
                  answerable=True, kind="answerable", answer="The colony was named Fort Caroline.", abstained=False,
                  abstain_reason=None, outcome="correct_answer", contexts=[HUGUENOT_CONTEXT],
                  metrics=[_metric("faithfulness", 1.0), _metric("answer_relevancy", 0.9), _metric("context_precision", 1.0),
                           _metric("context_recall", 1.0)], error=None, seconds=8.0, answer_check_p=0.91),
        SampleRow(idx=1, item_id="rhine", question="What is the major tributary for the Rhine?", reference="Aare",
                  answerable=True, kind="answerable", answer=rhine_answer, abstained=faithful_rhine, abstain_reason=None,
                  outcome="false_abstention" if faithful_rhine else "wrong_answer", contexts=[RHINE_CONTEXT],
                  metrics=rhine_metrics, error=None, seconds=9.0, answer_check_p=None if faithful_rhine else 0.62),
        SampleRow(idx=2, item_id="aus", question="What is the capital of Australia?", reference=None, answerable=False,
                  kind="off_topic", answer="I don't know based on the provided documents.", abstained=True,
                  abstain_reason="low_retrieval_score", outcome="correct_abstention", contexts=[OFF_TOPIC],
                  metrics=refusal + skipped_ref, error=None, seconds=0.5),
    ]


def store_runs(settings: Settings) -> dict[str, str]:
    """Two plain runs (the second flips the Rhine question), a 2×2 sweep and a 3-step ladder."""
    runs = RunStore(settings.runs_db)
    ids = {}
    for name, faithful in (("before", False), ("after", True)):
        run_id = runs.create_run("sample.jsonl", 3, {"top_k": 4, "min_score": 0.4, "llm_model": "qwen2.5-0.5b",
                                                     "metrics": METRICS})
        for row in _rows(faithful):
            runs.add_sample(run_id, row)
        runs.finish_run(run_id)
        ids[name] = run_id
    step = 0
    for size in (300, 600):
        for k in (2, 4):
            step += 1
            run_id = runs.create_run("sample.jsonl", 3, {"top_k": k, "chunk_size": size, "chunk_overlap": 80,
                                                         "min_score": 0.4, "metrics": METRICS, "sweep_id": "sweep-test",
                                                         "sweep_step": step, "sweep_name": f"size {size} · top-k {k}"})
            for row in _rows(size == 600):
                runs.add_sample(run_id, row)
            runs.finish_run(run_id)
            ids[f"sweep{step}"] = run_id
    for step, name in enumerate(["baseline", "+ hybrid", "+ rerank"], start=1):
        run_id = runs.create_run("sample.jsonl", 3, {"top_k": 4, "metrics": METRICS, "ladder_id": "ladder-test",
                                                     "ladder_step": step, "ladder_name": name})
        for row in _rows(step > 1):
            runs.add_sample(run_id, row)
        runs.finish_run(run_id)
    return ids


@pytest.fixture
def app(sample_data) -> Iterator[AppTest]:
    with fresh_app() as app:
        yield app


def frame(app: AppTest, column: str):
    """The first table on the page with this column (AppTest finds widgets by key, not dataframes)."""
    return next(d.value for d in app.dataframe if column in d.value.columns)



def test_evaluation_page_shows_a_run_its_abstention_matrix_and_a_drilldown(app, sample_data):
    ids = store_runs(sample_data)
    app.query_params["run"] = ids["before"]
    app.run()
    app.switch_page("views/evaluation.py").run()
    assert not app.exception
    assert app.selectbox(key="eval.run_id").value == ids["before"]
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Faithfulness"] == "0.50" and metrics["Context recall"] == "0.50"
    captions = texts(app.caption)
    assert "2 of 3 scored" in captions
    rates = frame(app, "rate")
    assert rates.loc["hallucination rate (unanswerable)", "rate"] == "0%"
    assert rates.loc["answer accuracy (answerable)", "rate"] == "50%"
    table = frame(app, "label")
    assert list(table["label"]) == ["ok", "retrieval miss", "correct abstention"]
    # the answer check's P beside each answer; the gate stopped the off-topic question before any check
    assert list(table["answer_check_p"].iloc[:2]) == [0.91, 0.62] and table["answer_check_p"].isna().iloc[2]

    app.selectbox(key="eval.inspect").select(2).run()
    assert not app.exception
    assert app.query_params["q"] == "2"
    markdown = texts(app.markdown)
    assert "What is the major tributary for the Rhine?" in markdown and "retrieval miss" in markdown
    scores = frame(app, "status")
    assert list(scores["status"]) == ["scored"] * 4
    assert any("kb/rhine.md" in e.label for e in app.expander)


def test_an_upload_named_like_a_saved_set_never_replaces_it(app, eval_settings):
    mine = save_eval_set([EvalItem(id="1", question="Where does the Rhine rise?")], saved_set_path(eval_settings, "mine"))
    before = mine.read_bytes()
    upload = (b'{"question": "What was the name of the Florida Huguenot colony?", "reference": "Fort Caroline", '
              b'"answerable": true}\n')
    app.run()
    app.switch_page("views/evaluation.py").run()
    app.file_uploader(key="eval.upload").set_value(("mine.jsonl", upload, "application/octet-stream")).run()
    assert not app.exception
    kept = mine.with_name("mine-2.jsonl")
    assert mine.read_bytes() == before and kept.read_bytes() == upload
    warning = texts(app.warning)
    assert "A different set named mine.jsonl is already saved; it is left as it was" in warning
    assert "this upload is kept as mine-2.jsonl" in warning

    app.button(key="eval.run").click().run()  # runs the upload, and the rerun keeps no second copy
    assert not app.exception
    [run] = RunStore(eval_settings.runs_db).runs()
    assert (run.eval_set, run.n_items) == ("mine-2.jsonl", 1)
    assert sorted(p.name for p in mine.parent.iterdir()) == ["mine-2.jsonl", "mine.jsonl"]
    assert mine.read_bytes() == before


def test_the_evaluation_page_runs_only_the_metrics_chosen(app, eval_settings):
    upload = b'{"question": "What was the name of the Florida Huguenot colony?", "reference": "Fort Caroline"}\n'
    app.run()
    app.switch_page("views/evaluation.py").run()
    picker = app.multiselect(key="eval.metrics")
    assert [m.value for m in picker.value] == ["faithfulness", "answer_relevancy", "context_precision",
                                               "context_recall"]  # all four unless the user picks fewer
    app.file_uploader(key="eval.upload").set_value(("one.jsonl", upload, "application/octet-stream")).run()
    app.multiselect(key="eval.metrics").set_value([]).run()
    assert app.button(key="eval.run").disabled  # nothing to score
    app.multiselect(key="eval.metrics").set_value([MetricName.FAITHFULNESS]).run()
    app.button(key="eval.run").click().run()
    assert not app.exception
    [run] = RunStore(eval_settings.runs_db).runs()
    assert run.config["metrics"] == ["faithfulness"]
    [row] = RunStore(eval_settings.runs_db).samples(run.id)
    assert [m["metric"] for m in row.metrics] == ["faithfulness"]
    assert "no reference answers" not in texts(app.info)  # faithfulness needs none

    no_reference = b'{"question": "What was the name of the Florida Huguenot colony?"}\n'
    app.file_uploader(key="eval.upload").set_value(("two.jsonl", no_reference, "application/octet-stream")).run()
    app.multiselect(key="eval.metrics").set_value([MetricName.FAITHFULNESS, MetricName.CONTEXT_RECALL]).run()
    assert "This set has no reference answers: context recall will be skipped." in texts(app.info)  # before Run
    app.multiselect(key="eval.metrics").set_value([MetricName.FAITHFULNESS]).run()
    assert "no reference answers" not in texts(app.info)


def test_an_unreadable_upload_is_refused_and_not_kept(app, sample_data):
    app.run()
    app.switch_page("views/evaluation.py").run()
    app.file_uploader(key="eval.upload").set_value(("../../bad.jsonl", b'{"reference": "no question"}\n',
                                                    "application/octet-stream")).run()
    assert not app.exception
    assert "This upload cannot be used: bad.jsonl has 1 invalid rows" in texts(app.error)
    assert app.button(key="eval.run").disabled
    assert not (sample_data.data_dir / "evalsets").exists()


def test_evaluation_page_filters_compare_and_flips(app, sample_data):
    ids = store_runs(sample_data)
    app.query_params["run"] = ids["after"]
    app.query_params["label"] = "correct abstention"
    app.run()
    app.switch_page("views/evaluation.py").run()
    assert not app.exception
    assert list(frame(app, "label")["question"]) == ["What is the capital of Australia?"]
    app.selectbox(key="eval.compare").select(ids["before"]).run()
    flips = frame(app, "outcome before")
    assert list(flips["question"]) == ["What is the major tributary for the Rhine?"]
    assert (flips["outcome before"][0], flips["outcome after"][0]) == ("wrong_answer", "false_abstention")
    assert app.query_params["compare"] == ids["before"]
    overview = frame(app, "eval set")  # all runs, oldest first, each a link that opens it
    assert len(overview) == 9 and overview["open"].iloc[0] == f"?run={ids['before']}"


def test_a_run_without_ragas_scores_shows_its_outcomes_and_says_what_is_missing(app, sample_data):
    """Answers stored without judging (bench/abstention.py --save-run): outcomes and P, no empty score charts."""
    runs = RunStore(sample_data.runs_db)
    run_id = runs.create_run("squad2 (bench/abstention.py)", 3, {"top_k": 4, "metrics": [], "source": "bench/abstention.py"})
    for row in _rows(False):
        runs.add_sample(run_id, row.model_copy(update={"metrics": []}))
    runs.finish_run(run_id)
    app.query_params["run"] = run_id
    app.run()
    app.switch_page("views/evaluation.py").run()
    assert not app.exception
    assert "This run has no Ragas scores" in texts(app.info)
    charts_shown = {c.key for c in app.get("plotly_chart")}  # the outcome matrix and the trend tab, no score charts
    assert "eval.confusion_chart" in charts_shown and not charts_shown & {"eval.dist_chart", "eval.scores_chart"}
    assert list(frame(app, "label")["answer_check_p"].iloc[:2]) == [0.91, 0.62]


def test_tune_page_draws_heatmaps_the_ladder_and_the_coverage_curve(app, sample_data):
    ids = store_runs(sample_data)
    app.run()
    app.switch_page("views/tune.py").run()
    assert not app.exception
    assert app.title[0].value == "Tune"
    assert app.selectbox(key="tune.sweep").value == "sweep-test"
    charts = {c.proto.id for c in app.get("plotly_chart")}
    assert len(charts) == 4 + 1 + 1 + 1  # four heatmaps, the cells' intervals, the ladder, the coverage curve
    sweep = frame(app, "open")
    assert list(zip(sweep["chunk_size"], sweep["top_k"], strict=True)) == [(300, 2), (300, 4), (600, 2), (600, 4)]
    assert sweep["open"][0] == f"/evaluation?run={ids['sweep1']}"
    assert list(sweep["stage"]) == [STAGE_FULL] * 4 and "rank" not in sweep  # a sweep evaluated in full
    # each cell's mean with its 95 % interval over the questions: faithfulness 1.0 and 0.0 -> 0.50 [0.00, 1.00];
    # the 600 cells scored one question (the Rhine one abstained), and one question has no interval
    assert list(sweep["faithfulness"]) == ["0.50 [0.00, 1.00]"] * 2 + ["1.00"] * 2
    ladder = frame(app, "step_name")
    assert list(ladder["step_name"]) == ["baseline", "+ hybrid", "+ rerank"]
    assert list(ladder["faithfulness"]) == [0.5, 1.0, 1.0]
    # each step also says what it did with labelled questions: 1 of 2 answerable right, the unanswerable one refused
    assert list(ladder["answer_accuracy"]) == [0.5] * 3 and list(ladder["hallucination_rate"]) == [0.0] * 3
    coverage = frame(app, "threshold")
    # the newest run (a ladder step) recorded no gate: the curve starts at the settings' own
    assert coverage["threshold"].iloc[0] == sample_data.min_score and coverage["coverage"].iloc[0] == pytest.approx(1 / 3)
    # the same tab reads a cut on the answer check's P off a run: above the wrong answer's 0.62 it is withheld
    app.selectbox(key="tune.coverage_run").set_value(ids["before"]).run()
    app.radio(key="tune.coverage_gate").set_value("answer check P(supported)").run()
    assert not app.exception and app.query_params["gate"] == "answer_check"
    assert "claim verdicts aside" in " ".join(c.value for c in app.caption)  # an evaluation run's P is the check's alone
    curve = frame(app, "threshold")
    assert curve["threshold"].iloc[0] == 0.0 and curve["n_answered"].iloc[0] == 2
    kept = curve[curve["threshold"] > 0.62]
    assert set(kept["n_answered"]) == {1} and set(kept["answer_accuracy"]) == {0.5}


def test_tune_page_refuses_an_empty_grid(app, sample_data):
    app.run()
    app.switch_page("views/tune.py").run()
    assert "No sweep yet" in texts(app.info)
    assert "No runs yet. Each evaluation run" in texts(app.info)  # the coverage tab says where its curves come from
    app.multiselect(key="tune.top_ks").set_value([])
    app.button[0].click().run()
    assert not app.exception
    assert "at least one chunk size, one overlap and one top-k" in texts(app.error)


def test_heatmap_cells_carry_their_run_for_a_click(sample_data):
    ids = store_runs(sample_data)
    table = sweep_table(RunStore(sample_data.runs_db), "sweep-test")
    heat, cells = charts.sweep_heatmap(table, "faithfulness").data
    assert heat.type == "heatmap" and heat.hoverinfo == "skip"  # the heatmap paints, the markers take clicks
    assert cells.type == "scatter" and cells.marker.symbol == "square"
    by_cell = dict(zip(zip(cells.y, cells.x, strict=True), cells.customdata, strict=True))
    assert by_cell == {("300", "2"): ids["sweep1"], ("300", "4"): ids["sweep2"], ("600", "2"): ids["sweep3"],
                       ("600", "4"): ids["sweep4"]}
    # st.plotly_chart's selection event after a click on the (600, 2) cell
    event = {"selection": {"points": [{"curve_number": 1, "x": "2", "y": "600", "customdata": ids["sweep3"]}],
                           "point_indices": [2], "box": [], "lasso": []}}
    assert charts.clicked_run(event) == ids["sweep3"]
    assert charts.clicked_run({"selection": {"points": [], "point_indices": [], "box": [], "lasso": []}}) is None


def pause(monkeypatch, name: str) -> tuple[threading.Event, threading.Event]:
    """Make evaluation.sweep's `name` pause as its second question starts (sets `reached`) until `release` is set."""
    reached, release, real = threading.Event(), threading.Event(), getattr(sweep, name)

    def paused(*args, progress, **kwargs):
        def report(snapshot: sweep.SweepProgress) -> None:
            progress(snapshot)
            if snapshot.questions_done == 1:
                reached.set()
                assert release.wait(60)
        return real(*args, progress=report, **kwargs)

    monkeypatch.setattr(sweep, name, paused)
    return reached, release


@pytest.fixture
def paused_sweep(monkeypatch) -> tuple[threading.Event, threading.Event]:
    """A sweep in full that pauses as its second question starts."""
    return pause(monkeypatch, "run_configs")


def test_a_sweep_runs_in_the_background_with_progress_and_can_be_cancelled(app, eval_settings, paused_sweep):
    reached, release = paused_sweep
    app.run()
    app.switch_page("views/tune.py").run()
    app.multiselect(key="tune.sizes").set_value([300])
    app.radio(key="tune.mode").set_value("Full evaluation of every cell")
    app.number_input(key="tune.limit").set_value(3)
    app.button[0].click().run()  # Run sweep: 1 chunk configuration × top-k 2 and 4
    assert not app.exception
    assert reached.wait(120), "the sweep did not reach its second question"
    app.selectbox(key="tune.collection").select("sample").run()  # any click elsewhere: a full rerun
    [bar] = app.get("progress")
    assert plain(bar.proto.text).startswith("step 1/2 (size 300 · overlap 80 · top-k 2) · 1/6 questions")
    assert "Sweep of 2 runs × 3 questions on 'sample'" in texts(app.caption)

    app.button[0].click().run()  # a second sweep while this one runs
    assert "is already running" in texts(app.warning) and "one sweep at a time" in texts(app.warning)

    app.button(key="tune.cancel").click().run()
    assert "Cancelling" in texts(app.caption)
    release.set()
    job = jobs.registry().get(app.session_state["tune.job"])
    assert job.done.wait(120)
    app.run()
    assert not app.exception and not app.get("progress")
    [run] = RunStore(eval_settings.runs_db).runs()
    assert (run.status, run.n_done, run.config["top_k"]) == ("cancelled", 2, 2)  # question 2 was in flight
    warning = texts(app.warning)
    assert "cancelled. 0 completed runs stored" in warning
    assert f"run {run.id} (cancelled, 2 of 3 questions): `python -m evaluation resume {run.id}`" in warning
    assert app.selectbox(key="tune.sweep").value == run.config["sweep_id"]  # the new sweep is shown


def store_cheap_first(settings: Settings) -> dict[int, str]:
    """A cheap-first sweep of 2 chunk sizes × 2 top-k on the three questions: every cell screened, (600, 4) judged."""
    runs = RunStore(settings.runs_db)
    ids = {}
    step = 0
    for size in (300, 600):
        for k in (2, 4):
            step += 1
            config = {"top_k": k, "chunk_size": size, "chunk_overlap": 80, "sweep_id": "sweep-cheap", "sweep_step": step,
                      "sweep_name": f"size {size} · overlap 80 · top-k {k}"}
            screen_id = runs.create_screen("sample.jsonl", 3, config)
            for row in _rows(False):  # the Rhine's Aare is found by top-k 4 only; the 300 cells also lose Fort Caroline
                found = {"hug": 1 if size == 600 else None, "rhine": 2 if k == 4 else None}.get(row.item_id)
                runs.add_screen_row(screen_id, ScreenRow(
                    idx=row.idx, item_id=row.item_id, question=row.question, reference=row.reference,
                    answerable=row.answerable, kind=row.kind, found_rank=found, best_similarity=0.6 if row.reference else 0.2,
                    gated=not row.reference, contexts=[], seconds=0.05))
            runs.finish_screen(screen_id)
            if step == 4:
                run_id = runs.create_run("sample.jsonl", 3, {**config, "min_score": 0.4, "metrics": METRICS})
                for row in _rows(True):
                    runs.add_sample(run_id, row)
                runs.finish_run(run_id)
                ids[step] = run_id
    return ids


def test_tune_page_says_which_stage_each_cell_of_a_cheap_first_sweep_reached(app, sample_data):
    ids = store_cheap_first(sample_data)
    app.run()
    app.switch_page("views/tune.py").run()
    assert not app.exception
    assert app.selectbox(key="tune.sweep").value == "sweep-cheap"
    assert "4 cells, 1 judged in full" in app.selectbox(key="tune.sweep").format_func("sweep-cheap")
    assert "all 4 cells were screened by **retrieval only** on 3 questions" in texts(app.caption)
    table = frame(app, "stage")
    assert list(table["stage"]) == [STAGE_RETRIEVAL] * 3 + [STAGE_FULL]
    assert list(table["rank"]) == [4, 3, 2, 1]  # reference found 0, 1/2, 1/2 (MRR 1 beats 1/2), 2/2 of the answerable
    assert table["open"].tolist()[:3] == [""] * 3  # only a judged cell has a run to open; the others show blank
    assert table["open"].iloc[3] == f"/evaluation?run={ids[4]}"
    assert list(table["reference_found"])[3] == "1.00 [0.34, 1.00]"  # 2 of 2, Wilson's interval
    assert table["faithfulness"].tolist()[:3] == [""] * 3
    shown = {c.proto.id.rsplit("-", 1)[-1] for c in app.get("plotly_chart")}
    assert {"tune.heat_reference_found", "tune.heat_mrr", "tune.heat_faithfulness", "tune.interval_chart"} <= shown
    heat_cells = charts.sweep_heatmap(sweep_table(RunStore(sample_data.runs_db), "sweep-cheap"), "faithfulness").data[1]
    assert list(heat_cells.text) == [STAGE_RETRIEVAL] * 3 + [""]  # the judged cell shows its score instead
    assert "stage reached: full evaluation" in heat_cells.hovertext[3] and "not measured" in heat_cells.hovertext[0]
    # one cell's questions as retrieval saw them
    app.selectbox(key="tune.screen_cell").set_value("size 300 · overlap 80 · top-k 2").run()
    questions = frame(app, "reference at rank")
    assert list(questions["outcome"]) == ["reference missed", "reference missed", "correct abstention"]


def test_a_cheap_first_sweep_from_the_page_screens_without_the_llm(app, eval_settings, fake_llm):
    app.run()
    app.switch_page("views/tune.py").run()
    assert app.radio(key="tune.mode").value.startswith("Cheap first")  # the default
    assert app.number_input(key="tune.limit").value == 438  # the whole large bundled set
    assert app.number_input(key="tune.full_questions").value == 20  # the finalists' subset: the quick set's 20
    app.number_input(key="tune.limit").set_value(20)
    app.multiselect(key="tune.sizes").set_value([300])
    app.number_input(key="tune.finalists").set_value(0)
    app.button[0].click().run()
    assert not app.exception
    job = jobs.registry().get(app.session_state["tune.job"])
    assert job.done.wait(120) and job.error is None
    app.run()
    assert not app.exception
    assert "done, 2 cells screened by retrieval, 0 runs stored" in texts(app.success)
    assert fake_llm.chat_requests == []
    runs = RunStore(eval_settings.runs_db)
    assert [(s.status, s.n_done) for s in runs.screens()] == [("completed", 20)] * 2 and runs.runs() == []
    assert list(frame(app, "stage")["stage"]) == [STAGE_RETRIEVAL] * 2
    assert "no cell reached the full evaluation" in texts(app.caption)


def test_a_cheap_first_sweep_shows_its_stage_in_the_progress_and_can_be_cancelled(app, eval_settings, fake_llm,
                                                                                   monkeypatch):
    reached, release = pause(monkeypatch, "run_cheap_first")
    app.run()
    app.switch_page("views/tune.py").run()
    app.multiselect(key="tune.sizes").set_value([300])
    app.number_input(key="tune.limit").set_value(3)
    app.button[0].click().run()  # cheap first (the default), two finalists: 1 chunk configuration × top-k 2 and 4
    assert not app.exception
    assert reached.wait(120), "the sweep did not reach its second question"
    app.selectbox(key="tune.collection").select("sample").run()
    [bar] = app.get("progress")
    assert plain(bar.proto.text).startswith("retrieval only: step 1/2 (size 300 · overlap 80 · top-k 2) · 1/6 questions")
    assert "Cheap-first sweep of 2 cells × 3 questions (2 evaluated in full on 3) on 'sample'" in texts(app.caption)
    app.button(key="tune.cancel").click().run()
    release.set()
    job = jobs.registry().get(app.session_state["tune.job"])
    assert job.done.wait(120)
    app.run()
    assert not app.exception and not app.get("progress")
    runs = RunStore(eval_settings.runs_db)
    assert [(s.status, s.n_done) for s in runs.screens()] == [("cancelled", 2)] and runs.runs() == []
    assert fake_llm.chat_requests == []  # cancelled before any finalist was judged
    assert "cancelled. 0 completed runs stored" in texts(app.warning)


def test_coverage_tab_names_its_runs_and_says_what_a_benchs_curve_folds_in(app, sample_data):
    runs = RunStore(sample_data.runs_db)
    run_id = runs.create_run("squad2 strict, judge reads the quote (bench/judge_scope.py)", 3,
                             {"top_k": 4, "metrics": [], "source": "bench/judge_scope.py", FOLDED_CHECKS: True})
    for row in _rows(False):
        runs.add_sample(run_id, row.model_copy(update={"metrics": []}))
    runs.finish_run(run_id)
    app.run()
    app.switch_page("views/tune.py").run()
    picker = app.selectbox(key="tune.coverage_run")
    assert picker.options == [f"{run_id} · squad2 strict, judge reads the quote (bench/judge_scope.py) · top-k 4 · "
                              "completed · 3/3"]
    app.radio(key="tune.coverage_gate").set_value("answer check P(supported)").run()
    assert not app.exception
    captions = " ".join(c.value for c in app.caption)
    assert "the question-detail check are folded in" in captions and "claim verdicts aside" not in captions
