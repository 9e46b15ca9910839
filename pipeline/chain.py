"""The answer path: retrieve → abstain if nothing is close enough → prompt | LLM (streamed) → cited Answer → grounding.

The score gate runs before the model and the grounding check after it: small local models answer unanswerable
questions anyway (see RECIPES), so the prompt's abstention rule is a third line, not the control.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from langchain_core.callbacks import UsageMetadataCallbackHandler
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough

from ingest.embedder import embedder_info
from ingest.store import VectorStore
from pipeline import retrieval
from pipeline.answer import Answer, abstain_low_score, finalize, withhold
from pipeline.details import check_details, restates_question
from pipeline.focus import focus, token_counter
from pipeline.grounding import (
    answer_cut,
    check_grounding,
    check_input,
    claim_evidence,
    judge_settings,
    split_claims,
)
from pipeline.llm import LLM_FAILURES, Tokens, explain_llm_error, make_chat_model
from pipeline.prompt import PROMPT, PROMPT_VERSION, format_context
from settings import Settings, public_url


def pipeline_config(settings: Settings) -> dict:
    """Everything that shapes an answer, stored with every answer and evaluation run."""
    return {
        "collection": settings.collection,
        "embedder": embedder_info(settings).id,
        "top_k": settings.top_k,
        "min_score": settings.min_score,
        "llm_model": settings.llm_model,
        "llm_base_url": public_url(settings.openai_base_url),
        "prompt_version": PROMPT_VERSION,
        "temperature": 0,
        "grounding_policy": settings.grounding_policy,
        "grounding_model": judge_settings(settings).llm_model,
        "grounding_threshold": settings.grounding_threshold,
        "grounding_term_veto": settings.grounding_term_veto,
        "grounding_answer_check": settings.grounding_answer_check,
        "grounding_answer_threshold": settings.grounding_answer_threshold,
        "grounding_self_answer_threshold": settings.grounding_self_answer_threshold,
        "answer_cut": answer_cut(settings),  # the one of the two that applies to this model pairing
        "grounding_detail_check": settings.grounding_detail_check,
        "grounding_scope": settings.grounding_scope,
        "context_tokens": settings.context_tokens,
        "context_neighbours": settings.context_neighbours,
        **retrieval.retrieval_config(settings),
    }


def build_chain(settings: Settings, store: VectorStore, embedder: Embeddings, llm: BaseChatModel) -> Runnable:
    """A Runnable from {"question"} to {"question", "chunks", "excerpts", "context"}: what the generation step is
    given. The chunks are everything retrieved; the excerpts what of them the model reads (pipeline/focus.py)."""
    retrieve = RunnableLambda(  # RETRIEVAL STEP: the one call that chooses the chunks
        lambda s: retrieval.retrieve(settings, store, embedder, llm, s["question"]))
    count = token_counter(settings)
    read_less = RunnableLambda(lambda s: focus(s["question"], s["chunks"], embedder, settings.context_tokens, count,
                                               settings.context_neighbours))
    return (RunnablePassthrough.assign(chunks=retrieve)
            | RunnablePassthrough.assign(excerpts=read_less)
            | RunnablePassthrough.assign(context=lambda s: format_context(s["excerpts"])))


class AnswerStream:
    """An answer being written: iterate for the tokens as the model writes them, then `finish()` for the Answer.

    `finish()` links citations, runs the grounding check and applies the policy; it drains the stream first
    if nobody iterated it (the strict policy shows nothing before the check). Each stage's seconds and, where the
    endpoint reports them, its tokens read and written are kept on the Answer.
    """

    def __init__(self, settings: Settings, store: VectorStore, embedder: Embeddings, llm: BaseChatModel,
                 question: str, judge: BaseChatModel | None = None):
        self.question = question.strip()
        if not self.question:
            raise ValueError("Type a question first.")
        self._settings, self._embedder, self._llm = settings, embedder, llm
        self._judge = judge or (make_chat_model(judge_settings(settings)) if settings.grounding_model else llm)
        self._started = time.perf_counter()
        self._config = pipeline_config(settings)
        self._counters = {stage: UsageMetadataCallbackHandler() for stage in ("retrieval", "answer", "check")}
        self._state = self._guard(lambda: build_chain(settings, store, embedder, llm).invoke(
            {"question": self.question}, config={"callbacks": [self._counters["retrieval"]]}))
        self._stages = {"retrieval": time.perf_counter() - self._started}
        chunks = self._state["chunks"]
        best = retrieval.best_similarity(chunks)  # the cosine, whatever score the retrieval mode ranked by
        self.gated = retrieval.below_gate(best, settings.min_score)
        self._tokens: list[str] = []
        self._streamed = False

    def _guard(self, call):  # noqa: ANN001, ANN202 - any callable, its result
        try:
            return call()
        except LLM_FAILURES as exc:
            raise explain_llm_error(exc, self._settings) from exc

    def __iter__(self) -> Iterator[str]:
        if self.gated or self._streamed:
            return
        self._streamed = True
        generate = PROMPT | self._llm
        config = {"callbacks": [self._counters["answer"]]}
        began = time.perf_counter()
        try:
            for chunk in generate.stream(self._state, config=config):
                if token := chunk.text:
                    self._tokens.append(token)
                    yield token
            if not "".join(self._tokens).strip():
                # llama-cpp-python's server (bundled until 2026-12) ended streams after the role chunk:
                # ask once more without streaming rather than report an empty answer
                self._tokens = [generate.invoke(self._state, config=config).text]
                yield self._tokens[0]
        except LLM_FAILURES as exc:
            raise explain_llm_error(exc, self._settings) from exc
        self._stages["answer"] = time.perf_counter() - began

    def finish(self) -> Answer:
        for _ in self:
            pass
        chunks = self._state["chunks"]
        if self.gated:
            answer = abstain_low_score(self.question, chunks, self._config)
        else:
            began = time.perf_counter()
            answer = self._ground(finalize(self.question, "".join(self._tokens), chunks, self._config,
                                           self._state["excerpts"]))
            if answer.grounding is not None:
                self._stages["check"] = time.perf_counter() - began
        tokens = {stage: Tokens.counted(counter) for stage, counter in self._counters.items()}
        return answer.model_copy(update={"seconds": time.perf_counter() - self._started, "stages": self._stages,
                                         "tokens": {stage: t for stage, t in tokens.items() if t.read or t.written}})

    def _ground(self, answer: Answer) -> Answer:
        """Mark each citation's supporting span, then (unless the policy is off) judge every claim."""
        if answer.abstained:
            return answer
        claims = split_claims(answer.answer)
        signals, spans = claim_evidence(claims, answer.contexts, self._embedder, self.question)
        answer = answer.model_copy(update={"citations": [c.model_copy(update={"span": spans.get(c.chunk_id)})
                                                         for c in answer.citations]})
        if self._settings.grounding_policy == "off":
            return answer
        passages = [c.text for c in answer.contexts]
        item = check_input(self._settings.grounding_scope, self.question, claims, passages)
        details = (check_details(self.question, answer.answer, passages)
                   if self._settings.grounding_detail_check else None)
        judge = self._judge.with_config(callbacks=[self._counters["check"]])
        grounding = check_grounding(self._settings, item, claims, signals, judge, details,
                                    restated=restates_question(self.question, answer.answer))
        answer = answer.model_copy(update={"grounding": grounding})
        if self._settings.grounding_policy == "strict" and not grounding.fully_supported:
            return withhold(answer)
        return answer


def stream_answer(settings: Settings, store: VectorStore, embedder: Embeddings, llm: BaseChatModel, question: str,
                  judge: BaseChatModel | None = None) -> AnswerStream:
    """Retrieve now; the returned stream yields the answer's tokens, and `finish()` gives the checked Answer.

    The grounding judge defaults to `grounding_model`, else the answering model. LLM failures come back as LLMError with an actionable message.
    """
    return AnswerStream(settings, store, embedder, llm, question, judge)


def answer_question(settings: Settings, store: VectorStore, embedder: Embeddings, llm: BaseChatModel,
                    question: str, judge: BaseChatModel | None = None) -> Answer:
    """Answer without streaming (evaluation, tests): the same path as `stream_answer`."""
    return stream_answer(settings, store, embedder, llm, question, judge).finish()
