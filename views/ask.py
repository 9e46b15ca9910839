"""Ask: question in, answer streamed, then each claim checked against the passages, with highlighted citations."""

from __future__ import annotations

import streamlit as st

from ops.models import LLMS
from pipeline.answer import Answer
from pipeline.chain import stream_answer
from pipeline.llm import LLMError
from pipeline.grounding import answer_cut, judge_settings, with_answer_cut
from settings import public_url
from ui import profiles, resources
from ui.question_log import answer_feedback, remember
from ui.retrieval_controls import retrieval_controls
from ui.safe_text import literal
from ui.widgets import collection_picker, empty_knowledge_base, guarded, show_answer, store_or_stop, stream_as_text

HISTORY = "ask.history"

st.title("Ask your documents")
st.caption("Answers come only from your documents, with the passages they rely on. "
           "When the passages do not hold the answer, it says so.")

store = store_or_stop()
profiles.ask_sidebar(store)  # which configuration this page starts from, with what it scored
collection = collection_picker(store, key="ask.collection")
if collection is None:
    empty_knowledge_base()
    st.stop()

base = resources.settings()
st.sidebar.subheader("Retrieval")
# the ranges stretch to a profile's values (top-k up to 50, similarity down to -1 are valid settings)
top_k = st.sidebar.slider("Passages to retrieve (top-k)", 1, max(10, base.top_k), base.top_k, key="ask.top_k")
min_score = st.sidebar.slider("Minimum similarity to answer", min(0.0, base.min_score), 1.0, base.min_score, 0.05,
                              key="ask.min_score",
                              help="Below this cosine similarity the pipeline abstains without asking the model.")
retrieval = retrieval_controls(base, "ask.retrieval", hybrid_available=store.is_hybrid(collection))
st.sidebar.subheader("Model")
judge_model = judge_settings(base).llm_model
# the configured model and the judge's, and on the bundled server every bundled model (the 0.5B: the fast choice)
models = list(dict.fromkeys([base.llm_model, judge_model, *(LLMS if base.uses_local_llm else [])]))
llm_model = base.llm_model if len(models) == 1 else st.sidebar.radio(
    "Answering model", models, key="ask.model",
    format_func=lambda m: f"{m} (also the judge)" if m == judge_model else m,
    help="The bundled 1.5B answers more questions right; the 0.5B reads about twice as fast and is wrong more often. "
         "A judge agrees more with its own model's answers, so the answer check cuts higher when the judge's model "
         "answers. Measured on held-out questions in docs/benchmarks.md (\"Reading less\").")
st.sidebar.subheader("Grounding check")
policies = ["annotate", "strict", "off"]
policy = st.sidebar.radio(
    "After answering", policies, index=policies.index(base.grounding_policy), key="ask.grounding",
    format_func={"annotate": "Mark unsupported claims", "strict": "Withhold unless all supported",
                 "off": "Do not check"}.__getitem__,
    help="Each sentence of the answer is checked against the retrieved passages by the LLM judge, "
         "with a cheap similarity and names/numbers signal beside it.")
starting_cut = answer_cut(base.with_overrides(llm_model=llm_model))
chosen_cut = st.sidebar.slider(
    "Answer check cut", 0.0, 1.0, starting_cut, 0.05,
    key=f"ask.answer_cut.{'self' if llm_model == judge_model else 'judge'}",  # a new model pairing starts afresh
    disabled=policy == "off" or not base.grounding_answer_check,
    help="The judge's P(supported) that the passages state the answer must reach this. Higher stops more "
         "answers to questions the documents do not answer, and more right ones: the Tune page draws the trade-off.")
config = with_answer_cut(base.with_overrides(collection=collection, top_k=top_k, min_score=min_score,
                                             grounding_policy=policy, llm_model=llm_model, **retrieval), chosen_cut)
st.sidebar.caption(f"Answering `{config.llm_model}` at `{public_url(config.openai_base_url)}`; grounding judge "
                   f"`{judge_model}`")
profiles.save_choices(config)

with st.form("ask.form", clear_on_submit=False, border=False):
    question = st.text_input("Question", key="ask.question", placeholder="e.g. What modern city did Khanbaliq become?")
    asked = st.form_submit_button("Ask", type="primary")

history: list[dict] = st.session_state.setdefault(HISTORY, [])
if asked and question.strip():
    embedder = guarded(resources.embedder)
    live = st.empty()  # the answer as it is written; replaced by the checked answer below
    try:
        with live.container(border=True, key="ask.live"):
            st.markdown(f"**{literal(question.strip())}**")
            with st.spinner("Retrieving passages…"):
                stream = stream_answer(config, store, embedder, resources.chat_model(config), question,
                                       judge=resources.chat_model(judge_settings(config)))
            if config.grounding_policy != "strict":
                stream_as_text(stream)
            checking = ("Checking each claim against the passages…" if config.grounding_policy != "strict" else
                        "Writing a draft and checking it: it is shown only if the passages support it…")
            with st.spinner(checking):
                answer = stream.finish()
    except LLMError as exc:
        live.empty()
        st.error(literal(str(exc)), icon=":material/cloud_off:")
    else:
        live.empty()
        history.insert(0, remember(config, answer))  # kept in the question log, as the CLI's answers are
elif asked:
    st.warning("Type a question first.")

if not history:
    st.info("Ask something about the documents in this collection. Questions outside them get an explicit "
            "\"I don't know\".", icon=":material/lightbulb:")
for i, item in enumerate(history):
    answer = Answer.model_validate(item)
    with st.container(border=True):
        st.markdown(f"**{literal(answer.question)}**")
        show_answer(answer)
        answer_feedback(item)
    if i == 0 and len(history) > 1:
        st.caption("Earlier questions")
