"""Faithful QA dashboard: `streamlit run app.py` (or `make run`).

The page scripts live in views/, not pages/: with a pages/ folder beside app.py, Streamlit served a page opened
by its URL (a shared link) as a legacy file-based app, skipping this navigation and its titles.
"""

import streamlit as st

from ui import first_chart

# an emoji, not a :material/…: icon: Streamlit fetches those favicons from fonts.gstatic.com on every page load, a
# request off the machine (tests/test_browser_output_safety.py); an emoji becomes an inline data: URL
st.set_page_config(page_title="Faithful QA", page_icon="✅", layout="wide")

navigation = st.navigation([
    st.Page("views/ask.py", title="Ask", icon=":material/chat:", default=True),
    st.Page("views/knowledge_base.py", title="Knowledge base", icon=":material/library_books:"),
    st.Page("views/evaluation.py", title="Evaluation", icon=":material/monitoring:"),
    st.Page("views/tune.py", title="Tune", icon=":material/tune:"),
    st.Page("views/log.py", title="Question log", icon=":material/history:"),
])
first_chart.ensure_started()  # the Evaluation page's first chart, made in the background once (ui/first_chart.py)
navigation.run()
