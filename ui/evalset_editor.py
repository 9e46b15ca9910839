"""The Evaluation page's "Eval sets" section: choose a set, edit it as a table, save it, or generate one.

Rows are validated with the same per-row rules `python -m evaluation run` applies, so a set that saves here runs
there. Saving never replaces a set unless asked; generating refuses a taken name before spending the judge's time.
"""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from evaluation.evalset import (FIELDS, EvalSetError, available_sets, read_rows, save_eval_set, saved_set_path,
                                validate_rows)
from evaluation.metrics import JudgeUnavailableError
from evaluation.testset import DEFAULT_BUDGET_S, MAX_QUESTIONS, GenerationError, generate_eval_set, read_passages
from ingest.store import StoreError, VectorStore
from settings import Settings
from ui.safe_text import literal
from ui.widgets import empty_knowledge_base

NEW = "New empty set"
PICK, EDITOR, LOADED, NEXT, FLASH, OVERWRITE = ("evalsets.pick", "evalsets.editor", "evalsets.loaded",
                                                "evalsets.next", "evalsets.flash", "evalsets.overwrite")


def _flag(value: object) -> bool | None:
    """A CSV's "true"/"false"/"1"/"0" or a JSON bool as a checkbox value; anything else is unknown."""
    if isinstance(value, bool):
        return value
    return {"true": True, "false": False, "1": True, "0": False}.get(str(value).strip().lower())


def _frame(rows: list[dict]) -> pd.DataFrame:
    """Rows as the editor's table: our columns in order, answerable as a nullable checkbox, numbered from 1."""
    frame = pd.DataFrame({f: pd.array([None if r.get(f) is None else str(r[f]) for r in rows], dtype="string")
                          for f in FIELDS if f != "answerable"})
    frame.insert(FIELDS.index("answerable"), "answerable",
                 pd.array([_flag(r.get("answerable")) for r in rows], dtype="boolean"))
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    return frame


def _select_next(label: str, message: str) -> None:
    """Show this set, with a message, after the rerun (a widget's value cannot change once it is drawn)."""
    st.session_state[NEXT] = label
    st.session_state[FLASH] = message
    st.rerun()


def eval_sets_section(settings: Settings, store: VectorStore, collection: str | None) -> None:
    sets = available_sets(settings)
    if NEXT in st.session_state:
        st.session_state[PICK] = st.session_state.pop(NEXT)
        st.session_state.pop(OVERWRITE, None)  # a tick allows one replacement, not every later save
    if st.session_state.get(PICK) not in (NEW, *sets):
        st.session_state[PICK] = "Bundled sample"
    if FLASH in st.session_state:
        st.success(literal(st.session_state.pop(FLASH)), icon=":material/check_circle:")
    choice = st.selectbox("Eval set", [*sets, NEW], key=PICK,
                          help="The bundled sample, the SQuAD 2.0 sample when ../shared/data/squad2 exists, and the "
                               f"sets saved under {settings.data_dir / 'evalsets'}")
    if st.session_state.get(LOADED) != choice:  # another set: forget the edits made to the previous one
        st.session_state.pop(EDITOR, None)
        st.session_state[LOADED] = choice
    try:
        rows = [] if choice == NEW else read_rows(sets[choice])
    except EvalSetError as exc:
        st.error(f"This set cannot be read: {literal(str(exc))}", icon=":material/error:")
        rows = []
    if not rows:
        st.info("No questions yet. Add rows with **+** in the table's toolbar (a question, its reference answer if you "
                "know it, and whether the documents answer it), or generate a set from the knowledge base below.",
                icon=":material/edit_note:")
    edited = st.data_editor(
        _frame(rows), key=EDITOR, num_rows="dynamic", width="stretch", hide_index=False,  # row numbers for errors
        column_config={
            "id": st.column_config.TextColumn("id", help="Left empty: the row number", width="small"),
            "question": st.column_config.TextColumn("question", width="large"),
            "reference": st.column_config.TextColumn("reference", help="The expected answer (context precision and "
                                                     "recall need it)", width="medium"),
            "answerable": st.column_config.CheckboxColumn("answerable", help="Do the documents answer it? Unticked: "
                                                          "the right outcome is an abstention"),
            "kind": st.column_config.TextColumn("kind", help="Free label, e.g. answerable, near_miss, synthetic"),
            "source": st.column_config.TextColumn("source", help="The document a generated question came from"),
        },
    )
    items, problems = validate_rows(json.loads(edited.to_json(orient="records")))
    if problems:
        st.error(f"{len(problems)} of {len(edited)} rows need fixing before this set can be saved:\n\n"
                 + "\n".join(f"- row {n}: {literal(why)}" for n, why in problems.items()), icon=":material/rule:")
    elif items:
        answerable = sum(i.answerable is True for i in items)
        st.caption(f"{len(items)} questions · {answerable} answerable · {sum(i.answerable is False for i in items)} "
                   f"unanswerable · {sum(bool(i.reference) for i in items)} with a reference answer")
    _save_form(settings, choice, sets, items, blocked=bool(problems) or not items)
    st.divider()
    _generate_form(settings, store, collection)


