"""CLI: python -m evaluation run --set FILE [--json] | list | show RUN_ID"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pydantic import ValidationError
from tqdm import tqdm

from evaluation.aggregate import aggregate, outcome_counts
from evaluation.evalset import EvalSetError, load_eval_set
from evaluation.metrics import Judge, JudgeUnavailableError, MetricName
from evaluation.runner import run_evaluation
from evaluation.runstore import RunStore
from ingest.embedder import EmbedderUnavailableError, embedder_info, make_embedder
from ingest.store import StoreError, VectorStore, open_client
from pipeline.llm import LLMError, make_chat_model
from settings import Settings


def report(runs: RunStore, run_id: str) -> dict:
    run = runs.run(run_id)
    samples = runs.samples(run_id)
    metrics = run.config.get("metrics", []) if run else []
    return {
        "run_id": run_id,
        "status": run.status if run else "missing",
        "error": run.error if run else None,
        "config": run.config if run else {},
        "aggregates": [a.model_dump() for a in aggregate(samples, metrics)],
        "outcomes": outcome_counts(samples),
        "samples": [s.model_dump(exclude={"contexts"}) for s in samples],
    }


def _print_report(data: dict) -> None:
    print(f"run {data['run_id']} ({data['status']})" + (f": {data['error']}" if data["error"] else ""))
    for agg in data["aggregates"]:
        mean = "n/a" if agg["mean"] is None else f"{agg['mean']:.2f}"
        print(f"  {agg['metric']:<18} {mean:>5}  ({agg['n_scored']} of {agg['n_total']} scored, "
              f"{agg['n_failed']} failed, {agg['n_skipped']} skipped)")
    print("  outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(data["outcomes"].items())))


def _emit(data: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        _print_report(data)


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        items = load_eval_set(args.set)[: args.limit or None]
        client = open_client(settings)
    except (EvalSetError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    runs = RunStore(settings.runs_db)
    try:
        embedder = make_embedder(settings)
        judge = Judge(settings, embedder)
        with tqdm(total=len(items), unit="q", desc="evaluate", file=sys.stderr) as bar:
            def progress(done: int, total: int, question: str) -> None:
                bar.n = done
                bar.set_postfix_str(question[:40])
                bar.refresh()
            run_id = run_evaluation(settings, items, args.set.name, store=VectorStore(client, embedder_info(settings)),
                                    embedder=embedder, llm=make_chat_model(settings), judge=judge, runs=runs,
                                    metrics=[MetricName(m) for m in args.metrics or []], progress=progress)
    except (StoreError, EmbedderUnavailableError, JudgeUnavailableError, LLMError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    data = report(runs, run_id)
    _emit(data, args.json)
    return 0 if data["status"] == "completed" else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation", description="Evaluate and inspect runs.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="evaluate an eval set and store the run")
    run.add_argument("--set", type=Path, required=True, help=".jsonl or .csv with a 'question' column")
    run.add_argument("--collection")
    run.add_argument("--top-k", type=int)
    run.add_argument("--limit", type=int, help="only the first N questions")
    run.add_argument("--metrics", nargs="+", choices=[m.value for m in MetricName], help="default: all")
    run.add_argument("--json", action="store_true")
    sub.add_parser("list", help="list stored runs")
    show = sub.add_parser("show", help="print one stored run")
    show.add_argument("run_id")
    show.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        settings = Settings().with_overrides(collection=getattr(args, "collection", None), top_k=getattr(args, "top_k", None))
    except ValidationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command == "run":
        return cmd_run(args, settings)
    runs = RunStore(settings.runs_db)
    if args.command == "list":
        for r in runs.runs():
            print(f"{r.id}  {r.status:<9} {r.n_done}/{r.n_items}  {r.eval_set}  top-k {r.config.get('top_k')}  {r.config.get('llm_model')}")
        return 0
    if runs.run(args.run_id) is None:
        print(f"error: no run {args.run_id!r}; see `python -m evaluation list`", file=sys.stderr)
        return 2
    data = report(runs, args.run_id)
    _emit(data, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
