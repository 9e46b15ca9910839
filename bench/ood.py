"""Does hallucination control generalise beyond Wikipedia? A fictional knowledge base no model can know.

    .venv/bin/python bench/ood.py [--policy annotate]

bench/ood/kb holds three short documents about an invented harbour town; bench/ood/questions.jsonl asks 8
questions they answer and 8 near misses: on topic, but the documents do not hold the asked fact (a person in
another role, a price for another thing, the other breakwater). Each question goes through `answer_question`
with the configured settings. Printed per question: the outcome under the annotate policy (answered and
unmarked, answered and marked, abstained) and under the strict policy (withheld or kept), with the reason; then
the counts. A near miss answered and unmarked is the failure this product exists to stop.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench.abstention import correct, share, temporary_collection  # noqa: E402
from bench.common import read_jsonl  # noqa: E402
from ingest.ingestor import sources_for  # noqa: E402
from pipeline.answer import Answer  # noqa: E402
from pipeline.chain import answer_question  # noqa: E402
from pipeline.llm import make_chat_model  # noqa: E402

HERE = Path(__file__).resolve().parent / "ood"


def copy_kb(folder: Path) -> list[tuple[Path, str]]:
    for doc in (HERE / "kb").glob("*.md"):
        shutil.copy(doc, folder / doc.name)
    return sources_for(folder)


def outcome(answer: Answer) -> str:
    """What the annotate policy shows: abstained, answered with a warning, or answered clean."""
    if answer.abstained:
        return "abstained"
    return "answered, unmarked" if answer.grounding is None or answer.grounding.fully_supported else "answered, marked"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", choices=["annotate", "off"], default="annotate")
    args = parser.parse_args(argv)
    questions = read_jsonl(HERE / "questions.jsonl")
    counts: dict[tuple[bool, str], int] = {}
    with temporary_collection(copy_kb, "ood") as (settings, store, embedder):
        config = settings.with_overrides(grounding_policy=args.policy)
        llm = make_chat_model(config)
        for q in questions:
            answer = answer_question(config, store, embedder, llm, q["question"])
            shown = outcome(answer)
            if q["answerable"] and shown != "abstained" and not correct(answer, q["answers"]):
                shown = "answered wrong" + shown.removeprefix("answered")
            counts[(q["answerable"], shown)] = counts.get((q["answerable"], shown), 0) + 1
            why = answer.grounding.shortfall if answer.grounding else (answer.abstain_reason or "")
            kind = "answerable" if q["answerable"] else f"near miss ({q['trap']})"
            print(f"- {q['question']}  [{kind}]\n    {shown}: {answer.answer}" + (f"\n    why: {why}" if why else ""))
    for answerable in (True, False):
        n = sum(q["answerable"] is answerable for q in questions)
        label = "answerable" if answerable else "near misses"
        print(f"{label}: " + ", ".join(f"{what} {share(c, n)}" for (a, what), c in sorted(counts.items()) if a is answerable))
    return 0


if __name__ == "__main__":
    sys.exit(main())
