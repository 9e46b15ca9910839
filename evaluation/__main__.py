"""CLI: python -m evaluation run | resume | sweep | ladder | generate | judge-check | profile | export | list | show
(see --help of each)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from pydantic import ValidationError
from tqdm import tqdm

from evaluation.aggregate import ANSWER_ACCURACY, HALLUCINATION_RATE, abstention_report, aggregate, outcome_counts
from evaluation.cache import default_cache
from evaluation.evalset import EvalItem, EvalSetError, EvalSetExistsError, load_eval_set, save_eval_set, saved_set_path
from evaluation.export import csv_text, finetune_jsonl, run_json, sample_table, sweep_table
from evaluation.judge_check import (CheckProgress, PairFileError, TrustReport, default_pairs, load_pairs, reports_dir,
                                    run_judge_check, verdict)
from evaluation import promote
from evaluation.metrics import Judge, JudgeUnavailableError, MetricName
from evaluation.runner import Components, Progress, eval_set_of_run, resume_evaluation, run_evaluation, settings_of_run
from evaluation.runstore import RunStore
from evaluation.screening import SCREEN_LABELS
from evaluation.sweep import (DEFAULT_FINALISTS, NamedConfig, SweepError, SweepProgress, grid, load_ladder,
                              run_cheap_first, run_configs)
from evaluation.testset import DEFAULT_BUDGET_S, MAX_QUESTIONS, GenerationError, generate_eval_set, read_passages
from ingest.embedder import EmbedderUnavailableError, embedder_info, make_embedder
from ingest.loaders import LoadError
from ingest.store import StoreError, VectorStore, open_client
from ops import profiles
from pipeline.llm import LLMError, make_chat_model
from settings import Settings, plain_error

RUNTIME_ERRORS = (StoreError, EmbedderUnavailableError, JudgeUnavailableError, LLMError, SweepError)
PROFILED = {"run", "sweep", "ladder", "generate", "judge-check"}  # commands that start from the active profile


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
        "abstention": abstention_report(samples).model_dump(),
        "samples": [s.model_dump(exclude={"contexts"}) for s in samples],
    }


def _print_report(data: dict) -> None:
    print(f"run {data['run_id']} ({data['status']})" + (f": {data['error']}" if data["error"] else ""))
    for agg in data["aggregates"]:
        mean = "n/a" if agg["mean"] is None else f"{agg['mean']:.2f}"
        ci = f" [{agg['ci_low']:.2f}, {agg['ci_high']:.2f}]" if agg.get("ci_low") is not None else ""
        print(f"  {agg['metric']:<18} {mean:>5}{ci}  ({agg['n_scored']} of {agg['n_total']} scored, "
              f"{agg['n_failed']} failed, {agg['n_skipped']} skipped)")
    print("  outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(data["outcomes"].items())))
    for name, rate in data["abstention"]["rates"].items():
        if rate is not None:
            print(f"  {name}: {rate:.0%}")


def _emit(data: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        _print_report(data)


def _fail(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


@contextmanager
def components(settings: Settings, runs: RunStore, use_cache: bool = True) -> Iterator[Components]:
    client = open_client(settings)
    try:
        embedder = make_embedder(settings)
        cache = default_cache(settings.data_dir) if use_cache else None
        yield Components(store=VectorStore(client, embedder_info(settings)), embedder=embedder,
                         llm=make_chat_model(settings), judge=Judge(settings, embedder, cache=cache), runs=runs, cache=cache)
    finally:
        client.close()


@contextmanager
def question_bar(desc: str) -> Iterator[Progress]:
    with tqdm(unit="q", desc=desc, file=sys.stderr) as bar:
        def progress(done: int, total: int, question: str) -> None:
            bar.total, bar.n = total, done
            bar.set_postfix_str(question[:40])
            bar.refresh()
        yield progress


def _items(path: Path, limit: int | None) -> list[EvalItem]:
    return load_eval_set(path)[: limit or None]


def cmd_run(args: argparse.Namespace, settings: Settings, runs: RunStore) -> int:
    try:
        items = _items(args.set, args.limit)
    except EvalSetError as exc:
        return _fail(str(exc))
    try:
        with components(settings, runs, not args.no_cache) as parts:
            with question_bar("evaluate") as progress:
                run_id = run_evaluation(settings, items, args.set.name, parts, metrics=[MetricName(m) for m in args.metrics or []],
                                        repeats=args.repeats, eval_set_path=args.set, progress=progress)
    except RUNTIME_ERRORS as exc:
        return _fail(str(exc), 1)
    data = report(runs, run_id)
    _emit(data, args.json)
    return 0 if data["status"] == "completed" else 1


def cmd_resume(args: argparse.Namespace, base: Settings, runs: RunStore) -> int:
    run = runs.run(args.run_id)
    if run is None:
        return _fail(f"no run {args.run_id!r}; see `python -m evaluation list`")
    if run.status == "completed":
        return _fail(f"run {args.run_id} is already completed")
    path = eval_set_of_run(base, run.config, run.eval_set)
    if path is None:
        return _fail(f"run {args.run_id}: its eval set {run.eval_set!r} is no longer where it was; it cannot be resumed")
    try:
        settings = settings_of_run(base, run.config)
        items = _items(path, None)[: run.n_items]
    except (EvalSetError, ValidationError) as exc:
        return _fail(plain_error(exc))
    try:
        with components(settings, runs, not args.no_cache) as parts:
            with question_bar("resume") as progress:
                resume_evaluation(settings, args.run_id, items, parts, progress=progress)
    except RUNTIME_ERRORS as exc:
        return _fail(str(exc), 1)
    data = report(runs, args.run_id)
    _emit(data, args.json)
    return 0 if data["status"] == "completed" else 1


def _run_group(args: argparse.Namespace, settings: Settings, runs: RunStore, kind: str, configs: list[NamedConfig],
               finalists: int | None = None, full_questions: int | None = None) -> int:
    """Run a ladder or sweep in full, or (with `finalists`) a sweep cheap first; print one line per run."""
    try:
        items = _items(args.set, args.limit)
    except EvalSetError as exc:
        return _fail(str(exc))
    try:
        with components(settings, runs, not args.no_cache) as parts, \
                tqdm(total=len(configs) * len(items), unit="q", desc=kind, file=sys.stderr) as bar:

            def progress(p: SweepProgress) -> None:
                bar.total, bar.n = p.questions_total, p.questions_done
                bar.set_description(p.stage or kind)
                bar.set_postfix_str(f"step {p.step}/{p.steps} {p.label}")
                bar.refresh()
            common = {"metrics": [MetricName(m) for m in args.metrics or []], "repeats": args.repeats,
                      "eval_set_path": args.set, "progress": progress}
            if finalists is None:
                group_id, run_ids = run_configs(settings, configs, items, args.set.name, parts, kind=kind,
                                                kb_root=args.kb, **common)
            else:
                group_id, run_ids = run_cheap_first(settings, configs, items, args.set.name, parts, kb_root=args.kb,
                                                    finalists=finalists, full_questions=full_questions, **common)
    except RUNTIME_ERRORS as exc:
        return _fail(str(exc), 1)
    if finalists is not None:
        _print_screens(runs, group_id)
    print(f"{kind} {group_id}: {len(run_ids)} runs")
    for run_id in run_ids:
        data = report(runs, run_id)
        name = data["config"].get(f"{kind}_name")
        means = ", ".join(f"{a['metric']} {'n/a' if a['mean'] is None else format(a['mean'], '.2f')} "
                          f"({a['n_scored']}/{a['n_total']})" for a in data["aggregates"])
        rates = data["abstention"]["rates"]
        kept = [f"{label} {rates[key]:.0%}" for key, label in ((ANSWER_ACCURACY, "answerable right"),
                (HALLUCINATION_RATE, "unanswerable answered")) if rates.get(key) is not None]
        print(f"  {run_id}  {name}: {', '.join([means, *kept]) if kept else means}")
    return 0


def _print_screens(runs: RunStore, sweep_id: str) -> None:
    """Stage 1 of a cheap-first sweep, best cell first, each number with its 95 % interval."""
    screens = runs.screens_of(sweep_id)
    if not screens:
        return
    retrieval_s = sum(r.seconds or 0.0 for s in screens for r in runs.screen_rows(s.id))
    questions = sum(s.n_done for s in screens)
    print(f"stage 1, retrieval only (no LLM call): {len(screens)} configs, {questions} questions retrieved in "
          f"{retrieval_s:.1f} s ({retrieval_s / max(questions, 1):.2f} s per question, ingest not counted)")
    table = sweep_table(runs, sweep_id).sort_values("rank")
    for _, cell in table.iterrows():
        numbers = ", ".join(f"{name.lower()} " + ("n/a" if pd.isna(cell[m]) else f"{cell[m]:.2f}" + (
            "" if pd.isna(cell[f"{m}_low"]) else f" [{cell[f'{m}_low']:.2f}, {cell[f'{m}_high']:.2f}]"))
            for m, name in SCREEN_LABELS.items())
        print(f"  #{cell['rank']:.0f} {cell['name']}: {numbers} -> {cell['stage']} ({cell['status']})")


def cmd_sweep(args: argparse.Namespace, settings: Settings, runs: RunStore) -> int:
    try:
        configs = grid(args.chunk_sizes, args.chunk_overlaps, args.top_ks)
    except SweepError as exc:
        return _fail(str(exc))
    return _run_group(args, settings, runs, "sweep", configs, args.finalists if args.cheap_first else None,
                      args.full_questions)


def cmd_ladder(args: argparse.Namespace, settings: Settings, runs: RunStore) -> int:
    try:
        configs = load_ladder(args.steps)
    except SweepError as exc:
        return _fail(str(exc))
    return _run_group(args, settings, runs, "ladder", configs)


def cmd_generate(args: argparse.Namespace, settings: Settings) -> int:
    try:
        path = args.out or saved_set_path(settings, args.name)
        if path.suffix.lower() != ".jsonl":
            raise EvalSetError(f"{path.name}: generated sets are written as .jsonl")
        if path.exists() and not args.overwrite:
            raise EvalSetExistsError(f"{path} already exists: choose another --name, or pass --overwrite")
        passages = read_passages(settings, args.collection or args.kb)  # main() gave --kb its default
    except (EvalSetError, LoadError, EmbedderUnavailableError, StoreError) as exc:
        return _fail(str(exc))
    try:
        with tqdm(unit="prompt", desc="generate", file=sys.stderr) as bar:
            def progress(done: int, total: int, doing: str) -> None:
                bar.total, bar.n = total, done
                bar.set_postfix_str(doing[:50])
                bar.refresh()
            generated = generate_eval_set(settings, passages, args.size, budget_s=args.time_budget, progress=progress)
        save_eval_set(generated.items, path, overwrite=args.overwrite)
    except (GenerationError, JudgeUnavailableError, EvalSetError) as exc:
        return _fail(str(exc), 1)
    for problem in generated.problems:
        print(f"  skipped: {problem}", file=sys.stderr)
    print(f"wrote {path}: {len(generated.items)} questions from {generated.passages} passages "
          f"({generated.calls} prompts, {generated.seconds:.0f} s); edit it on the Evaluation page, then run it with "
          f"`python -m evaluation run --set {path}`")
    return 0


def _print_trust(report: TrustReport) -> None:
    judge = report.judge
    print(f"judge check {report.id} ({report.status}): {report.n_answers} answers of {report.n_questions} questions "
          f"from {report.pairs}, {report.seconds:.0f} s")
    print(f"  grounding judge {judge.grounding_model} at {judge.grounding_endpoint}"
          + (f"; Ragas judge {judge.ragas_model} at {judge.ragas_endpoint}" if judge.ragas_model else ""))
    for s in report.scorers:
        c = s.confusion
        numbers = ", ".join(f"{name} {'n/a' if v is None else format(v, '.2f')}" for name, v in (
            ("AUC", s.auc), ("balanced acc", s.balanced_accuracy), ("precision", c.precision), ("recall", c.recall)))
        failed = f", {s.n_failed} failed ({s.first_error})" if s.n_failed else ""
        print(f"  {s.title:<26} {numbers}  [flagged: {c.tp} hallucinated, {c.fp} faithful; let through: {c.fn} "
              f"hallucinated, {c.tn} faithful] {s.n_scored} scored{failed}\n    {s.cut}")
    print(verdict(report))
    if judge.ragas_model:
        print(verdict(report, "faithfulness"))


@contextmanager
def stop_on_interrupt() -> Iterator[Callable[[], bool]]:
    """A should-continue check that the first Ctrl-C turns false: a long judge check then stores the report of the
    answers done after the one in flight; a second Ctrl-C stops at once (what was scored stays in the cache)."""
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("\nstopping after the answer in flight, then storing the report (Ctrl-C again to stop now)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: not stop.is_set()
    finally:
        signal.signal(signal.SIGINT, previous)


def cmd_judge_check(args: argparse.Namespace, settings: Settings) -> int:
    path = args.pairs or default_pairs()
    if (args.limit or 0) < 0:
        return _fail("--limit must be 0 or more")
    try:
        rows = load_pairs(path, args.limit)
    except PairFileError as exc:
        return _fail(str(exc))
    try:
        embedder = make_embedder(settings)
        with tqdm(total=len(rows), unit="answer", desc="judge check", file=sys.stderr) as bar, \
                stop_on_interrupt() as should_continue:
            def progress(p: CheckProgress) -> None:
                bar.n = p.done
                bar.set_postfix_str(f"{p.failed} failed · {p.doing[:40]}" if p.failed else p.doing[:50])
                bar.refresh()
            report = run_judge_check(settings, rows, str(path), embedder, ragas=args.ragas,
                                     cache=None if args.no_cache else default_cache(settings.data_dir), progress=progress,
                                     should_continue=should_continue)
    except (JudgeUnavailableError, EmbedderUnavailableError) as exc:
        return _fail(str(exc), 1)
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        _print_trust(report)
        print(f"stored in {reports_dir(settings) / (report.id + '.json')}; the Evaluation page shows it", file=sys.stderr)
    return 0 if report.status == "completed" else 1


def cmd_export(args: argparse.Namespace, runs: RunStore) -> int:
    run = runs.run(args.run_id)
    if run is None:
        return _fail(f"no run {args.run_id!r}; see `python -m evaluation list`")
    samples = runs.samples(args.run_id)
    if args.format == "csv":
        text = csv_text(sample_table(samples, run.config.get("metrics", [])))
    elif args.format == "json":
        text = json.dumps(run_json(run, samples), ensure_ascii=False, indent=2)
    else:
        text = finetune_jsonl(samples, args.min_faithfulness)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_profile(args: argparse.Namespace, settings: Settings, runs: RunStore) -> int:
    """Profiles from the command line, as on the pages: list, use one, back to the defaults, keep a run or a cell."""
    try:
        if args.action == "list":
            active = settings.active_profile.name
            for name in profiles.names(settings):
                try:
                    line = profiles.describe(profiles.load(settings, name))
                except profiles.ProfileError as exc:
                    line = f"cannot be used: {exc}"
                print(f"{'*' if name == active else ' '} {name}  {line}")
            if settings.active_profile.problem:
                print(f"warning: {settings.active_profile.problem}", file=sys.stderr)
            return 0
        if args.action == "off":
            profiles.revert(settings)
            print("the built-in defaults apply (the environment still overrides them)")
            return 0
        if args.action == "use":
            profile = profiles.activate(settings, args.target)
        else:
            if args.step is not None:
                draft = promote.from_sweep_cell(settings, runs, args.target, args.step)
            elif (run := runs.run(args.target)) is not None:
                draft = promote.from_run(settings, runs, run)
            else:
                return _fail(f"no run {args.target!r}; for a sweep cell give the sweep id and --step N")
            profile = profiles.save(settings, args.name or draft.name, draft.settings, draft.origin,
                                    replace=args.replace)
            profiles.activate(settings, profile.name)
    except profiles.ProfileError as exc:
        return _fail(str(exc))
    print(f"profile {profile.name!r} is active ({profiles.describe(profile)}): the dashboard and these commands start "
          "from it")
    return 0


def _common_run_args(parser: argparse.ArgumentParser, needs_set: bool = True) -> None:
    if needs_set:
        parser.add_argument("--set", type=Path, required=True, help=".jsonl or .csv with a 'question' column")
        parser.add_argument("--limit", type=int, help="only the first N questions")
        parser.add_argument("--metrics", nargs="+", choices=[m.value for m in MetricName],
                            help="default: all four (context precision and recall need reference answers)")
        parser.add_argument("--repeats", type=int, default=1, help="judge each sample r times; report mean and 95%% interval")
    parser.add_argument("--no-cache", action="store_true", help="ignore cached answers and judge scores")
    parser.add_argument("--json", action="store_true")


def _positive_ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of whole numbers") from exc
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: give one or more non-negative whole numbers, e.g. 300,600")
    return values


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m evaluation", description="Evaluate, tune and inspect runs.")
    sub = root.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="evaluate an eval set and store the run")
    run.add_argument("--collection")
    run.add_argument("--top-k", type=int)
    _common_run_args(run)
    resume = sub.add_parser("resume", help="continue an interrupted run from its first missing row")
    resume.add_argument("run_id")
    _common_run_args(resume, needs_set=False)
    sweep = sub.add_parser("sweep", help="grid of chunk size × overlap × top-k, each chunking ingested once")
    sweep.add_argument("--chunk-sizes", type=_positive_ints, required=True, help="e.g. 300,600")
    sweep.add_argument("--chunk-overlaps", type=_positive_ints, default=[80], help="e.g. 0,80")
    sweep.add_argument("--top-ks", type=_positive_ints, required=True, help="e.g. 2,4")
    sweep.add_argument("--cheap-first", action=argparse.BooleanOptionalAction, default=True,
                       help="screen every cell by retrieval alone (no LLM call: query expansion off, the cheap "
                            "reranker for the LLM one), then evaluate only the best --finalists in full (default); "
                            "--no-cheap-first evaluates every cell in full")
    sweep.add_argument("--finalists", type=int, default=DEFAULT_FINALISTS,
                       help=f"cells evaluated in full after the retrieval stage (default {DEFAULT_FINALISTS}; "
                            "0 = retrieval only, no LLM server needed)")
    sweep.add_argument("--full-questions", type=int, metavar="N",
                       help="the finalists are evaluated in full on the first N questions only (default: all); the "
                            "retrieval stage screens every question")
    ladder = sub.add_parser("ladder", help="an ordered list of named config changes, baseline first")
    ladder.add_argument("--steps", type=Path, required=True, help='JSON: [{"name": "baseline", "overrides": {}}, …]')
    for p in (sweep, ladder):
        p.add_argument("--collection", help="base collection (sweep collections are named after it)")
        p.add_argument("--kb", type=Path, default=None, help="documents to ingest per chunk config (default: the sample KB)")
        _common_run_args(p)
    gen = sub.add_parser("generate", help="write a synthetic eval set from documents with Ragas' testset generator")
    source = gen.add_mutually_exclusive_group()
    source.add_argument("--collection", help="write questions from this stored collection's chunks, as the Evaluation "
                                             "page does")
    source.add_argument("--kb", type=Path, help="or from the documents of this folder or file, chunked as ingest "
                                                "would (default: the sample KB)")
    gen.add_argument("--size", type=int, default=5, choices=range(1, MAX_QUESTIONS + 1), metavar=f"1..{MAX_QUESTIONS}",
                     help="questions to write, one per passage (default 5)")
    gen.add_argument("--name", default="generated", help="saved as <data dir>/evalsets/NAME.jsonl (default: generated)")
    gen.add_argument("--out", type=Path, help="write to this .jsonl instead")
    gen.add_argument("--overwrite", action="store_true", help="replace an existing set of that name")
    gen.add_argument("--time-budget", type=float, default=DEFAULT_BUDGET_S,
                     help=f"seconds for the whole generation (default {DEFAULT_BUDGET_S:.0f})")
    check = sub.add_parser("judge-check", help="how far the configured judges agree with labelled faithful and "
                                               "hallucinated answers (HaluEval QA pairs)")
    check.add_argument("--pairs", type=Path, help="JSON Lines with knowledge, question, answer, label (faithful | "
                                                  "hallucinated), optional id and qid (default: ../shared/data/"
                                                  "halueval_qa/pairs.jsonl if present, else samples/halueval/pairs.jsonl)")
    check.add_argument("--limit", type=int, help="only the first N questions (two answers each)")
    check.add_argument("--ragas", action="store_true", help="also Ragas faithfulness through the evaluation judge "
                                                            "(two judge calls per answer: slow)")
    check.add_argument("--no-cache", action="store_true", help="score every answer again instead of reusing stored results")
    check.add_argument("--json", action="store_true")
    export = sub.add_parser("export", help="a run as CSV or JSON, or faithful answers as fine-tuning JSONL")
    export.add_argument("run_id")
    export.add_argument("--format", choices=["csv", "json", "finetune"], default="json")
    export.add_argument("--min-faithfulness", type=float, default=0.9, help="finetune: keep answers scored at or above")
    export.add_argument("--out", type=Path)
    profile = sub.add_parser("profile", help="saved configurations: list, use one, back to the defaults (off), or "
                                              "keep a run or a sweep cell as one and use it")
    profile.add_argument("action", choices=["list", "use", "off", "keep"])
    profile.add_argument("target", nargs="?", help="use: a profile name; keep: a run id, or a sweep id with --step")
    profile.add_argument("--step", type=int, help="keep: the sweep cell's step number")
    profile.add_argument("--name", help="keep: the profile's name (default: named after the run or cell)")
    profile.add_argument("--replace", action="store_true", help="keep: replace a different profile of that name")
    sub.add_parser("list", help="list stored runs")
    show = sub.add_parser("show", help="print one stored run")
    show.add_argument("run_id")
    show.add_argument("--json", action="store_true")
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings().with_overrides(collection=getattr(args, "collection", None), top_k=getattr(args, "top_k", None))
    except ValidationError as exc:
        return _fail(plain_error(exc))
    if getattr(args, "repeats", 1) < 1:
        return _fail("--repeats must be at least 1")
    if getattr(args, "finalists", 0) < 0:
        return _fail("--finalists must be 0 or more")
    if (getattr(args, "full_questions", None) or 1) < 1:
        return _fail("--full-questions must be 1 or more")
    if args.command in PROFILED and (note := profiles.cli_note(settings)):
        print(note, file=sys.stderr)
    if hasattr(args, "kb"):
        args.kb = args.kb or settings.sample_kb
    runs = RunStore(settings.runs_db)
    if args.command == "profile" and args.action in ("use", "keep") and not args.target:
        return _fail(f"profile {args.action} needs a {'profile name' if args.action == 'use' else 'run or sweep id'}")
    commands = {"run": cmd_run, "resume": cmd_resume, "sweep": cmd_sweep, "ladder": cmd_ladder, "profile": cmd_profile}
    if args.command in commands:
        return commands[args.command](args, settings, runs)
    if args.command == "export":
        return cmd_export(args, runs)
    if args.command == "generate":
        return cmd_generate(args, settings)
    if args.command == "judge-check":
        return cmd_judge_check(args, settings)
    if args.command == "list":
        for r in runs.runs():
            group = r.config.get("sweep_id") or r.config.get("ladder_id") or ""
            print(f"{r.id}  {r.status:<9} {r.n_done}/{r.n_items}  {r.eval_set}  top-k {r.config.get('top_k')}  "
                  f"{r.config.get('llm_model')}  {group}")
        return 0
    if runs.run(args.run_id) is None:
        return _fail(f"no run {args.run_id!r}; see `python -m evaluation list`")
    _emit(report(runs, args.run_id), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
