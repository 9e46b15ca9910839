"""Does the pipeline say "I don't know" when it should? SQuAD 2.0 sample, answerable and unanswerable questions.

    .venv/bin/python bench/abstention.py --limit 20 --models qwen2.5-0.5b qwen2.5-1.5b
    .venv/bin/python bench/abstention.py --data articles --limit 400     (the held-out whole articles)

`--data sample` (default): the SQuAD 2.0 sample, its whole corpus (411 paragraphs) one file per paragraph; questions
1-250 are the tuning split, 251-500 held out (`--skip 250`). `--data articles`: whole Wikipedia articles of the SQuAD
2.0 dev set (../shared/data/squad2_articles), one file per article, and their questions outside the sample, shuffled
with a fixed seed (HELD_OUT_ARTICLES: never tuned on). The corpus is ingested into a temporary collection with the
configured chunking and retrieval settings; the questions are asked through `answer_question` (score gate, prompt,
grounding check with the annotate policy). Printed per answering model: the share of unanswerable questions answered
anyway (should be near 0) and of answerable ones answered correctly (a reference answer contained,
case-insensitive), both as the annotate policy shows them and as the strict policy would (an answer whose
claims are not all supported is withheld), plus seconds per question, then what each cut on the answer check's
P(supported) would keep. `--out` logs every answer; `--cuts-from` re-reads such logs without asking again;
`--save-run` stores the answers as runs, so the Tune page draws the same trade-off as a curve.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

from langchain_core.embeddings import Embeddings  # noqa: E402
from tqdm import tqdm  # noqa: E402

from ingest.embedder import embedder_info, make_embedder  # noqa: E402
from ingest.ingestor import ingest_configured, sources_for  # noqa: E402
from ingest.store import VectorStore, open_client  # noqa: E402
from bench.common import read_jsonl  # noqa: E402
from evaluation.aggregate import threshold_points  # noqa: E402
from evaluation.runstore import RunStore, SampleRow  # noqa: E402
from pipeline.answer import Answer  # noqa: E402
from pipeline.chain import answer_question, pipeline_config  # noqa: E402
from pipeline.details import check_details  # noqa: E402
from pipeline.grounding import JUDGED_ONCE  # noqa: E402
from pipeline.llm import make_chat_model  # noqa: E402
from pipeline.retrieval import best_similarity  # noqa: E402
from settings import Settings  # noqa: E402

SQUAD = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "squad2"
ARTICLES = SQUAD.with_name("squad2_articles")
COLLECTION = "squad2"
# The held-out set of issue 22, named on 2026-12-04 before any result on it was seen: two whole articles as the
# knowledge base, and their questions that are not in the SQuAD 2.0 sample, in a seeded shuffle, as many answerable
# as unanswerable ones (the articles hold 201 and 403). Never tuned on.
HELD_OUT_ARTICLES = ("Packet switching", "1973 oil crisis")
ARTICLE_SEED = 22
DATA = ("sample", "articles")


def write_corpus(folder: Path) -> list[tuple[Path, str]]:
    """One text file per paragraph, named by its id (the source a citation shows)."""
    for row in read_jsonl(SQUAD / "corpus.jsonl"):
        (folder / f"{row['id']}.txt").write_text(row["text"], encoding="utf-8")
    return sources_for(folder)


@contextmanager
def temporary_collection(write: Callable[[Path], list[tuple[Path, str]]], collection: str,
                         **overrides: object) -> Iterator[tuple[Settings, VectorStore, Embeddings]]:
    """Documents that `write` puts in a folder, ingested into a temporary embedded collection as the settings (with
    `overrides`, e.g. another chunking) say."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings().with_overrides(data_dir=Path(tmp) / "data", collection=collection, **overrides)
        (Path(tmp) / "corpus").mkdir()
        files = write(Path(tmp) / "corpus")
        client = open_client(settings)
        try:
            store = VectorStore(client, embedder_info(settings))
            embedder = make_embedder(settings)
            report = ingest_configured(settings, store, embedder, files, collection)
            print(f"ingested {len(files)} documents into a temporary collection ({store.count(collection)} chunks); "
                  f"retrieval {settings.retrieval_mode} + {settings.rerank} rerank, top {settings.top_k}, "
                  f"min similarity {settings.min_score}")
            if report.failed:
                print(f"warning: {len(report.failed)} documents failed to ingest", file=sys.stderr)
            yield settings, store, embedder
        finally:
            client.close()


def squad_collection(**overrides: object) -> AbstractContextManager[tuple[Settings, VectorStore, Embeddings]]:
    """The whole SQuAD corpus (411 paragraphs), one file per paragraph, in the configured settings or `overrides`."""
    return temporary_collection(write_corpus, COLLECTION, **overrides)


