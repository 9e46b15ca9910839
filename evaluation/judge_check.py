"""Can the configured judge be trusted? Its verdicts against labelled answers (HaluEval QA pairs).

A faithfulness chart is only as good as the judge that drew it, and a small judge can look busy while agreeing
with nothing. HaluEval gives each question a knowledge paragraph and two answers, one faithful and one
hallucinated; each answer is scored with the knowledge as its only passage by
- the grounding check the Ask page runs (`pipeline.grounding`, as configured: claim P(supported) cut, term veto,
  answer check), its score the lowest P(supported) of the answer check and the claims (a vetoed claim counts 0);
- optionally Ragas faithfulness through the evaluation judge (`evaluation.metrics.Judge`), cut at
  `FAITHFULNESS_CUT` (slow: two judge calls per answer);
and, with no LLM, the term veto alone (a name or number absent from the knowledge and the question) and answer
length. Length knows nothing of the passages, yet on HaluEval faithful answers are short and hallucinated ones
long, so its cut is chosen on the same answers (optimistic): a judge that cannot beat it should not be trusted
on answers like these. Per scorer: AUC (does it rank faithful answers above hallucinated ones?), the confusion
matrix and balanced accuracy of flagging hallucinated answers.

One answer's judge failure is recorded on that answer and leaves it out of the numbers; the others go on. Each
answer's grounding result is cached (Ragas scores already are), so running the same pairs again after a crash
or a cancel picks up where it stopped. The report is a JSON file under <data dir>/judge_checks/, with the judges'
models and endpoints and the date, so the Evaluation page shows the last one without recomputing.
No Streamlit here: the CLI (`python -m evaluation judge-check`) and the page call `run_judge_check`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, NamedTuple

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from scipy.stats import rankdata

from evaluation.cache import ResultCache, cache_key
from evaluation.metrics import Judge, JudgeUnavailableError, MetricName
from ingest.loaders import LoadError, decode_text, numbered_jsonl, plain_reason
from ingest.store import StoredChunk
from pipeline.grounding import (Grounding, answer_cut, check_grounding, check_input, claim_evidence,
                                judge_settings, missing_terms, split_claims)
from pipeline.llm import make_chat_model
from settings import Settings, public_url

REPO = Path(__file__).resolve().parent.parent
SHARED_PAIRS = REPO.parent / "shared" / "data" / "halueval_qa" / "pairs.jsonl"  # all 400 questions, when present
BUNDLED_PAIRS = REPO / "samples" / "halueval" / "pairs.jsonl"  # 20 of them, shipped with the app
FAITHFULNESS_CUT = 0.5  # Ragas faithfulness below this flags an answer: fewer than half its statements supported
GROUNDING_VERSION = 2  # part of the grounding cache key: bump when what is stored or how it is judged changes
# (2: a one-sentence answer is judged once, by the answer check)

Scorer = Literal["grounding", "faithfulness", "term_veto", "length"]
SCORER_TITLES: dict[Scorer, str] = {"grounding": "Grounding check", "faithfulness": "Ragas faithfulness",
                                    "term_veto": "Term veto alone (no LLM)", "length": "Answer length (no judge)"}


class PairFileError(ValueError):
    """A labelled-pairs file that cannot be used; the message names the file and the line."""


class LabelledAnswer(BaseModel):
    """One row of a pairs file: HaluEval's fields (`id` and `qid` may be left out)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    qid: str  # the question both answers belong to
    knowledge: str = Field(min_length=1)
    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    label: Literal["faithful", "hallucinated"]

    @property
    def hallucinated(self) -> bool:
        return self.label == "hallucinated"

    @property
    def words(self) -> int:
        return len(self.answer.split())


def default_pairs() -> Path:
    """All 400 HaluEval questions where ../shared holds them, else the bundled 20."""
    return SHARED_PAIRS if SHARED_PAIRS.is_file() else BUNDLED_PAIRS


