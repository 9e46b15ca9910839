"""Stage 1 of a cheap-first sweep: every config, every question, retrieval alone, no LLM call.

Why: answering plus the Ragas judge cost 20-60 s per question and metric on a CPU, so a grid evaluated in full
affords 2-5 questions and its heatmaps are noise. Whether the reference answer is in the retrieved chunks, how
high it ranks, and whether the score gate would abstain cost one retrieval per question, so every config gets the
whole eval set here; evaluation.sweep.run_cheap_first then judges only the best few in full.

The retrieval is the pipeline's own (pipeline.retrieval.retrieve) with its LLM steps turned off: query expansion
off and the cheap reranker in place of the LLM one (`llm_free`). Otherwise the stage would call the model.
"""

from __future__ import annotations

import time

from langchain_core.embeddings import Embeddings

from evaluation.evalset import EvalItem
from evaluation.intervals import Estimate, mean, rate
from evaluation.runner import Components, Progress, ShouldContinue, reference_found
from evaluation.runstore import ScreenRow
from pipeline.rerank import similarity
from pipeline.retrieval import below_gate, best_similarity, retrieval_config, retrieve
from settings import Settings

STAGE_RETRIEVAL, STAGE_FULL = "retrieval only", "full evaluation"
# stage-1 numbers per cell: each a share of questions (Wilson interval) or a mean over them (bootstrap)
SCREEN_METRICS = ["reference_found", "mrr", "false_abstention", "right_abstention"]
SCREEN_BATCH = 50  # rows stored per transaction: one commit per row was half the stage's time (bench/screening.py)
SCREEN_LABELS = {"reference_found": "Reference found (hit rate)", "mrr": "MRR of the reference",
                 "false_abstention": "Gate stops answerable", "right_abstention": "Gate stops unanswerable"}


class QueryMemo(Embeddings):
    """An embedder that embeds each distinct question once: every cell of the retrieval stage asks the same
    questions, and the query embedding was most of a retrieval's time (bench/screening.py)."""

    def __init__(self, embedder: Embeddings) -> None:
        self._embedder = embedder
        self._vectors: dict[str, list[float]] = {}

    def embed_query(self, text: str) -> list[float]:
        if text not in self._vectors:
            self._vectors[text] = self._embedder.embed_query(text)
        return self._vectors[text]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._embedder.embed_documents(texts)


def llm_free(settings: Settings) -> Settings:
    """These settings with every LLM step of retrieval off: no query expansion, the cheap reranker for the LLM one."""
    return settings.with_overrides(query_expansion="none", rerank="cheap" if settings.rerank == "llm" else None)


def screen_item(settings: Settings, parts: Components, item: EvalItem, idx: int) -> ScreenRow:
    """Retrieve for one question as the pipeline would, and read off the reference's rank and the gate."""
    if settings.query_expansion != "none" or settings.rerank == "llm":
        raise ValueError("stage 1 must not call the LLM: pass llm_free(settings)")
    started = time.perf_counter()
    # parts.llm is never called with these settings (the test counts the fake server's requests)
    chunks = retrieve(settings, parts.store, parts.embedder, parts.llm, item.question)
    best = best_similarity(chunks)
    found = [rank for rank, c in enumerate(chunks, start=1) if item.reference and reference_found(item.reference, c.text)]
    return ScreenRow(
        idx=idx, item_id=item.id, question=item.question, reference=item.reference, answerable=item.answerable,
        kind=item.kind, found_rank=found[0] if found else None, best_similarity=best,
        gated=below_gate(best, settings.min_score),
        contexts=[{"id": c.id, "source": c.source, "similarity": similarity(c)} for c in chunks],
        seconds=time.perf_counter() - started)


def screen_config(settings: Settings, items: list[EvalItem], eval_set: str, parts: Components, extra_config: dict,
                  progress: Progress | None = None, should_continue: ShouldContinue | None = None) -> str:
    """Screen every item under `settings` (made LLM-free here), storing the rows `SCREEN_BATCH` at a time; returns the
    screen id. The screen records `settings` as given (before LLM-free), the configuration a profile made from the
    cell keeps.

    A cancel between questions leaves the screen "cancelled" with the rows it has; a crash loses at most one batch
    (milliseconds of retrieval each, where a run's rows are minutes of LLM work and are stored one by one).
    """
    kept = settings.storable()  # the cell's own configuration, which a profile made from it keeps
    settings = llm_free(settings)
    config = {"collection": settings.collection, "chunk_size": settings.chunk_size,
              "chunk_overlap": settings.chunk_overlap, "top_k": settings.top_k, "min_score": settings.min_score,
              **retrieval_config(settings), "settings": kept, **extra_config}
    screen_id = parts.runs.create_screen(eval_set, len(items), config)
    made: list[ScreenRow] = []
    for idx, item in enumerate(items):
        if should_continue is not None and not should_continue():
            parts.runs.add_screen_rows(screen_id, made)
            parts.runs.finish_screen(screen_id, "cancelled", f"cancelled after {idx} of {len(items)} questions")
            return screen_id
        if progress:
            progress(idx, len(items), item.question)
        made.append(screen_item(settings, parts, item, idx))
        if len(made) == SCREEN_BATCH:
            parts.runs.add_screen_rows(screen_id, made)
            made = []
    parts.runs.add_screen_rows(screen_id, made)
    parts.runs.finish_screen(screen_id, "completed")
    if progress:
        progress(len(items), len(items), "")
    return screen_id


def estimates(rows: list[ScreenRow]) -> dict[str, Estimate]:
    """Each stage-1 number of one cell with its 95 % interval.

    reference_found: the reference is in a retrieved chunk (hit rate at top-k), of the questions with a reference;
    mrr: mean of 1 / rank of the first chunk holding it (0 when none does), same questions;
    false_abstention: answerable questions the gate stops; right_abstention: unanswerable questions it stops.
    """
    with_reference = [r for r in rows if r.reference]
    answerable = [r for r in rows if r.expects_answer]
    unanswerable = [r for r in rows if r.answerable is False]
    return {
        "reference_found": rate(sum(r.found_rank is not None for r in with_reference), len(with_reference)),
        "mrr": mean([1 / r.found_rank if r.found_rank else 0.0 for r in with_reference]),
        "false_abstention": rate(sum(r.gated for r in answerable), len(answerable)),
        "right_abstention": rate(sum(r.gated for r in unanswerable), len(unanswerable)),
    }


def rank_key(cell: dict[str, Estimate]) -> tuple[float, ...]:
    """Sort key, best first: reference found, then MRR, then fewer false and more right abstentions.

    Retrieval decides what the model can answer at all, so it leads; the gate rarely differs between chunkings and
    only breaks ties. A missing number (no question of that kind) counts as neutral.
    """
    def value(name: str, missing: float) -> float:
        v = cell[name].value
        return missing if v is None else v

    return (-value("reference_found", 0.0), -value("mrr", 0.0), value("false_abstention", 0.0),
            -value("right_abstention", 0.0))


def pick_finalists(cells: dict[int, dict[str, Estimate]], n: int) -> list[int]:
    """The `n` best steps by `rank_key`, in ranking order; ties go to the earlier step (smaller chunks and top-k)."""
    return sorted(cells, key=lambda step: (*rank_key(cells[step]), step))[:max(n, 0)]
