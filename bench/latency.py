"""How long does a person wait for a checked answer, and how much work is it? Configs side by side in one run.

    .venv/bin/python bench/latency.py --limit 20                      (the old default against the current one)
    .venv/bin/python bench/latency.py --configs "0.5b=llm_model=qwen2.5-0.5b" "focused=context_tokens=160"

`samples/kb` is ingested into a temporary collection; each eval question of `samples/eval/sample.jsonl` is asked
once per config (NAME=setting=value,setting=value…, on top of the configured settings; by default the old default —
the 0.5B answering from whole passages — and the current defaults; the configs take turns question by question)
through `stream_answer`, with the default retrieval and the grounding check on. Beside the seconds, the tokens each
checked answer read and wrote (answer and check, as the endpoint reported them): tokens are the same on every
machine, seconds are not (this machine's speed varied threefold between days). One pass gives every policy: `off` ends when the answer is
written, `annotate` shows the answer at the same first token and its badge when the check ends, `strict` shows
nothing until the check ends. Printed per config, p50 / p95 over the questions the model was asked (the score gate
answers the rest with no LLM call): time to first token, answer written, check, and totals per policy; then the
bare server on the very same prompt (streamed just before the pipeline asks, made new to the prompt cache by a few
tokens at its start, so it starts as cold as the pipeline's first call) and the ratios of the pipeline to it.

llama-server keeps earlier prompts in RAM, so an answering prompt is new to it only on a freshly started server:
restart it first (`make llm-stop llm`) to measure what a person asking a new question waits, not a cache hit (a
second run on the same server measured first tokens of 0.4 s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

import openai  # noqa: E402
from langchain_core.messages import BaseMessage  # noqa: E402
from tqdm import tqdm  # noqa: E402

from bench.common import percentile, read_jsonl  # noqa: E402
from ingest.embedder import embedder_info, make_embedder  # noqa: E402
from ingest.ingestor import ingest_configured, sources_for  # noqa: E402
from ingest.store import VectorStore, open_client  # noqa: E402
from pipeline.chain import build_chain, stream_answer  # noqa: E402
from pipeline.llm import Tokens, make_chat_model  # noqa: E402
from pipeline.prompt import PROMPT  # noqa: E402
from pipeline.retrieval import below_gate, best_similarity  # noqa: E402
from settings import Settings  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
ROLES = {"system": "system", "human": "user", "ai": "assistant"}
# the default before issue 22: the 0.5B answered from whole passages, the answer check cut at 0.75
OLD_DEFAULT = {"llm_model": "qwen2.5-0.5b", "context_tokens": 0, "grounding_answer_threshold": 0.75}
DEFAULT_CONFIGS: dict[str, dict] = {"old default": OLD_DEFAULT, "new default": {}}


def parse_config(text: str) -> tuple[str, dict]:
    """"name=llm_model=qwen2.5-0.5b,context_tokens=0" -> ("name", {"llm_model": …, "context_tokens": "0"})."""
    name, _, rest = text.partition("=")
    return name, dict(item.split("=", 1) for item in rest.split(",") if item)


def bare_stream(client: openai.OpenAI, model: str, messages: list[BaseMessage], max_tokens: int,
                nonce: str) -> tuple[float, float]:
    """(time to first token, total) for one streamed request of `messages`, made new to the server's prompt cache
    by `nonce` at the start of the system message (a few tokens; llama-server reused its cache even when a request
    asked for `cache_prompt: false`). Sent before the pipeline asks, and sharing no prefix with it, it warms nothing."""
    started = time.perf_counter()
    first = None
    payload = [{"role": ROLES[m.type], "content": str(m.content)} for m in messages]
    payload[0]["content"] = f"[{nonce}] {payload[0]['content']}"
    stream = client.chat.completions.create(model=model, messages=payload, temperature=0, max_tokens=max_tokens,
                                            stream=True)
    for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - started
    total = time.perf_counter() - started
    return (first if first is not None else total), total


def retrieve_only(settings: Settings, store, embedder, llm, question: str) -> dict | None:  # noqa: ANN001
    """What the pipeline will answer from (chunks, excerpts, context), or None when its score gate will answer
    without the model."""
    state = build_chain(settings, store, embedder, llm).invoke({"question": question.strip()})
    return None if below_gate(best_similarity(state["chunks"]), settings.min_score) else state


def ask(settings: Settings, store, embedder, llm, client: openai.OpenAI, question: str,  # noqa: ANN001
        nonce: str) -> dict | None:
    """The pipeline's timings and tokens for one question and the bare server's on its prompt; None when the gate
    answers."""
    state = retrieve_only(settings, store, embedder, llm, question)
    if state is None:
        return None
    chunks = state["chunks"]
    messages = PROMPT.format_messages(context=state["context"], question=question.strip())
    bare_ttft, bare_total = bare_stream(client, settings.llm_model, messages, settings.llm_max_tokens, nonce)
    started = time.perf_counter()
    stream = stream_answer(settings, store, embedder, llm, question)
    first = None
    for _ in stream:
        first = first or time.perf_counter() - started
    written = time.perf_counter() - started
    answer = stream.finish()
    total = time.perf_counter() - started
    assert [c.id for c in answer.contexts] == [c.id for c in chunks], "retrieval is deterministic"
    tokens = {stage: answer.tokens.get(stage, Tokens()) for stage in ("answer", "check")}
    return {"ttft": first or written, "answer": written, "check": total - written, "total": total,
            "bare_ttft": bare_ttft, "bare_total": bare_total, "abstained": answer.abstained,
            "supported": answer.grounding is not None and answer.grounding.fully_supported,
            "read": sum(t.read for t in tokens.values()), "written": sum(t.written for t in tokens.values()),
            "answer_read": tokens["answer"].read, "check_read": tokens["check"].read,
            "computed": sum(t.read - t.cached for t in tokens.values())}


def measure(configs: list[Settings], store, embedder, questions: list[str]) -> list[list[dict]]:  # noqa: ANN001
    """Rows per config. The configs take turns question by question, so a load that comes and goes on the machine
    falls on all of them alike."""
    parts = [(config, make_chat_model(config), openai.OpenAI(base_url=config.openai_base_url,
                                                              api_key=config.openai_api_key,
                                                              timeout=config.llm_timeout_s)) for config in configs]
    rows: list[list[dict]] = [[] for _ in configs]
    for n, question in enumerate(tqdm(questions, unit="question")):
        for i, (config, llm, client) in enumerate(parts):
            row = ask(config, store, embedder, llm, client, question, f"{i} {n} {time.time():.0f}")
            if row is not None:
                rows[i].append(row)
    return rows


def report(label: str, rows: list[dict], gated: int) -> None:
    def p(key: str, unit: str = " s", fmt: str = "5.1f") -> str:
        values = [r[key] for r in rows]
        return f"{statistics.median(values):{fmt}} / {percentile(values, 95):{fmt}}{unit}"

    def ratio(a: str, b: str) -> float:
        return statistics.median(r[a] for r in rows) / statistics.median(r[b] for r in rows)

    print(f"\n{label}: {len(rows)} questions asked the model, {gated} answered by the score gate (no LLM call)")
    print(f"  {'p50 / p95':<44}")
    print(f"  {'time to first token (off, annotate)':<44} {p('ttft')}")
    print(f"  {'answer written = total with policy off':<44} {p('answer')}")
    print(f"  {'check (claims + answer-level verdict)':<44} {p('check')}")
    print(f"  {'total, annotate and strict':<44} {p('total')}")
    print(f"  {'bare server, same prompt: first token':<44} {p('bare_ttft')}")
    print(f"  {'bare server, same prompt: answer written':<44} {p('bare_total')}")
    print(f"  {'tokens read per checked answer':<44} {p('read', '', '5.0f')}  (answer {p('answer_read', '', '.0f')}, "
          f"check {p('check_read', '', '.0f')}; not from the prompt cache {p('computed', '', '.0f')})")
    print(f"  {'tokens written per checked answer':<44} {p('written', '', '5.0f')}")
    print(f"  ratios of medians: check / answer {ratio('check', 'answer'):.2f} · first token / bare "
          f"{ratio('ttft', 'bare_ttft'):.2f} · answer / bare {ratio('answer', 'bare_total'):.2f}")
    print(f"  answers fully supported: {sum(r['supported'] for r in rows)} of {len(rows)}; the model abstained on "
          f"{sum(r['abstained'] for r in rows)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", nargs="+", default=None, metavar="NAME=SETTING=VALUE,…",
                        help="configs to compare (default: the old default against the current defaults)")
    parser.add_argument("--limit", type=int, default=20, help="eval questions to ask (default 20)")
    parser.add_argument("--set", type=Path, default=REPO / "samples" / "eval" / "sample.jsonl")
    args = parser.parse_args(argv)
    base = Settings()
    configs = dict(map(parse_config, args.configs)) if args.configs else DEFAULT_CONFIGS
    questions = [row["question"] for row in read_jsonl(args.set)][: args.limit]
    with tempfile.TemporaryDirectory() as tmp:
        settings = base.with_overrides(data_dir=Path(tmp) / "data", collection="latency", grounding_policy="annotate")
        store, embedder = VectorStore(open_client(settings), embedder_info(settings)), make_embedder(settings)
        try:
            ingest_configured(settings, store, embedder, sources_for(REPO / "samples" / "kb"), settings.collection)
            chosen = [settings.with_overrides(**overrides) for overrides in configs.values()]
            print(f"load average before: {os.getloadavg()[0]:.1f}")
            results = measure(chosen, store, embedder, questions)
            print(f"load average after: {os.getloadavg()[0]:.1f}")
            for (name, overrides), config, rows in zip(configs.items(), chosen, results, strict=True):
                report(f"{name} ({config.llm_model} answers from {config.context_tokens or 'whole'} passage tokens, "
                       f"{config.grounding_model} checks; {overrides or 'the defaults'})", rows, len(questions) - len(rows))
            if len(results) == 2 and all(results):
                (old, new), names = results, list(configs)
                ratio = statistics.median(r["total"] for r in new) / statistics.median(r["total"] for r in old)
                print(f"\n{names[1]} / {names[0]}: checked answer p50 {ratio:.2f} x; tokens read per answer "
                      f"{statistics.mean(r['read'] for r in new):.0f} against {statistics.mean(r['read'] for r in old):.0f}"
                      f" (mean), written {statistics.mean(r['written'] for r in new):.0f} against "
                      f"{statistics.mean(r['written'] for r in old):.0f}")
        finally:
            store.client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
