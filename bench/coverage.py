"""Could a no-LLM "question coverage" signal stop SQuAD 2.0's unanswerable questions before the model answers?

    .venv/bin/python bench/coverage.py [--split 250] [--out coverage.jsonl]

SQuAD 2.0's unanswerable questions reuse their paragraph's words and change one detail (an entity, an antonym, a
condition), so the idea is: a question whose content words are not all in the passages asks about something the
passages do not say. The whole corpus (411 paragraphs) is ingested into a temporary collection with the configured
chunking and retrieval (like bench/abstention.py; no LLM is called), every question of qa.jsonl is retrieved for,
and each variant scores how much of the question the top-k chunks hold (higher = looks answerable):

- question terms: the BM25 stems of ingest/sparse.py (stopwords and wh-words dropped), minus single letters and
  the answer-type words a question names but a passage rarely repeats ("year", "many", "name", ...; keeping them
  lowered every variant's AUC by about 0.02);
- where they are looked for: all top-k chunks together, the best single chunk, or the best window of 1-3
  consecutive sentences (pysbd, as pipeline/grounding.py splits them);
- weighting: each term 1, or its IDF over the collection's chunks (Qdrant's BM25 formula), so names count more;
- "rare term missing": minus the highest IDF among the question terms absent from every retrieved chunk.

Two reference rows: the best question-chunk cosine (what the `min_score` gate compares) and, as an upper bound
for better retrieval, the best 2-sentence IDF window of the question's own gold paragraph.

Printed per variant: ROC AUC (answerable vs unanswerable) on the tuning half (the first `--split` questions) and
the held-out rest, then for cuts chosen on the tuning half (the highest cut that stops at most 5 % / 10 % of its
answerable questions) the held-out share of unanswerable questions caught and of answerable ones stopped.
A variant is worth a gate if, held out, it catches >= 30 % of unanswerable questions at <= 10 % answerable stopped.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from collections.abc import Callable
from functools import cache
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

from tqdm import tqdm  # noqa: E402

from bench.abstention import COLLECTION, SQUAD, squad_collection  # noqa: E402
from bench.common import read_jsonl  # noqa: E402
from ingest.sparse import terms  # noqa: E402
from ingest.store import StoredChunk  # noqa: E402
from pipeline.sentences import sentence_spans  # noqa: E402
from pipeline.llm import make_chat_model  # noqa: E402
from pipeline.retrieval import best_similarity, retrieve  # noqa: E402

# what kind of answer the question wants: the passage states the answer, it seldom repeats these words
ANSWER_TYPE_WORDS = frozenset(terms("year many much name called type kind percentage number long often"))
STOP_LIMITS = (0.05, 0.10)  # share of tuning-half answerable questions a cut may stop
GOAL_CAUGHT, GOAL_STOPPED = 0.30, 0.10

Weight = Callable[[str], float]


def question_terms(question: str) -> list[str]:
    """The question's content stems, each once, in order."""
    return [t for t in dict.fromkeys(terms(question)) if (len(t) > 1 or t.isdigit()) and t not in ANSWER_TYPE_WORDS]


@cache
def sentence_terms(text: str) -> tuple[frozenset[str], ...]:
    """The stems of each sentence of a chunk (cached: the same chunks come back for many questions)."""
    return tuple(frozenset(terms(text[a:b])) for a, b in sentence_spans(text))


def windows(chunks: list[StoredChunk], size: int) -> list[frozenset[str]]:
    """The stems of every run of `size` consecutive sentences (fewer at a chunk's end) of every chunk."""
    found = []
    for chunk in chunks:
        sents = sentence_terms(chunk.text)
        found += [frozenset().union(*sents[i:i + size]) for i in range(len(sents))]
    return found or [frozenset()]


def coverage(qterms: list[str], bag: frozenset[str] | set[str], weight: Weight) -> float:
    """Weighted share of the question terms found in `bag` (1.0 for a question with no content terms)."""
    total = sum(weight(t) for t in qterms)
    return sum(weight(t) for t in qterms if t in bag) / total if total else 1.0


def idf_weights(chunks: list[StoredChunk]) -> Weight:
    """IDF of a stem over the collection's chunks, as Qdrant's BM25 modifier computes it."""
    df = Counter(t for c in chunks for t in set(terms(c.text)))
    n = len(chunks)
    return lambda t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))


def variant_scores(question: str, chunks: list[StoredChunk], idf: Weight, gold_text: str) -> dict[str, float]:
    """Every variant's score for one question (higher = looks answerable)."""
    qterms = question_terms(question)
    bags = [frozenset(terms(c.text)) for c in chunks]
    union = frozenset().union(*bags)
    scores: dict[str, float] = {}
    for label, weight in (("", lambda _: 1.0), (" IDF", idf)):
        scores[f"all chunks{label}"] = coverage(qterms, union, weight)
        scores[f"best chunk{label}"] = max(coverage(qterms, b, weight) for b in bags)
        for size in (1, 2, 3):
            scores[f"best {size}-sentence window{label}"] = max(coverage(qterms, w, weight) for w in windows(chunks, size))
    scores["rare term missing (-max IDF)"] = -max((idf(t) for t in qterms if t not in union), default=0.0)
    scores["ref: best cosine (min_score gate)"] = best_similarity(chunks) or 0.0
    gold = StoredChunk(id="gold", source="gold", chunk_index=0, start=0, end=len(gold_text), text=gold_text)
    scores["ref: gold paragraph, 2-sentence IDF"] = max(coverage(qterms, w, idf) for w in windows([gold], 2))
    return scores


