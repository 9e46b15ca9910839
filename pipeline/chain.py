"""The LCEL chain: retrieve top-k → abstain if nothing is close enough → prompt → LLM → cited Answer.

The score gate runs before the model: small local models answer unanswerable questions anyway
(see RECIPES), so the prompt's abstention rule is a second line, not the control.
"""

from __future__ import annotations

import time

import openai
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import Runnable, RunnableBranch, RunnableLambda, RunnablePassthrough

from ingest.embedder import embedder_info
from ingest.store import VectorStore
from pipeline.answer import Answer, abstain_low_score, finalize
from pipeline.llm import explain_llm_error
from pipeline.prompt import PROMPT, PROMPT_VERSION, format_context
from settings import Settings


def pipeline_config(settings: Settings) -> dict:
    """Everything that shapes an answer, stored with every answer and evaluation run."""
    return {
        "collection": settings.collection,
        "embedder": embedder_info(settings).id,
        "top_k": settings.top_k,
        "min_score": settings.min_score,
        "llm_model": settings.llm_model,
        "llm_base_url": settings.openai_base_url,
        "prompt_version": PROMPT_VERSION,
        "temperature": 0,
    }


def build_chain(settings: Settings, store: VectorStore, embedder: Embeddings, llm: BaseChatModel) -> Runnable:
    """A Runnable from {"question": str} to Answer."""
    config = pipeline_config(settings)

    def retrieve(state: dict) -> list:
        return store.search(settings.collection, embedder.embed_query(state["question"]), settings.top_k)

    def too_weak(state: dict) -> bool:
        return not state["chunks"] or state["chunks"][0].score < settings.min_score

    generate = (
        RunnablePassthrough.assign(context=lambda s: format_context(s["chunks"]))
        | RunnablePassthrough.assign(raw=PROMPT | llm | StrOutputParser())
        | RunnableLambda(lambda s: finalize(s["question"], s["raw"], s["chunks"], config))
    )
    gate = RunnableLambda(lambda s: abstain_low_score(s["question"], s["chunks"], config))
    return RunnablePassthrough.assign(chunks=retrieve) | RunnableBranch((too_weak, gate), generate)


def answer_question(settings: Settings, store: VectorStore, embedder: Embeddings, llm: BaseChatModel,
                    question: str) -> Answer:
    """Run the chain once; LLM failures come back as LLMError with an actionable message."""
    question = question.strip()
    if not question:
        raise ValueError("Type a question first.")
    started = time.perf_counter()
    try:
        answer = build_chain(settings, store, embedder, llm).invoke({"question": question})
    except openai.OpenAIError as exc:
        raise explain_llm_error(exc, settings) from exc
    answer.seconds = time.perf_counter() - started
    return answer
