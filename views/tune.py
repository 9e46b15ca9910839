"""Tune: sweep chunk size × top-k, read the heatmaps and the ladder, and see what the abstention threshold trades."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from evaluation.aggregate import FOLDED_CHECKS, answer_check_curve, coverage_curve
from evaluation.cache import default_cache
from evaluation.evalset import EvalSetError, load_eval_set
from evaluation.export import csv_text, group_table, groups, sweep_table
from evaluation.metrics import Judge, JudgeUnavailableError
from evaluation.runner import Components
from evaluation.runstore import RunStore
from evaluation.screening import SCREEN_METRICS, STAGE_FULL, STAGE_RETRIEVAL
from evaluation.sweep import DEFAULT_FINALISTS, SweepError, SweepProgress, grid, run_cheap_first, run_configs
from pipeline.grounding import answer_cut
from pipeline.llm import LLMError
from ui import charts, costs, jobs, profiles, resources
from ui.question_log import coverage_samples, labelled_log_run
from ui.safe_text import literal
from ui.widgets import KNOWN_ERRORS, empty_knowledge_base, eval_page_setup, guarded, run_label

HEATMAP_METRICS = ["faithfulness", "answer_relevancy", "context_recall", "seconds"]
CHEAP_FIRST, IN_FULL = "Cheap first: retrieval on every cell, full evaluation of the best", "Full evaluation of every cell"
GATES = {"best passage score (min score gate)": "min_score", "answer check P(supported)": "answer_check"}
SWEEP_ERRORS = (SweepError, JudgeUnavailableError, LLMError, *KNOWN_ERRORS)


def sweep_progress(job: jobs.Job) -> None:
    """The live bar of a running sweep, with its Cancel button (a click reruns only this fragment)."""
    snapshot: SweepProgress | None = job.progress
    if snapshot is None:
        st.progress(0.0, text="Starting: the first chunk configuration is ingested…")
    else:
        st.progress(min(1.0, snapshot.questions_done / snapshot.questions_total), text=literal(snapshot.describe()))
    if job.cancel.is_set() or st.button("Cancel sweep", icon=":material/stop_circle:", key="tune.cancel"):
        job.cancel.set()
        st.caption(f"Cancelling · {job.elapsed} so far: the question in flight is finished and stored first.")
    else:
        st.caption(f"{job.label} · {job.elapsed} so far.")


def sweep_outcome(job: jobs.Job, runs: RunStore) -> None:
    """What a finished sweep left: all runs done, or which were kept and which to resume."""
    sweep_id, run_ids = job.result
    made = [r for r in map(runs.run, run_ids) if r is not None]
    unfinished = [r for r in made if r.status != "completed"]
    if st.session_state.get("tune.shown_job") != job.id:  # show the new sweep once, then the user's choice
        st.session_state["tune.shown_job"] = job.id
        st.session_state.pop("tune.sweep", None)
        st.query_params["sweep"] = sweep_id
    screened = [s for s in runs.screens_of(sweep_id) if s.status == "completed"]
    cells = f"{len(screened)} cell{'' if len(screened) == 1 else 's'} screened by retrieval, " if screened else ""
    if not unfinished and not job.cancel.is_set():
        st.success(f"{job.label}: done, {cells}{len(made)} runs stored.", icon=":material/check_circle:")
        return
    how = "cancelled" if job.cancel.is_set() else "finished with runs left unfinished"
    resume = "".join(f"\n- run {r.id} ({r.status}, {r.n_done} of {r.n_items} questions): "
                     f"`python -m evaluation resume {r.id}`" for r in unfinished)
    kept = len(made) - len(unfinished)
    st.warning(f"{literal(job.label)}: {how}. {cells}{kept} completed run{'' if kept == 1 else 's'} stored."
               + (f" To finish the rest:{resume}" if resume else ""), icon=":material/stop_circle:")


st.title("Tune")
st.caption("Measure a baseline, change one thing, measure again, keep what helps. A sweep runs the eval set once per "
           "chunk size × overlap × top-k; each chunking is ingested once into a collection of its own and reused.")

store, runs, base, collection = eval_page_setup("tune")
params = st.query_params

job = jobs.current("tune.job")
with st.expander("Run a sweep", expanded=not groups(runs, "sweep") and job is None, icon=":material/grid_on:",
                 key="tune.sweep_box"):
    if collection is None:
        empty_knowledge_base()
    else:
        st.caption(f"Documents are re-chunked from `{base.sample_kb}`; collections are named "
                   f"`{collection}__<embedder>__<strategy>-<size>-<overlap>`. **Cheap first** (the default) screens every "
                   "cell by retrieval alone, on all the questions and without calling an LLM: is the reference answer in "
                   "the retrieved chunks (hit rate, MRR), and would the score gate abstain. For that, query expansion is "
                   "off and the cheap reranker stands in for the LLM one in this stage. Only the finalists, the cells "
                   "ranked best by reference found (ties: MRR, then fewer false abstentions), get the full evaluation "
                   "with your settings: answers and the Ragas judge, up to a minute per question and metric on two cores. "
                   "**Full evaluation of every cell** judges the whole grid: keep the question count small then. The "
                   "sweep runs in the background: use the rest of the dashboard meanwhile, and come back for its "
                   "progress. Cancel stops it between questions: finished runs stay stored, and the interrupted one "
                   "can be resumed with `python -m evaluation resume RUN_ID`.")
        eval_path = costs.sweep_set(base)
        try:
            sample_size = len(load_eval_set(eval_path))
        except EvalSetError:
            sample_size = 1  # the form still shows; "Run sweep" then says what is wrong with the set
        costs.sweep_caption(base, eval_path)
        with st.form("tune.sweep_form"):
            cols = st.columns(3)
            sizes = cols[0].multiselect("Chunk sizes", [200, 300, 400, 600, 800, 1200], default=[300, 600], key="tune.sizes")
            overlaps = cols[1].multiselect("Overlaps", [0, 40, 80, 120, 200], default=[80], key="tune.overlaps")
            top_ks = cols[2].multiselect("top-k", [1, 2, 3, 4, 6, 8], default=[2, 4], key="tune.top_ks")
            mode = st.radio("Mode", [CHEAP_FIRST, IN_FULL], key="tune.mode")
            cols = st.columns(3)
            finalists = cols[0].number_input("Finalists evaluated in full (cheap first; 0 = retrieval only, no LLM)",
                                             0, 20, DEFAULT_FINALISTS, key="tune.finalists")
            limit = cols[1].number_input(f"Questions screened (the first N of {eval_path.name})", 1, 10_000,
                                         sample_size, key="tune.limit")
            full_questions = cols[2].number_input(
                "…of which the first N are evaluated in full", 1, 10_000, min(costs.FULL_DEFAULT, sample_size),
                key="tune.full_questions", help="The finalists' answers and Ragas judge cost minutes per question; the "
                "retrieval stage takes seconds for all of them. Full evaluation of every cell uses these questions too.")
            submitted = st.form_submit_button("Run sweep", type="primary")
        if submitted:
            try:
                configs = grid(sorted(sizes), sorted(overlaps), sorted(top_ks))
                items = load_eval_set(eval_path)[: int(limit)]
            except (SweepError, EvalSetError) as exc:
                st.error(literal(str(exc)))
                st.stop()
            embedder = guarded(resources.embedder)
            config = base.with_overrides(collection=collection)

            cheap_first = mode == CHEAP_FIRST

            def sweep(job: jobs.Job) -> tuple[str, list[str]]:
                cache = default_cache(base.data_dir)
                parts = Components(store=store, embedder=embedder, llm=resources.chat_model(config),
                                   judge=Judge(config, embedder, cache=cache), runs=runs, cache=cache)
                common = {"kb_root": base.sample_kb, "eval_set_path": eval_path, "progress": job.report,
                          "should_continue": job.should_continue}
                if cheap_first:
                    return run_cheap_first(config, configs, items, eval_path.name, parts, finalists=int(finalists),
                                           full_questions=int(full_questions), **common)
                return run_configs(config, configs, items[: int(full_questions)], eval_path.name, parts, kind="sweep",
                                   **common)

            judged = min(int(full_questions), len(items))
            label = (f"Cheap-first sweep of {len(configs)} cells × {len(items)} questions ({int(finalists)} evaluated "
                     f"in full on {judged}) on {collection!r}" if cheap_first
                     else f"Sweep of {len(configs)} runs × {judged} questions on {collection!r}")
            try:  # one sweep at a time: they share the LLM server, and two would each run at half speed
                job = jobs.registry().start("sweep", label, sweep, SWEEP_ERRORS)
            except jobs.JobBusyError as exc:
                st.warning(f"{exc.job.label} is already running ({exc.job.elapsed} so far): one sweep at a time. "
                           "Wait for it, or cancel it where it was started.", icon=":material/hourglass_top:")
            else:
                st.session_state["tune.job"] = job.id

if job is not None:
    if job.running:
        jobs.follow(job, sweep_progress)
    elif job.error:
        st.error(f"{literal(job.label)} stopped: {literal(job.error)}", icon=":material/error:")
    else:
        sweep_outcome(job, runs)

tab_sweep, tab_ladder, tab_coverage = st.tabs(["Sweep heatmaps", "Optimisation ladder", "Coverage trade-offs"])


def pick(kind: str, label: str) -> str | None:
    """A sweep or ladder chooser that remembers its choice in the URL."""
    options = groups(runs, kind)
    if not options:
        return None
    ids = list(options)
    chosen = st.selectbox(label, ids, index=ids.index(params[kind]) if params.get(kind) in ids else 0,
                          format_func=options.get, key=f"tune.{kind}")
    params[kind] = chosen
    return chosen


def screened_questions(runs: RunStore, sweep_id: str) -> None:
    """One cell's questions as retrieval saw them: which missed the reference, which the gate stopped."""
    screens = {s.config.get("sweep_name"): s for s in runs.screens_of(sweep_id)}
    with st.expander("Questions of one cell, retrieval stage", icon=":material/search:",
                     key="tune.cell_questions_box"):
        name = st.selectbox("Cell", list(screens), key="tune.screen_cell")
        rows = runs.screen_rows(screens[name].id)
        st.dataframe(pd.DataFrame([{
            "question": r.question, "reference": r.reference, "kind": r.kind, "outcome": r.outcome.replace("_", " "),
            "reference at rank": r.found_rank, "best similarity": r.best_similarity,
            "sources": ", ".join(dict.fromkeys(c["source"] for c in r.contexts))} for r in rows]),
            hide_index=True, width="stretch", key="tune.screen_rows")


