"""Evaluation: run the four Ragas metrics over an eval set; edit, save or generate eval sets; see how far the judge
agrees with labelled answers; inspect, drill into, compare and trend stored runs.

Every view is in the URL (run, compare, outcome/label filters, the question drilled into), so it can be shared.
"""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from evaluation.aggregate import abstention_report, aggregate, failure_label, metric_status, outcome_counts
from evaluation.cache import default_cache
from evaluation.evalset import EvalSetError, KeptUpload, available_sets, keep_upload, load_eval_set
from evaluation.export import csv_text, finetune_jsonl, flipped, run_json, run_means, sample_table
from evaluation.metrics import NEEDS_REFERENCE, SECONDS_PER_QUESTION, Judge, JudgeUnavailableError, MetricName
from evaluation.runner import Components, run_evaluation
from pipeline.llm import LLMError
from settings import Settings, public_url
from ui import charts, costs, first_chart, profiles, resources
from ui.evalset_editor import eval_sets_section
from ui.judge_trust import judge_trust
from ui.safe_text import literal
from ui.widgets import empty_knowledge_base, eval_page_setup, guarded, run_label

st.title("Evaluation")
st.caption("Ragas faithfulness (is every claim backed by the retrieved passages?), answer relevancy (does the answer "
           "address the question?), context precision and context recall (are the retrieved passages the right ones? "
           "these two need reference answers), judged by a model separate from the answering one. Abstentions are "
           "scored as outcomes, never as NaN.")

store, runs, base, collection = eval_page_setup("eval")
params = st.query_params
first_chart.section(runs)  # made by the dashboard itself on a new data folder (ui/first_chart.py)


def keep_uploaded_set(settings: Settings, upload: UploadedFile | None) -> KeptUpload | None:
    """Keep an uploaded set beside the saved ones (never over one) and say where; None when there is none to run."""
    if upload is None:
        return None
    try:
        kept = keep_upload(settings, upload.name, upload.getvalue())
    except EvalSetError as exc:
        st.error(f"This upload cannot be used: {literal(str(exc))}", icon=":material/error:")
        return None
    if kept.taken:
        st.warning(f"A different set named {literal(kept.taken.name)} is already saved; it is left as it was, and this "
                   f"upload is kept as {literal(kept.path.name)}.", icon=":material/file_copy:")
    else:
        st.caption(f"Kept as {literal(str(kept.path))}; it is also listed under **Eval sets** below.")
    return kept


with st.expander("Run an evaluation", expanded=not runs.runs(), icon=":material/play_arrow:",
                 key="eval.run_box"):
    if collection is None:
        empty_knowledge_base()
    else:
        judge_url, _ = base.judge_endpoint
        st.caption(f"Answers: `{base.llm_model}` · judge: `{base.judge_model}` at `{public_url(judge_url)}` · "
                   f"collection `{collection}`. Unchanged answers and scores come from the cache at no cost.")
        sets = available_sets(base)
        chosen_set = st.selectbox("Eval set", list(sets), key="eval.set", help="Edit sets, or generate one, under "
                                  "**Eval sets** below")
        upload = st.file_uploader("…or upload one (.jsonl or .csv with a 'question' column, optional 'reference' and "
                                  "'answerable')", type=["jsonl", "csv"], key="eval.upload")
        kept = keep_uploaded_set(base, upload)
        chosen_metrics = st.multiselect(
            "Metrics", list(MetricName), default=list(MetricName), key="eval.metrics",
            format_func=lambda m: f"{charts.label(m.value)} (~{SECONDS_PER_QUESTION[m]} s / question)",
            help="Seconds per scored question with the bundled 1.5B judge on two CPU cores (docs/benchmarks.md): the "
                 "20 sample questions with all four took 20 minutes. Context precision and recall need reference "
                 "answers; faithfulness and answer relevancy alone take about half the time.")
        cols = st.columns(3)
        top_k = cols[0].slider("top-k", 1, 10, base.top_k, key="eval.top_k")
        limit = cols[1].number_input("Questions (0 = all)", 0, 10_000, 0, key="eval.limit")
        repeats = cols[2].number_input("Judge each sample r times", 1, 5, 1, key="eval.repeats",
                                       help="r > 1 reports a 95 % interval of each metric's mean")
        path = kept.path if kept else sets[chosen_set]
        items = []  # a loaded set is never empty: none means nothing to run (a refused upload or a broken set)
        if upload is None or kept is not None:
            try:
                items = load_eval_set(path)
            except EvalSetError as exc:
                st.error(literal(str(exc)))
        costs.evaluation_caption(base, items[: int(limit) or None], chosen_metrics)
        if items and not any(i.reference for i in items) and (
                unscored := [m for m in chosen_metrics if m in NEEDS_REFERENCE]):
            st.info(f"This set has no reference answers: {' and '.join(charts.label(m.value).lower() for m in unscored)} "
                    "will be skipped.")
        if st.button("Run evaluation", type="primary", key="eval.run", disabled=not items or not chosen_metrics):
            items = items[: int(limit) or None]
            config = base.with_overrides(collection=collection, top_k=top_k)
            embedder = guarded(resources.embedder)
            cache = default_cache(base.data_dir)
            bar = st.progress(0.0, text="Checking the judge…")

            def progress(done: int, total: int, question: str) -> None:
                bar.progress(done / total, text=f"{done}/{total} · {literal(question[:80])}")

            try:
                parts = Components(store=store, embedder=embedder, llm=resources.chat_model(config),
                                   judge=Judge(config, embedder, cache=cache), runs=runs, cache=cache)
                run_id = run_evaluation(config, items, path.name, parts, metrics=chosen_metrics, repeats=int(repeats),
                                        eval_set_path=path, progress=progress)
            except (JudgeUnavailableError, LLMError) as exc:
                st.error(literal(str(exc)), icon=":material/cloud_off:")
                st.stop()
            st.query_params["run"] = run_id
            st.rerun()

