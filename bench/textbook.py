"""The peer on the same questions: a textbook LangChain RAG with the same local model, no gate, no check.

    .venv/bin/python bench/textbook.py --skip 250 --limit 154 --out /tmp/textbook_held.jsonl
    .venv/bin/python bench/textbook.py --data articles --skip 0 --limit 400 --model qwen2.5-1.5b --out /tmp/tb_art.jsonl

The recipe of ../shared/RECIPES.md ("Baseline to beat"): 800-character recursive chunks with 100 overlap, MiniLM
embeddings in Qdrant, the 4 nearest chunks, the classic "If you don't know the answer, just say that you don't know"
prompt, the answering model at temperature 0, an LCEL chain prompt | model | string. Counted as this project's
benches count (bench/abstention.py): an unanswerable question is answered anyway unless the reply says it does
not know; an answerable one is right when a reference answer is contained. The abstention test is generous to the
peer: besides the pipeline's own phrases it accepts "not mentioned", "no information" and the like.

`--retrieval pipeline` and `--prompt pipeline` swap one half of the chain for this pipeline's (default chunking,
hybrid search and rerank; the grounded prompt over numbered blocks) so a 2 x 2 run tells which half makes the
difference in right answers. The score gate and the checks stay out: both halves answer every question.

`--ours` reads logs of this pipeline's answers to the same questions (bench/abstention.py --out) and prints them
beside the peer, so both are counted by the same code on the same question ids.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

from langchain_core.output_parsers import StrOutputParser  # noqa: E402
from langchain_core.prompts import ChatPromptTemplate  # noqa: E402
from tqdm import tqdm  # noqa: E402

from bench.abstention import DATA, contains_reference, question_set, share  # noqa: E402
from bench.common import percentile, read_jsonl  # noqa: E402
from pipeline.focus import whole  # noqa: E402
from pipeline.llm import make_chat_model  # noqa: E402
from pipeline.prompt import PROMPT, format_context, is_abstention  # noqa: E402
from pipeline.retrieval import retrieve  # noqa: E402

TEXTBOOK_PROMPT = ChatPromptTemplate.from_template(
    "Use the following pieces of context to answer the question at the end. If you don't know the answer, just say "
    "that you don't know, don't try to make up an answer.\n\n{context}\n\nQuestion: {question}\nHelpful Answer:")
_UNKNOWN = re.compile(r"\b(not\s+(mentioned|provided|stated|specified|given)|no\s+(information|mention)|"
                      r"(does|do)\s+not\s+(say|state|mention|specify|provide)|cannot\s+(be\s+)?(determined|answer))\b", re.I)


def says_unknown(text: str) -> bool:
    return is_abstention(text) or bool(_UNKNOWN.search(text))


def outcome_counts(records: list[dict]) -> tuple[int, int, int, int]:
    """(unanswerable answered anyway, unanswerable, answerable answered right, answerable)."""
    unans = [r for r in records if not r["answerable"]]
    ans = [r for r in records if r["answerable"]]
    return (sum(not r["abstained"] for r in unans), len(unans), sum(bool(r["correct"]) for r in ans), len(ans))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=DATA, default="sample", help="which questions (bench/abstention.py --data)")
    parser.add_argument("--model", help="the answering model (default: the configured one)")
    parser.add_argument("--skip", type=int, default=250, help="start after the first N questions (default: the "
                                                               "held-out half, questions 251 on)")
    parser.add_argument("--limit", type=int, default=154, help="questions to ask (default 154: questions 251-404)")
    parser.add_argument("--retrieval", choices=["textbook", "pipeline"], default="textbook",
                        help="textbook: 800/100 recursive chunks, dense top 4; pipeline: the configured chunking, "
                             "search mode and rerank")
    parser.add_argument("--prompt", choices=["textbook", "pipeline"], default="textbook",
                        help="textbook: the classic one-message prompt over joined chunks; pipeline: this project's "
                             "grounded prompt over numbered blocks")
    parser.add_argument("--out", type=Path, help="append one JSON line per question (resumes: ids in it are skipped)")
    parser.add_argument("--ours", type=Path, nargs="+", metavar="JSONL",
                        help="this pipeline's answers to the same questions (bench/abstention.py --out), counted beside")
    args = parser.parse_args(argv)
    textbook = {"chunk_size": 800, "chunk_overlap": 100, "chunk_strategy": "recursive", "retrieval_mode": "dense",
                "rerank": "none", "top_k": 4}
    overrides = {**(textbook if args.retrieval == "textbook" else {}), **({"llm_model": args.model} if args.model else {})}
    questions, label, collection = question_set(args.data, args.skip, args.limit, **overrides)
    done = {r["id"]: r for r in read_jsonl(args.out)} if args.out and args.out.exists() else {}
    todo = [q for q in questions if q["id"] not in done]
    seconds = []
    if todo:
        with collection as (settings, store, embedder):
            llm = make_chat_model(settings)
            prompt, joined = (TEXTBOOK_PROMPT, lambda chunks: "\n\n".join(c.text for c in chunks)) \
                if args.prompt == "textbook" else (PROMPT, lambda chunks: format_context(whole(chunks)))
            chain = prompt | llm | StrOutputParser()
            for q in tqdm(todo, desc=f"{args.retrieval} retrieval, {args.prompt} prompt, {settings.llm_model}",
                          unit="question"):
                started = time.perf_counter()
                chunks = retrieve(settings, store, embedder, llm, q["question"])
                reply = chain.invoke({"context": joined(chunks), "question": q["question"]})
                seconds.append(time.perf_counter() - started)
                abstained = says_unknown(reply)
                done[q["id"]] = {"id": q["id"], "answerable": q["answerable"], "answer": reply, "abstained": abstained,
                                 "correct": (not abstained and contains_reference(reply, q["answers"]))
                                 if q["answerable"] else None, "seconds": round(seconds[-1], 2),
                                 "retrieval": args.retrieval, "prompt": args.prompt, "model": settings.llm_model}
                if args.out:
                    with args.out.open("a", encoding="utf-8") as handle:
                        handle.write(json.dumps(done[q["id"]]) + "\n")
    ids = {q["id"] for q in questions}
    peer = [done[q["id"]] for q in questions if q["id"] in done]
    unans_through, n_unans, right, n_ans = outcome_counts(peer)
    chain_name = f"{args.retrieval} retrieval + {args.prompt} prompt"
    print(f"{label}: {len(peer)} answered by the {chain_name} chain"
          + (f", {percentile(seconds, 50):.1f} s per question p50" if seconds else ""))
    print(f"  {chain_name}: unanswerable answered anyway {share(unans_through, n_unans)}, answerable right "
          f"{share(right, n_ans)}")
    if args.ours:
        by_model: dict[str, list[dict]] = {}
        for r in read_jsonl(*args.ours):
            if r["id"] in ids:
                by_model.setdefault(r["model"], []).append(r)
        for model, records in by_model.items():
            unans_through, n_unans, right, n_ans = outcome_counts(records)
            print(f"  this pipeline ({model}, as logged, before any grounding policy withholds): unanswerable answered "
                  f"anyway {share(unans_through, n_unans)}, answerable right {share(right, n_ans)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
