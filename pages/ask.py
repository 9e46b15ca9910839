"""Ask: question in, grounded answer with citations out (or an explicit "I don't know")."""

from __future__ import annotations

import streamlit as st

from pipeline.answer import Answer
from pipeline.chain import answer_question
from pipeline.llm import LLMError
from ui import resources
from ui.widgets import collection_picker, empty_knowledge_base, guarded, show_answer, store_or_stop

HISTORY = "ask.history"

st.title("Ask your documents")
st.caption("Answers come only from your documents, with the passages they rely on. "
           "When the passages do not hold the answer, it says so.")

store = store_or_stop()
collection = collection_picker(store, key="ask.collection")
if collection is None:
    empty_knowledge_base()
    st.stop()

base = resources.settings()
st.sidebar.subheader("Retrieval")
top_k = st.sidebar.slider("Passages to retrieve (top-k)", 1, 10, base.top_k, key="ask.top_k")
min_score = st.sidebar.slider("Minimum similarity to answer", 0.0, 1.0, base.min_score, 0.05, key="ask.min_score",
                              help="Below this cosine similarity the pipeline abstains without asking the model.")
config = base.with_overrides(collection=collection, top_k=top_k, min_score=min_score)
st.sidebar.caption(f"Model: `{config.llm_model}` at `{config.openai_base_url}`")

with st.form("ask.form", clear_on_submit=False, border=False):
    question = st.text_input("Question", key="ask.question", placeholder="e.g. What modern city did Khanbaliq become?")
    asked = st.form_submit_button("Ask", type="primary")

history: list[dict] = st.session_state.setdefault(HISTORY, [])
if asked and question.strip():
    embedder = guarded(resources.embedder)
    with st.spinner("Retrieving passages and asking the model…"):
        try:
            answer = answer_question(config, store, embedder, resources.chat_model(config), question)
        except LLMError as exc:
            st.error(str(exc), icon=":material/cloud_off:")
        else:
            history.insert(0, answer.model_dump())
elif asked:
    st.warning("Type a question first.")

if not history:
    st.info("Ask something about the documents in this collection. Questions outside them get an explicit "
            "\"I don't know\".", icon=":material/lightbulb:")
for i, item in enumerate(history):
    answer = Answer.model_validate(item)
    with st.container(border=True):
        st.markdown(f"**{answer.question}**")
        show_answer(answer)
    if i == 0 and len(history) > 1:
        st.caption("Earlier questions")
