"""Runs out of the store: a flat CSV, a full JSON, and faithful answers as chat-format JSONL for fine-tuning.

Every CSV the product writes goes through `csv_text`: its cells hold questions, answers and file names that a
document or a model wrote, and a spreadsheet runs a cell that begins like a formula (OWASP: CSV injection).
"""

from __future__ import annotations

import json
import re

import pandas as pd
from langchain_core.messages import convert_to_openai_messages

from evaluation.aggregate import (ANSWER_ACCURACY, HALLUCINATION_RATE, abstention_report, aggregate, failure_label,
                                  metric_status, question_estimates)
from evaluation.intervals import Estimate
from evaluation.runstore import RunStore, RunSummary, SampleRow
from evaluation.screening import STAGE_FULL, STAGE_RETRIEVAL, estimates, pick_finalists
from ingest.store import StoredChunk
from pipeline.focus import whole
from pipeline.prompt import PROMPT, format_context


# what a spreadsheet takes as the start of a formula (OWASP: = + - @, tab, carriage return), and the full-width
# forms East Asian spreadsheet locales accept too; also after leading spaces, which spreadsheets skip
FORMULA_START = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def spreadsheet_safe(value: object) -> object:
    """A cell as a spreadsheet should show it: text that a spreadsheet would run as a formula gets OWASP's leading
    apostrophe ("=HYPERLINK(…)" -> "'=HYPERLINK(…)"); numbers, and text that is just a number such as "-0.5", stay
    as they are, so they stay numbers."""
    if not isinstance(value, str) or _NUMBER.fullmatch(value):
        return value
    if value[:1] in ("\t", "\r") or value.lstrip().startswith(FORMULA_START):
        return "'" + value
    return value


def csv_text(table: pd.DataFrame) -> str:
    """The one way a table becomes CSV (the Evaluation page's download, `python -m evaluation export`): every text
    cell, and every column name, through `spreadsheet_safe`; lines end in CRLF (RFC 4180), so a cell holding a bare
    carriage return is quoted rather than read as the end of its row."""
    safe = table.map(spreadsheet_safe).rename(columns=spreadsheet_safe)
    return safe.to_csv(index=False, lineterminator="\r\n")


def sample_table(samples: list[SampleRow], metrics: list[str]) -> pd.DataFrame:
    """One row per question: outcome, label, each metric's score (None when not scored), reasons when not."""
    rows = []
    for s in samples:
        row = {"#": s.idx + 1, "id": s.item_id, "question": s.question, "reference": s.reference, "outcome": s.outcome,
               "label": failure_label(s), "answer": s.answer, "top_score": s.top_score,
               "answer_check_p": s.answer_check_p, "seconds": s.seconds}
        notes = []
        for metric in metrics:
            status, score, reason = metric_status(s, metric)
            row[metric] = score
            if status not in ("scored", "missing") and s.outcome != "error":
                notes.append(f"{metric} {status}: {reason}")
        if s.error:
            notes.append(s.error)
        row["notes"] = "; ".join(notes)
        rows.append(row)
    return pd.DataFrame(rows)


def run_json(run: RunSummary, samples: list[SampleRow]) -> dict:
    metrics = run.config.get("metrics", [])
    return {"run": run.model_dump(), "aggregates": [a.model_dump() for a in aggregate(samples, metrics)],
            "abstention": abstention_report(samples).model_dump(), "samples": [s.model_dump() for s in samples]}


def finetune_records(samples: list[SampleRow], threshold: float) -> list[dict]:
    """{"messages": [system, user (the grounded prompt with its contexts), assistant]} per faithful answer."""
    records = []
    for s in samples:
        status, faithfulness, _ = metric_status(s, "faithfulness")
        if s.abstained or s.answer is None or status != "scored" or faithfulness is None or faithfulness < threshold:
            continue
        chunks = [StoredChunk(id=c["id"], source=c["source"], chunk_index=0, start=0, end=0, text=c["text"],
                              score=c.get("score") or 0.0) for c in s.contexts]
        prompt = PROMPT.format_messages(context=format_context(whole(chunks)), question=s.question)
        records.append({"messages": [*convert_to_openai_messages(prompt), {"role": "assistant", "content": s.answer}]})
    return records


def finetune_jsonl(samples: list[SampleRow], threshold: float) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in finetune_records(samples, threshold))


