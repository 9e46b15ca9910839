"""The first chart: a faithfulness chart of the bundled sample that the dashboard makes by itself.

A newcomer who runs `make run` and opens the Evaluation page sees what it draws without starting a 20-minute run:
the first time the dashboard runs on a data folder whose sample collection is ingested, a background job answers the
first `first_chart_questions` questions of the quick sample set (all answerable) and the judge scores their
faithfulness. It runs inside the dashboard's process (embedded Qdrant allows one process per folder) as a job
(ui/jobs.py), so every page stays usable meanwhile. It is an ordinary stored run, tagged `first_chart`: listed,
drilled into and compared like any other; one interrupted by a restart is resumed on the next start.
FQA_FIRST_CHART_QUESTIONS=0 turns it off (the test suite does).
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from evaluation import cost
from evaluation.aggregate import aggregate
from evaluation.cache import default_cache
from evaluation.evalset import EvalItem, EvalSetError, load_eval_set
from evaluation.export import sample_table
from evaluation.metrics import Judge, JudgeUnavailableError, MetricName
from evaluation.runner import Components, resume_evaluation, run_evaluation, settings_of_run
from evaluation.runstore import RunStore, RunSummary
from pipeline.llm import LLMError
from settings import Settings
from ui import charts, jobs, resources
from ui.safe_text import literal
from ui.widgets import KNOWN_ERRORS

KEY = "first-chart"  # the job's key: one first chart at a time, once per process unless asked again
TAG = "first_chart"  # in the run's config
METRICS = [MetricName.FAITHFULNESS]
FAITHFULNESS = MetricName.FAITHFULNESS.value
ERRORS = (JudgeUnavailableError, LLMError, EvalSetError, *KNOWN_ERRORS)


@dataclass(frozen=True)
class Made:
    """The job's progress: questions answered and scored so far, of how many."""

    done: int
    total: int


def first_run(runs: RunStore) -> RunSummary | None:
    """The newest first-chart run, finished or not."""
    return next((r for r in runs.runs() if r.config.get(TAG)), None)


def questions(settings: Settings) -> list[EvalItem]:
    return load_eval_set(settings.sample_eval_set)[: settings.first_chart_questions]


@st.cache_resource(show_spinner=False)
def _finished() -> set[str]:
    """Data folders whose first chart this process has seen completed: not looked up again on every page."""
    return set()


def ensure_started() -> None:
    """Start the first chart's job, or resume an interrupted one, once per dashboard process: when it is turned on,
    not made yet, and the sample collection holds chunks. Anything in the way leaves it unstarted, silently: the
    pages say what is wrong with the store or the judge themselves."""
    base = resources.settings()
    if base.first_chart_questions == 0 or str(base.data_dir) in _finished() or jobs.registry().latest(KEY):
        return
    try:
        runs, store = resources.run_store(), resources.vector_store()
        previous = first_run(runs)
        if previous is not None and previous.status == "completed":
            _finished().add(str(base.data_dir))
            return
        if base.collection not in store.names() or store.count(base.collection) == 0:
            return
        start(base, previous)
    except ERRORS:
        return


def start(base: Settings, previous: RunSummary | None) -> None:
    """The job: answer and judge the questions (continuing `previous` when it was interrupted), storing each row."""
    items = questions(base)
    store, runs, embedder = resources.vector_store(), resources.run_store(), resources.embedder()

    def work(job: jobs.Job) -> str:
        def tell(done: int, total: int, _question: str) -> None:
            job.report(Made(done, total))

        settings = settings_of_run(base, previous.config) if previous is not None else base
        cache = default_cache(base.data_dir)
        parts = Components(store=store, embedder=embedder, llm=resources.chat_model(settings),
                           judge=Judge(settings, embedder, cache=cache), runs=runs, cache=cache)
        if previous is not None:
            return resume_evaluation(settings, previous.id, items[: previous.n_items], parts, progress=tell,
                                     should_continue=job.should_continue)
        return run_evaluation(settings, items, base.sample_eval_set.name, parts, metrics=METRICS,
                              eval_set_path=base.sample_eval_set, extra_config={TAG: True}, progress=tell,
                              should_continue=job.should_continue)

    jobs.registry().start(KEY, f"The first chart ({len(items)} sample questions)", work, ERRORS)


