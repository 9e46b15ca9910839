"""Faithful QA dashboard: `streamlit run app.py` (or `make run`)."""

import streamlit as st

st.set_page_config(page_title="Faithful QA", page_icon=":material/verified:", layout="wide")

navigation = st.navigation([
    st.Page("pages/ask.py", title="Ask", icon=":material/chat:", default=True),
    st.Page("pages/knowledge_base.py", title="Knowledge base", icon=":material/library_books:"),
    st.Page("pages/evaluation.py", title="Evaluation", icon=":material/monitoring:"),
    st.Page("pages/tune.py", title="Tune", icon=":material/tune:"),
])
navigation.run()
