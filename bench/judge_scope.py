"""Should the judge read the quote or every passage? The same logged answers judged both ways, in one run.

    .venv/bin/python bench/judge_scope.py --answers /tmp/tune_off.jsonl --out /tmp/scope.jsonl
    .venv/bin/python bench/judge_scope.py --report-from /tmp/scope.jsonl

`--answers` is a log `bench/abstention.py --out` wrote (questions, the answers the model gave, the passages it
read; `--policy off` is enough). For every answer that was given, the grounding check's LLM calls (the answer
check, then each claim) run twice with the configured judge: once reading every retrieved passage (scope
"passages") and once reading the quote, the passage sentences the answer was taken from (scope "quote", see
pipeline.grounding.check_input). The two scopes alternate which goes first. Printed per scope: check seconds
p50 / p95, how well the answer check's P separates right answers from answers to unanswerable questions (AUC),
and what the strict policy would keep at each answer-check cut (claims at the configured cut, term veto and
detail check as shipped): unanswerable questions answered anyway, answerable ones answered right.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

from tqdm import tqdm  # noqa: E402

from bench.abstention import SQUAD, sample_rows, save_runs  # noqa: E402
from bench.common import percentile, read_jsonl  # noqa: E402
from evaluation.aggregate import FOLDED_CHECKS  # noqa: E402
from evaluation.judge_check import auc  # noqa: E402
from pipeline.details import check_details  # noqa: E402
from pipeline.grounding import (  # noqa: E402
    CheapSignal,
    Scope,
    check_answer,
    check_claim,
    check_input,
    judge_settings,
    missing_terms,
    split_claims,
)
from pipeline.llm import make_chat_model  # noqa: E402
from pipeline.prompt import is_abstention  # noqa: E402
from pipeline.redaction import neutralize_instructions  # noqa: E402
from settings import Settings  # noqa: E402

SCOPES: tuple[Scope, ...] = ("passages", "quote")
CUTS = (0.0, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def judge_both(settings: Settings, record: dict, first: int, scopes: tuple[Scope, ...] = SCOPES,
               every_claim: bool = True) -> dict:
    """One logged answer judged with each scope: the answer check's P, each claim's P, seconds.

    `every_claim` False judges claims only when there are several, as the pipeline does (a one-sentence answer's
    claim takes the answer check's verdict, so its P is recorded as the answer check's)."""
    judge = make_chat_model(judge_settings(settings))
    claims = [c for c in split_claims(record["answer"]) if not is_abstention(c)]
    context = "\n".join([record["question"], *map(neutralize_instructions, record["contexts"])])
    out = {"id": record["id"], "answerable": record["answerable"], "correct": record["correct"],
           "missing_terms": [t for c in claims for t in missing_terms(c, context)],
           "details_missing": [d.text for d in check_details(record["question"], record["answer"],
                                                             record["contexts"]).missing]}
    no_veto = settings.with_overrides(grounding_term_veto=False)  # the judge's own P for every claim
    for scope in scopes[first:] + scopes[:first]:
        item = check_input(scope, record["question"], claims, record["contexts"])
        started = time.perf_counter()
        answer_check = check_answer(judge, item, settings)
        if every_claim or len(claims) > 1:
            claim_ps = [check_claim(judge, item, claim, CheapSignal(similarity=0.0, best_sentence="", chunk_id=None,
                                                                     span=None, missing_terms=[]), no_veto).p_supported
                        for claim in claims]
        else:
            claim_ps = [answer_check.p_supported]
        out[scope] = {"seconds": round(time.perf_counter() - started, 2), "answer_p": answer_check.p_supported,
                      "claim_ps": claim_ps, "quoted": item.quote is not None, "context_chars": len(item.context)}
    return out


def kept(row: dict, scope: Scope, cut: float, claim_cut: float | None) -> bool:
    """Would the strict policy keep this answer with the answer check cut at `cut` (claims not judged: None)?"""
    judged = row[scope]
    return (judged["answer_p"] is not None and judged["answer_p"] >= cut
            and (claim_cut is None or all(p is not None and p >= claim_cut for p in judged["claim_ps"]))
            and not row["missing_terms"] and not row["details_missing"])


def report(rows: list[dict], settings: Settings) -> None:
    unans = [r for r in rows if not r["answerable"]]
    right = [r for r in rows if r["correct"]]
    wrong = [r for r in rows if r["answerable"] and not r["correct"]]
    print(f"{len(rows)} answers judged: {len(unans)} to unanswerable questions, {len(right)} right, "
          f"{len(wrong)} wrong answers to answerable ones")
    for scope in [s for s in SCOPES if all(s in r for r in rows)]:
        seconds = [r[scope]["seconds"] for r in rows]
        scored = [r for r in unans + right if r[scope]["answer_p"] is not None]
        separation = auc([r[scope]["answer_p"] for r in scored], [not r["answerable"] for r in scored])
        quoted = sum(r[scope]["quoted"] for r in rows)
        print(f"\nscope {scope}: check p50 {percentile(seconds, 50):.1f} s, p95 {percentile(seconds, 95):.1f} s; "
              f"judge read a quote for {quoted}/{len(rows)}; context p50 "
              f"{percentile([r[scope]['context_chars'] for r in rows], 50):.0f} chars; answer-check AUC (right vs "
              f"unanswerable) {separation if separation is None else round(separation, 3)}")
        print(f"  strict at answer-check cut (claims {settings.grounding_threshold}, term veto, detail check): "
              "unanswerable answered anyway | answerable answered right; the same without the claim checks")
        for cut in CUTS:
            counts = [f"{sum(kept(r, scope, cut, claim_cut) for r in group):>3}/{len(group)}"
                      for claim_cut in (settings.grounding_threshold, None) for group in (unans, right)]
            print(f"  {cut:.2f}  {counts[0]}  {counts[1]}    {counts[2]}  {counts[3]}")


def save_run(rows: list[dict], answers: list[dict], scope: Scope, settings: Settings) -> str:
    """The logged questions as a run the Tune page draws: every question, with the answer check's P in `scope` set
    to 0 where the claims, the term veto or the detail check already withhold the answer, so the curve's point at
    a cut is what the strict policy keeps at that cut."""
    judged = {r["id"]: r for r in rows}
    records = []
    for a in answers:
        p = None
        if (row := judged.get(a["id"])) is not None:
            p = row[scope]["answer_p"] if kept(row, scope, 0.0, settings.grounding_threshold) else 0.0
        records.append({**a, "model": f"{a['model']} (judge reads the {scope})", "answer_check_p": p})
    by_model = sample_rows(records, {q["id"]: q for q in read_jsonl(SQUAD / "qa.jsonl")})
    [run_id] = save_runs(by_model, settings, name=f"squad2 strict, judge reads the {scope} (bench/judge_scope.py)",
                         source="bench/judge_scope.py", extra={FOLDED_CHECKS: True})
    return run_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=Path, nargs="+", help="logs bench/abstention.py --out wrote")
    parser.add_argument("--out", type=Path, help="append one JSON line per judged answer (resumes: ids in it are skipped)")
    parser.add_argument("--report-from", type=Path, nargs="+", metavar="JSONL", help="judge nothing: report on --out files")
    parser.add_argument("--scopes", nargs="+", choices=SCOPES, default=list(SCOPES), help="what the judge reads")
    parser.add_argument("--claims", choices=["all", "multi"], default="all",
                        help="multi: judge claims only in answers of several sentences, as the pipeline does")
    parser.add_argument("--save-run", choices=SCOPES, help="store the --answers questions with this scope's verdicts "
                        "as a run (needs --answers): the Tune page draws the strict policy's curve")
    args = parser.parse_args(argv)
    settings = Settings()
    if args.report_from:
        rows = read_jsonl(*args.report_from)
    else:
        if not args.answers:
            parser.error("give --answers (or --report-from)")
        done = {r["id"]: r for r in read_jsonl(args.out)} if args.out and args.out.exists() else {}
        answered = [r for r in read_jsonl(*args.answers) if not r["abstained"] and r.get("contexts")]
        rows = [done[r["id"]] for r in answered if r["id"] in done]
        for i, record in enumerate(tqdm([r for r in answered if r["id"] not in done], unit="answer")):
            rows.append(judge_both(settings, record, i % len(args.scopes), tuple(args.scopes), args.claims == "all"))
            if args.out:
                with args.out.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(rows[-1]) + "\n")
    report(rows, settings)
    if args.save_run:
        if not args.answers:
            parser.error("--save-run needs --answers (every question, also those never answered)")
        print("stored as run " + save_run(rows, read_jsonl(*args.answers), args.save_run, settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
