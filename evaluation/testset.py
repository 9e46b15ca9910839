"""Synthetic eval sets: Ragas' testset generator writes question/reference pairs from knowledge-base passages.

Ragas' pieces are used as they are: its knowledge graph, its NER prompt (the entities a question is about;
called directly because its extractor splits text with a tiktoken encoding downloaded at run time, which fails
offline, and our passages are chunks far below its split size) and its single-hop specific query synthesizer with its query/answer prompt, all talking to the configured judge
through `llm_factory` in JSON mode (the metrics ask in json_schema mode). `TestsetGenerator.generate_with_chunks` is not
called, because for a small local judge it cannot be bounded or explained: it runs ~6 LLM calls per chunk
(summaries, themes, filters, personas), raises on the first failed extraction, turns a failed sample into a NaN
that then fails validation, and opens a fresh event loop per stage. Here each passage costs two calls (entities,
then the question and its answer), one failure costs one question, the whole run has a time budget, and when
nothing usable comes back the error says why and what to do.

No Streamlit here: the CLI and the Evaluation page call this.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Coroutine
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
from openai import AsyncOpenAI
from ragas.llms import llm_factory
from ragas.testset.graph import KnowledgeGraph, Node, NodeType
from ragas.testset.persona import Persona
from ragas.testset.synthesizers.base import QueryLength, QueryStyle
from ragas.testset.synthesizers.prompts import PersonaThemesMapping, ThemesPersonasInput, ThemesPersonasMatchingPrompt
from ragas.testset.synthesizers.single_hop.specific import SingleHopSpecificQuerySynthesizer
from ragas.testset.transforms.extractors.llm_based import NERPrompt, TextWithExtractionLimit

from evaluation.evalset import EvalItem
from evaluation.metrics import JUDGE_MAX_TOKENS, JudgeUnavailableError, _causes, describe_failure, is_transient
from ingest.chunking import chunk_document, spec_of, tokenizer_for
from ingest.embedder import embedder_info
from ingest.loaders import FileLimits, LoadError, discover, load_documents
from ingest.store import VectorStore, open_client
from settings import Settings

MAX_QUESTIONS = 20  # a bigger set is better written by a bigger model in a batch job, not from the dashboard
DEFAULT_BUDGET_S = 300.0
GEN_PARSE_RETRIES = 1  # a small model that fails a prompt twice rarely passes the third time: move on
MAX_ENTITIES = 5  # terms a question may be about, per passage
MIN_PASSAGE_CHARS = 200  # headings and stubs give no question worth asking
READER = Persona(name="Reader", role_description="Someone who has read these documents and asks factual questions "
                                                 "whose answers are stated in them.")
_EXAMPLE_QUERY = "What is the purpose of microservices in software architecture?"  # the prompt's own example
WEAK_JUDGE_HINT = ("Use a larger judge model (FQA_JUDGE_MODEL, and FQA_JUDGE_BASE_URL / OPENAI_BASE_URL for its "
                   "endpoint, e.g. a 7B model or an OpenAI model), or write the questions by hand in the eval-set editor.")

Progress = Callable[[int, int, str], None]  # (steps done, steps in all, what is happening)


class GenerationError(RuntimeError):
    """Generation produced no usable question; the message says what happened and what to do."""


class JudgeTooWeakError(GenerationError):
    """The judge answered, but not with output Ragas' prompts can use (not JSON, wrong shape, echoes)."""


@dataclass(frozen=True)
class Passage:
    source: str
    text: str


@dataclass
class GeneratedSet:
    items: list[EvalItem]
    passages: int  # passages the generator was given
    calls: int  # LLM calls made
    seconds: float
    problems: list[str] = field(default_factory=list)  # one line per passage or question that failed


class _ReaderThemes(ThemesPersonasMatchingPrompt):
    """With a single reader persona every theme is theirs: the persona-matching LLM call would only cost time."""

    async def generate(self, llm: Any, data: ThemesPersonasInput, *args: Any, **kwargs: Any) -> PersonaThemesMapping:
        return PersonaThemesMapping(mapping={p.name: list(data.themes) for p in data.personas})


