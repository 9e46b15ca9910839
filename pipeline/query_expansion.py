"""Query expansion: the LLM rewrites the question (multi-query) or drafts the passage it expects (HyDE).

Both widen what dense retrieval can reach when the question's wording differs from the documents'.
A failed or unparsable expansion falls back to the question alone, with a warning: expansion only
ever adds search queries, it never replaces the question.
"""

from __future__ import annotations

import logging
from typing import Annotated

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import Field, ValidationError, create_model
from tenacity import retry, retry_if_exception_type, stop_after_attempt

from pipeline.llm import invoke_structured
from settings import Settings

log = logging.getLogger(__name__)

PARAPHRASE_SYSTEM = (
    "You rewrite a search question in different words so a search engine finds the passage that answers it. "
    'Reply with JSON only: {"queries": ["...", "..."]}, each a full question with the same meaning, no answers.'
)
HYDE_SYSTEM = (
    "Write one short encyclopedia-style paragraph (2-3 sentences) that would answer the question. "
    "Write only the paragraph."
)


def paraphrases(llm: BaseChatModel, question: str, n: int, settings: Settings) -> list[str]:
    """Up to n distinct rewrites of the question (not the question itself); [] when the LLM fails.

    The schema caps the list at n and each rewrite at 120 characters (grammar-constrained on llama-server): in plain
    JSON mode the 0.5B model repeated the question inside one string past its token budget, and the cut-off reply
    could not be parsed."""
    schema = create_model("Paraphrases", queries=(list[Annotated[str, Field(max_length=120)]],
                                                  Field(min_length=1, max_length=n)))

    @retry(stop=stop_after_attempt(2), retry=retry_if_exception_type(ValidationError), reraise=True)
    def ask() -> list[str]:
        reply = invoke_structured(llm, [SystemMessage(PARAPHRASE_SYSTEM), HumanMessage(f"Write {n} rewrites of: {question}")],
                                  schema, settings, settings.llm_model, max_tokens=40 * n + 20)
        return schema.model_validate_json(str(reply.content)).queries

    try:
        queries = ask()
    except (ValidationError, openai.OpenAIError) as exc:
        log.warning("multi-query expansion failed, searching with the question alone: %s", exc)
        return []
    seen = {question.strip().lower()}
    out = []
    for q in (q.strip() for q in queries):
        if q and q.lower() not in seen:
            seen.add(q.lower())
            out.append(q)
    return out[:n]


def hypothetical_passage(llm: BaseChatModel, question: str) -> str | None:
    """HyDE: a plausible answer passage to embed instead of the question; None when the LLM fails."""
    try:
        reply = llm.bind(max_tokens=120).invoke([SystemMessage(HYDE_SYSTEM), HumanMessage(question)])
    except openai.OpenAIError as exc:
        log.warning("HyDE failed, searching with the question alone: %s", exc)
        return None
    return str(reply.content).strip() or None