def _save_form(settings: Settings, choice: str, sets: dict, items: list, blocked: bool) -> None:
    default = sets[choice].stem if choice.startswith("Saved: ") else ""
    cols = st.columns([3, 1, 1], vertical_alignment="bottom")
    name = cols[0].text_input("Save as", default, key=f"evalsets.name.{choice}", placeholder="my-questions",
                              help=f"Saved as {settings.data_dir / 'evalsets'}/NAME.jsonl")
    overwrite = cols[1].checkbox("Overwrite", key=OVERWRITE, help="Replace a saved set of that name")
    if cols[2].button("Save set", key="evalsets.save", disabled=blocked, icon=":material/save:"):
        try:
            path = save_eval_set(items, saved_set_path(settings, name), overwrite=overwrite)
        except EvalSetError as exc:
            st.error(literal(str(exc)), icon=":material/error:")
            return
        _select_next(f"Saved: {path.name}", f"Saved {len(items)} questions to {path}. Run it above, or with "
                                            f"`python -m evaluation run --set {path}`.")


def _generate_form(settings: Settings, store: VectorStore, collection: str | None) -> None:
    st.markdown("**Generate from the knowledge base**")
    if collection is None:
        empty_knowledge_base()
        return
    st.caption(f"Ragas' testset generator writes one question and its reference answer per passage of `{collection}`, "
               f"with the judge `{settings.judge_model}` (two prompts per question; 20–60 s each with the local judge "
               "on two cores). Small models often cannot follow these prompts: you then get a message saying so, and "
               "can write the questions by hand above.")
    with st.form("evalsets.generate_form", border=False):
        cols = st.columns(3)
        size = cols[0].number_input("Questions", 1, MAX_QUESTIONS, 5, key="evalsets.gen_size")
        minutes = cols[1].number_input("Time budget (minutes)", 1, 60, round(DEFAULT_BUDGET_S / 60),
                                       key="evalsets.gen_minutes")
        name = cols[2].text_input("Save as", f"generated-{collection}", key="evalsets.gen_name")
        submitted = st.form_submit_button("Generate", icon=":material/auto_awesome:", key="evalsets.generate")
    if not submitted:
        return
    try:
        path = saved_set_path(settings, name)
        if path.exists():
            raise EvalSetError(f"{path} already exists: choose another name (or delete that set) before generating")
    except EvalSetError as exc:
        st.error(literal(str(exc)), icon=":material/error:")
        return
    bar = st.progress(0.0, text="Reading the passages…")

    def progress(done: int, total: int, doing: str) -> None:
        bar.progress(min(done / max(total, 1), 1.0), text=f"{done}/{total} prompts · {literal(doing)}")

    try:
        passages = read_passages(settings, collection, store)
        with st.spinner(f"Generating with `{settings.judge_model}`…"):
            generated = generate_eval_set(settings, passages, int(size), budget_s=float(minutes) * 60, progress=progress)
        save_eval_set(generated.items, path)
    except (StoreError, GenerationError, JudgeUnavailableError, EvalSetError) as exc:
        bar.empty()
        st.error(literal(str(exc)), icon=":material/psychology_alt:")
        st.info(f"To write questions by hand, choose **{NEW}** above, add rows and save.", icon=":material/edit_note:")
        return
    skipped = f" Skipped: {'; '.join(generated.problems)}." if generated.problems else ""
    _select_next(f"Saved: {path.name}", f"Generated {len(generated.items)} questions in {generated.seconds:.0f} s and "
                                        f"saved them to {path}: review and edit them here.{skipped}")
