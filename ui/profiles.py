"""Profiles on the pages: "Use this configuration" on a run, a sweep cell or a ladder step; the Ask sidebar's profile
block (which one, where it came from, switch, revert, save the sidebar's choices); the ingest of a profile's collection
when it is missing, in the background with progress.

Saving and reading are ops/profiles.py; what a run or a cell keeps is evaluation/promote.py. Changes happen in widget
callbacks, before the page script runs, so the rerun that follows already starts from the new profile.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import streamlit as st

from evaluation import promote
from evaluation.promote import Draft
from evaluation.runstore import RunStore, RunSummary
from ingest.ingestor import IngestReport, ingest_whole
from ingest.loaders import LoadError
from ingest.roots import allowed_sources
from ingest.store import VectorStore
from ops import profiles
from settings import IDENTIFIER_RULE, Settings
from ui import charts, jobs, kb_widgets, resources
from ui.safe_text import literal
from ui.widgets import KNOWN_ERRORS

DEFAULTS = "Built-in defaults"
FLASH = "profiles.flash"  # (kind, Markdown made safe when it was written) shown once where the change was made
# the Ask page's settings widgets: forgotten when the profile changes, so they start again from the new one
ASK_WIDGETS = ("ask.collection", "ask.top_k", "ask.min_score", "ask.retrieval.", "ask.model", "ask.grounding",
               "ask.answer_cut.")
INGEST_ERRORS = (*KNOWN_ERRORS, LoadError)
WAITING = "ask.profile_waiting"  # the profile collection this session saw being ingested


def _label(measure: str) -> str:
    return charts.label(measure)


def _restart_ask_widgets() -> None:
    """The Ask sidebar starts again from the settings now in effect. Its widgets' values are set, not deleted: the
    browser keeps a deleted widget's last value and shows it again (a revert left top-k where the profile had put it).
    The search mode is only deleted: its options depend on the collection; so is a collection not (yet) ingested."""
    now = resources.settings()
    starting = {"ask.top_k": now.top_k, "ask.min_score": now.min_score, "ask.grounding": now.grounding_policy,
                "ask.model": now.llm_model, "ask.retrieval.mmr_lambda": now.mmr_lambda, "ask.retrieval.rerank": now.rerank,
                "ask.retrieval.expansion": now.query_expansion, "ask.retrieval.fetch_k": now.fetch_k,
                "ask.answer_cut.self": now.grounding_self_answer_threshold,
                "ask.answer_cut.judge": now.grounding_answer_threshold}
    for key in [k for k in st.session_state if isinstance(k, str) and k.startswith(ASK_WIDGETS)]:
        del st.session_state[key]
    if now.collection in resources.vector_store().names():  # else the picker chooses, as on a first visit
        starting["ask.collection"] = now.collection
    st.session_state.update(starting)
    st.query_params.pop("collection", None)  # the URL's collection would win over the profile's


def _make_active(draft: Draft, name_key: str, replace_key: str) -> None:
    """Save the draft under the name typed and make it active (a widget callback)."""
    base = resources.settings()
    name = str(st.session_state.get(name_key) or "").strip()
    try:
        profiles.save(base, name, draft.settings, draft.origin, replace=bool(st.session_state.get(replace_key)))
        profiles.activate(base, name)
    except profiles.ProfileError as exc:
        st.session_state[FLASH] = ("error", literal(str(exc)))
        return
    _restart_ask_widgets()
    note = start_missing_collection(resources.settings())
    st.session_state[FLASH] = ("success", f"Profile `{name}` is active: the Ask page and the command-line tools now "
                                          f"start from it.{note}")


def _show_flash(on_ask_page: bool = False) -> None:
    if flash := st.session_state.pop(FLASH, None):
        kind, message = flash
        if kind == "error":
            st.error(message, icon=":material/error:")
            return
        st.success(message, icon=":material/bookmark_added:")
        if not on_ask_page:
            st.page_link("views/ask.py", label="Open the Ask page", icon=":material/chat:")


def use_configuration(draft: Callable[[], Draft], key: str) -> None:
    """The "Use this configuration" control: a popover that names the profile, then saves it and makes it active."""
    _show_flash()
    with st.popover("Use this configuration", icon=":material/bookmark_add:"):
        try:
            made = draft()
        except profiles.ProfileError as exc:
            st.info(literal(str(exc)), icon=":material/info:")
            return
        st.caption("Saves these settings as a profile and makes it active: the Ask page and the command-line tools "
                   "start from it (the environment still overrides it; one click on the Ask page reverts).")
        st.dataframe({"setting": list(made.settings), "value": [str(v) for v in made.settings.values()]},
                     hide_index=True, key=f"{key}.values")
        st.text_input("Profile name", made.name, key=f"{key}.name", help=f"Becomes a file name: {IDENTIFIER_RULE}")
        st.checkbox("Replace a different profile of that name", key=f"{key}.replace")
        st.button("Save and use it", type="primary", key=f"{key}.save", icon=":material/bookmark_added:",
                  on_click=_make_active, args=(made, f"{key}.name", f"{key}.replace"))


def _switch(key: str) -> None:
    base = resources.settings()
    chosen = st.session_state.get(key)
    try:
        if chosen == DEFAULTS:
            profiles.revert(base)
        else:
            profiles.activate(base, chosen)
    except profiles.ProfileError as exc:
        st.session_state[FLASH] = ("error", literal(str(exc)))
        return
    _restart_ask_widgets()
    start_missing_collection(resources.settings())


def _revert(key: str) -> None:
    st.session_state[key] = DEFAULTS
    _switch(key)


def ask_sidebar(store: VectorStore) -> None:
    """Which profile the Ask page starts from, what it came from and scored, what the environment overrides; switch
    to another or back to the defaults in one click. Also shows the ingest of the profile's collection."""
    base = resources.settings()
    now = profiles.state(base)
    saved = profiles.names(base)
    key = "ask.profile"
    with st.sidebar.container(border=True, key="ask.profile_box"):
        _show_flash(on_ask_page=True)
        options = [DEFAULTS, *saved]
        current = now.name if now.name in saved else DEFAULTS
        if st.session_state.get(key) not in options:
            st.session_state[key] = current
        st.selectbox("Start from", options, key=key, on_change=_switch, args=(key,), disabled=now.by_environment,
                     help="A profile is a configuration kept from a run, a sweep cell, a ladder step or these "
                          "sidebar choices; the command-line tools start from the active one too.")
        if now.by_environment:
            st.caption(f"FQA_PROFILE in the environment chooses {literal(now.name or 'none')}; unset it to choose here.")
        if now.problem:
            st.warning(literal(now.problem), icon=":material/warning:")
        elif now.profile:
            st.caption(literal(profiles.describe(now.profile, _label)))
            st.caption("Sets " + literal(", ".join(f"{k} {v}" for k, v in now.profile.settings.items())))
            if now.overridden:
                st.caption("The environment overrides " + literal(", ".join(
                    f"{k} (profile {mine}, in effect {theirs})" for k, (mine, theirs) in now.overridden.items())))
            st.button("Revert to defaults", key="ask.profile_revert", icon=":material/undo:", on_click=_revert,
                      args=(key,), disabled=now.by_environment)
    collection_status(base, store)


