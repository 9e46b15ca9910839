"""A page for tests/test_browser_output_safety.py: hostile text through the Ask page's own widgets, no LLM.

`streamlit run tests/output_safety_app.py`: the payloads are streamed as the Ask page streams an answer, then
shown as an answered and an abstained Answer (answer, claims, reasons, citation names and text, closest passages).
"""

from __future__ import annotations

import streamlit as st

from ingest.store import StoredChunk
from pipeline.answer import Answer, Citation
from pipeline.grounding import AnswerCheck, CheapSignal, ClaimCheck, Grounding
from tests.hostile import HOSTILE_TEXT
from ui.safe_text import literal
from ui.widgets import show_answer, stream_as_text

SOURCE = "kb/![s](https://attacker.example/source.png).md"
CONFIG = {"top_k": 2, "min_score": 0.4, "llm_model": "fake"}
chunk = StoredChunk(id="c1", source=SOURCE, title=HOSTILE_TEXT, chunk_index=0, start=0, end=len(HOSTILE_TEXT),
                    text=HOSTILE_TEXT, score=0.9, similarity=0.9)
signal = CheapSignal(similarity=0.5, best_sentence=HOSTILE_TEXT, chunk_id="c1", span=(0, 20),
                     missing_terms=["![m](https://attacker.example/missing.png)"])
grounding = Grounding(policy="annotate", model="fake", threshold=0.4, seconds=1.0,
                      claims=[ClaimCheck(claim=HOSTILE_TEXT, verdict="not_supported", p_supported=0.1,
                                         reason=HOSTILE_TEXT, signal=signal)],
                      answer_check=AnswerCheck(verdict="not_supported", p_supported=0.2, threshold=0.75,
                                               reason=HOSTILE_TEXT))
citation = Citation(marker=1, chunk_id="c1", source=SOURCE, chunk_index=0, start=0, end=len(HOSTILE_TEXT),
                    score=0.9, text=HOSTILE_TEXT, cited=True, linked_by="overlap", span=(0, 20))
answered = Answer(question=HOSTILE_TEXT, answer=HOSTILE_TEXT, abstained=False, citations=[citation], contexts=[chunk],
                  config=CONFIG, grounding=grounding)
abstained = Answer(question=HOSTILE_TEXT, answer="I don't know based on the provided documents.", abstained=True,
                   abstain_reason="model_abstained", citations=[], contexts=[chunk], config=CONFIG)

with st.container(key="streamed"):
    stream_as_text(HOSTILE_TEXT[i:i + 7] for i in range(0, len(HOSTILE_TEXT), 7))
with st.container(key="answered"):
    st.markdown(f"**{literal(answered.question)}**")
    show_answer(answered)
with st.container(key="abstained"):
    show_answer(abstained)
    st.caption("rendered")