def heatmaps(table: pd.DataFrame, metrics: list[str], why_missing: str) -> None:
    """Two heatmaps a row; a click on a cell that has a run opens it on the Evaluation page."""
    cols = st.columns(2)
    for n, metric in enumerate(metrics):
        if metric in table and table[metric].notna().any():
            event = cols[n % 2].plotly_chart(charts.sweep_heatmap(table, metric), key=f"tune.heat_{metric}",
                                             on_select="rerun", selection_mode="points")
            if clicked := charts.clicked_run(event):
                st.switch_page("views/evaluation.py", query_params={"run": clicked})
        else:
            cols[n % 2].caption(f"{charts.label(metric)}: {why_missing}"
                                + (" (needs reference answers)" if metric == "context_recall" else ""))


with tab_sweep:
    sweep_id = pick("sweep", "Sweep")
    if sweep_id is None:
        st.info("No sweep yet: run one above, or `python -m evaluation sweep --set samples/eval/sample.jsonl "
                "--chunk-sizes 300,600 --top-ks 2,4` (cheap first; `--finalists 0` for retrieval only).",
                icon=":material/grid_on:")
    else:
        table = sweep_table(runs, sweep_id)
        judged = int((table["stage"] == STAGE_FULL).sum())
        cheap_first = "rank" in table
        if cheap_first:
            st.caption(f"Cheap first: all {len(table)} cells were screened by **retrieval only** on "
                       f"{int(table['n'].max())} questions (no LLM call: query expansion off, the cheap reranker for "
                       f"the LLM one); {judged} of them, ranked best, reached the **full evaluation** (answers and "
                       "the Ragas judge). A cell's text is its mean and [95 % interval]: cells whose intervals overlap "
                       "are ones this eval set cannot tell apart. Click a fully evaluated cell to open its run.")
            heatmaps(table, SCREEN_METRICS, "not measured")
        else:
            st.caption("Every cell of this sweep reached the **full evaluation**. A cell's text is its mean and "
                       "[95 % interval over the questions]. Click a cell to open its run on the Evaluation page.")
        heatmaps(table, HEATMAP_METRICS, "no cell reached the full evaluation" if not judged else "not scored in this sweep")
        measured = [m for m in [*SCREEN_METRICS, *HEATMAP_METRICS, *charts.OUTCOME_RATE_LABELS]
                    if m in table and table[m].notna().any()]
        if measured:
            metric = st.selectbox("Compare the cells on", measured, format_func=charts.label,
                                  key="tune.interval_metric")
            st.plotly_chart(charts.sweep_intervals(table, metric), key="tune.interval_chart")
        run_ids = table["run_id"] if "run_id" in table else pd.Series(None, index=table.index, dtype=object)
        # a retrieval-only cell has no run to open: an empty link cell, not the grid's grey "None"
        shown = table.assign(open=run_ids.map(lambda r: f"/evaluation?run={r}" if isinstance(r, str) else ""))
        for m in measured:
            shown[m] = [charts.with_interval(*v, ".1f" if m == "seconds" else ".2f")
                        for v in zip(table[m], table[f"{m}_low"], table[f"{m}_high"], strict=True)]
        columns = ["open", "chunk_size", "chunk_overlap", "top_k", "stage", *(["rank"] if cheap_first else []), "status",
                   "n", *measured]
        st.dataframe(shown[columns], hide_index=True, width="stretch", key="tune.sweep_table",
                     column_config={"open": st.column_config.LinkColumn("run", display_text="open run")})
        st.download_button("Download CSV", csv_text(table), f"sweep-{sweep_id}.csv", "text/csv", key="tune.sweep_csv",
                           help="Every cell with its numbers and their 95 % intervals (`_low`, `_high`)")
        profiles.use_sweep_cell(base, runs, sweep_id, table)
        if cheap_first:
            st.caption(f"Stage: **{STAGE_RETRIEVAL}** = screened by retrieval alone; **{STAGE_FULL}** = also answered "
                       "and judged. Rank is the retrieval stage's order, 1 = best.")
            screened_questions(runs, sweep_id)