def parse_pairs(raw: bytes, source: str) -> list[LabelledAnswer]:
    """The labelled answers of a JSON Lines file's bytes (an upload is untrusted: its encoding, nesting and numbers are
    read as the knowledge base reads them); PairFileError naming the line of the first bad row, whatever went wrong."""
    rows = []
    try:
        records = numbered_jsonl(decode_text(raw, source), source)
    except LoadError as exc:
        raise PairFileError(str(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - the one boundary: a file that breaks the reader is refused, not a traceback
        raise PairFileError(f"{source}: cannot be read ({plain_reason(exc)})") from exc
    for number, data in records:
        data = {"id": f"line-{number}", "qid": data.get("question"), **data}
        try:
            rows.append(LabelledAnswer.model_validate(data))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['msg']}" for e in exc.errors())
            raise PairFileError(f"{source}: line {number}: {problems} (each row needs knowledge, question, answer and "
                                "label 'faithful' or 'hallucinated')") from exc
    labels = {r.label for r in rows}
    if labels != {"faithful", "hallucinated"}:
        have = f"only {labels.pop()!r} answers" if labels else "no rows"
        raise PairFileError(f"{source}: has {have}; agreement with labels needs both faithful and hallucinated answers")
    return rows


def load_pairs(path: Path, questions: int | None = None) -> list[LabelledAnswer]:
    """The answers of the first `questions` questions of a pairs file (all without a limit), in file order."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PairFileError(f"{path}: cannot be read ({exc.__class__.__name__}: {exc})") from exc
    return first_questions(parse_pairs(data, path.name), questions)


def first_questions(rows: list[LabelledAnswer], questions: int | None) -> list[LabelledAnswer]:
    if not questions:
        return rows
    keep = set(list(dict.fromkeys(r.qid for r in rows))[:questions])
    return [r for r in rows if r.qid in keep]


# --- the numbers ------------------------------------------------------------------------------------------------

class Confusion(BaseModel):
    """Flagging hallucinated answers: a hallucinated answer flagged is a true positive."""

    tp: int
    fp: int
    fn: int
    tn: int

    @classmethod
    def of(cls, flagged: Sequence[bool], hallucinated: Sequence[bool]) -> Confusion:
        pairs = list(zip(flagged, hallucinated, strict=True))
        return cls(tp=sum(f and h for f, h in pairs), fp=sum(f and not h for f, h in pairs),
                   fn=sum(h and not f for f, h in pairs), tn=sum(not f and not h for f, h in pairs))

    @property
    def recall(self) -> float | None:
        """Share of hallucinated answers flagged."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def specificity(self) -> float | None:
        """Share of faithful answers let through."""
        return self.tn / (self.tn + self.fp) if self.tn + self.fp else None

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def balanced_accuracy(self) -> float | None:
        """The mean of the two per-label accuracies: 0.5 is chance whatever the mix of labels."""
        if self.recall is None or self.specificity is None:
            return None
        return (self.recall + self.specificity) / 2


def auc(scores: Sequence[float], hallucinated: Sequence[bool]) -> float | None:
    """P(a faithful answer scores above a hallucinated one), ties counted half (Mann-Whitney); None without both."""
    faithful = [not h for h in hallucinated]
    n_pos, n_neg = sum(faithful), len(faithful) - sum(faithful)
    if not n_pos or not n_neg:
        return None
    ranks = rankdata(scores)
    rank_sum = sum(r for r, f in zip(ranks, faithful, strict=True) if f)
    return float((rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def best_length_cut(words: Sequence[int], hallucinated: Sequence[bool]) -> int:
    """The word count above which flagging answers gives the best balanced accuracy on these very answers."""
    def score(cut: int) -> float:
        return Confusion.of([w > cut for w in words], hallucinated).balanced_accuracy or 0.0
    return max(sorted(set(words)), key=score)


# --- scoring one answer ------------------------------------------------------------------------------------------

class GroundingScore(BaseModel):
    flagged: bool  # the pipeline's verdict: not every claim supported, or the passages do not state the answer
    p_supported: float | None  # lowest P of the answer check and the claims (vetoed claim 0); None without logprobs
    shortfall: str = ""  # why it was flagged, as the Ask page says it


class AnswerResult(BaseModel):
    id: str
    qid: str
    label: Literal["faithful", "hallucinated"]
    words: int
    missing_terms: list[str]  # names and numbers of its claims absent from the knowledge and the question
    grounding: GroundingScore | None = None
    grounding_error: str | None = None  # why the grounding check could not score it
    faithfulness: float | None = None
    faithfulness_error: str | None = None


def check_labelled_answer(settings: Settings, row: LabelledAnswer, embedder: Embeddings,
                          judge: BaseChatModel) -> Grounding:
    """The pipeline's grounding check on one labelled answer, its knowledge paragraph the only passage."""
    chunk = StoredChunk(id=row.id, source="labelled pairs", chunk_index=0, start=0, end=len(row.knowledge),
                        text=row.knowledge.strip())
    claims = split_claims(row.answer)
    signals, _ = claim_evidence(claims, [chunk], embedder, row.question)
    item = check_input(settings.grounding_scope, row.question, claims, [chunk.text])
    return check_grounding(settings, item, claims, signals, judge)


def unchecked_reason(grounding: Grounding) -> str | None:
    """Why the judge left part of a check undecided (it failed: unreachable, unparseable); None when it decided all."""
    if unchecked := [c.reason for c in grounding.claims if c.verdict == "unchecked"]:
        return f"claim unchecked: {unchecked[0]}"
    if grounding.answer_check is not None and grounding.answer_check.verdict == "unchecked":
        return f"answer check unchecked: {grounding.answer_check.reason}"
    return None


def grounding_score(grounding: Grounding) -> GroundingScore:
    """What the report keeps of a decided check."""
    # a claim the term veto ruled out was never put to the judge (no plain verdict): it counts as P 0
    ps = [0.0 if c.judge_said is None and c.verdict == "not_supported" else c.p_supported
          for c in grounding.claims if c.verdict != "abstain"]
    if grounding.answer_check is not None:
        ps.append(grounding.answer_check.p_supported)
    known = [p for p in ps if p is not None]
    return GroundingScore(flagged=not grounding.fully_supported, p_supported=min(known) if known else None,
                          shortfall=grounding.shortfall)


class CheckProgress(NamedTuple):
    """A snapshot for progress bars: answers done of total, the one being scored, failures so far."""

    done: int
    total: int
    doing: str
    failed: int = 0

    def describe(self) -> str:
        failed = f" · {self.failed} failed" if self.failed else ""
        return f"{self.done}/{self.total} answers{failed} · {self.doing[:70]}"


class JudgeInfo(BaseModel):
    """Which judges the report is about: a report is only true of these."""

    grounding_model: str
    grounding_endpoint: str
    grounding_threshold: float
    answer_check: bool
    answer_threshold: float
    term_veto: bool
    ragas_model: str | None = None
    ragas_endpoint: str | None = None
    faithfulness_cut: float | None = None

    @classmethod
    def of(cls, settings: Settings, ragas: bool, faithfulness_cut: float) -> JudgeInfo:
        return cls(grounding_model=judge_settings(settings).llm_model, grounding_endpoint=public_url(settings.openai_base_url),
                   grounding_threshold=settings.grounding_threshold, answer_check=settings.grounding_answer_check,
                   answer_threshold=answer_cut(settings), term_veto=settings.grounding_term_veto,
                   ragas_model=settings.judge_model if ragas else None,
                   ragas_endpoint=public_url(settings.judge_endpoint[0]) if ragas else None,
                   faithfulness_cut=faithfulness_cut if ragas else None)


class ScorerReport(BaseModel):
    scorer: Scorer
    cut: str  # how an answer is flagged, in words
    n_scored: int
    n_failed: int
    auc: float | None
    confusion: Confusion
    first_error: str | None = None

    @property
    def title(self) -> str:
        return SCORER_TITLES[self.scorer]

    @property
    def balanced_accuracy(self) -> float | None:
        return self.confusion.balanced_accuracy


class TrustReport(BaseModel):
    id: str
    started_at: str
    finished_at: str
    status: Literal["completed", "cancelled"]
    pairs: str  # the file (or upload) the labelled answers came from
    n_questions: int  # questions with an answer scored or failed (fewer than asked for when cancelled)
    n_answers: int  # answers scored or failed
    seconds: float
    judge: JudgeInfo
    scorers: list[ScorerReport]
    answers: list[AnswerResult]

    def scorer(self, name: Scorer) -> ScorerReport | None:
        return next((s for s in self.scorers if s.scorer == name), None)


def _scorer(name: Scorer, cut: str, results: list[AnswerResult], score: Callable[[AnswerResult], float | None],
            flag: Callable[[AnswerResult], bool], error: Callable[[AnswerResult], str | None]) -> ScorerReport:
    scored = [r for r in results if error(r) is None]
    truth = [r.label == "hallucinated" for r in scored]
    values = [score(r) for r in scored]
    return ScorerReport(scorer=name, cut=cut, n_scored=len(scored), n_failed=len(results) - len(scored),
                        auc=auc(values, truth) if scored and None not in values else None,
                        confusion=Confusion.of([flag(r) for r in scored], truth),
                        first_error=next((e for r in results if (e := error(r))), None))


def summarise(results: list[AnswerResult], judge: JudgeInfo) -> list[ScorerReport]:
    """One report per scorer that ran; the two no-LLM baselines always."""
    def no_error(_: AnswerResult) -> None:
        return None

    def grounding_p(r: AnswerResult) -> float:
        # an endpoint without logprobs gives no P: the verdict itself is then the score
        g = r.grounding
        return g.p_supported if g.p_supported is not None else float(not g.flagged)

    parts = []
    if judge.answer_check:
        parts.append(f"the answer check's P(supported) < {judge.answer_threshold:.2f}")
    parts.append(f"a claim's P(supported) < {judge.grounding_threshold:.2f}")
    if judge.term_veto:
        parts.append("a claim names what the passage never mentions")
    reports = [_scorer("grounding", "flagged when " + ", or ".join(parts), results, grounding_p,
                       lambda r: r.grounding.flagged, lambda r: r.grounding_error or ("not run" if r.grounding is None
                                                                                      else None))]
    if judge.ragas_model is not None:
        reports.append(_scorer("faithfulness", f"flagged when faithfulness < {judge.faithfulness_cut:.2f}", results,
                               lambda r: r.faithfulness, lambda r: r.faithfulness < judge.faithfulness_cut,
                               lambda r: r.faithfulness_error or ("not run" if r.faithfulness is None else None)))
    reports.append(_scorer("term_veto", "flagged when a claim names a name or number absent from the passage and "
                           "the question", results, lambda r: float(not r.missing_terms), lambda r: bool(r.missing_terms),
                           no_error))
    cut = best_length_cut([r.words for r in results], [r.label == "hallucinated" for r in results]) if results else 0
    reports.append(_scorer("length", f"flagged above {cut} words (the best cut on these answers: optimistic)", results,
                           lambda r: -float(r.words), lambda r: r.words > cut, no_error))
    return reports


# --- the run -----------------------------------------------------------------------------------------------------

def _grounding_key(settings: Settings, row: LabelledAnswer) -> str:
    info = JudgeInfo.of(settings, ragas=False, faithfulness_cut=0.0)
    return cache_key("judge_check_grounding", GROUNDING_VERSION, info.model_dump(), settings.structured_output,
                     settings.grounding_scope, row.question, row.knowledge, row.answer)


def _ground(settings: Settings, row: LabelledAnswer, embedder: Embeddings, judge: BaseChatModel,
            cache: ResultCache | None) -> tuple[GroundingScore | None, str | None]:
    """The grounding score of one answer, from the cache when this judge scored it before; or why it failed."""
    key = _grounding_key(settings, row)
    if cache is not None and (hit := cache.get("judge", key)) is not None:
        return GroundingScore.model_validate_json(hit), None
    try:
        grounding = check_labelled_answer(settings, row, embedder, judge)
    except Exception as exc:  # noqa: BLE001 - one answer's failure is recorded on it; the others go on
        return None, f"{exc.__class__.__name__}: {exc}"[:300]
    if why := unchecked_reason(grounding):
        return None, why
    score = grounding_score(grounding)
    if cache is not None:
        cache.put("judge", key, score.model_dump_json())
    return score, None


def run_judge_check(settings: Settings, rows: list[LabelledAnswer], pairs: str, embedder: Embeddings, *,
                    ragas: bool = False, cache: ResultCache | None = None, faithfulness_cut: float = FAITHFULNESS_CUT,
                    progress: Callable[[CheckProgress], None] | None = None,
                    should_continue: Callable[[], bool] | None = None) -> TrustReport:
    """Score every labelled answer with the configured judges, store the report and return it.

    Raises `JudgeUnavailableError` before any work when a judge endpoint does not answer or lacks the model.
    """
    info = JudgeInfo.of(settings, ragas, faithfulness_cut)
    # the grounding judge is the answering endpoint's grounding model: checked the way the Ragas judge is
    try:
        Judge(settings.with_overrides(judge_base_url=settings.openai_base_url, judge_api_key=settings.openai_api_key,
                                      judge_model=info.grounding_model), embedder).check()
    except JudgeUnavailableError as exc:
        raise JudgeUnavailableError(f"the grounding judge (OPENAI_BASE_URL, FQA_GROUNDING_MODEL): {exc}") from exc
    ragas_judge = Judge(settings, embedder, cache=cache) if ragas else None
    if ragas_judge is not None:
        ragas_judge.check()
    chat = make_chat_model(judge_settings(settings))
    started_at, started = datetime.now(UTC), time.perf_counter()
    results: list[AnswerResult] = []
    status: Literal["completed", "cancelled"] = "completed"

    def report_progress(doing: str) -> None:
        if progress:
            failed = sum(r.grounding_error is not None or r.faithfulness_error is not None for r in results)
            progress(CheckProgress(len(results), len(rows), doing, failed))

    for row in rows:
        report_progress(f"{row.label} answer · {row.question}")
        if should_continue is not None and not should_continue():
            status = "cancelled"
            break
        grounding, grounding_error = _ground(settings, row, embedder, chat, cache)
        faithfulness = faithfulness_error = None
        if ragas_judge is not None:
            scored = asyncio.run(ragas_judge.score(row.question, row.answer, [row.knowledge],
                                                   [MetricName.FAITHFULNESS], abstained=False))[0]
            faithfulness, faithfulness_error = scored.score, scored.reason if scored.score is None else None
        context = "\n".join([row.question, row.knowledge])
        results.append(AnswerResult(
            id=row.id, qid=row.qid, label=row.label, words=row.words,
            missing_terms=list(dict.fromkeys(t for c in split_claims(row.answer) for t in missing_terms(c, context))),
            grounding=grounding, grounding_error=grounding_error, faithfulness=faithfulness,
            faithfulness_error=faithfulness_error))
    report_progress("done")
    report = TrustReport(id=started_at.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6], started_at=started_at.isoformat(timespec="seconds"),
                         finished_at=datetime.now(UTC).isoformat(timespec="seconds"), status=status, pairs=pairs,
                         n_questions=len({r.qid for r in results}), n_answers=len(results),
                         seconds=round(time.perf_counter() - started, 1), judge=info,
                         scorers=summarise(results, info), answers=results)
    save_report(settings, report)
    return report


# --- stored reports and what they say -----------------------------------------------------------------------------

def reports_dir(settings: Settings) -> Path:
    return settings.data_dir / "judge_checks"


def save_report(settings: Settings, report: TrustReport) -> Path:
    folder = reports_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{report.id}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(report.model_dump_json(indent=1), encoding="utf-8")
    tmp.replace(path)  # a reader never sees half a report
    return path


def latest_report(settings: Settings) -> TrustReport | None:
    """The newest stored report that still parses (None when none was made)."""
    for path in sorted(reports_dir(settings).glob("*.json"), reverse=True):
        try:
            return TrustReport.model_validate_json(path.read_text(encoding="utf-8"))
        except (OSError, ValidationError):
            continue
    return None


def percent(share: float) -> str:
    return f"{share * 100:.0f} %"


def verdict(report: TrustReport, scorer: Scorer = "grounding") -> str:
    """In plain words: how often the judge agrees with the labels, and whether it beats answer length."""
    judged, length = report.scorer(scorer), report.scorer("length")
    if judged is None:
        return f"{SCORER_TITLES[scorer]} was not run in this report."
    if judged.balanced_accuracy is None:
        why = f": {judged.first_error}" if judged.first_error else ""
        return (f"{judged.title} could not be measured: {judged.n_scored} answers scored, {judged.n_failed} failed{why}.")
    acc = judged.balanced_accuracy
    text = f"{judged.title} agrees with the labels on {percent(acc)} of answers (balanced accuracy; 50 % is chance)"
    base = length.balanced_accuracy if length else None
    if base is not None:
        gap = acc - base
        compared = ("clearly better than" if gap >= 0.10 else "barely better than" if gap >= 0.03
                    else "no better than" if gap > -0.03 else "worse than")
        text += f", {compared} answer length alone ({percent(base)})"
    if acc >= 0.85:
        advice = "its faithfulness verdicts can be relied on for answers like these"
    elif acc >= 0.70:
        advice = "read its faithfulness charts as a rough guide, not per answer"
    else:
        advice = "do not trust its faithfulness charts"
    few = f" Only {judged.n_scored} answers were scored: the number can move a lot." if judged.n_scored < 40 else ""
    return f"{text}: {advice}.{few}"