def run_means(runs: RunStore, run: RunSummary) -> dict:
    """A run as one row: its config knobs, each metric's mean with its scored count, the answerable questions
    answered right and the unanswerable ones answered anyway (the control layer's effect), mean answer latency."""
    samples = runs.samples(run.id)
    row = {"run_id": run.id, "created_at": run.created_at, "status": run.status, "n": len(samples),
           **{k: run.config.get(k) for k in ("chunk_size", "chunk_overlap", "top_k", "collection")}}
    for agg in aggregate(samples, run.config.get("metrics", [])):
        row[agg.metric] = agg.mean
        row[f"{agg.metric} scored"] = f"{agg.n_scored} of {agg.n_total}"
    rates = abstention_report(samples).rates  # None where the run had no item of that kind
    row["answer_accuracy"], row["hallucination_rate"] = rates[ANSWER_ACCURACY], rates[HALLUCINATION_RATE]
    latencies = [s.seconds for s in samples if s.seconds is not None]
    row["seconds"] = sum(latencies) / len(latencies) if latencies else None
    return row


def group_table(runs: RunStore, kind: str, group_id: str) -> pd.DataFrame:
    """The runs of one sweep or ladder (kind "sweep" / "ladder"), in step order."""
    rows = [{**run_means(runs, r), "step": r.config.get(f"{kind}_step"), "step_name": r.config.get(f"{kind}_name")}
            for r in runs.runs_of(f"{kind}_id", group_id)]
    return pd.DataFrame(rows)


def sweep_table(runs: RunStore, sweep_id: str) -> pd.DataFrame:
    """One row per cell of a sweep in step order: its knobs, the stage it reached, every number with its 95 % interval.

    A number `m` comes as columns `m`, `m_low`, `m_high`. A cheap-first sweep's cells all have the retrieval-only
    numbers (`SCREEN_METRICS`) and `rank`, their stage-1 ranking (1 = best); the finalists also have the full
    evaluation's metrics and a `run_id`. A sweep evaluated in full has runs only, each at stage "full evaluation".
    """
    cells: dict[int, dict] = {}
    ranked: dict[int, dict[str, Estimate]] = {}
    for screen in runs.screens_of(sweep_id):
        ranked[screen.config["sweep_step"]] = found = estimates(runs.screen_rows(screen.id))
        cells[screen.config["sweep_step"]] = {**_cell(screen, STAGE_RETRIEVAL), **_interval_columns(found)}
    for position, step in enumerate(pick_finalists(ranked, len(ranked)), start=1):
        cells[step]["rank"] = position
    for run in runs.runs_of("sweep_id", sweep_id):
        judged = question_estimates(runs.samples(run.id), run.config.get("metrics", []))
        cell = cells.setdefault(run.config["sweep_step"], {})
        cell.update({**_cell(run, STAGE_FULL), "run_id": run.id, **_interval_columns(judged)})
    return pd.DataFrame([cells[step] for step in sorted(cells)])


def _cell(member: RunSummary, stage: str) -> dict:
    return {"step": member.config.get("sweep_step"), "name": member.config.get("sweep_name"),
            **{k: member.config.get(k) for k in ("chunk_size", "chunk_overlap", "top_k")},
            "stage": stage, "status": member.status, "n": member.n_done}


def _interval_columns(found: dict[str, Estimate]) -> dict:
    return {column: value for metric, e in found.items()
            for column, value in ((metric, e.value), (f"{metric}_low", e.low), (f"{metric}_high", e.high))}


def groups(runs: RunStore, kind: str) -> dict[str, str]:
    """Sweep or ladder ids, newest first, with a short description (a sweep that never reached a run included)."""
    members = runs.runs() + (runs.screens() if kind == "sweep" else [])
    out: dict[str, str] = {}
    for r in sorted(members, key=lambda m: m.created_at, reverse=True):
        group_id = r.config.get(f"{kind}_id")
        if group_id and group_id not in out:
            n = len(runs.runs_of(f"{kind}_id", group_id))
            cells = len(runs.screens_of(group_id)) if kind == "sweep" else 0
            size = f"{cells} cells, {n} judged in full" if cells else f"{n} runs"
            out[group_id] = f"{group_id} · {r.eval_set} · {size} · {r.created_at}"
    return out


def flipped(before: list[SampleRow], after: list[SampleRow]) -> pd.DataFrame:
    """Questions (matched by item id) whose outcome or label changed between two runs."""
    old = {s.item_id: s for s in before}
    rows = []
    for s in after:
        a = old.get(s.item_id)
        if a is None or (a.outcome, failure_label(a)) == (s.outcome, failure_label(s)):
            continue
        rows.append({"question": s.question, "outcome before": a.outcome, "outcome after": s.outcome,
                     "label before": failure_label(a), "label after": failure_label(s),
                     "faithfulness before": metric_status(a, "faithfulness")[1],
                     "faithfulness after": metric_status(s, "faithfulness")[1],
                     "answer before": a.answer, "answer after": s.answer})
    return pd.DataFrame(rows)