with st.expander("Eval sets: choose, edit, save, generate", icon=":material/list_alt:", key="eval.sets_box"):
    eval_sets_section(base, store, collection)

judge_trust(base)  # before the runs: it matters most when there are none yet

all_runs = runs.runs()
if not all_runs:
    st.info("No evaluation runs yet. Run one above (the bundled quick sample has 20 questions, half of them "
            "unanswerable from the sample documents; the large one 438) or with `python -m evaluation run --set "
            "samples/eval/sample.jsonl`.", icon=":material/insights:")
    st.stop()

ids = [r.id for r in all_runs]
by_id = {r.id: r for r in all_runs}


def describe(run_id: str) -> str:
    return run_label(by_id[run_id])


chosen = st.selectbox("Run", ids, index=ids.index(params["run"]) if params.get("run") in ids else 0,
                      key="eval.run_id", format_func=describe)
params["run"] = chosen
run = by_id[chosen]
samples = runs.samples(chosen)
metrics = run.config.get("metrics", [])
aggregates = aggregate(samples, metrics)
table = sample_table(samples, metrics)

if run.status == "running":
    st.info("This run is still running: the rows stored so far are shown (reload for more).", icon=":material/pending:")
elif run.status != "completed":
    hint = f" Resume it with `python -m evaluation resume {run.id}`." if run.status in ("failed", "cancelled") else ""
    st.warning(f"This run is {literal(run.status)}" + (f": {literal(run.error)}" if run.error else "")
               + f". Its stored rows are shown.{hint}")

tab_run, tab_compare, tab_trend = st.tabs(["Run", "Compare two runs", "All runs and trend"])

