"""The Evaluation page's "Can this judge be trusted?" section: the last judge check, and a run of a new one.

The report is evaluation/judge_check.py's (`python -m evaluation judge-check` writes the same file), shown without
recomputing. A new check runs as a background job (ui/jobs.py): the bundled judge needs tens of seconds per answer on
two cores, and a click elsewhere on the page must not kill it.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from evaluation.cache import default_cache
from evaluation.judge_check import (FAITHFULNESS_CUT, CheckProgress, JudgeInfo, LabelledAnswer, PairFileError,
                                    TrustReport, default_pairs, latest_report, load_pairs, parse_pairs, percent,
                                    run_judge_check, verdict)
from evaluation.metrics import JudgeUnavailableError
from settings import Settings
from ui import charts, jobs, resources
from ui.safe_text import literal
from ui.widgets import KNOWN_ERRORS, guarded

JOB_KEY = "judge-check"  # one check at a time: they share the LLM server
STATE_KEY = "eval.trust_job"
JUDGED = ("grounding", "faithfulness")


def judge_trust(base: Settings) -> None:
    """The whole section, in an expander whose label already gives the answer."""
    report = latest_report(base)
    job = jobs.current(STATE_KEY)
    grounding = report.scorer("grounding") if report else None
    headline = (f": the grounding check agrees with labels on {percent(grounding.balanced_accuracy)}"
                if grounding and grounding.balanced_accuracy is not None else "")
    with st.expander(f"Can this judge be trusted?{headline}", icon=":material/verified:",
                     expanded=job is not None and job.running):
        st.caption("A faithfulness chart is only as good as the judge that drew it. This check gives the judge answers "
                   "whose truth is known: HaluEval QA questions, each with a knowledge paragraph, one faithful answer "
                   "and one hallucinated answer. The grounding check (what the Ask page runs) and, if asked, Ragas "
                   "faithfulness score each answer against its paragraph. AUC says how well the score ranks faithful "
                   "answers above hallucinated ones (0.5 is chance); balanced accuracy how often the verdict at the "
                   "configured cut is right, counting both kinds of answer alike. Answer length is shown beside it: it "
                   "knows nothing of the passages, but on HaluEval hallucinated answers are the long ones.")
        if job is not None:
            follow_job(job)
        if report is None:
            st.info("No judge check has been run yet. Run one below on a few questions, or from a shell: "
                    "`python -m evaluation judge-check --limit 20` (add `--ragas` for Ragas faithfulness too).",
                    icon=":material/rule:")
        else:
            show_report(report, base)
        run_controls(base)


def show_report(report: TrustReport, base: Settings) -> None:
    for name in JUDGED:
        scorer = report.scorer(name)
        if scorer is None:
            continue
        acc = scorer.balanced_accuracy
        box = st.error if acc is None or acc < 0.70 else st.warning if acc < 0.85 else st.success
        box(literal(verdict(report, name)), icon=":material/gavel:")
    judge = report.judge
    st.caption(f"{judges_text(judge)} · run {literal(report.finished_at[:19].replace('T', ' '))} UTC · "
               f"{report.n_answers} answers of {report.n_questions} questions from {literal(report.pairs)} · "
               f"{report.seconds / 60:.0f} min")
    now = JudgeInfo.of(base, judge.ragas_model is not None, judge.faithfulness_cut or FAITHFULNESS_CUT)
    if now != judge:
        st.warning(f"The configured judge has changed since this report (now: {judges_text(now, ragas=False)}, "
                   f"cuts {now.grounding_threshold:.2f} / {now.answer_threshold:.2f}): "
                   "run the check again to know how far it can be trusted.", icon=":material/update:")
    if report.status == "cancelled":
        st.warning(f"This check was cancelled after {report.n_answers} answers: its numbers cover only those.",
                   icon=":material/stop_circle:")
    scorers = report.scorers
    st.dataframe(pd.DataFrame([{
        "scorer": s.title, "AUC": s.auc, "balanced accuracy": s.balanced_accuracy,
        "precision": s.confusion.precision, "recall": s.confusion.recall, "scored": s.n_scored,
        "failed": s.n_failed, "flagged when": s.cut} for s in scorers]),
        hide_index=True, width="stretch", key="trust.table",
        column_config={c: st.column_config.NumberColumn(c, format="%.2f") for c in
                       ("AUC", "balanced accuracy", "precision", "recall")})
    shown = [s for s in scorers if s.scorer in (*JUDGED, "length")]
    for col, scorer in zip(st.columns(len(shown)), shown, strict=True):
        col.plotly_chart(charts.judge_confusion(scorer.confusion, scorer.title), key=f"trust.confusion.{scorer.scorer}")
    if failed := [s for s in scorers if s.n_failed]:
        st.caption("Left out of the numbers: " + "; ".join(
            f"{literal(s.title)}: {s.n_failed} answers ({literal(s.first_error or '')})" for s in failed))


def _pairs(upload: UploadedFile | None) -> tuple[list[LabelledAnswer], str] | None:
    """The labelled answers to check: an upload, else the default pairs; None (with the reason shown) if unusable."""
    try:
        if upload is not None:
            return parse_pairs(upload.getvalue(), upload.name), upload.name
        path = default_pairs()
        return load_pairs(path), str(path)
    except PairFileError as exc:
        st.error(literal(str(exc)), icon=":material/error:")
    return None


def judges_text(judge: JudgeInfo, ragas: bool = True) -> str:
    """"Grounding judge `m` at `url` · Ragas judge …" for a caption (model ids and URLs as literal text)."""
    text = f"Grounding judge {literal(judge.grounding_model)} at {literal(judge.grounding_endpoint)}"
    if ragas and judge.ragas_model:
        text += f" · Ragas judge {literal(judge.ragas_model)} at {literal(judge.ragas_endpoint or '')}"
    return text


def run_controls(base: Settings) -> None:
    st.markdown("**Run the check**")
    upload = st.file_uploader("Your own labelled answers (optional; .jsonl rows with knowledge, question, answer, "
                              "label 'faithful' or 'hallucinated')", type=["jsonl"], key="trust.upload")
    found = _pairs(upload)
    if found is None:
        return
    rows, source = found
    questions = list(dict.fromkeys(r.qid for r in rows))
    cols = st.columns(2)
    n = cols[0].number_input(f"Questions (two answers each; {len(questions)} in {literal(source.rsplit('/', 1)[-1])})", 1,
                             len(questions), min(10, len(questions)), key="trust.n")
    ragas = cols[1].checkbox("Ragas faithfulness too", key="trust.ragas",
                             help="Two more judge calls per answer: about a minute per answer on two cores")
    judge = JudgeInfo.of(base, ragas, FAITHFULNESS_CUT)
    st.caption(judges_text(judge, ragas)
               + ". With the bundled 1.5B judge on two cores an answer takes about 20-60 s (one answer check plus one "
                 "call per claim). Answers this judge scored before come from the cache, so a cancelled check "
                 "continues where it stopped.")
    if not st.button("Run the judge check", type="primary", key="trust.run", icon=":material/play_arrow:"):
        return
    keep = set(questions[: int(n)])
    chosen = [r for r in rows if r.qid in keep]
    embedder = guarded(resources.embedder)

    def check(job: jobs.Job) -> TrustReport:
        return run_judge_check(base, chosen, source, embedder, ragas=ragas, cache=default_cache(base.data_dir),
                               progress=job.report, should_continue=job.should_continue)

    try:
        job = jobs.registry().start(JOB_KEY, f"Judge check on {int(n)} questions", check,
                                    (JudgeUnavailableError, *KNOWN_ERRORS))
    except jobs.JobBusyError as exc:
        st.warning(f"{exc.job.label} is already running ({exc.job.elapsed} so far): one check at a time.",
                   icon=":material/hourglass_top:")
        return
    st.session_state[STATE_KEY] = job.id
    st.rerun()


def follow_job(job: jobs.Job) -> None:
    if job.running:
        jobs.follow(job, check_progress)
    elif job.error:
        st.error(f"{job.label} stopped: {literal(job.error)}", icon=":material/error:")


def check_progress(job: jobs.Job) -> None:
    """The live bar of a running check, with its Cancel button."""
    snapshot: CheckProgress | None = job.progress
    if snapshot is None:
        st.progress(0.0, text="Checking the judge endpoints…")
    else:
        st.progress(snapshot.done / max(snapshot.total, 1), text=literal(snapshot.describe()))
    if job.cancel.is_set() or st.button("Cancel the check", icon=":material/stop_circle:", key="trust.cancel"):
        job.cancel.set()
        st.caption(f"Cancelling · {job.elapsed} so far: the answer in flight is finished first; the report covers the "
                   "answers done.")
    else:
        st.caption(f"{job.label} · {job.elapsed} so far.")