def _again() -> None:
    base = resources.settings()
    runs = resources.run_store()
    previous = first_run(runs)
    try:
        start(base, previous if previous is not None and previous.status != "completed" else None)
    except (jobs.JobBusyError, *ERRORS):
        pass  # the section shows the running job, or the store's or the set's error, on the rerun


def section(runs: RunStore) -> None:
    """The first chart on the Evaluation page while it is made (progress, the chart as rows arrive) and afterwards,
    while it is the only run; later it is one run among the others, below."""
    job = jobs.registry().latest(KEY)
    run = first_run(runs)
    if (job is None and run is None) or (run is not None and run.status == "completed" and len(runs.runs()) > 1
                                         and not (job is not None and job.running)):
        return
    with st.container(border=True, key="eval.first_chart"):
        st.subheader("First look: faithfulness on the bundled sample")
        if job is not None and job.running:
            jobs.follow(job, lambda j: _draw(runs, j), every=2.0)
        else:
            _draw(runs, job)


def _draw(runs: RunStore, job: jobs.Job | None) -> None:
    base = resources.settings()
    run = first_run(runs)
    items = questions(base) if base.first_chart_questions else []
    running = job is not None and job.running
    if running:
        made: Made | None = job.progress
        done, total = (made.done, made.total) if made else (0, len(items))
        st.progress(done / max(total, 1), text=f"Answering and judging question {min(done + 1, total)} of {total} · "
                                              f"{job.elapsed} so far")
        st.caption(f"The dashboard makes this chart by itself the first time it runs: {len(items)} questions take "
                   f"{cost.duration(cost.seconds(items, METRICS))} on two cores with the bundled models (faithfulness "
                   "only, the slowest part of a full evaluation). Every page stays usable meanwhile, though answers on "
                   "the Ask page are slower while it runs: both use the same LLM server.")
    elif job is not None and job.error:
        st.warning(f"The first chart could not be made: {literal(job.error)}", icon=":material/cloud_off:")
        st.button("Try again", key="eval.first_chart_again", icon=":material/refresh:", on_click=_again)
    if run is None:
        return
    samples = runs.samples(run.id)
    if samples:
        table = sample_table(samples, [FAITHFULNESS])
        figure = charts.scores_by_question(table, aggregate(samples, [FAITHFULNESS]))
        figure.update_layout(title=f"Faithfulness per question ({len(samples)} of {run.n_items} done)")
        st.plotly_chart(figure, key="eval.first_chart_plot")
    st.caption(label(run, sum(s.answerable is True for s in samples)))
    if not running and run.status == "completed":
        st.caption(f"Run `{run.id}` is listed below with the others. Run more questions, or all four metrics, under "
                   "**Run an evaluation** above.")


def label(run: RunSummary, answerable: int) -> str:
    """What the chart is, honestly: which questions, when, which models, which configuration."""
    c = run.config
    return (f"Computed by this dashboard on {run.created_at[:16].replace('T', ' ')} UTC: the first {run.n_items} "
            f"questions of the bundled sample set ({literal(run.eval_set)}; {answerable} of those done are "
            "answerable from the sample documents), answered by "
            f"{literal(str(c.get('llm_model')))} and judged by {literal(str(c.get('judge_model')))}. Collection "
            f"{literal(str(c.get('collection')))}, chunks of {c.get('chunk_size')} characters with "
            f"{c.get('chunk_overlap')} overlap, top-k {c.get('top_k')}, {c.get('retrieval_mode')} search with "
            f"{c.get('rerank')} rerank, minimum similarity {c.get('min_score')}, grounding check "
            f"{c.get('grounding_policy')}. Status: {run.status}.")