def collection_status(settings: Settings, store: VectorStore) -> None:
    """The active profile's collection: its ingest's progress while it runs, why it stopped, or how to make it."""
    if profiles.state(settings).profile is None:
        return
    collection = settings.collection
    job = jobs.registry().latest(f"ingest:{collection}")
    if collection in store.names() and st.session_state.pop(WAITING, None) == collection:
        st.session_state.pop("ask.collection", None)  # ingested meanwhile: the picker now starts from it
        st.query_params.pop("collection", None)
    if job is not None and job.running:
        st.session_state[WAITING] = collection
        with st.sidebar:
            st.caption(f"Ingesting `{collection}` for this profile; until it is done, answers come from the collection "
                       "chosen below.")
            jobs.follow(job, kb_widgets.ingest_progress)
    elif collection not in store.names():
        if job is not None and (job.error or job.cancel.is_set()):
            st.sidebar.error(f"{literal(job.label)} stopped: {literal(job.error or 'cancelled')}",
                             icon=":material/error:")
            if st.sidebar.button("Ingest it again", key="ask.profile_ingest", icon=":material/refresh:"):
                start_missing_collection(settings)
                st.rerun()
        elif start_missing_collection(settings):
            st.rerun()  # draw the ingest's progress
        else:
            st.sidebar.warning(f"This profile's collection `{collection}` does not exist, and the profile does not say "
                               "which documents built it: ingest them into it on the Knowledge base page.",
                               icon=":material/inbox:")


