"""Answers shaped like the pipeline's, for seeding the question log in tests (no LLM): answered and checked, flagged,
withheld, or abstained below the score gate."""

from __future__ import annotations

from ingest.store import StoredChunk
from pipeline.answer import ABSTAIN_PHRASE, Answer, Citation
from pipeline.grounding import AnswerCheck, CheapSignal, ClaimCheck, Grounding
from pipeline.llm import Tokens
from pipeline.question_log import QuestionLog

CONFIG = {"collection": "sample", "top_k": 4, "min_score": 0.4, "llm_model": "qwen2.5-0.5b",
          "llm_base_url": "http://127.0.0.1:8766/v1", "grounding_policy": "annotate", "grounding_model": "qwen2.5-1.5b",
          "grounding_answer_threshold": 0.75, "retrieval_mode": "hybrid"}
HUGUENOT = "Jean Ribault founded the colony of Fort Caroline in Florida in 1564."


def make_answer(question: str, text: str, *, source: str = "kb/huguenots.md", passage: str = HUGUENOT,
                p: float | None = 0.9, supported: bool = True, abstain: str | None = None, similarity: float = 0.7,
                config: dict | None = None, seconds: float = 9.0) -> Answer:
    """An Answer as the chain gives it. `abstain`: "low_retrieval_score" (the gate, no model call) or
    "unsupported_claims" (withheld by the strict policy); `supported=False` marks the claim and the answer check."""
    chunk = StoredChunk(id="c1", source=source, chunk_index=0, start=0, end=len(passage), text=passage, score=similarity,
                        similarity=similarity)
    config = {**CONFIG, **(config or {})}
    if abstain == "low_retrieval_score":
        return Answer(question=question, answer=ABSTAIN_PHRASE, abstained=True, abstain_reason=abstain, citations=[],
                      contexts=[chunk], config=config, seconds=0.2, stages={"retrieval": 0.2})
    verdict = "supported" if supported else "not_supported"
    signal = CheapSignal(similarity=0.8, best_sentence=passage, chunk_id="c1", span=(0, len(passage)), missing_terms=[])
    grounding = Grounding(policy=config["grounding_policy"], model="qwen2.5-1.5b", threshold=0.4, seconds=3.0,
                          claims=[ClaimCheck(claim=text, verdict=verdict, p_supported=p, signal=signal)],
                          answer_check=AnswerCheck(verdict=verdict, p_supported=p, threshold=0.75))
    citation = Citation(marker=1, chunk_id="c1", source=source, chunk_index=0, start=0, end=len(passage),
                        score=similarity, text=passage, cited=True, linked_by="marker", span=(0, len(passage)))
    answer = Answer(question=question, answer=text, abstained=False, citations=[citation], contexts=[chunk],
                    config=config, grounding=grounding, seconds=seconds,
                    stages={"retrieval": 0.1, "answer": seconds - 3.1, "check": 3.0},
                    tokens={"answer": Tokens(read=466, written=14), "check": Tokens(read=300, written=6, cached=200)})
    if abstain == "unsupported_claims":
        return answer.model_copy(update={"answer": ABSTAIN_PHRASE, "abstained": True, "abstain_reason": abstain,
                                         "citations": []})
    return answer


def seed(log: QuestionLog, answers: list[Answer], via: str = "ask") -> list[int]:
    return [log.record(a, via, 10_000) for a in answers]
