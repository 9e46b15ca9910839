"""Profiles on the pages (AppTest): keep a sweep cell or a run, the Ask page starts from it (its collection ingested
when missing, in the background), says where it came from, reverts in one click, saves its own choices; a broken
profile is a message, never a traceback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from ops import profiles
from settings import ACTIVE_PROFILE, PROFILES, Settings
from tests.apptest import fresh_app
from tests.test_eval_pages import store_runs, texts
from tests.test_profiles import _screen_and_run
from ui import jobs, resources

CELL = "sweep-abc-size300-overlap80-k2"
CELL_COLLECTION = "sample__all-minilm-l6-v2-int8__recursive-300-80"


@pytest.fixture
def app(sample_data) -> Iterator[AppTest]:
    with fresh_app(timeout=120) as app:
        yield app


def test_a_kept_sweep_cell_is_where_the_ask_page_starts_and_one_click_reverts(app, sample_data):
    _screen_and_run(sample_data)
    app.run()
    app.switch_page("views/tune.py").run()
    assert not app.exception
    assert app.selectbox(key="tune.keep_cell").value == 1
    assert app.text_input(key="tune.keep.name").value == CELL
    app.button(key="tune.keep.save").click().run()
    assert not app.exception
    assert f"Profile `{CELL}` is active" in texts(app.success)
    assert "being ingested from samples/kb now" in texts(app.success)
    assert (Settings().chunk_size, Settings().top_k, Settings().collection) == (300, 2, CELL_COLLECTION)

    app.switch_page("views/ask.py").run()
    assert not app.exception
    assert app.selectbox(key="ask.profile").value == CELL
    assert ("from sweep cell “size 300 · overlap 80 · top-k 2” of sweep-abc on sample_large.jsonl (2 questions): "
            "Reference found (hit rate) 0.50 [0.09, 0.91]") in texts(app.sidebar.caption)
    job = jobs.registry().latest(f"ingest:{CELL_COLLECTION}")
    assert job is not None and job.done.wait(300) and job.error is None, job and job.error
    app.run()
    assert not app.exception
    assert app.slider(key="ask.top_k").value == 2
    assert app.selectbox(key="ask.collection").value == CELL_COLLECTION  # ingested with the cell's chunking

    app.button(key="ask.profile_revert").click().run()
    assert not app.exception
    assert app.selectbox(key="ask.profile").value == "Built-in defaults"
    assert app.slider(key="ask.top_k").value == 4 and app.selectbox(key="ask.collection").value == "sample"
    assert profiles.names(sample_data) == [CELL] and Settings().active_profile.name is None

    app.selectbox(key="ask.profile").select(CELL).run()  # and back, from the sidebar
    assert app.slider(key="ask.top_k").value == 2 and Settings().active_profile.name == CELL


def test_a_run_kept_on_the_evaluation_page_becomes_the_active_profile(app, sample_data):
    ids = store_runs(sample_data)
    app.query_params["run"] = ids["before"]
    app.run()
    app.switch_page("views/evaluation.py").run()
    name = app.text_input(key="eval.keep.name").value
    app.text_input(key="eval.keep.name").input("../escape").run()
    app.button(key="eval.keep.save").click().run()
    assert "is not a usable name" in texts(app.error) and profiles.names(sample_data) == []
    app.text_input(key="eval.keep.name").input(name).run()
    app.button(key="eval.keep.save").click().run()
    assert not app.exception
    kept = profiles.load(sample_data, name)
    assert kept.origin.kind == "evaluation run" and kept.origin.ref == ids["before"]
    assert kept.origin.scores["faithfulness"][0] == 0.5
    assert Settings().active_profile.name == name


def test_the_ask_sidebar_saves_its_choices_as_a_profile_that_a_new_session_starts_from(app, sample_data):
    app.run()
    app.slider(key="ask.top_k").set_value(7).run()
    app.radio(key="ask.grounding").set_value("strict").run()
    app.text_input(key="ask.save_profile.name").input("strict-seven").run()
    app.button(key="ask.save_profile.save").click().run()
    assert not app.exception
    kept = profiles.load(sample_data, "strict-seven")
    assert kept.settings["top_k"] == 7 and kept.settings["grounding_policy"] == "strict"
    assert kept.origin.kind == "Ask page"
    resources.vector_store().client.close()  # the first session's store client, so the new one can open the folder
    with fresh_app() as again:  # a new session (a reload)
        again.run()
        assert again.slider(key="ask.top_k").value == 7 and again.radio(key="ask.grounding").value == "strict"
        assert again.selectbox(key="ask.profile").value == "strict-seven"


def test_a_broken_profile_is_a_warning_and_the_ask_page_starts_from_the_defaults(app, sample_data):
    folder = sample_data.data_dir / PROFILES
    folder.mkdir(parents=True)
    (folder / "handmade.json").write_text('{"settings": {"top_k": "lots", "<img src=x onerror=alert(1)>": 1}}')
    (folder / ACTIVE_PROFILE).write_text('{"name": "handmade"}')
    app.run()
    assert not app.exception
    warning = texts(app.sidebar.warning)
    assert "profile 'handmade' cannot be used, so the built-in defaults apply" in warning
    assert app.slider(key="ask.top_k").value == 4
    (folder / "handmade.json").write_text('{"settings": {"top_k": 12}}')  # fixed by hand: the next rerun uses it
    app.run()
    assert not app.sidebar.warning, texts(app.sidebar.warning)
    assert app.slider(key="ask.top_k").value == 12  # the slider stretches to fit
