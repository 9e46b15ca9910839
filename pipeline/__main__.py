"""CLI: python -m pipeline "question" [--top-k N] [--collection NAME] [--min-score X] [--grounding POLICY] [--answer-cut P]
       [--mode dense|mmr|hybrid] [--rerank none|cheap|llm] [--expand none|multi|hyde] [--fetch-k N] [--json]

Prints the answer token by token as the model writes it (unless --json, or the strict policy, which shows
nothing it has not checked), then the grounding check per claim and the citations. Every answer is kept in the question
log (pipeline/question_log.py) unless FQA_QUESTION_LOG=false.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys

from pydantic import ValidationError

from ingest.embedder import EmbedderUnavailableError, embedder_info, make_embedder
from ingest.store import StoreError, VectorStore, open_client
from ops import profiles
from pipeline.answer import Answer
from pipeline.chain import stream_answer
from pipeline.grounding import with_answer_cut
from pipeline.llm import LLMError, make_chat_model
from pipeline.question_log import log_answer
from pipeline.retrieval import best_similarity
from settings import Settings, plain_error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description="Answer a question from the knowledge base.")
    parser.add_argument("question")
    parser.add_argument("--top-k", type=int)
    parser.add_argument("--collection")
    parser.add_argument("--min-score", type=float)
    parser.add_argument("--grounding", choices=["annotate", "strict", "off"],
                        help="check each claim: mark unsupported ones (annotate), withhold the answer (strict), or skip")
    parser.add_argument("--grounding-model", help="judge model for the grounding check (default: the answering model)")
    parser.add_argument("--answer-cut", type=float, metavar="P",
                        help="the P(supported) the answer-level check must reach (0-1; higher withholds more)")
    parser.add_argument("--mode", choices=["dense", "mmr", "hybrid"], help="search: semantic, diversified, or + keywords")
    parser.add_argument("--rerank", choices=["none", "cheap", "llm"], help="reorder the fetched candidates")
    parser.add_argument("--expand", choices=["none", "multi", "hyde"], help="LLM query rewrites, or a HyDE passage")
    parser.add_argument("--fetch-k", type=int, help="candidates fetched before choosing top-k")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    try:
        settings = with_answer_cut(Settings().with_overrides(
            top_k=args.top_k, collection=args.collection, min_score=args.min_score, grounding_policy=args.grounding,
            grounding_model=args.grounding_model, retrieval_mode=args.mode, rerank=args.rerank,
            query_expansion=args.expand, fetch_k=args.fetch_k), args.answer_cut)
        client = open_client(settings)
    except (ValidationError, StoreError) as exc:
        print(f"error: {plain_error(exc)}", file=sys.stderr)
        return 2
    if note := profiles.cli_note(settings):
        print(note, file=sys.stderr)
    try:
        store = VectorStore(client, embedder_info(settings))
        stream = stream_answer(settings, store, make_embedder(settings), make_chat_model(settings), args.question)
        if not args.json and settings.grounding_policy != "strict":
            for token in stream:
                print(token, end="", flush=True)
            print()
        answer = stream.finish()
    except (StoreError, EmbedderUnavailableError, LLMError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    try:
        log_answer(settings, answer, "cli")
    except (StoreError, sqlite3.Error) as exc:  # the answer stands; only its log entry is missing
        print(f"warning: this answer was not kept in the question log: {exc}", file=sys.stderr)
    if args.json:
        print(json.dumps(answer.cli_json(), ensure_ascii=False))
        return 0
    print_report(answer, streamed=settings.grounding_policy != "strict" and not stream.gated)
    return 0


def print_report(answer: Answer, streamed: bool) -> None:
    """Everything after the streamed text: abstention, per-claim grounding, citations with their spans."""
    if not streamed:
        print(answer.answer)
    if answer.abstained:
        best = best_similarity(answer.contexts) or 0.0
        print(f"\n(abstained: {answer.abstain_reason}; best retrieval score {best:.2f}, "
              f"threshold {answer.config['min_score']})")
    if answer.grounding:
        print(f"\ngrounding ({answer.grounding.model}): {answer.grounding.summary}")
        for claim in answer.grounding.claims:
            signal = claim.signal
            extra = f"; not in the passages: {', '.join(signal.missing_terms)}" if signal.missing_terms else ""
            why = f" ({claim.reason})" if claim.reason else ""
            print(f"  {claim.verdict:<13} {claim.claim}{why}  [similarity {signal.similarity:.2f}{extra}]")
        if check := answer.grounding.answer_check:
            p = f", {check.p_text}" if check.p_text else ""
            why = f" ({check.reason})" if check.reason else ""
            print(f"  {check.verdict:<13} the passages state the answer to the question{p}{why}")
        if answer.abstain_reason == "unsupported_claims":
            print(f"  withheld: {answer.grounding.shortfall}")
    for c in answer.citations:
        span = f": “{c.text[c.span[0]:c.span[1]]}”" if c.span else ""
        print(f"  [{c.marker}] {c.source} #{c.chunk_index} (score {c.score:.2f}){span}")


if __name__ == "__main__":
    sys.exit(main())
