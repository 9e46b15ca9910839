"""Evaluation: run Ragas faithfulness and answer relevancy over an eval set and chart stored runs."""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from evaluation.aggregate import aggregate, outcome_counts
from evaluation.evalset import EvalSetError, load_eval_set
from evaluation.metrics import Judge, JudgeUnavailableError
from evaluation.runner import run_evaluation
from pipeline.llm import LLMError
from ui import charts, resources
from ui.widgets import collection_picker, empty_knowledge_base, guarded, store_or_stop

st.title("Evaluation")
st.caption("Ragas faithfulness (is every claim backed by the retrieved passages?) and answer relevancy "
           "(does the answer address the question?), judged by a model separate from the answering one.")

store = store_or_stop()
runs = resources.run_store()
base = resources.settings()
collection = collection_picker(store, key="eval.collection")

with st.expander("Run an evaluation", expanded=not runs.runs(), icon=":material/play_arrow:"):
    if collection is None:
        empty_knowledge_base()
    else:
        judge_url, _ = base.judge_endpoint
        st.caption(f"Answers: `{base.llm_model}` · judge: `{base.judge_model}` at `{judge_url}` · "
                   f"collection `{collection}`. On two CPU cores the local judge needs about 20–60 s per question.")
        upload = st.file_uploader("Eval set (.jsonl or .csv with a 'question' column)", type=["jsonl", "csv"],
                                  key="eval.upload")
        cols = st.columns(2)
        top_k = cols[0].slider("top-k", 1, 10, base.top_k, key="eval.top_k")
        limit = cols[1].number_input("Questions (0 = all)", 0, 10_000, 0, key="eval.limit")
        if st.button("Run evaluation", type="primary", key="eval.run"):
            if upload is not None:
                path = base.data_dir / "evalsets" / Path(upload.name).name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(upload.getvalue())
            else:
                path = base.sample_eval_set
            try:
                items = load_eval_set(path)[: int(limit) or None]
            except EvalSetError as exc:
                st.error(str(exc))
                st.stop()
            config = base.with_overrides(collection=collection, top_k=top_k)
            embedder = guarded(resources.embedder)
            bar = st.progress(0.0, text="Checking the judge…")

            def progress(done: int, total: int, question: str) -> None:
                bar.progress(done / total, text=f"{done}/{total} · {question[:80]}")

            try:
                run_id = run_evaluation(config, items, path.name, store=store, embedder=embedder,
                                        llm=resources.chat_model(config), judge=Judge(config, embedder), runs=runs,
                                        progress=progress)
            except (JudgeUnavailableError, LLMError) as exc:
                st.error(str(exc), icon=":material/cloud_off:")
                st.stop()
            st.query_params["run"] = run_id
            st.rerun()

all_runs = runs.runs()
if not all_runs:
    st.info("No evaluation runs yet. Run one above (the bundled sample set has 20 questions, half of them "
            "unanswerable from the sample documents) or with `python -m evaluation run --set samples/eval/sample.jsonl`.",
            icon=":material/insights:")
    st.stop()

ids = [r.id for r in all_runs]
wanted = st.query_params.get("run")
chosen = st.selectbox(
    "Run", ids, index=ids.index(wanted) if wanted in ids else 0, key="eval.run_id",
    format_func=lambda i: next(f"{r.id} · {r.eval_set} · {r.status} · {r.n_done}/{r.n_items}" for r in all_runs if r.id == i),
)
st.query_params["run"] = chosen
run = next(r for r in all_runs if r.id == chosen)
samples = runs.samples(chosen)
metrics = run.config.get("metrics", [])
aggregates = aggregate(samples, metrics)

if run.status != "completed":
    st.warning(f"This run is {run.status}" + (f": {run.error}" if run.error else "") + ". Its stored rows are shown.")
cols = st.columns(len(aggregates) + 1)
for col, agg in zip(cols, aggregates, strict=False):
    col.metric(charts.METRIC_LABELS.get(agg.metric, agg.metric), "n/a" if agg.mean is None else f"{agg.mean:.2f}",
               help=f"{agg.n_scored} of {agg.n_total} scored · {agg.n_failed} failed · {agg.n_skipped} skipped "
                    "(abstentions are skipped, never scored as 0 or NaN)")
    col.caption(f"{agg.n_scored} of {agg.n_total} scored")
counts = outcome_counts(samples)
cols[-1].metric("Hallucinated answers", counts.get("hallucinated_answer", 0),
                help="Unanswerable questions the pipeline answered anyway")

table = charts.sample_table(samples, metrics)
st.subheader("Scores per question")
st.plotly_chart(charts.scores_by_question(table, aggregates), key="eval.scores_chart")
left, right = st.columns([2, 1])
with right:
    st.markdown("**Outcomes**")
    st.plotly_chart(charts.outcomes_bar(counts), key="eval.outcomes_chart")
with left:
    st.markdown("**Configuration**")
    st.json(run.config, expanded=False)
st.dataframe(table, hide_index=True, width="stretch",
             column_config={m: st.column_config.ProgressColumn(charts.METRIC_LABELS.get(m, m), min_value=0, max_value=1,
                                                                format="%.2f") for m in metrics})
dl = st.columns(2)
dl[0].download_button("Download CSV", table.to_csv(index=False), f"run-{chosen}.csv", "text/csv", key="eval.csv")
dl[1].download_button("Download JSON", json.dumps({"run": run.model_dump(), "samples": [s.model_dump() for s in samples]},
                                                  ensure_ascii=False, indent=2), f"run-{chosen}.json",
                      "application/json", key="eval.json")
