"""How much can the model read less and still have the answer in front of it? Retrieval level, no LLM.

    .venv/bin/python bench/focus.py --budgets 0 96 128 160 192 256 320          (tuning: SQuAD 2.0 sample 1-250)

For each answerable question, the default retrieval's passages are focused (pipeline/focus.py) at each token budget;
printed per budget: the share whose focused passages still contain a reference answer, and the tokens the passages
come to (the embedder's tokenizer), with the ratio to the whole passages. Coverage is necessary, not sufficient:
right answers from the model (bench/abstention.py) are what a budget is chosen by.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

from tqdm import tqdm  # noqa: E402

from bench.abstention import DATA, contains_reference, question_set, share  # noqa: E402
from pipeline.focus import score_sentences, select, token_counter, whole  # noqa: E402
from pipeline.llm import make_chat_model  # noqa: E402
from pipeline.retrieval import retrieve  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=DATA, default="sample")
    parser.add_argument("--skip", type=int, default=0)
    parser.add_argument("--limit", type=int, default=250, help="default: the tuning split, questions 1-250")
    parser.add_argument("--budgets", type=int, nargs="+", default=[0, 96, 128, 160, 192, 256, 320])
    parser.add_argument("--neighbours", type=int, default=1)
    args = parser.parse_args(argv)
    questions, label, collection = question_set(args.data, args.skip, args.limit)
    answerable = [q for q in questions if q["answerable"]]
    covered = {b: 0 for b in args.budgets}
    tokens: dict[int, list[int]] = {b: [] for b in args.budgets}
    with collection as (settings, store, embedder):
        count, llm = token_counter(settings), make_chat_model(settings)
        for q in tqdm(answerable, unit="question"):
            chunks = retrieve(settings, store, embedder, llm, q["question"])
            table = score_sentences(q["question"], chunks, embedder, count)
            for budget in args.budgets:
                excerpts = select(table, budget, args.neighbours) if budget else whole(chunks)
                text = "\n".join(e.text for e in excerpts)
                covered[budget] += contains_reference(text, q["answers"])
                tokens[budget].append(sum(count(e.text) for e in excerpts))
    whole_mean = statistics.mean(tokens[0]) if 0 in tokens else None
    print(f"{label}: {len(answerable)} answerable questions, retrieval {settings.retrieval_mode} + {settings.rerank}, "
          f"top {settings.top_k}, ±{args.neighbours} sentence(s)")
    print(f"  {'budget':>6}  {'reference in the passages':>26}  {'tokens mean':>11}  {'of whole':>8}")
    for budget in args.budgets:
        mean = statistics.mean(tokens[budget])
        ratio = f"{mean / whole_mean:.2f}" if whole_mean else "-"
        print(f"  {budget or 'whole':>6}  {share(covered[budget], len(answerable)):>26}  {mean:>11.0f}  {ratio:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
