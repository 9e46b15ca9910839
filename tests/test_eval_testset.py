"""Synthetic eval sets: Ragas' testset generator against a fake judge (good, too weak, down, too slow), the CLI,
saved sets that run, and the Evaluation page's eval-set editor.

The fake OpenAI server answers Ragas' NER and query/answer prompts from the passage it is sent, so the requests
go through Ragas, Instructor and the openai client for real; `weak` makes it answer prose, as small judges do.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from evaluation import __main__ as cli
from evaluation.evalset import (EvalItem, EvalSetError, EvalSetExistsError, KeptUpload, available_sets, keep_upload,
                                load_eval_set, save_eval_set, saved_set_path, validate_rows)
from evaluation.metrics import JudgeUnavailableError
from evaluation.runstore import RunStore
from evaluation.testset import (GenerationError, JudgeTooWeakError, Passage, generate_eval_set, read_passages,
                                select_passages)
from settings import Settings
from tests.apptest import fresh_app, texts
from tests.conftest import JUDGE_MODEL, REPO, SAMPLE_KB, free_port, open_store
from tests.fake_openai import FakeOpenAI, serving


@pytest.fixture
def judge() -> Iterator[FakeOpenAI]:
    with serving() as server:
        yield server


@pytest.fixture
def gen_settings(settings: Settings, judge: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("OPENAI_BASE_URL", judge.base_url)
    return Settings()



def test_generated_questions_come_one_per_passage_from_different_documents(gen_settings, judge):
    passages = read_passages(gen_settings, SAMPLE_KB)
    by_source = {}
    for p in passages:
        by_source.setdefault(p.source, []).append(p.text)

    generated = generate_eval_set(gen_settings, passages, 3)

    assert len(generated.items) == 3 and not generated.problems
    assert len({item.source for item in generated.items}) == 3  # spread over the documents
    for item in generated.items:
        assert item.answerable is True and item.kind == "synthetic" and item.question.endswith("?")
        assert any(item.reference in text for text in by_source[item.source])  # the answer is the passage's
    # two prompts per question (entities, then question and answer), all to the judge model in JSON mode
    assert generated.calls == 6 and len(judge.chat_requests) == 6
    assert {r["model"] for r in judge.chat_requests} == {JUDGE_MODEL}
    assert all(r.get("response_format") == {"type": "json_object"} for r in judge.chat_requests)


def test_a_judge_that_answers_prose_gets_a_clear_error_after_a_bounded_number_of_requests(gen_settings, judge):
    judge.weak = True
    passages = read_passages(gen_settings, SAMPLE_KB)
    with pytest.raises(JudgeTooWeakError) as caught:
        generate_eval_set(gen_settings, passages, 2)
    message = str(caught.value)
    assert f"The judge `{JUDGE_MODEL}` could not generate an eval set" in message
    assert "unparseable output" in message and "FQA_JUDGE_MODEL" in message and "by hand" in message
    assert len(judge.chat_requests) == 2 * 2  # two passages, each asked twice; no question prompt after that


def test_an_unreachable_judge_stops_at_the_first_prompt(settings):
    down = settings.with_overrides(openai_base_url=f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(JudgeUnavailableError, match="did not answer"):
        generate_eval_set(down, [Passage("a.md", "Fort Caroline was a French colony in Florida. " * 6)] * 3, 3)


def test_the_time_budget_bounds_a_slow_judge(gen_settings, judge):
    judge.delay_s = 3.0
    passages = read_passages(gen_settings, SAMPLE_KB)
    with pytest.raises(GenerationError, match=r"time budget \(2 s\) ran out before the judge answered a single prompt"):
        generate_eval_set(gen_settings, passages, 5, budget_s=1.5)
    assert len(judge.chat_requests) == 1

    judge.delay_s = 1.0  # entities for the first passage, then the budget is gone during the second
    with pytest.raises(GenerationError) as caught:
        generate_eval_set(gen_settings, passages, 5, budget_s=1.6)
    assert not isinstance(caught.value, JudgeTooWeakError)
    assert "ran out after 1 of 10 prompts were answered (about 1 s per prompt here)" in str(caught.value)
    assert "allow about 1 minute for 5 questions" in str(caught.value)


def test_passages_are_spread_over_documents_and_stubs_are_skipped():
    passages = [Passage("a.md", "A" * 300), Passage("a.md", "a second passage " * 20), Passage("b.md", "B" * 300),
                Passage("c.md", "# Heading only")]
    picked = select_passages(passages, 3)
    assert sorted(p.source for p in picked) == ["a.md", "a.md", "b.md"]
    assert select_passages(passages, 2) == select_passages(passages, 2)  # same seed, same pick
    with pytest.raises(GenerationError, match="no passage"):
        generate_eval_set(Settings(), [Passage("c.md", "# Heading only")], 1)


def test_rows_are_validated_one_by_one_and_squad_answers_become_references():
    items, problems = validate_rows([
        {"question": "Where is Basel?", "answerable": "true"},
        {"question": "   ", "reference": "x"},
        {"id": "sq", "question": "Who founded Fort Caroline?", "answers": ["Jean Ribault", "Ribault"]},
        {"question": "Is it?", "answerable": "maybe"},
    ])
    assert [i.id for i in items] == ["1", "sq"] and items[1].reference == "Jean Ribault"
    assert set(problems) == {2, 4}
    assert "question is empty" in problems[2] and "answerable" in problems[4]


def test_saving_never_replaces_a_set_silently_and_names_are_checked(settings):
    items = [EvalItem(id="1", question="Where does the Rhine rise?", reference="in the Swiss Alps", answerable=True)]
    path = save_eval_set(items, saved_set_path(settings, "mine"))
    assert path == settings.data_dir / "evalsets" / "mine.jsonl" and load_eval_set(path) == items
    with pytest.raises(EvalSetExistsError, match=r"choose another name \(e.g. mine-2\)"):
        save_eval_set(items, path)
    save_eval_set(items * 2, path, overwrite=True)
    assert len(load_eval_set(path)) == 2
    with pytest.raises(EvalSetError, match="not a usable name"):
        saved_set_path(settings, "../escape")
    assert available_sets(settings)["Saved: mine.jsonl"] == path


def test_uploads_are_kept_under_a_clean_name_and_never_over_another_set(settings):
    data = b'{"question": "Where does the Rhine rise?"}\n'
    kept = keep_upload(settings, "../../../etc/mine.jsonl", data)  # a browser's name is never a path
    assert kept == KeptUpload(settings.data_dir / "evalsets" / "mine.jsonl", None)
    assert keep_upload(settings, "mine.jsonl", data) == kept  # the same bytes again: stored once
    other = keep_upload(settings, "mine.jsonl", data * 2)
    assert other == KeptUpload(kept.path.with_name("mine-2.jsonl"), kept.path)
    assert kept.path.read_bytes() == data and other.path.read_bytes() == data * 2
    with pytest.raises(EvalSetError, match="use a .jsonl or .csv file"):
        keep_upload(settings, "notes.txt", data)
    assert sorted(p.name for p in kept.path.parent.iterdir()) == ["mine-2.jsonl", "mine.jsonl"]


def test_cli_generates_a_set_that_evaluation_runs(gen_settings, sample_data, judge, capsys, monkeypatch):
    monkeypatch.setenv("FQA_JUDGE_BASE_URL", judge.base_url)
    assert cli.main(["generate", "--size", "2", "--name", "from-kb"]) == 0
    out = capsys.readouterr()
    path = gen_settings.data_dir / "evalsets" / "from-kb.jsonl"
    assert f"wrote {path}: 2 questions from 2 passages" in out.out
    assert f"python -m evaluation run --set {path}" in out.out

    assert cli.main(["generate", "--size", "2", "--name", "from-kb"]) == 2  # never replaced silently
    assert "already exists" in capsys.readouterr().err

    assert cli.main(["run", "--set", str(path), "--metrics", "faithfulness", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "completed" and len(report["samples"]) == 2
    assert [s["question"] for s in report["samples"]] == [i.question for i in load_eval_set(path)]
    assert RunStore(gen_settings.runs_db).runs()[0].eval_set == "from-kb.jsonl"


def test_cli_generates_from_a_stored_collection_as_the_page_does(gen_settings, sample_data, judge, capsys):
    store = open_store(sample_data)
    try:
        stored = [Passage(c.source, c.text) for c in store.scroll("sample")]
    finally:
        store.client.close()  # embedded Qdrant: one client per folder, and the CLI opens its own
    assert sorted(read_passages(sample_data, "sample"), key=repr) == sorted(stored, key=repr)  # opens its own store

    assert cli.main(["generate", "--collection", "sample", "--size", "2", "--name", "from-sample"]) == 0
    assert "wrote " in capsys.readouterr().out
    items = load_eval_set(gen_settings.data_dir / "evalsets" / "from-sample.jsonl")
    assert len(items) == 2 and {i.source for i in items} <= {p.source for p in stored}
    assert len(judge.chat_requests) == 4  # the stored chunks went to the judge: entities, then question and answer
    assert all(any(i.reference in p.text for p in stored) for i in items)


def test_cli_refuses_an_unknown_collection_in_one_line(gen_settings, sample_data, judge):
    done = subprocess.run([sys.executable, "-m", "evaluation", "generate", "--collection", "nope", "--size", "1"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "error: collection 'nope' does not exist (collections: sample)" in done.stderr
    assert not judge.chat_requests and not (gen_settings.data_dir / "evalsets").exists()


def test_cli_says_in_one_line_that_the_judge_is_too_weak(gen_settings, judge, capsys):
    judge.weak = True
    assert cli.main(["generate", "--size", "2", "--name", "weak"]) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "could not generate an eval set" in lines[0] and "Traceback" not in err
    assert not (gen_settings.data_dir / "evalsets" / "weak.jsonl").exists()


@pytest.fixture
def app(sample_data, judge, monkeypatch) -> Iterator[AppTest]:
    monkeypatch.setenv("OPENAI_BASE_URL", judge.base_url)
    with fresh_app() as app:
        app.run()
        app.switch_page("views/evaluation.py").run()
        assert not app.exception
        yield app


def test_a_new_set_is_edited_checked_row_by_row_and_saved(app, sample_data):
    app.selectbox(key="evalsets.pick").select("New empty set").run()
    assert "No questions yet" in texts(app.info)
    app.session_state["evalsets.editor"] = {"edited_rows": {}, "deleted_rows": [], "added_rows": [
        {"question": "What was the name of the Florida Huguenot colony?", "reference": "Fort Caroline",
         "answerable": True},
        {"question": "", "reference": "Aare"},
    ]}
    app.run()
    assert not app.exception
    errors = texts(app.error)
    assert "1 of 2 rows need fixing" in errors and "row 2: question: Value error, question is empty" in errors
    assert app.button(key="evalsets.save").disabled

    app.session_state["evalsets.editor"] = {"edited_rows": {}, "deleted_rows": [], "added_rows": [
        {"question": "What was the name of the Florida Huguenot colony?", "reference": "Fort Caroline",
         "answerable": True},
        {"question": "What is the capital of Australia?", "answerable": False, "kind": "off_topic"},
    ]}
    app.run()
    assert not app.error and "2 questions · 1 answerable · 1 unanswerable · 1 with a reference" in texts(app.caption)
    app.text_input(key="evalsets.name.New empty set").input("huguenots").run()
    app.button(key="evalsets.save").click().run()
    assert not app.exception
    path = sample_data.data_dir / "evalsets" / "huguenots.jsonl"
    assert [(i.question, i.answerable) for i in load_eval_set(path)] == [
        ("What was the name of the Florida Huguenot colony?", True), ("What is the capital of Australia?", False)]
    assert f"Saved 2 questions to {path}" in texts(app.success)
    assert app.selectbox(key="evalsets.pick").value == "Saved: huguenots.jsonl"
    editor = app.data_editor(key="evalsets.editor").value
    assert list(editor["question"]) == ["What was the name of the Florida Huguenot colony?",
                                        "What is the capital of Australia?"]
    assert "Saved: huguenots.jsonl" in app.selectbox(key="eval.set").options  # ready to run


def test_an_edited_sample_is_saved_under_a_new_name_but_not_over_an_existing_one(app, sample_data):
    assert len(app.data_editor(key="evalsets.editor").value) == 20  # the bundled sample, shown first
    app.session_state["evalsets.editor"] = {"edited_rows": {}, "added_rows": [], "deleted_rows": list(range(5, 20))}
    app.run()
    app.text_input(key="evalsets.name.Bundled sample").input("first-five").run()
    app.button(key="evalsets.save").click().run()
    assert len(load_eval_set(sample_data.data_dir / "evalsets" / "first-five.jsonl")) == 5
    app.selectbox(key="evalsets.pick").select("Bundled sample").run()
    app.text_input(key="evalsets.name.Bundled sample").input("first-five").run()
    app.button(key="evalsets.save").click().run()
    assert "already exists: choose another name (e.g. first-five-2), or allow overwriting it" in texts(app.error)
    assert len(load_eval_set(sample_data.data_dir / "evalsets" / "first-five.jsonl")) == 5

    app.checkbox(key="evalsets.overwrite").check().run()
    app.button(key="evalsets.save").click().run()
    assert len(load_eval_set(sample_data.data_dir / "evalsets" / "first-five.jsonl")) == 20
    assert not app.checkbox(key="evalsets.overwrite").value  # one tick, one replacement


def test_generating_from_the_page_saves_an_editable_set(app, sample_data):
    app.number_input(key="evalsets.gen_size").set_value(2)
    app.text_input(key="evalsets.gen_name").input("gen")
    app.button(key="evalsets.generate").click().run()
    assert not app.exception
    assert app.selectbox(key="evalsets.pick").value == "Saved: gen.jsonl"
    assert "Generated 2 questions" in texts(app.success)
    assert list(app.data_editor(key="evalsets.editor").value["kind"]) == ["synthetic", "synthetic"]


def test_a_too_weak_judge_is_explained_on_the_page(app, judge, sample_data):
    judge.weak = True
    app.number_input(key="evalsets.gen_size").set_value(2)
    app.button(key="evalsets.generate").click().run()
    assert not app.exception
    assert "could not generate an eval set" in texts(app.error) and "FQA_JUDGE_MODEL" in texts(app.error)
    assert "choose **New empty set** above" in texts(app.info)
    assert not (sample_data.data_dir / "evalsets").exists()


def test_sets_listed_for_runs_include_saved_ones(settings, tmp_path):
    squad = tmp_path / "qa.jsonl"
    squad.write_text(json.dumps({"id": "q", "question": "Who?", "answers": ["Ribault"], "answerable": True}) + "\n")
    assert list(available_sets(settings, squad)) == ["Bundled sample", "Bundled sample, large", "SQuAD 2.0 sample"]
    assert load_eval_set(squad)[0].reference == "Ribault"
    assert list(available_sets(settings, tmp_path / "missing.jsonl")) == ["Bundled sample", "Bundled sample, large"]