def start_missing_collection(settings: Settings) -> str:
    """Start ingesting the active profile's collection in the background if it is missing and the profile says from
    which folder; returns what to tell the user ("" when nothing was started)."""
    now = profiles.state(settings)
    kb = now.profile.origin.kb if now.profile else None
    store = resources.vector_store()
    name = settings.collection
    if not kb or name in store.names():
        return ""
    embedder = resources.embedder()

    def ingest(job: jobs.Job) -> IngestReport | None:
        files, refused = allowed_sources(Path(kb), settings.ingest_roots)
        if refused:
            raise LoadError(f"{len(refused)} file(s) of {kb} are outside the allowed folders: {refused[0].reason}")
        return ingest_whole(settings, store, embedder, files, name, job.report, job.should_continue)

    try:
        jobs.registry().start(f"ingest:{name}", f"Ingest {kb} into {name!r}", ingest, INGEST_ERRORS)
    except jobs.JobBusyError:
        pass  # already being ingested: the Ask page shows that job's progress
    return f" Its collection `{name}` did not exist: it is being ingested from {literal(kb)} now (progress on the Ask page)."


def save_choices(config: Settings) -> None:
    """The Ask sidebar's current choices saved as a profile and made active."""
    now = profiles.state(resources.settings())
    kb = now.profile.origin.kb if now.profile and now.profile.settings.get("collection") == config.collection else None
    draft = promote.from_choices(config, Path(kb) if kb else None)
    with st.sidebar.expander("Save these choices as a profile", icon=":material/bookmark_add:",
                             key="profile.save_box"):
        if not draft.settings:
            st.caption("These choices are the built-in defaults: nothing to keep.")
            return
        st.text_input("Profile name", draft.name, key="ask.save_profile.name",
                      help=f"Becomes a file name: {IDENTIFIER_RULE}")
        st.checkbox("Replace a different profile of that name", key="ask.save_profile.replace")
        st.button("Save and use them", key="ask.save_profile.save", icon=":material/bookmark_added:",
                  on_click=_make_active, args=(draft, "ask.save_profile.name", "ask.save_profile.replace"))


def use_run(base: Settings, runs: RunStore, run: RunSummary, key: str) -> None:
    """"Use this configuration" for one stored run (Evaluation page)."""
    use_configuration(lambda: promote.from_run(base, runs, run), key)


def use_sweep_cell(base: Settings, runs: RunStore, sweep_id: str, table: pd.DataFrame) -> None:
    """Pick a cell of a sweep (best ranked first), then "Use this configuration" for it (Tune page)."""
    order = table.sort_values("rank") if "rank" in table else table
    cells = {int(row["step"]): row for _, row in order.iterrows()}
    cols = st.columns([3, 2], vertical_alignment="bottom")
    # a selectbox shows its options as plain text: no literal() here, its escapes would show
    step = cols[0].selectbox("Cell to keep", list(cells), key="tune.keep_cell", format_func=lambda s: (
        f"{cells[s]['name']}" + (f" · rank {cells[s]['rank']:.0f}" if "rank" in cells[s] else "")
        + f" · {cells[s]['stage']}"))
    with cols[1]:
        use_configuration(lambda: promote.from_sweep_cell(base, runs, sweep_id, int(step)), "tune.keep")


def use_ladder_step(base: Settings, runs: RunStore, table: pd.DataFrame) -> None:
    """Pick a step of a ladder, then "Use this configuration" for it (Tune page)."""
    steps = {row["run_id"]: row for _, row in table.iterrows()}
    cols = st.columns([3, 2], vertical_alignment="bottom")
    run_id = cols[0].selectbox("Step to keep", list(steps), key="tune.keep_step",
                               format_func=lambda r: f"{steps[r]['step']}. {steps[r]['step_name']}")
    with cols[1]:
        use_configuration(lambda: promote.from_run(base, runs, _run(runs, run_id)), "tune.keep_ladder")


def _run(runs: RunStore, run_id: str) -> RunSummary:
    run = runs.run(run_id)
    if run is None:
        raise profiles.ProfileError(f"run {run_id} is no longer stored")
    return run
