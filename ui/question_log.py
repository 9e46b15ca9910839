"""The question log in the dashboard: an Ask answer logged, thumbs and corrections on any logged answer, the log's
filters, table and drill-down, an eval set from chosen rows, and the labelled log as a run for the Tune page's curves.

Questions, answers, corrections and passages are untrusted: they reach the page through `literal()`, st.dataframe
cells or show_answer, never as Markdown.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime

import pandas as pd
import streamlit as st

from evaluation.evalset import EvalSetError, save_eval_set, saved_set_path
from evaluation.feedback import LabelledRun, eval_items, labelled_run
from evaluation.log_report import filter_log
from evaluation.runstore import RunStore, SampleRow
from ingest.store import StoreError
from pipeline.answer import Answer
from pipeline.question_log import MAX_CORRECTION, Feedback, LogEntry, QuestionLog, log_answer
from settings import Settings
from ui import resources
from ui.safe_text import literal
from ui.widgets import show_answer

LOG_ERRORS = (StoreError, sqlite3.Error)  # a full disk (StorageFullError is a StoreError), a file locked too long
LOG_ID = "log_id"  # the key of an Ask history item holding its id in the log
THUMBS = {"up": 1, "down": 0}
ABSTAIN_CHOICES = ["answered differently", "said it does not know (the documents do not answer this)"]
COLUMNS = ["id", "asked", "question", "status", "feedback", "P(supported)", "answer", "verdict", "correction",
           "collection", "model", "seconds", "via"]


def remember(config: Settings, answer: Answer) -> dict:
    """Log an answer the Ask page gave, through the CLI's function (pipeline.question_log.log_answer); the page's
    history item, with its id in the log (None when logging is off or the write failed, which is said)."""
    try:
        log_id = log_answer(config, answer, "ask")
    except LOG_ERRORS as exc:
        st.warning(f"This answer was not kept in the question log: {literal(str(exc))}", icon=":material/warning:")
        log_id = None
    return {**answer.model_dump(), LOG_ID: log_id}


def answer_feedback(item: dict) -> None:
    """Thumbs under an answer of the Ask page (and a correction after a thumbs down), stored in the log."""
    log = resources.question_log()
    if item.get(LOG_ID) is None or log is None:
        if not resources.settings().question_log:
            st.caption("Feedback is kept in the question log, which is off (FQA_QUESTION_LOG=false).")
        return
    entry = log.entry(item[LOG_ID])
    if entry is None:
        st.caption("This answer is no longer in the question log (FQA_QUESTION_LOG_MAX_ROWS keeps the newest).")
        return
    feedback_controls(log, entry, f"ask.feedback.{entry.id}")


def _save(log: QuestionLog, entry_id: int, feedback: Feedback | None, key: str) -> bool:
    """Store feedback; a failure is kept for the next draw of the controls (callbacks run before the page)."""
    try:
        if log.set_feedback(entry_id, feedback):
            return True
        st.session_state[f"{key}.error"] = "This answer is no longer in the question log: the feedback was not kept."
    except LOG_ERRORS as exc:
        st.session_state[f"{key}.error"] = f"The feedback was not kept: {exc}"
    return False


def _thumbs_changed(log: QuestionLog, entry_id: int, widget: str, key: str) -> None:
    value = st.session_state.get(widget)
    _save(log, entry_id, None if value is None else Feedback(rating="up" if value == 1 else "down"), key)


def feedback_note(entry: LogEntry) -> str:
    """"Feedback: wrong answer · correct answer: “…”", as Markdown with the typed text literal; "" without feedback."""
    if entry.label is None:
        return ""
    correction = entry.feedback.correction if entry.feedback else None
    return f"Feedback: **{entry.label}**" + (f" · correct answer: “{literal(correction)}”" if correction else "")


def feedback_controls(log: QuestionLog, entry: LogEntry, key: str) -> None:
    """👍 / 👎 on one logged answer; after 👎 the correct answer (optional) or, for an answer, "should have abstained".

    The thumbs' key carries the stored rating, so they always show what the log holds, also after feedback was given
    elsewhere (the other page, another tab); the log is written only when a person clicks.
    """
    stored = entry.feedback.rating if entry.feedback else None
    widget = f"{key}.thumbs.{stored or 'none'}"
    st.feedback("thumbs", key=widget, default=THUMBS.get(stored), on_change=_thumbs_changed,
                args=(log, entry.id, widget, key))
    if error := st.session_state.pop(f"{key}.error", None):
        st.error(literal(error), icon=":material/error:")
    if stored == "down":
        with st.form(f"{key}.form", border=False):
            what = ABSTAIN_CHOICES[0]
            if not entry.abstained:
                what = st.radio("It should have", ABSTAIN_CHOICES, index=int(entry.feedback.should_abstain),
                                key=f"{key}.what", horizontal=True)
            correction = st.text_input("The correct answer (optional)", value=entry.feedback.correction or "",
                                       max_chars=MAX_CORRECTION, key=f"{key}.correction",
                                       help="It becomes the reference answer when this question is made an eval set.")
            if st.form_submit_button("Save correction", icon=":material/edit_note:"):
                abstain = what == ABSTAIN_CHOICES[1]
                feedback = Feedback(rating="down", correction=None if abstain else correction, should_abstain=abstain)
                if _save(log, entry.id, feedback, key):
                    entry = entry.model_copy(update={"feedback": feedback})
                    st.success("Saved.", icon=":material/check:")
                elif error := st.session_state.pop(f"{key}.error", None):
                    st.error(literal(error), icon=":material/error:")
    if note := feedback_note(entry):
        st.caption(note)


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def log_filters(frame: pd.DataFrame) -> pd.DataFrame:
    """The filters above the table, each remembered in the URL; the rows they keep."""
    params = st.query_params
    cols = st.columns(3)
    flagged = cols[0].checkbox("Flagged by the check", value=params.get("flagged") == "1", key="log.flagged",
                               help="Answers the grounding check marked, and those the strict policy withheld")
    abstained = cols[1].checkbox("Abstained", value=params.get("abstained") == "1", key="log.abstained",
                                 help="Said it does not know, or withheld by the strict policy")
    down = cols[2].checkbox("Thumbs down", value=params.get("down") == "1", key="log.down")
    cols = st.columns(3)
    collections, models = sorted(frame["collection"].unique()), sorted(frame["model"].unique())
    picked_collections = cols[0].multiselect("Collection", collections, key="log.collection",
                                             default=[c for c in params.get_all("collection") if c in collections])
    picked_models = cols[1].multiselect("Answering model", models, key="log.model",
                                        default=[m for m in params.get_all("model") if m in models])
    first, last = frame["asked"].min().date(), frame["asked"].max().date()
    picked = cols[2].date_input("Asked between (UTC)", value=(_day(params.get("from")) or first,
                                                               _day(params.get("to")) or last), key="log.dates")
    since, until = (picked if isinstance(picked, tuple) and len(picked) == 2 else (None, None))
    for name, on in (("flagged", flagged), ("abstained", abstained), ("down", down)):
        if on:
            params[name] = "1"
        else:
            params.pop(name, None)
    params["collection"], params["model"] = picked_collections, picked_models
    for name, day, end in (("from", since, first), ("to", until, last)):
        if day and day != end:
            params[name] = day.isoformat()
        else:
            params.pop(name, None)
    return filter_log(frame, flagged=flagged, abstained=abstained, thumbs_down=down, collections=picked_collections,
                      models=picked_models, since=since, until=until)


def log_table(shown: pd.DataFrame) -> list[int]:
    """The logged answers (cells are literal text); the ids of the rows a person selected."""
    selection = st.dataframe(
        shown[COLUMNS], hide_index=True, width="stretch", key="log.table", on_select="rerun",
        selection_mode="multi-row",
        column_config={"id": st.column_config.NumberColumn("#", width="small"),
                       "asked": st.column_config.DatetimeColumn("asked (UTC)", format="YYYY-MM-DD HH:mm"),
                       "question": st.column_config.TextColumn(width="large"),
                       "answer": st.column_config.TextColumn(width="medium"),
                       "P(supported)": st.column_config.NumberColumn(
                           format="%.2f", width="small",
                           help="The answer check's P(supported): do the passages state the answer?"),
                       "seconds": st.column_config.NumberColumn(format="%.1f")})
    rows = selection.selection.rows if selection else []
    return [int(shown["id"].iloc[r]) for r in rows]


def drilldown(log: QuestionLog, shown: pd.DataFrame, selected: list[int]) -> None:
    """One logged answer in full (the Ask page's view of it: verdicts, claims, passages), with its feedback."""
    params = st.query_params
    ids = [int(i) for i in shown["id"]]
    questions = dict(zip(ids, shown["question"], strict=True))
    wanted = selected[-1] if selected else (int(params["q"]) if params.get("q", "").isdigit() else None)
    # a row selected in the table opens it (a new widget, so its default counts); else the URL's question opens first
    chosen = st.selectbox("Open a question", [None, *ids], key=f"log.open.{selected[-1] if selected else 'url'}",
                          index=[None, *ids].index(wanted) if wanted in ids else 0,
                          format_func=lambda i: "choose a question…" if i is None else f"#{i} · {questions[i][:100]}")
    if chosen is None:
        params.pop("q", None)
        return
    params["q"] = str(chosen)
    entry = log.entry(chosen)
    if entry is None or entry.record is None:
        st.info("This answer is no longer in the log.", icon=":material/info:")
        return
    with st.container(border=True, key="log.drilldown"):
        st.markdown(f"**{literal(entry.question)}**")
        st.caption(f"#{entry.id} · asked {entry.asked_at:%Y-%m-%d %H:%M} UTC from the "
                   f"{'Ask page' if entry.via == 'ask' else 'command line'} · collection {literal(entry.collection)}")
        show_answer(entry.record)
        feedback_controls(log, entry, f"log.feedback.{entry.id}")
        with st.expander("Configuration"):
            st.json(entry.config, expanded=False)


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}{'' if n == 1 else 's'}"


