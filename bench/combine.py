"""Does one logistic decision over the signals beat the answer check's P alone? Fit on tuning, report held out.

    .venv/bin/python bench/combine.py --tune-answers /tmp/tune_off.jsonl --tune-judged /tmp/tune_scope.jsonl \\
        --held-answers /tmp/held_off.jsonl --held-judged /tmp/held_quote.jsonl

Reads logs the other benches wrote, asks no model: `--*-answers` from `bench/abstention.py --out` (the retrieval
cosine of the best passage), `--*-judged` from `bench/judge_scope.py --out` (the answer check's P, each claim's P,
the detail check and the term veto), joined by question id. Signals per answer: best cosine, answer-check P, lowest
claim P, a question detail missing (0/1), a name or number the passages never mention (0/1). A logistic regression
(L2, Newton's method, standardised on the tuning answers) is fitted on the tuning answers to tell right answers
(1) from answers to unanswerable questions (0); wrong answers to answerable questions are left out of the fit and of
the AUC, as in bench/judge_scope.py.

Printed: each signal's coefficient, the AUC of the answer-check P alone and of the combination on the tuning and
the held-out answers, and the strict trade-off on the held-out answers at the cut that keeps the same share of
right tuning answers as the shipped rule (answer check ≥ 0.75, detail check, term veto, claims).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench.abstention import share  # noqa: E402
from bench.common import read_jsonl  # noqa: E402
from bench.judge_scope import kept  # noqa: E402
from evaluation.judge_check import auc  # noqa: E402
from settings import Settings  # noqa: E402

SIGNALS = ("best cosine", "answer-check P", "lowest claim P", "detail missing", "term missing")
SCOPE = "quote"


def features(judged: dict, answer: dict) -> list[float]:
    j = judged[SCOPE]
    claim_ps = [p for p in j["claim_ps"] if p is not None]
    return [answer["best_similarity"] or 0.0, j["answer_p"] or 0.0, min(claim_ps, default=0.0),
            float(bool(judged["details_missing"])), float(bool(judged["missing_terms"]))]


def joined(answers_log: Path, judged_log: Path) -> list[tuple[dict, list[float]]]:
    """(judged row, features) for every judged answer whose question is answerable-and-right or unanswerable."""
    answers = {r["id"]: r for r in read_jsonl(answers_log)}
    rows = [r for r in read_jsonl(judged_log) if SCOPE in r and (r["correct"] or not r["answerable"])]
    return [(r, features(r, answers[r["id"]])) for r in rows]


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 50) -> np.ndarray:
    """Logistic regression weights (intercept first) by Newton's method with an L2 penalty on the slopes."""
    design = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(design.shape[1])
    penalty = np.diag([0.0] + [l2] * x.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-design @ w))
        gradient = design.T @ (p - y) + penalty @ w
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + penalty
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for split in ("tune", "held"):
        parser.add_argument(f"--{split}-answers", type=Path, required=True)
        parser.add_argument(f"--{split}-judged", type=Path, required=True)
    args = parser.parse_args(argv)
    settings = Settings()
    tune, held = joined(args.tune_answers, args.tune_judged), joined(args.held_answers, args.held_judged)
    x_tune = np.array([f for _, f in tune])
    mean, scale = x_tune.mean(axis=0), x_tune.std(axis=0) + 1e-9

    def scores(rows: list[tuple[dict, list[float]]], w: np.ndarray) -> np.ndarray:
        x = (np.array([f for _, f in rows]) - mean) / scale
        return 1 / (1 + np.exp(-(w[0] + x @ w[1:])))

    y_tune = np.array([float(bool(r["correct"])) for r, _ in tune])
    w = fit((x_tune - mean) / scale, y_tune)
    print(f"fitted on {len(tune)} tuning answers ({int(y_tune.sum())} right, {len(tune) - int(y_tune.sum())} to "
          f"unanswerable questions); held out: {len(held)}")
    print("  standardised coefficients: " + ", ".join(f"{n} {c:+.2f}" for n, c in zip(SIGNALS, w[1:], strict=True))
          + f"; intercept {w[0]:+.2f}")
    for name, rows in (("tuning", tune), ("held out", held)):
        unanswerable = [not r["answerable"] for r, _ in rows]
        alone = auc([f[1] for _, f in rows], unanswerable)
        combined = auc(list(scores(rows, w)), unanswerable)
        print(f"  AUC right vs unanswerable, {name}: answer-check P alone {alone:.3f}, combination {combined:.3f}")
    # the cut on the combination that keeps as many right tuning answers as the shipped rule does
    shipped_tune = [kept(r, SCOPE, settings.grounding_answer_threshold, settings.grounding_threshold) for r, _ in tune]
    right_kept = sum(k for k, (r, _) in zip(shipped_tune, tune, strict=True) if r["correct"])
    right_scores = sorted((s for s, (r, _) in zip(scores(tune, w), tune, strict=True) if r["correct"]), reverse=True)
    cut = right_scores[right_kept - 1] if right_kept else 1.0
    held_scores = scores(held, w)
    n_unans = sum(not r["answerable"] for r, _ in held)
    n_right = len(held) - n_unans
    for label, keep in (
            (f"shipped rule (answer check ≥ {settings.grounding_answer_threshold}, claims, detail check, term veto)",
             [kept(r, SCOPE, settings.grounding_answer_threshold, settings.grounding_threshold) for r, _ in held]),
            (f"combination ≥ {cut:.3f} (keeps {right_kept} right tuning answers, as the shipped rule)",
             [s >= cut for s in held_scores])):
        through = sum(k for k, (r, _) in zip(keep, held, strict=True) if not r["answerable"])
        right = sum(k for k, (r, _) in zip(keep, held, strict=True) if r["correct"])
        print(f"  held out, {label}: unanswerable answered {share(through, n_unans)}, right kept {share(right, n_right)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