with tab_ladder:
    ladder_id = pick("ladder", "Ladder")
    if ladder_id is None:
        st.info("No ladder yet: `python -m evaluation ladder --set samples/eval/sample.jsonl --steps "
                "evaluation/ladders/default.json --limit 5` runs baseline → + hybrid → + rerank → + query expansion "
                "→ + strict grounding, one step per run.",
                icon=":material/stairs:")
    else:
        table = group_table(runs, "ladder", ladder_id)
        metrics = [*[m for m in charts.METRIC_LABELS if m != "seconds"], *charts.OUTCOME_RATE_LABELS]
        st.plotly_chart(charts.ladder(table, metrics), key="tune.ladder_chart")
        st.dataframe(table[["step", "step_name", *[m for m in metrics if m in table], "seconds", "run_id"]],
                     hide_index=True, width="stretch", key="tune.ladder_table")
        st.download_button("Download CSV", csv_text(table), f"ladder-{ladder_id}.csv", "text/csv", key="tune.ladder_csv")
        profiles.use_ladder_step(base, runs, table)

with tab_coverage:
    labelled = labelled_log_run()  # the question log's answers with feedback, drawn like a run
    all_runs = [*([labelled.summary] if labelled else []), *runs.runs()]
    if not all_runs:
        st.info("No runs yet. Each evaluation run (Evaluation page, or `python -m evaluation run --set "
                "samples/eval/sample.jsonl`) shows here what raising the minimum similarity or the answer check's "
                "cut would trade; so do answers stored with `bench/abstention.py --save-run`, and the question log "
                "once answers have thumbs up or down.",
                icon=":material/tune:")
    else:
        by_id = {r.id: r for r in all_runs}
        ids = list(by_id)
        run_id = st.selectbox("Run", ids, key="tune.coverage_run", format_func=lambda i: run_label(by_id[i]),
                              index=ids.index(params["run"]) if params.get("run") in ids else 0)
        run = by_id[run_id]
        samples = coverage_samples(runs, run_id, labelled)
        shown = list(GATES.values())
        gate = GATES[st.radio("Threshold on", list(GATES), horizontal=True, key="tune.coverage_gate",
                              index=shown.index(params["gate"]) if params.get("gate") in shown else 0)]
        params["gate"] = gate
        if gate == "answer_check":
            strict = run.config.get("grounding_policy") == "strict"
            low = float(run.config.get("answer_cut", run.config.get("grounding_answer_threshold",
                                                                    answer_cut(base)))) if strict else 0.0
            points = answer_check_curve(samples, low)
            folded = ("the claim checks, the unknown-term veto and the question-detail check are folded in: an answer "
                      "they withhold counts as P 0" if run.config.get(FOLDED_CHECKS) else "claim verdicts aside")
            st.caption(f"Each point is a cut on the answer check's P(supported) from {low:.2f} upwards: answers whose P "
                       f"falls below it would be withheld ({folded}). "
                       + ("This run was strict, so answers below its own cut were already withheld."
                          if strict else "At 0 every answer the check scored is kept."))
            if not points:
                st.info("This run stored no answer-check P: it ran before P was recorded, with grounding off, or "
                        "against an endpoint that returns no log-probabilities. Run the eval set again to see this curve.",
                        icon=":material/info:")
        else:
            min_score = float(run.config.get("min_score", base.min_score))
            points = coverage_curve(samples, min_score)
            st.caption(f"Each point is a min retrieval score from this run's own {min_score:.2f} upwards: questions whose "
                       "best passage scores below it would be refused. Lower thresholds cannot be read off a stored run "
                       "(those questions were never answered).")
        if points:
            chart = (charts.coverage(points, "cut on the answer check's P(supported)", answer_cut(base))
                     if gate == "answer_check" else charts.coverage(points))
            st.plotly_chart(chart, key="tune.coverage_chart")
            st.dataframe(pd.DataFrame([p.model_dump() for p in points]), hide_index=True, key="tune.coverage_table")
