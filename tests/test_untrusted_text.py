"""Untrusted text reaches a page through one function, `ui.safe_text.literal`: checked here on the source of every page.

Streamlit renders Markdown in st.markdown, alerts, captions, widget labels and help, expander and tab labels, spinner
and progress texts. A value put into such a text must be `literal(...)` (what a document, a file name, an upload, an
eval row, a model or an endpoint wrote), a number (a format spec, len, a count), or one of the few values this project
makes itself, listed in OURS with the reason each is safe. A new page that puts anything else there fails this test
before it reaches a browser; tests/test_browser_hostile.py then checks what a browser really gets on every page.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import REPO
from ui.safe_text import literal

SOURCES = sorted([*(REPO / "views").glob("*.py"), *(REPO / "ui").glob("*.py"), REPO / "app.py"])
# Streamlit calls whose text arguments are rendered as Markdown, and which arguments those are
TEXT_CALLS = {"markdown", "error", "warning", "info", "success", "caption", "write", "toast", "title", "header",
              "subheader", "expander", "progress", "metric", "badge", "selectbox", "radio", "multiselect", "text_input",
              "text_area", "number_input", "slider", "select_slider", "checkbox", "toggle", "button",
              "download_button", "form_submit_button", "file_uploader", "page_link", "spinner", "status", "popover",
              "tabs", "feedback", "segmented_control", "pills", "link_button", "data_editor_label"}
TEXT_KEYWORDS = {"label", "body", "text", "help", "caption"}
NUMBERS = {"len", "int", "round", "float", "sum", "max", "min", "abs", "percent", "size_text"}
# names of counts, positions and numbers (a value of one of these is an int or float we computed)
COUNT = re.compile(r"^(n|n_\w+|\w+_count|done|total|judged|kept|answerable|question_no|marker|chunk_index|start|end|"
                   r"top_k|repeats|with_reference|unanswerable|q)$")
OURS = {  # values this project makes itself, from its own words, settings or identifier-checked names, never from a
    # document, an upload, an eval row, a model or an endpoint
    "job.elapsed", "exc.job.elapsed",  # a duration we format ("2 min")
    "job.label", "exc.job.label",  # built from our words, counts and identifier-checked collection names
    "icon", "colour", "label",  # ui/widgets.VERDICT_LOOK
    "charts.label",  # our metric names
    "collection", "browse", "doomed", "target",  # collection names: settings.identifier-checked
    "ci", "cells", "how", "resume", "headline", "hint", "folded", "read", "why", "why_missing", "unit", "checking",
    "summary", "cheap", "detail", "named", "judges_text", "work_done",  # our sentences, their values made literal
    "STAGE_RETRIEVAL", "STAGE_FULL", "NEW",
    "public_url", "base.sample_kb", "base.judge_model", "base.llm_model", "config.llm_model", "judge_model",
    "settings.judge_model", "settings.data_dir", "roots_hint", "plain_error",  # the operator's settings
    "spec.strategy", "spec.unit", "MAX_CHUNK_TOKENS",
    "cost.duration", "sizes", "per_finalist", "DEFAULT_FINALISTS", "path", "eval_path.name", "run.id",  # costs of
    # our bundled sets at the operator's paths; run ids we make
    "message", "IDENTIFIER_RULE",  # ui/profiles: a flash made literal when it is stored; the identifier rule
    "_count", "entry.id", "which", "note", "status", "meaning",  # question log: counts, row ids, our sentences and
    # STATUS_HELP; feedback_note makes the typed correction literal
}


def aliases(tree: ast.AST) -> set[str]:
    """Names bound to a text call, as in `box = st.error if bad else st.success`: their calls render Markdown too."""
    return {target.id for node in ast.walk(tree) if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)
            and any(isinstance(n, ast.Attribute) and n.attr in TEXT_CALLS for n in ast.walk(node.value))}


def rendered_arguments(call: ast.Call, also: set[str] = frozenset()) -> list[ast.expr]:
    """The arguments of a Streamlit call that are rendered as Markdown (the label: first positional; text keywords)."""
    func = call.func
    if isinstance(func, ast.IfExp):  # (st.warning if x else st.success)(text)
        func = func.body
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    if name not in TEXT_CALLS and name not in also:
        return []
    args = list(call.args[:1]) if name != "tabs" else list(call.args)
    return args + [kw.value for kw in call.keywords if kw.arg in TEXT_KEYWORDS]


def dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Call):
        return dotted(node.func)
    if isinstance(node, ast.Subscript):  # config['top_k'] reads as config.top_k
        key = node.slice.value if isinstance(node.slice, ast.Constant) else ""
        return f"{dotted(node.value)}.{key}" if isinstance(key, str) and key else dotted(node.value)
    return ""


def unsafe_parts(node: ast.expr) -> list[ast.expr]:
    """The parts of a rendered text that are neither literal text of ours nor passed through `literal`."""
    if isinstance(node, ast.Constant):
        return []
    if isinstance(node, ast.JoinedStr):
        return [part for value in node.values if isinstance(value, ast.FormattedValue)
                for part in ([] if value.format_spec is not None else unsafe_parts(value.value))]
    if isinstance(node, ast.BinOp):
        return unsafe_parts(node.left) + unsafe_parts(node.right)
    if isinstance(node, ast.IfExp):
        return unsafe_parts(node.body) + unsafe_parts(node.orelse)
    if isinstance(node, ast.BoolOp):
        return [p for v in node.values for p in unsafe_parts(v)]
    if isinstance(node, (ast.List, ast.Tuple)):
        return [p for e in node.elts for p in unsafe_parts(e)]
    if isinstance(node, (ast.ListComp, ast.GeneratorExp)):
        return unsafe_parts(node.elt)
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Attribute) and node.func.attr in ("lower", "upper", "strip", "capitalize"):
            return unsafe_parts(node.func.value)  # a case change keeps a safe text safe, an unsafe one unsafe
        name = dotted(node.func)
        if name in ("literal", "safe_text.literal") or name.split(".")[-1] in NUMBERS or name in OURS:
            return []
        if name.endswith(".join") and isinstance(node.func, ast.Attribute):
            return unsafe_parts(node.func.value) + [p for a in node.args for p in unsafe_parts(a)]
        return [node]
    name = dotted(node)
    if name in OURS or COUNT.match(name.split(".")[-1]):
        return []
    return [node]


def findings(source: str) -> list[str]:
    """"line: expression" for every value a rendered text takes without `literal` (and not a number or OURS)."""
    tree = ast.parse(source)
    also = aliases(tree)
    return [f"{part.lineno}: {ast.unparse(part)[:80]}" for call in ast.walk(tree)
            if isinstance(call, ast.Call) for argument in rendered_arguments(call, also) for part in unsafe_parts(argument)]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_rendered_text_passes_untrusted_values_through_literal(path):
    assert findings(path.read_text(encoding="utf-8")) == []


def test_the_checker_flags_what_it_should():
    page = ("import streamlit as st\nname = input()\nst.error(f'{name} failed')\nst.caption(literal(name))\n"
            "st.expander(f'{name}')\nst.markdown(f'{n:.2f} {len(x)}')\nst.selectbox('Doc ' + name, [])\n"
            "st.warning(str(exc))\nst.progress(0.5, text=name)\nbox = st.error if name else st.info\nbox(name)\n"
            "(st.warning if name else st.success)(name)\n")
    assert findings(page) == ["3: name", "5: name", "7: name", "8: str(exc)", "9: name", "11: name", "12: name"]


@pytest.mark.parametrize("hostile", ["_www.host.example/x", "x_www.attacker.example", "WWW.attacker.example",
                                     "see https://attacker.example/a", "mail a@attacker.example"])
def test_literal_breaks_every_autolink_form(hostile):
    from ui.safe_text import WORD_JOINER

    out = literal(hostile)
    for trigger in ("www", "://", "@"):
        index = hostile.lower().find(trigger)
        if index >= 0:
            assert WORD_JOINER in out, out


def test_a_chart_shows_a_hostile_question_as_text_not_as_plotly_html():
    import pandas as pd

    from evaluation.aggregate import MetricAggregate
    from ui import charts

    question = "<a href='https://attacker.example'>click</a> & <b>bold</b>"
    table = pd.DataFrame({"#": [1], "question": [question], "outcome": ["answered"], "faithfulness": [0.5]})
    aggregate = MetricAggregate(metric="faithfulness", mean=0.5, n_scored=1, n_total=1, n_failed=0, n_skipped=0)
    for figure in (charts.scores_by_question(table, [aggregate]), charts.distributions(table, [aggregate])):
        shown = str(figure.data[0].customdata.tolist())
        assert "&lt;a href='https://attacker.example'&gt;click&lt;/a&gt; &amp; &lt;b&gt;" in shown
        assert "<a " not in shown
