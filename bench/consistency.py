"""Does self-consistency separate near-miss hallucinations from right answers better than the answer check's P?

    .venv/bin/python bench/consistency.py --with abstention.jsonl [--samples 4] [--temperature 0.8] [--out FILE]
    .venv/bin/python bench/consistency.py --scored-from FILE [FILE ...]   # pool earlier --out files, ask nothing

Reads the answers an earlier `bench/abstention.py --out` logged (answer, answer-check P, right or not), asks the
same model the same prompt over the same retrieved passages `--samples` more times at `--temperature`, and
scores each greedy answer by how much the samples agree with it: the mean cosine (MiniLM) of each sample to the
greedy answer, a sample that abstains counting 0. The idea: a model that reads the answer off the passages says
the same thing each time; one that guesses from a near-miss passage drifts.

Only answered questions count (an abstention needs no check). Printed: ROC AUC of each signal for "answerable and
answered right" against "unanswerable and answered anyway" (1.0 = a cut separates them), for the answer check's P,
agreement, and their product; then the share of each group kept at cuts on the product.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

import numpy as np  # noqa: E402
from langchain_core.output_parsers import StrOutputParser  # noqa: E402
from tqdm import tqdm  # noqa: E402

from bench.abstention import SQUAD, share, squad_collection  # noqa: E402
from bench.common import read_jsonl  # noqa: E402
from bench.coverage import roc_auc  # noqa: E402
from pipeline.chain import build_chain  # noqa: E402
from pipeline.llm import make_chat_model  # noqa: E402
from pipeline.prompt import PROMPT, is_abstention  # noqa: E402

CUTS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85)


def agreement(greedy: str, samples: list[str], embedder) -> float:  # noqa: ANN001 - a LangChain Embeddings
    """Mean cosine of the samples to the greedy answer; an abstaining sample counts 0."""
    vectors = np.array(embedder.embed_documents([greedy, *samples]))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    cosines = vectors[1:] @ vectors[0]
    return float(np.mean([0.0 if is_abstention(s) else c for s, c in zip(samples, cosines, strict=True)]))


def report(scored: list[dict]) -> None:
    """AUC of each signal (right answers against unanswerable ones answered anyway), then cuts on the product."""
    right = [r for r in scored if r["answerable"]]
    wrong = [r for r in scored if not r["answerable"]]
    signals = {"answer check P": lambda r: r["answer_check_p"] or 0.0, "agreement": lambda r: r["agreement"],
               "P x agreement": lambda r: (r["answer_check_p"] or 0.0) * r["agreement"]}
    print(f"{len(right)} right answers, {len(wrong)} unanswerable answered anyway")
    if not right or not wrong:
        print("summary: nothing to separate (one of the two groups is empty)")
        return
    for name, signal in signals.items():
        print(f"  {name:<16} AUC {roc_auc([signal(r) for r in right], [signal(r) for r in wrong]):.3f}")
    product = signals["P x agreement"]
    for cut in CUTS:
        print(f"  P x agreement >= {cut:.2f}: unanswerable kept {share(sum(product(r) >= cut for r in wrong), len(wrong))}, "
              f"right kept {share(sum(product(r) >= cut for r in right), len(right))}")
    aucs = {name: roc_auc([s(r) for r in right], [s(r) for r in wrong]) for name, s in signals.items()}
    print("summary: " + ", ".join(f"{name} AUC {auc:.2f}" for name, auc in aucs.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--with", dest="logs", type=Path, nargs="+",
                        help="JSONL files bench/abstention.py --out wrote (one answering model)")
    parser.add_argument("--scored-from", type=Path, nargs="+", metavar="JSONL",
                        help="ask nothing: report on files an earlier --out of this script wrote")
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--out", type=Path, help="append one JSON line per question")
    args = parser.parse_args(argv)
    if args.scored_from:
        report(read_jsonl(*args.scored_from))
        return 0
    if not args.logs:
        parser.error("--with or --scored-from is required")
    questions = {q["id"]: q for q in read_jsonl(SQUAD / "qa.jsonl")}
    records = [r for r in read_jsonl(*args.logs) if not r["abstained"] and (r["correct"] or not r["answerable"])]
    scored = []
    with squad_collection() as (settings, store, embedder):
        llm = make_chat_model(settings.with_overrides(llm_model=records[0]["model"]))
        sampler = PROMPT | llm.bind(temperature=args.temperature) | StrOutputParser()
        chain = build_chain(settings, store, embedder, llm)
        for r in tqdm(records, unit="question"):
            state = chain.invoke({"question": questions[r["id"]]["question"]})
            samples = [sampler.invoke(state) for _ in range(args.samples)]
            scored.append({**r, "agreement": agreement(r["answer"], samples, embedder), "samples": samples})
            if args.out:
                with args.out.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(scored[-1]) + "\n")
    report(scored)
    return 0


if __name__ == "__main__":
    sys.exit(main())
