"""Question log: every question asked on the Ask page or with `python -m pipeline`, with what became of it, its
checks, seconds and feedback; charts over time and per configuration; chosen questions saved as an eval set.

Filters and the question opened are in the URL, so a view can be shared.
"""

from __future__ import annotations

import streamlit as st

from evaluation.log_report import THUMBS_DOWN, THUMBS_UP, log_frame, over_time, per_configuration
from ui import log_charts, resources
from ui.question_log import COLUMNS, LOG_ERRORS, drilldown, eval_set_from_log, log_filters, log_table
from ui.safe_text import literal

STATUS_HELP = {"answered": "Answers the check confirmed (or left unchecked with the check off)",
               "flagged": "Answers given with claims the check marked", "withheld": "Answers the strict policy withheld",
               "abstained": "Said it does not know: nothing close enough was retrieved, or the model found no answer"}

st.title("Question log")
st.caption("Every answer given on the Ask page or by `python -m pipeline`, kept with its checks, its seconds and the "
           "feedback people gave it. Thumbs-down answers with their corrections become the next eval set; the Tune "
           "page draws the abstention trade-offs on the answers with feedback.")

base = resources.settings()
if not base.question_log:
    st.warning("The question log is off (FQA_QUESTION_LOG=false): new answers are not kept. What was kept before is "
               "shown.", icon=":material/pause_circle:")
log = resources.question_log()
try:
    entries = log.entries() if log else []
except LOG_ERRORS as exc:
    st.error(f"The question log cannot be read: {literal(str(exc))}", icon=":material/error:")
    st.stop()
if not entries:
    st.info("No questions yet. Ask one on the Ask page (or `python -m pipeline \"…\"`): each answer is kept here with "
            "its verdicts, passages, seconds and your thumbs.", icon=":material/history:")
    st.page_link("views/ask.py", label="Ask a question", icon=":material/chat:")
    st.stop()

frame = log_frame(entries)
shown = log_filters(frame)
labelled = shown["feedback"] != ""
cols = st.columns(8)
cols[0].metric("Questions", len(shown), help=f"{len(frame)} in the log (the newest {base.question_log_max_rows:,} "
                                             "are kept: FQA_QUESTION_LOG_MAX_ROWS)")
for col, (status, meaning) in zip(cols[1:5], STATUS_HELP.items(), strict=True):
    n = int((shown["status"] == status).sum())
    col.metric(status.capitalize(), n, help=f"{meaning}: {n / len(shown):.0%} of the questions shown" if len(shown)
               else meaning)
cols[5].metric("Feedback", f"{int(labelled.sum())}",
               help=f"thumbs up {int(shown['feedback'].isin(THUMBS_UP).sum())}, "
                    f"down {int(shown['feedback'].isin(THUMBS_DOWN).sum())}")
for col, q in zip(cols[6:], (50, 95), strict=True):
    col.metric(f"p{q} s", f"{shown['seconds'].quantile(q / 100):.1f}" if len(shown) else "–",
               help=f"Seconds from the question to the finished (checked) answer, {q}th percentile")
if shown.empty:
    st.info("No logged question matches these filters.", icon=":material/filter_alt_off:")
    st.stop()

tab_questions, tab_time, tab_configs = st.tabs(["Questions", "Over time", "Per configuration"])
with tab_questions:
    selected = log_table(shown)
    drilldown(log, shown, selected)
    # keyed: a filter that closes the drilldown above it must not remount it (and close it) under the person's hands
    with st.expander("Make an eval set from these questions", icon=":material/playlist_add:", key="log.make_set"):
        eval_set_from_log(base, log, shown, selected)
    st.download_button("Download CSV", shown[COLUMNS].to_csv(index=False), "question-log.csv", "text/csv",
                       key="log.csv")

with tab_time:
    table, bucket = over_time(shown)
    left, right = st.columns(2)
    left.plotly_chart(log_charts.status_shares(table, bucket), key="log.status_chart")
    right.plotly_chart(log_charts.p_supported(shown, base.grounding_answer_threshold), key="log.p_chart")
    by_config, _ = over_time(shown, by_configuration=True)
    left.plotly_chart(log_charts.seconds(by_config, bucket), key="log.seconds_chart")
    right.plotly_chart(log_charts.feedback_counts(table, bucket), key="log.feedback_chart")

with tab_configs:
    st.caption("A configuration is everything that shapes an answer (models, retrieval, the check and its cuts); each "
               "is named by its answering model and what sets it apart from the others.")
    configs = per_configuration(shown)
    configs[list(STATUS_HELP)] *= 100
    st.dataframe(configs, hide_index=True, width="stretch", key="log.configs",
                 column_config={**{s: st.column_config.NumberColumn(format="%.0f %%", help=meaning)
                                   for s, meaning in STATUS_HELP.items()},
                                "seconds p50": st.column_config.NumberColumn(format="%.1f"),
                                "seconds p95": st.column_config.NumberColumn(format="%.1f"),
                                "mean P(supported)": st.column_config.NumberColumn(format="%.2f")})
