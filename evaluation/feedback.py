"""People's feedback in the question log as evaluation data: an eval set, and a labelled run for the trade-off curves.

A label (pipeline.question_log.LogEntry.label) says what the pipeline should have done, which is what an eval set's
`answerable` and `reference` say and what the Tune page's curves count:

| feedback | eval item | outcome (aggregate.EXPECTED) |
| --- | --- | --- |
| thumbs up on an answer | answerable, the answer as reference | correct_answer |
| thumbs down on an answer | answerable, the correction (if typed) as reference | wrong_answer |
| … marked "should have abstained" | unanswerable | hallucinated_answer |
| thumbs up on an abstention | unanswerable | correct_abstention |
| thumbs down on an abstention | answerable, the correction (if typed) as reference | false_abstention |

A logged answer without feedback becomes an unlabelled eval item (the question alone) and is left out of the curves.
"""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

from evaluation.evalset import EvalItem
from evaluation.runstore import RunSummary, SampleRow
from pipeline.question_log import Label, LogEntry
from pipeline.rerank import similarity

KIND = "question log"
OUTCOMES: dict[Label, str] = {"right answer": "correct_answer", "wrong answer": "wrong_answer",
                              "should have abstained": "hallucinated_answer", "right to abstain": "correct_abstention",
                              "should have answered": "false_abstention"}
LOG_RUN = "question-log"  # the id the labelled log goes by among runs on the Tune page


class LabelledRun(NamedTuple):
    summary: RunSummary
    samples: list[SampleRow]


def eval_item(entry: LogEntry) -> EvalItem:
    """The logged question as an eval item, labelled by its feedback (see the table above)."""
    label = entry.label
    reference = entry.feedback.correction if entry.feedback else None
    if label == "right answer":
        reference = entry.answer
    answerable = None if label is None else label not in ("should have abstained", "right to abstain")
    return EvalItem(id=f"log-{entry.id}", question=entry.question, reference=reference, answerable=answerable, kind=KIND)


def eval_items(entries: list[LogEntry]) -> list[EvalItem]:
    """One item per distinct question, oldest first; a question asked twice keeps its latest labelled entry."""
    chosen: dict[str, LogEntry] = {}
    for entry in sorted(entries, key=lambda e: e.id):
        held = chosen.get(entry.question)
        if held is None or entry.label is not None or held.label is None:
            chosen[entry.question] = entry
    return [eval_item(e) for e in sorted(chosen.values(), key=lambda e: e.id)]


def labelled_samples(entries: list[LogEntry]) -> list[SampleRow]:
    """The entries with feedback as rows of a run (their whole Answer loaded): what the coverage curves read."""
    rows = []
    for entry in entries:
        if entry.label is None or entry.record is None:
            continue
        item = eval_item(entry)
        rows.append(SampleRow(
            idx=entry.id, item_id=item.id, question=entry.question, reference=item.reference,
            answerable=item.answerable, kind=KIND, answer=entry.answer, abstained=entry.abstained,
            abstain_reason=entry.abstain_reason, outcome=OUTCOMES[entry.label],
            contexts=[{"id": c.id, "source": c.source, "score": c.score, "similarity": similarity(c), "text": c.text}
                      for c in entry.record.contexts],
            metrics=[], error=None, seconds=entry.seconds, answer_check_p=entry.answer_check_p))
    return rows


def labelled_run(entries: list[LogEntry]) -> LabelledRun | None:
    """The labelled log as a run the Tune page's curves can be drawn on; None until some answer has feedback.

    Its config is what the curves need to start where every entry can be read: the highest min score any entry was
    asked with (below it, what that entry's gate refused was never answered), and under the strict policy the highest
    answer-check cut (below it, the answers withheld were never kept).
    """
    samples = labelled_samples(entries)
    if not samples:
        return None
    configs = [e.config for e in entries if e.label is not None]
    strict = [c for c in configs if c.get("grounding_policy") == "strict"]
    config = {
        "min_score": max(float(c.get("min_score", 0.0)) for c in configs),
        "grounding_policy": "strict" if strict else "annotate",
        "grounding_answer_threshold": max((float(c.get("grounding_answer_threshold", 0.0)) for c in strict),
                                          default=0.0),
        "top_k": Counter(c.get("top_k") for c in configs).most_common(1)[0][0],
        "metrics": [],
    }
    latest = max(e.feedback_at or e.asked_at for e in entries if e.label is not None)
    answers = f"{len(samples)} answer{'' if len(samples) == 1 else 's'}"
    summary = RunSummary(id=LOG_RUN, created_at=latest.isoformat(timespec="seconds"), status="labelled",
                         eval_set=f"question log, {answers} with feedback", n_items=len(samples), n_done=len(samples),
                         config=config)
    return LabelledRun(summary, samples)
