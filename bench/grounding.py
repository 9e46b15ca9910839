"""Does the grounding check catch hallucinated answers? HaluEval QA pairs, per judge model.

    .venv/bin/python bench/grounding.py --models qwen2.5-0.5b qwen2.5-1.5b --limit 10

Each HaluEval question comes with its knowledge paragraph and two answers, one faithful and one hallucinated.
The check runs on both (knowledge as the only context chunk); an answer is flagged "hallucinated" when any of
its claims is not supported. Printed per model: balanced accuracy, precision and recall for the hallucinated
class, seconds per answer — for the verdict the pipeline uses (P(supported) from logprobs cut at the threshold),
the judge's plain JSON verdict, and the cheap no-LLM signal (a name or number absent from the context), plus the
balanced accuracy of a few other thresholds (chosen on this same data: optimistic). How one answer is checked, and
the numbers, are evaluation/judge_check.py's, which the Evaluation page's judge trust report runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

from tqdm import tqdm  # noqa: E402

from evaluation.judge_check import SHARED_PAIRS, Confusion, LabelledAnswer, check_labelled_answer, load_pairs  # noqa: E402
from ingest.embedder import make_embedder  # noqa: E402
from pipeline.grounding import Grounding, judge_settings  # noqa: E402
from pipeline.llm import make_chat_model  # noqa: E402
from settings import Settings  # noqa: E402

SWEEP = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7)


def scores(flagged: list[bool], hallucinated: list[bool]) -> dict:
    c = Confusion.of(flagged, hallucinated)
    return {"balanced_accuracy": c.balanced_accuracy or 0.0, "precision": c.precision or 0.0, "recall": c.recall or 0.0}


def line(name: str, s: dict) -> str:
    return f"  {name:<34} balanced acc {s['balanced_accuracy']:.2f}  precision {s['precision']:.2f}  recall {s['recall']:.2f}"


def _p_flags(claim, threshold: float) -> bool:  # noqa: ANN001
    """The judge's own call on a claim: P(supported) cut, or the plain verdict without logprobs (and for a claim the
    term veto ruled out, which the judge is no longer asked about, that veto)."""
    if claim.p_supported is not None:
        return claim.judge_said != "abstain" and claim.p_supported < threshold
    return claim.verdict in ("not_supported", "unchecked")


def run_model(settings: Settings, model: str, rows: list[LabelledAnswer], embedder) -> dict:  # noqa: ANN001
    config = settings.with_overrides(grounding_model=model)
    judge = make_chat_model(judge_settings(config))
    started = time.perf_counter()
    results: list[Grounding] = [check_labelled_answer(config, row, embedder, judge)
                                for row in tqdm(rows, desc=model, unit="answer")]
    seconds = (time.perf_counter() - started) / len(rows)
    truth = [r.hallucinated for r in rows]
    min_p = [min((c.p_supported for c in g.claims if c.p_supported is not None), default=None) for g in results]
    unchecked = sum(g.count("unchecked") > 0 for g in results)
    print(f"{model}: {len(rows)} answers ({len(rows) // 2} questions), {seconds:.1f} s per answer, "
          f"{unchecked} with an unchecked claim, threshold {config.grounding_threshold}")
    used = scores([not g.fully_supported for g in results], truth)
    parts = ["P cut"] + ["term veto"] * config.grounding_term_veto + ["answer check"] * config.grounding_answer_check
    print(line(f"pipeline verdict ({' + '.join(parts)})", used))
    print(line("P(supported) cut alone", scores([any(_p_flags(c, config.grounding_threshold) for c in g.claims)
                                                   for g in results], truth)))
    print(line("plain JSON verdict", scores([any(c.judge_said == "not_supported" for c in g.claims) for g in results], truth)))
    print(line("cheap: name/number missing", scores([any(c.signal.missing_terms for c in g.claims) for g in results], truth)))
    known = [(p, h) for p, h in zip(min_p, truth, strict=True) if p is not None]
    if known:
        sweep = ", ".join(f"{t}: {scores([p < t for p, _ in known], [h for _, h in known])['balanced_accuracy']:.2f}"
                          for t in SWEEP)
        print(f"  P(supported) threshold sweep on the {len(known)} answers with logprobs (balanced acc): {sweep}")
    return {"model": model, "seconds": seconds, **used}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=None, help="judge models (default: the answering model)")
    parser.add_argument("--limit", type=int, default=20, help="questions to use (two answers each)")
    parser.add_argument("--threshold", type=float, help="P(supported) cut (default: the grounding_threshold setting)")
    parser.add_argument("--pairs", type=Path, default=SHARED_PAIRS)
    args = parser.parse_args(argv)
    settings = Settings().with_overrides(grounding_threshold=args.threshold)
    rows = load_pairs(args.pairs, args.limit)
    embedder = make_embedder(settings)
    summary = [run_model(settings, model, rows, embedder) for model in args.models or [settings.llm_model]]
    print("summary: " + "; ".join(f"{s['model']} bal.acc {s['balanced_accuracy']:.2f} P {s['precision']:.2f} "
                                  f"R {s['recall']:.2f} {s['seconds']:.1f} s/answer" for s in summary)
          + f" ({len(rows)} HaluEval answers each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