def eval_set_from_log(settings: Settings, log: QuestionLog, shown: pd.DataFrame, selected: list[int]) -> None:
    """The chosen rows (the selected ones, else every row shown) saved as an eval set the Evaluation page runs."""
    ids = set(selected) if selected else {int(i) for i in shown["id"]}
    entries = [e for e in log.entries() if e.id in ids]
    items = eval_items(entries)
    with_reference = sum(bool(i.reference) for i in items)
    unanswerable = sum(i.answerable is False for i in items)
    which = (f"the {_count(len(selected), 'selected row')}" if selected else
             f"the {_count(len(shown), 'row')} shown (select rows in the table to choose fewer)")
    st.caption(f"From {which}: {_count(len(items), 'distinct question')}, {with_reference} with a reference answer "
               f"(a thumbs-up answer or a typed correction), {unanswerable} the documents should not answer (marked "
               "\"should have abstained\", or a thumbs-up abstention). Questions without feedback go in unlabelled.")
    cols = st.columns([3, 1])
    name = cols[0].text_input("Eval set name", value=f"question-log-{datetime.now(UTC):%Y%m%d-%H%M}",
                              key="log.set_name", max_chars=100)
    cols[1].write("")  # level the button with the field
    if cols[1].button("Save as eval set", type="primary", key="log.save_set", disabled=not items):
        try:
            path = save_eval_set(items, saved_set_path(settings, name))
        except EvalSetError as exc:
            st.error(literal(str(exc)), icon=":material/error:")
        else:
            st.success(f"Saved {_count(len(items), 'question')} as {literal(path.name)}: choose "
                       f"**Saved: {literal(path.name)}** on the Evaluation page to run it.", icon=":material/check_circle:")
            st.page_link("views/evaluation.py", label="Open the Evaluation page", icon=":material/monitoring:")


def labelled_log_run() -> LabelledRun | None:
    """The question log's answers with feedback as a run (Tune page); None when there are none (or no log)."""
    log = resources.question_log()
    try:
        return None if log is None else labelled_run(log.entries(rated_only=True, with_record=True))
    except LOG_ERRORS as exc:
        st.warning(f"The question log cannot be read: {literal(str(exc))}", icon=":material/warning:")
        return None


def coverage_samples(runs: RunStore, run_id: str, labelled: LabelledRun | None) -> list[SampleRow]:
    """The rows a Tune coverage curve is drawn on: a stored run's, or the labelled log's (said how they count)."""
    if labelled is None or run_id != labelled.summary.id:
        return runs.samples(run_id)
    st.caption("Drawn on the question log's feedback: a thumbs-up answer counts as a right answer, a thumbs-down one "
               "as a wrong answer, or as an unanswerable question answered anyway when marked \"should have "
               "abstained\"; a thumbs-up abstention as a question the documents do not answer, a thumbs-down one as a "
               "false abstention. Answers without feedback are left out.")
    return labelled.samples