def roc_auc(answerable: list[float], unanswerable: list[float]) -> float:
    """P(an answerable question scores higher than an unanswerable one), ties counted half."""
    wins = sum((a > u) + 0.5 * (a == u) for a in answerable for u in unanswerable)
    return wins / (len(answerable) * len(unanswerable))


def cut_for(answerable: list[float], limit: float) -> float:
    """The highest cut (stop when score < cut) that stops at most `limit` of these answerable scores."""
    ordered = sorted(answerable)
    allowed = math.floor(limit * len(ordered) + 1e-9)  # this many may fall below the cut
    return ordered[allowed] if allowed < len(ordered) else math.inf


def split_scores(rows: list[dict], name: str) -> tuple[list[float], list[float]]:
    return ([r["scores"][name] for r in rows if r["answerable"]], [r["scores"][name] for r in rows if not r["answerable"]])


def report(rows: list[dict], split: int) -> list[dict]:
    """Per variant: AUC on both halves and, held out, what cuts chosen on the tuning half do."""
    tune, held = rows[:split], rows[split:]
    results = []
    print(f"\n{'':<56}" + "".join(f"{f'cut for <= {lim:.0%} stopped, held out':>33}" for lim in STOP_LIMITS))
    print(f"{'variant':<38}{'AUC tune':>9}{'AUC held':>9}" + f"{'cut':>9}{'caught':>12}{'stopped':>12}" * len(STOP_LIMITS))
    for name in rows[0]["scores"]:
        tune_a, tune_u = split_scores(tune, name)
        held_a, held_u = split_scores(held, name)
        result = {"variant": name, "auc_tune": roc_auc(tune_a, tune_u), "auc_held": roc_auc(held_a, held_u), "cuts": []}
        for limit in STOP_LIMITS:
            cut = cut_for(tune_a, limit)
            result["cuts"].append({"limit": limit, "cut": cut, "caught": sum(s < cut for s in held_u) / len(held_u),
                                   "stopped": sum(s < cut for s in held_a) / len(held_a)})
        results.append(result)
        print(f"{name:<38}{result['auc_tune']:>9.3f}{result['auc_held']:>9.3f}" + "".join(
            f"{c['cut']:>9.3f}{c['caught']:>12.0%}{c['stopped']:>12.0%}" for c in result["cuts"]))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", type=int, default=250, help="the first N questions tune, the rest are held out")
    parser.add_argument("--out", type=Path, help="write one JSON line per question with every variant's score")
    args = parser.parse_args(argv)
    questions = read_jsonl(SQUAD / "qa.jsonl")
    paragraphs = {row["id"]: row["text"] for row in read_jsonl(SQUAD / "corpus.jsonl")}
    with squad_collection() as (settings, store, embedder):
        idf = idf_weights(store.scroll(COLLECTION))
        print("no LLM is called")
        llm = make_chat_model(settings)  # retrieve() takes one; these toggles never call it
        rows = []
        for q in tqdm(questions, desc="retrieve", unit="question"):
            chunks = retrieve(settings, store, embedder, llm, q["question"])
            rows.append({"id": q["id"], "answerable": q["answerable"],
                         "scores": variant_scores(q["question"], chunks, idf, paragraphs[q["context_id"]])})
    if args.out:
        args.out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    held = rows[args.split:]
    print(f"{len(rows)} questions: tuning = the first {args.split} ({sum(r['answerable'] for r in rows[:args.split])} "
          f"answerable), held out = the rest ({sum(r['answerable'] for r in held)} answerable, "
          f"{sum(not r['answerable'] for r in held)} unanswerable)")
    results = report(rows, args.split)
    candidates = [r for r in results if not r["variant"].startswith("ref:")]
    best = max(candidates, key=lambda r: r["auc_tune"])  # chosen on the tuning half only
    at10 = best["cuts"][STOP_LIMITS.index(GOAL_STOPPED)]
    useful = at10["caught"] >= GOAL_CAUGHT and at10["stopped"] <= GOAL_STOPPED
    print(f"summary: best coverage variant on the tuning half '{best['variant']}', held-out AUC {best['auc_held']:.2f}; "
          f"its cut {at10['cut']:.2f} (<= 10% of tuning answerable stopped) caught {at10['caught']:.0%} of held-out "
          f"unanswerable, stopped {at10['stopped']:.0%} of answerable: "
          f"{'separates usefully' if useful else 'does not separate usefully'} "
          f"(goal >= {GOAL_CAUGHT:.0%} caught at <= {GOAL_STOPPED:.0%} stopped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