class _PlainQuestions(SingleHopSpecificQuerySynthesizer):
    """Ragas' single-hop synthesizer, asking only well-formed short or medium questions like a person's."""

    def prepare_combinations(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        combos = super().prepare_combinations(*args, **kwargs)
        for combo in combos:
            combo["styles"] = [QueryStyle.PERFECT_GRAMMAR]
            combo["lengths"] = [QueryLength.SHORT, QueryLength.MEDIUM]
        return combos


def select_passages(passages: list[Passage], n: int, seed: int = 0) -> list[Passage]:
    """Up to n passages spread over the documents (round robin), skipping stubs; the same seed, the same pick."""
    rng = random.Random(seed)
    by_source: dict[str, list[Passage]] = {}
    for p in passages:
        if len(p.text.strip()) >= MIN_PASSAGE_CHARS:
            by_source.setdefault(p.source, []).append(p)
    queues = [rng.sample(group, len(group)) for _, group in sorted(by_source.items())]
    picked: list[Passage] = []
    while len(picked) < n and any(queues):
        for queue in queues:
            if queue and len(picked) < n:
                picked.append(queue.pop())
    return picked


def read_passages(settings: Settings, source: str | Path, store: VectorStore | None = None) -> list[Passage]:
    """The passages questions are written from: one reader for the Evaluation page and the CLI.

    A collection name gives its stored chunks, i.e. what retrieval will search (the page's source, and the CLI's
    with --collection); `store` is the caller's open store, else one is opened for this read. A Path gives the
    documents of a folder or file chunked as ingest would with `settings`, without opening the store (which the
    running dashboard may hold). A missing collection raises `StoreError` naming the collections there are.
    """
    if isinstance(source, Path):
        return _folder_passages(settings, source)
    if store is None:
        with closing(open_client(settings)) as client:
            return read_passages(settings, source, VectorStore(client, embedder_info(settings)))
    if source not in store.names():  # only a missing collection is refused: chunk text needs no embedder check
        store.check(source)
    return [Passage(c.source, c.text) for c in store.scroll(source)]


def _folder_passages(settings: Settings, root: Path) -> list[Passage]:
    spec = spec_of(settings)
    counter = tokenizer_for(settings) if spec.strategy == "token" else None
    passages = []
    for path in discover(root):
        try:
            docs = load_documents(path, limits=FileLimits.of(settings))
        except LoadError:
            continue  # ingest reports unreadable files; here they simply give no questions
        passages += [Passage(c.source, c.text) for d in docs for c in chunk_document(d, spec, counter)]
    return passages


def generate_eval_set(settings: Settings, passages: list[Passage], size: int, *, budget_s: float = DEFAULT_BUDGET_S,
                      seed: int = 0, progress: Progress | None = None) -> GeneratedSet:
    """About `size` answerable questions with reference answers, one per passage, within `budget_s` seconds.

    Raises `JudgeUnavailableError` when the endpoint cannot be reached, `JudgeTooWeakError` when the judge
    answers with nothing usable and `GenerationError` when the budget runs out first; returns the questions
    made otherwise, with a line per failure in `problems`.
    """
    if not 1 <= size <= MAX_QUESTIONS:
        raise GenerationError(f"ask for 1 to {MAX_QUESTIONS} questions (got {size})")
    chosen = select_passages(passages, size, seed)
    if not chosen:
        raise GenerationError(f"the knowledge base has no passage of at least {MIN_PASSAGE_CHARS} characters to "
                              "write questions from: ingest some documents first")
    return asyncio.run(_generate(settings, chosen, size, budget_s, seed, progress or (lambda *_: None)))


async def _generate(settings: Settings, passages: list[Passage], size: int, budget_s: float, seed: int,
                    progress: Progress) -> GeneratedSet:
    base_url, api_key = settings.judge_endpoint
    # one transient retry (max_retries=1), and no request may outlive the budget
    client = AsyncOpenAI(base_url=base_url, api_key=api_key, timeout=min(settings.judge_timeout_s, budget_s), max_retries=1)
    llm = llm_factory(settings.judge_model, client=client, max_tokens=JUDGE_MAX_TOKENS, max_retries=GEN_PARSE_RETRIES)
    started = time.monotonic()  # the budget is for the judge's work (building the client imports for ~2 s once)
    run = _Run(started, budget_s, progress, total=2 * len(passages), judge=settings.judge_model, base_url=base_url)
    try:
        graph = KnowledgeGraph(nodes=[Node(type=NodeType.CHUNK, properties={
            "page_content": p.text, "document_metadata": {"source": p.source}}) for p in passages])
        ner = NERPrompt()
        for node in graph.nodes:
            source = node.properties["document_metadata"]["source"]
            found = await run.step(source, "finding what it is about", ner.generate(
                llm=llm, data=TextWithExtractionLimit(text=node.properties["page_content"], max_num=MAX_ENTITIES)))
            if run.out_of_time:
                break
            if found is not None:
                entities = [e.strip() for e in found.entities if e.strip()]
                if entities:
                    node.add_property("entities", entities[:MAX_ENTITIES])
                else:
                    run.problems.append(f"{source}: the judge found nothing to ask about")
        if run.out_of_time or not any(node.get_property("entities") for node in graph.nodes):
            run.fail("no passage gave entities to ask about", size)
        random.seed(seed)  # Ragas samples (term, persona, style, length) with the global random module
        synthesizer = _PlainQuestions(llm=llm, theme_persona_matching_prompt=_ReaderThemes())
        scenarios = (await synthesizer.generate_scenarios(n=size, knowledge_graph=graph, persona_list=[READER]))[:size]
        run.total = run.done + len(scenarios)
        items: list[EvalItem] = []
        for scenario in scenarios:
            source = scenario.nodes[0].properties["document_metadata"]["source"]
            sample = await run.step(source, "writing a question", synthesizer.generate_sample(scenario))
            if run.out_of_time:
                break
            if sample is None:
                continue
            question, answer = (sample.user_input or "").strip(), (sample.reference or "").strip()
            why = _unusable(question, answer, {i.question.lower() for i in items})
            if why:
                run.problems.append(f"{source}: {why}")
                continue
            items.append(EvalItem(id=f"gen-{len(items) + 1}", question=question, reference=answer, answerable=True,
                                  kind="synthetic", source=source))
        if not items:
            run.fail("no reply gave a usable question and answer", size)
        if run.out_of_time:
            run.problems.append(f"the time budget ({budget_s:.0f} s) ran out after {len(items)} questions")
        return GeneratedSet(items=items, passages=len(passages), calls=run.calls, problems=run.problems,
                            seconds=round(time.monotonic() - started, 1))
    finally:
        await client.close()


def _unusable(question: str, answer: str, seen: set[str]) -> str | None:
    if len(question) < 10 or not answer:
        return "the judge wrote an empty question or answer"
    if question == _EXAMPLE_QUERY:
        return "the judge copied the prompt's example instead of writing a question"
    if question.lower() in seen:
        return "the judge repeated a question"
    return None


def _endpoint_failure(exc: BaseException) -> bool:
    """Unreachable, timed out or refused by HTTP status: the endpoint's fault, not the model's output."""
    return is_transient(exc) or any(isinstance(e, openai.APIStatusError) for e in _causes(exc))


class _Run:
    """One generation's budget, progress and failure tally."""

    def __init__(self, started: float, budget_s: float, progress: Progress, total: int, judge: str, base_url: str) -> None:
        self.deadline, self.budget_s = started + budget_s, budget_s
        self.progress, self.total = progress, total
        self.judge, self.base_url = judge, base_url
        self.done = self.calls = self.answered = 0
        self.answered_s = 0.0
        self.problems: list[str] = []
        self.out_of_time = False

    async def step(self, source: str, doing: str, work: Coroutine[Any, Any, Any]) -> Any:
        """Await one LLM-backed step within the budget; a failure is recorded and gives None."""
        self.progress(self.done, self.total, f"{doing}: {source}")
        began = time.monotonic()
        if began >= self.deadline:
            work.close()  # never sent
            self.out_of_time = True
            return None
        self.calls += 1
        try:
            result = await asyncio.wait_for(work, self.deadline - began)
        except (TimeoutError, asyncio.TimeoutError):
            self.out_of_time = True
            return None
        except Exception as exc:  # one passage or question: record and go on, unless the endpoint itself fails
            reason = describe_failure(exc, JUDGE_MAX_TOKENS)
            if _endpoint_failure(exc) and not self.answered:
                raise JudgeUnavailableError(f"the judge `{self.judge}` at {self.base_url} did not answer: {reason}") from exc
            self.problems.append(f"{source}: {reason}")
            return None
        finally:
            self.done += 1
            self.progress(self.done, self.total, f"{doing}: {source}")
        self.answered += 1
        self.answered_s += time.monotonic() - began
        return result

    def fail(self, what: str, size: int) -> None:
        """Raise the error a person can act on: what happened (`what`, when the judge was not too slow), how far it
        got, why, and what to do."""
        reasons = "; ".join(dict.fromkeys(p.split(": ", 1)[-1] for p in self.problems))
        seen = f" Reasons: {reasons[:400]}." if reasons else ""
        if self.out_of_time:
            if self.answered:
                pace = self.answered_s / self.answered
                progress = (f"after {self.answered} of {2 * size} prompts were answered (about {pace:.0f} s per "
                            "prompt here), before any usable question was written")
                minutes = max(1, round(pace * 2 * size / 60))
                advice = f"allow about {minutes} minute{'s' * (minutes > 1)} for {size} questions"
            else:
                progress, advice = "before the judge answered a single prompt", "allow more time"
            raise GenerationError(f"Generation stopped: the time budget ({self.budget_s:.0f} s) ran out {progress}."
                                  f"{seen} The judge `{self.judge}` is too slow for this budget on this machine: "
                                  f"{advice}, ask for fewer, or use a faster judge. {WEAK_JUDGE_HINT}")
        raise JudgeTooWeakError(f"The judge `{self.judge}` could not generate an eval set: {what} "
                                f"({self.calls} prompts sent).{seen} Small local models often cannot follow Ragas' "
                                f"extraction prompts. {WEAK_JUDGE_HINT}")
