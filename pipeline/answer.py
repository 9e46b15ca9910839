"""What an answer is: text, whether it abstained and why, the chunks it cites, and how well its claims are grounded."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel

from ingest.store import StoredChunk
from pipeline.focus import Excerpt, whole
from pipeline.grounding import Grounding
from pipeline.llm import Tokens
from pipeline.prompt import ABSTAIN_PHRASE, is_abstention
from pipeline.rerank import similarity

AbstainReason = Literal["low_retrieval_score", "model_abstained", "empty_answer", "unsupported_claims"]

_MARKER = re.compile(r"\[(\d{1,2})\]")


class Citation(BaseModel):
    marker: int  # the [n] the answer uses
    chunk_id: str
    source: str
    chunk_index: int
    start: int
    end: int
    score: float  # the question-chunk cosine (what the gate compares), whatever ordered the chunks
    text: str
    cited: bool  # False when no answer sentence could be linked to a block: all context is listed instead
    linked_by: Literal["marker", "overlap", "none"]
    span: tuple[int, int] | None = None  # offsets in `text` of the sentence closest to the answer's claims
    read: list[tuple[int, int]] | None = None  # the spans of `text` the model read; None: all of it


class Answer(BaseModel):
    question: str
    answer: str
    abstained: bool
    abstain_reason: AbstainReason | None = None
    citations: list[Citation]
    contexts: list[StoredChunk]  # everything retrieved, in rank order
    config: dict
    seconds: float = 0.0
    grounding: Grounding | None = None  # None when the policy is off or nothing was answered
    stages: dict[str, float] = {}  # seconds per stage that ran: "retrieval", "answer", "check"
    tokens: dict[str, Tokens] = {}  # per LLM stage ("answer", "check"; "retrieval" when it asks one), if reported

    def cli_json(self) -> dict:
        return {
            "answer": self.answer,
            "abstained": self.abstained,
            "abstain_reason": self.abstain_reason,
            "citations": [c.model_dump(include={"source", "chunk_id", "chunk_index", "score", "text", "marker", "cited",
                                                "linked_by", "span"})
                          for c in self.citations],
            "grounding": self.grounding and {"summary": self.grounding.summary, **self.grounding.model_dump()},
            "config": self.config,
            "seconds": round(self.seconds, 2),
            "stages": {stage: round(s, 2) for stage, s in self.stages.items()},
            "tokens": {stage: t.model_dump() for stage, t in self.tokens.items()},
        }


_WORD = re.compile(r"\w+", re.UNICODE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_STOPWORDS = frozenset(
    "a an and are as at be by did do does for from had has have in is it its of on or that the their this to was "
    "were what when where which who whom why with".split()
)
MIN_OVERLAP = 0.5  # share of a sentence's content words that must appear in a block to link it


def content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if len(w) > 1 and w not in _STOPWORDS}


def link_sentences(answer: str, blocks: list[str]) -> list[int]:
    """1-based positions of the blocks that best support each answer sentence (by shared content words)."""
    block_words = [content_words(text) for text in blocks]
    linked: list[int] = []
    for sentence in _SENTENCE.split(answer):
        words = content_words(_MARKER.sub("", sentence))
        if not words:
            continue
        overlap = [len(words & bw) / len(words) for bw in block_words]
        best = max(range(len(blocks)), key=overlap.__getitem__, default=None)
        if best is not None and overlap[best] >= MIN_OVERLAP and best + 1 not in linked:
            linked.append(best + 1)
    return sorted(linked)


def _citation(excerpt: Excerpt, linked_by: Literal["marker", "overlap", "none"]) -> Citation:
    chunk = excerpt.chunk
    return Citation(marker=excerpt.number, chunk_id=chunk.id, source=chunk.source, chunk_index=chunk.chunk_index,
                    start=chunk.start, end=chunk.end, score=similarity(chunk), text=chunk.text,
                    cited=linked_by != "none", linked_by=linked_by, read=None if excerpt.whole else excerpt.spans)


def finalize(question: str, raw: str, chunks: list[StoredChunk], config: dict,
             excerpts: list[Excerpt] | None = None) -> Answer:
    """Turn model output into an Answer: detect abstention, link sentences to the blocks that support them.

    `excerpts` are what the model read of the chunks (every chunk whole when not given): citations point at those
    blocks, by the [n] the model saw, and carry the spans it read."""
    text = raw.strip()
    if is_abstention(text):
        reason: AbstainReason = "empty_answer" if not text else "model_abstained"
        return Answer(question=question, answer=ABSTAIN_PHRASE, abstained=True, abstain_reason=reason,
                      citations=[], contexts=chunks, config=config)
    blocks = whole(chunks) if excerpts is None else excerpts
    by_number = {e.number: e for e in blocks}
    markers = sorted({int(m) for m in _MARKER.findall(text) if int(m) in by_number})
    if markers:
        citations = [_citation(by_number[m], "marker") for m in markers]
    elif linked := link_sentences(text, [e.text for e in blocks]):
        citations = [_citation(blocks[i - 1], "overlap") for i in linked]
    else:
        citations = [_citation(e, "none") for e in blocks]
    return Answer(question=question, answer=text, abstained=False, citations=citations, contexts=chunks, config=config)


def abstain_low_score(question: str, chunks: list[StoredChunk], config: dict) -> Answer:
    return Answer(question=question, answer=ABSTAIN_PHRASE, abstained=True, abstain_reason="low_retrieval_score",
                  citations=[], contexts=chunks, config=config)


def withhold(answer: Answer) -> Answer:
    """The strict policy: a draft with claims the check did not confirm is replaced by the abstention phrase."""
    return answer.model_copy(update={"answer": ABSTAIN_PHRASE, "abstained": True,
                                     "abstain_reason": "unsupported_claims", "citations": []})