def write_articles(folder: Path, titles: tuple[str, ...] = HELD_OUT_ARTICLES) -> list[tuple[Path, str]]:
    """One Markdown file per article, its paragraphs in order under the title: a document as a person would have it."""
    paragraphs: dict[str, list[tuple[int, str]]] = {title: [] for title in titles}
    for row in read_jsonl(ARTICLES / "corpus.jsonl"):
        if row["title"] in paragraphs:
            paragraphs[row["title"]].append((row["paragraph"], row["text"]))
    for title, rows in paragraphs.items():
        body = "\n\n".join(text for _, text in sorted(rows))
        (folder / f"{re.sub(r'[^a-z0-9]+', '_', title.lower()).strip('_')}.md").write_text(f"# {title}\n\n{body}\n",
                                                                                          encoding="utf-8")
    return sources_for(folder)


def article_questions(limit: int, titles: tuple[str, ...] = HELD_OUT_ARTICLES, seed: int = ARTICLE_SEED) -> list[dict]:
    """`limit` of the articles' questions that the SQuAD 2.0 sample does not also hold, half answerable and half not
    (as far as there are), in a fixed shuffled order."""
    rows = [q for q in read_jsonl(ARTICLES / "qa.jsonl") if q["title"] in titles and not q["in_squad2_sample"]]
    random.Random(seed).shuffle(rows)
    halves = [[q for q in rows if q["answerable"] is kind][: (limit + 1) // 2] for kind in (True, False)]
    chosen = {q["id"] for half in halves for q in half}
    return [q for q in rows if q["id"] in chosen][:limit]


def question_set(data: str, skip: int, limit: int, **overrides: object) -> tuple[
        list[dict], str, AbstractContextManager[tuple[Settings, VectorStore, Embeddings]]]:
    """(the questions asked, a label saying which split they are, the collection to ask them of) for `--data`."""
    if data == "articles":
        questions = article_questions(skip + limit)[skip:]
        label = (f"squad2_articles {' + '.join(HELD_OUT_ARTICLES)} (held out), questions {skip + 1}-{skip + len(questions)}"
                 f" of the balanced seed-{ARTICLE_SEED} shuffle")
        return questions, label, temporary_collection(write_articles, "articles", **overrides)
    questions = read_jsonl(SQUAD / "qa.jsonl")[skip:][:limit]
    split = "tuning" if skip + len(questions) <= 250 else "held out" if skip >= 250 else "tuning and held out"
    return questions, f"SQuAD 2.0 sample questions {skip + 1}-{skip + len(questions)} ({split})", squad_collection(**overrides)


def contains_reference(text: str, references: list[str]) -> bool:
    """A reference answer occurs in the text, ignoring case: how the SQuAD benches count an answer right."""
    return any(ref.lower() in text.lower() for ref in references)


def correct(answer: Answer, references: list[str]) -> bool:
    return not answer.abstained and contains_reference(answer.answer, references)


def share(hits: int, total: int) -> str:
    return f"{hits}/{total} ({hits / total:.0%})" if total else "0/0"


def record(q: dict, a: Answer) -> dict:
    """One question's outcome with the numbers a threshold could be placed on (gate cosine, judge probabilities)."""
    g = a.grounding
    return {"id": q["id"], "answerable": q["answerable"], "abstained": a.abstained, "reason": a.abstain_reason,
            "answer": a.answer, "best_similarity": best_similarity(a.contexts),
            "answer_check_p": g.answer_check.p_supported if g and g.answer_check else None,
            "min_claim_p": min((c.p_supported for c in g.claims if c.p_supported is not None), default=None) if g else None,
            "correct": correct(a, q["answers"]) if q["answerable"] else None,
            # what later, judge-free checks need to be computed again from the log (--cuts-from)
            "question": q["question"], "contexts": [c.text for c in a.contexts],
            "claims": [{"claim": c.claim, "verdict": c.verdict, "p": c.p_supported} for c in g.claims] if g else [],
            "fully_supported": bool(g and g.fully_supported), "other_checks_pass": other_checks_pass(a),
            "seconds": round(a.seconds, 2),
            "stages": {k: round(v, 2) for k, v in a.stages.items()},
            "tokens": {k: t.model_dump() for k, t in a.tokens.items()}}


def other_checks_pass(a: Answer) -> bool:
    """Every check but the answer check's cut passed (claims, term veto, details, restatement): with P, what strict
    would keep at any cut is read off the log."""
    g = a.grounding
    return bool(g) and g.details_found and not g.restated and all(
        c.verdict == "supported" or c.reason == JUDGED_ONCE for c in g.claims if c.verdict != "abstain")


def run_model(settings: Settings, store: VectorStore, embedder, model: str, questions: list[dict],  # noqa: ANN001
              out: Path | None = None, policy: str = "annotate") -> dict:
    config = settings.with_overrides(llm_model=model, grounding_policy=policy)
    llm = make_chat_model(config)
    answers, records, started = [], [], time.perf_counter()
    for q in tqdm(questions, desc=model, unit="question"):
        answers.append(answer_question(config, store, embedder, llm, q["question"]))
        records.append({"model": model, **record(q, answers[-1])})
        if out:
            with out.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(records[-1]) + "\n")
    seconds = (time.perf_counter() - started) / len(questions)
    kept = [not a.abstained and (a.grounding is None or a.grounding.fully_supported) for a in answers]
    unans = [i for i, q in enumerate(questions) if not q["answerable"]]
    ans = [i for i, q in enumerate(questions) if q["answerable"]]
    result = {
        "model": model, "seconds": seconds, "records": records, "n_unanswerable": len(unans), "n_answerable": len(ans),
        "answered_anyway": sum(not answers[i].abstained for i in unans),
        "answered_anyway_strict": sum(kept[i] for i in unans),
        "right": sum(correct(answers[i], questions[i]["answers"]) for i in ans),
        "right_strict": sum(kept[i] and correct(answers[i], questions[i]["answers"]) for i in ans),
        "gated": sum(a.abstain_reason == "low_retrieval_score" for a in answers),
    }
    print(f"{model}: {len(questions)} questions, {seconds:.1f} s per question, {result['gated']} stopped by the score gate")
    print(f"  unanswerable answered anyway: annotate {share(result['answered_anyway'], len(unans))}, "
          f"strict {share(result['answered_anyway_strict'], len(unans))}")
    print(f"  answerable answered right:    annotate {share(result['right'], len(ans))}, "
          f"strict {share(result['right_strict'], len(ans))}")
    return result


CUTS = (0.0, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9)


def outcome(r: dict) -> str:
    """The record's outcome in the eval runner's words (a reference contained counts as right, as above)."""
    if not r["answerable"]:
        return "correct_abstention" if r["abstained"] else "hallucinated_answer"
    return "false_abstention" if r["abstained"] else "correct_answer" if r["correct"] else "wrong_answer"


def sample_rows(records: list[dict], questions: dict[str, dict]) -> dict[str, list[SampleRow]]:
    """The logged answers as an evaluation run's rows, per answering model (no passages, no Ragas metrics)."""
    by_model: dict[str, list[SampleRow]] = {}
    for r in records:
        rows, q = by_model.setdefault(r["model"], []), questions[r["id"]]
        rows.append(SampleRow(
            idx=len(rows), item_id=r["id"], question=q["question"], reference=(q["answers"] or [None])[0],
            answerable=r["answerable"], kind="answerable" if r["answerable"] else "unanswerable", answer=r["answer"],
            abstained=r["abstained"], abstain_reason=r["reason"], outcome=outcome(r), contexts=[], metrics=[],
            error=None, seconds=None, answer_check_p=r["answer_check_p"]))
    return by_model


def print_strict_cuts(records: list[dict]) -> None:
    """Per answering model, what strict keeps at each cut on the answer check's P, every other check as logged."""
    for model in dict.fromkeys(r["model"] for r in records):
        mine = [r for r in records if r["model"] == model and "other_checks_pass" in r]
        if not mine:
            continue
        unans, ans = [r for r in mine if not r["answerable"]], [r for r in mine if r["answerable"]]
        print(f"{model}, strict at each answer-check cut: unanswerable answered anyway | answerable answered right")
        for cut in CUTS:
            kept = {r["id"] for r in mine if not r["abstained"] and r["other_checks_pass"]
                    and (r["answer_check_p"] if r["answer_check_p"] is not None else -1) >= cut}
            print(f"  {cut:.2f}  {share(sum(r['id'] in kept for r in unans), len(unans)):>12}  "
                  f"{share(sum(r['id'] in kept and bool(r['correct']) for r in ans), len(ans)):>12}")


def print_cuts(by_model: dict[str, list[SampleRow]]) -> None:
    """Per answering model, what each cut on the answer check's P would keep (claim verdicts aside), read with the
    Tune page's own function: an answer stays when its P reaches the cut; one without a P is withheld."""
    for model, rows in by_model.items():
        n_unans = sum(s.answerable is False for s in rows)
        n_ans = len(rows) - n_unans
        print(f"{model}, answer-check cut: unanswerable answered anyway | answerable answered right "
              f"({len(rows)} questions)")
        for p in threshold_points(rows, lambda s: s.answer_check_p, CUTS):
            hallucinated = round((p.hallucination_rate or 0.0) * n_unans)
            right = round((p.answer_accuracy or 0.0) * n_ans)
            print(f"  {p.threshold:.2f}  {share(hallucinated, n_unans):>12}  {share(right, n_ans):>12}")


def print_detail_check(records: list[dict]) -> None:
    """What the question-detail check (pipeline.details, no LLM) does to the logged answers, recomputed from their
    passages: unanswerable questions answered anyway that it flags, answerable ones answered right that it flags
    (a cost), and what strict would keep with it added to the judge's verdicts when the log has them."""
    for model in dict.fromkeys(r["model"] for r in records):
        answered = [r for r in records if r["model"] == model and not r["abstained"] and "contexts" in r]
        flagged = {r["id"] for r in answered if check_details(r["question"], r["answer"], r["contexts"]).missing}
        unans = [r for r in answered if not r["answerable"]]
        right = [r for r in answered if r["correct"]]
        print(f"{model}, question-detail check: flags {share(sum(r['id'] in flagged for r in unans), len(unans))} of "
              f"the unanswerable questions answered anyway, {share(sum(r['id'] in flagged for r in right), len(right))} "
              "of the answerable ones answered right")


def save_runs(by_model: dict[str, list[SampleRow]], settings: Settings, name: str = "squad2 (bench/abstention.py)",
              source: str = "bench/abstention.py", extra: dict | None = None) -> list[str]:
    """One stored run per answering model, so the Tune page draws its answer-check curve (no Ragas metrics).
    `extra` goes into each run's config (e.g. evaluation.aggregate.FOLDED_CHECKS)."""
    runs, ids = RunStore(settings.runs_db), []
    for model, rows in by_model.items():
        config = pipeline_config(settings.with_overrides(llm_model=model.split(" ")[0], grounding_policy="annotate",
                                                         collection=COLLECTION))
        run_id = runs.create_run(name, len(rows), {**config, "source": source, "metrics": [], **(extra or {})})
        for row in rows:
            runs.add_sample(run_id, row)
        runs.finish_run(run_id)
        ids.append(run_id)
    return ids


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=None, help="answering models (default: the configured one)")
    parser.add_argument("--data", choices=DATA, default="sample",
                        help="sample: the SQuAD 2.0 sample (1-250 tune, 251-500 held out); articles: held-out whole articles")
    parser.add_argument("--limit", type=int, default=20, help="questions to ask (the first N of the set after --skip)")
    parser.add_argument("--skip", type=int, default=0, help="start after the first N questions (a held-out slice)")
    parser.add_argument("--policy", choices=["annotate", "off"], default="annotate",
                        help="off: answers only, no judge (the detail check and --cuts-from still work on the log)")
    parser.add_argument("--out", type=Path, help="append one JSON line per question (gate cosine, judge P values)")
    parser.add_argument("--cuts-from", type=Path, nargs="+", metavar="JSONL",
                        help="ask nothing: read the answers from files an earlier --out wrote")
    parser.add_argument("--save-run", action="store_true",
                        help="also store the answers as runs in the data folder: the Tune page draws their answer-check curve")
    args = parser.parse_args(argv)
    questions, label, collection = question_set(args.data, args.skip, args.limit)
    results = []
    if args.cuts_from:
        records = read_jsonl(*args.cuts_from)
    else:
        print(label)
        with collection as (settings, store, embedder):
            results = [run_model(settings, store, embedder, m, questions, args.out, args.policy)
                       for m in args.models or [settings.llm_model]]
        records = [r for result in results for r in result["records"]]
    every = read_jsonl(SQUAD / "qa.jsonl") + read_jsonl(ARTICLES / "qa.jsonl")
    by_model = sample_rows(records, {q["id"]: q for q in every})
    print_cuts(by_model)
    print_strict_cuts(records)
    print_detail_check(records)
    if args.save_run:
        print("stored as runs " + ", ".join(save_runs(by_model, Settings())))
    if results:
        print("summary: " + "; ".join(
            f"{r['model']} unanswerable answered {r['answered_anyway']}/{r['n_unanswerable']} "
            f"(strict {r['answered_anyway_strict']}), answerable right {r['right']}/{r['n_answerable']} "
            f"(strict {r['right_strict']}), {r['seconds']:.1f} s/question" for r in results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
