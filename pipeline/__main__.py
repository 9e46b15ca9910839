"""CLI: python -m pipeline "question" [--top-k N] [--collection NAME] [--min-score X] [--json]"""

from __future__ import annotations

import argparse
import json
import sys

from pydantic import ValidationError

from ingest.embedder import EmbedderUnavailableError, embedder_info, make_embedder
from ingest.store import StoreError, VectorStore, open_client
from pipeline.chain import answer_question
from pipeline.llm import LLMError, make_chat_model
from settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description="Answer a question from the knowledge base.")
    parser.add_argument("question")
    parser.add_argument("--top-k", type=int)
    parser.add_argument("--collection")
    parser.add_argument("--min-score", type=float)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    try:
        settings = Settings().with_overrides(top_k=args.top_k, collection=args.collection, min_score=args.min_score)
        client = open_client(settings)
    except (ValidationError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        store = VectorStore(client, embedder_info(settings))
        answer = answer_question(settings, store, make_embedder(settings), make_chat_model(settings), args.question)
    except (StoreError, EmbedderUnavailableError, LLMError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    if args.json:
        print(json.dumps(answer.cli_json(), ensure_ascii=False))
        return 0
    print(answer.answer)
    if answer.abstained:
        print(f"\n(abstained: {answer.abstain_reason}; best retrieval score "
              f"{answer.contexts[0].score if answer.contexts else 0:.2f}, threshold {settings.min_score})")
    for c in answer.citations:
        print(f"  [{c.marker}] {c.source} #{c.chunk_index} (score {c.score:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