with tab_run:
    cols = st.columns(len(aggregates) + 1)
    for col, agg in zip(cols, aggregates, strict=False):
        value = "n/a" if agg.mean is None else f"{agg.mean:.2f}"
        ci = "" if agg.ci_low is None else f" · 95 % interval {agg.ci_low:.2f}–{agg.ci_high:.2f} over {agg.repeats} judgements"
        col.metric(charts.label(agg.metric), value,
                   help=f"{agg.n_scored} of {agg.n_total} scored · {agg.n_failed} failed · {agg.n_skipped} skipped"
                        + (" (needs reference answers)" if agg.metric in {m.value for m in NEEDS_REFERENCE} else
                           " (abstentions are skipped, never scored as 0 or NaN)"))
        col.caption(f"{agg.n_scored} of {agg.n_total} scored{ci}")
    counts = outcome_counts(samples)
    cols[-1].metric("Hallucinated answers", counts.get("hallucinated_answer", 0),
                    help="Unanswerable questions the pipeline answered anyway")
    profiles.use_run(base, runs, run, "eval.keep")

    left, right = st.columns([3, 2])
    with left:
        st.markdown("**Score distributions**")
        if metrics:
            st.plotly_chart(charts.distributions(table, aggregates), key="eval.dist_chart")
        else:
            st.info("This run has no Ragas scores, only outcomes and the answer check's P (e.g. answers stored by "
                    "`bench/abstention.py --save-run`). The Tune page's coverage tab draws what a cut on P would do.",
                    icon=":material/info:")
    with right:
        report = abstention_report(samples)
        st.markdown(f"**Abstention outcomes** ({report.n_labelled} of {report.n_total} questions labelled answerable "
                    "or unanswerable)")
        st.plotly_chart(charts.confusion_matrix(report), key="eval.confusion_chart")
        rates = {k: v for k, v in report.rates.items() if v is not None}
        if rates:
            st.dataframe(pd.DataFrame({"rate": [f"{v:.0%}" for v in rates.values()]}, index=list(rates)),
                         key="eval.rates")
    if metrics:
        st.plotly_chart(charts.scores_by_question(table, aggregates), key="eval.scores_chart")

    st.subheader("Per question")
    fcols = st.columns(2)
    outcomes = sorted(table["outcome"].unique())
    labels = sorted(table["label"].unique())
    want_outcomes = [o for o in params.get_all("outcome") if o in outcomes]
    want_labels = [lab for lab in params.get_all("label") if lab in labels]
    pick_outcomes = fcols[0].multiselect("Outcome", outcomes, default=want_outcomes, key="eval.f_outcome")
    pick_labels = fcols[1].multiselect("Label", labels, default=want_labels, key="eval.f_label")
    params["outcome"], params["label"] = pick_outcomes, pick_labels
    shown = table[table["outcome"].isin(pick_outcomes or outcomes) & table["label"].isin(pick_labels or labels)]
    selection = st.dataframe(
        shown.drop(columns=["id", "reference"]), hide_index=True, width="stretch", key="eval.table",
        on_select="rerun", selection_mode="single-row",
        column_config={**{m: st.column_config.ProgressColumn(charts.label(m), min_value=0, max_value=1, format="%.2f")
                          for m in metrics},
                       "answer_check_p": st.column_config.NumberColumn(
                           "answer check P", format="%.2f",
                           help="P(supported) of the answer-level check: do the passages state the answer?")},
    )
    numbers = list(shown["#"])
    picked_rows = selection.selection.rows if selection else []
    wanted_q = int(numbers[picked_rows[0]]) if picked_rows else (int(params["q"]) if params.get("q", "").isdigit() else None)
    question_no = st.selectbox("Inspect question", [None, *numbers], index=([None, *numbers].index(wanted_q)
                               if wanted_q in numbers else 0), key="eval.inspect",
                               format_func=lambda n: "choose a question…" if n is None else
                               f"Q{n} · {table.loc[table['#'] == n, 'question'].iloc[0][:90]}")
    if question_no is None:
        params.pop("q", None)
    else:
        params["q"] = str(question_no)
        sample = next(s for s in samples if s.idx + 1 == question_no)
        with st.container(border=True, key="eval.drilldown"):
            st.markdown(f"**Q{question_no}. {literal(sample.question)}**")
            st.markdown(f"Label: **{literal(failure_label(sample))}** · outcome {literal(sample.outcome)}"
                        + (f" · reference: _{literal(sample.reference)}_" if sample.reference else ""))
            (st.warning if sample.abstained else st.success)(literal(sample.answer or sample.error or "(no answer)"))
            score_rows = []
            for metric in metrics:
                status, score, reason = metric_status(sample, metric)
                score_rows.append({"metric": charts.label(metric), "status": status, "score": score, "reason": reason})
            st.dataframe(pd.DataFrame(score_rows), hide_index=True, key="eval.drill_scores")
            for n, ctx in enumerate(sample.contexts, start=1):
                with st.expander(f"[{n}] {literal(ctx['source'])} · similarity {ctx['score']:.2f}"):
                    st.text(ctx["text"])

    dl = st.columns(3)
    dl[0].download_button("Download CSV", csv_text(table), f"run-{chosen}.csv", "text/csv", key="eval.csv")
    dl[1].download_button("Download JSON", json.dumps(run_json(run, samples), ensure_ascii=False, indent=2),
                          f"run-{chosen}.json", "application/json", key="eval.json")
    threshold = dl[2].slider("Fine-tuning export: min faithfulness", 0.0, 1.0, 0.9, 0.05, key="eval.ft_threshold")
    dl[2].download_button("Download fine-tuning JSONL", finetune_jsonl(samples, threshold), f"finetune-{chosen}.jsonl",
                          "application/jsonl", key="eval.finetune")
    with st.expander("Configuration"):
        st.json(run.config, expanded=False)

with tab_compare:
    others = [i for i in ids if i != chosen]
    if not others:
        st.info("Only one run is stored: run another configuration to compare.")
    else:
        other = st.selectbox("Compare with", others, format_func=describe, key="eval.compare",
                             index=others.index(params["compare"]) if params.get("compare") in others else 0)
        params["compare"] = other
        pair = pd.DataFrame([run_means(runs, by_id[other]), run_means(runs, run)], index=["before", "after"])
        st.dataframe(pair.drop(columns=["created_at"]).T.astype(str), key="eval.compare_table")
        flips = flipped(runs.samples(other), samples)
        st.markdown(f"**Questions that flipped** ({len(flips)})")
        if flips.empty:
            st.caption("No question changed outcome or label between these runs.")
        else:
            st.dataframe(flips, hide_index=True, width="stretch", key="eval.flips")

with tab_trend:
    overview = pd.DataFrame([{"run": r.id, "eval set": r.eval_set, **run_means(runs, r)}
                             for r in reversed(all_runs)])  # oldest first
    st.plotly_chart(charts.trend(overview, list(charts.METRIC_LABELS)[:4]), key="eval.trend_chart")
    overview["open"] = "?run=" + overview["run"]
    st.dataframe(overview[["open", "created_at", "eval set", "status", "n", "top_k", "chunk_size",
                           *[m for m in charts.METRIC_LABELS if m in overview]]],
                 hide_index=True, width="stretch", key="eval.runs_table",
                 column_config={"open": st.column_config.LinkColumn("run", display_text=r"\?run=(.*)")})
