"""kill -9 mid-ingest and mid-evaluation, then the same command again: nothing half-written, nothing done twice.

The CLIs run as subprocesses on a temp data folder (FQA_DATA_DIR) and are SIGKILLed while they work, as a crash or
the OOM killer would; then they are run again, and the store or the run store is read.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from evaluation.runstore import RunStore
from ingest.chunking import ChunkSpec, chunk_document
from ingest.ingestor import ingest_files, sources_for
from ingest.loaders import load_documents
from settings import Settings
from tests.conftest import ANSWER_MODEL, REPO, free_port, open_store
from tests.fault_proxy import fault_proxy

SPEC = ChunkSpec(strategy="recursive", size=200, overlap=20)
FILES = 90  # 8 chunks each at SPEC: about 720 chunks, three embedding batches, so a kill lands between writes
_SENTENCES = ["The {w} river of {name} carries {n} tonnes of silt past the old mill every spring.",
              "Travellers to {name} in version {v} remember the {w} bridge and its {n} arches.",
              "Records kept in {name} list {n} families who farmed the {w} valley.",
              "The council of {name} met {n} times to discuss the {w} harbour."]


def _write_kb(folder: Path, version: int, which: range) -> None:
    """Files doc000.md… whose text depends on `version`; about 1,600 characters, 8 chunks at SPEC."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in which:
        words = ["northern", "amber", "silent", "copper", "western", "hollow"]
        lines = [_SENTENCES[(i + j) % 4].format(w=words[(i * version + j) % 6], name=f"Town{i}", n=i * 7 + j + version * 1000,
                                                v=version) for j in range(18 + version)]
        (folder / f"doc{i:03d}.md").write_text(f"# Town {i}\n\n" + "\n\n".join(lines) + "\n")


def _expected_ids(folder: Path) -> dict[str, set[str]]:
    """The chunk ids each file's current text gives: what a finished ingest must hold, and nothing else."""
    expected = {}
    for path, source in sources_for(folder):
        for doc in load_documents(path, source):
            expected[doc.source] = {c.id for c in chunk_document(doc, SPEC)}
    return expected


def _stored(settings: Settings, collection: str) -> list[tuple[str, str, int]]:
    """(source, id, chunk_index) of every stored chunk."""
    store = open_store(settings)
    try:
        return [(p.payload["source"], str(p.id), p.payload["chunk_index"])
                for p in store.points(collection, with_payload=["source", "chunk_index"])]
    finally:
        store.client.close()


def _ingest_cmd(folder: Path, collection: str) -> list[str]:
    return [sys.executable, "-m", "ingest", str(folder), "--collection", collection,
            "--chunk-size", str(SPEC.size), "--chunk-overlap", str(SPEC.overlap)]


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    """The CLI's environment: this test's data folder, and its temp folder (the documents' too) an ingest root."""
    return {**os.environ, "FQA_DATA_DIR": str(settings.data_dir), "FQA_INGEST_ROOTS": str(settings.data_dir.parent),
            **extra}


def _kill_when(cmd: list[str], env: dict[str, str], ready, timeout_s: float = 300) -> str:  # noqa: ANN001 - predicate
    """Run `cmd`, SIGKILL it as soon as `ready(stderr so far)` is true; its stderr. Fails if it ended first."""
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = bytearray()
    threading.Thread(target=lambda: [seen.extend(b) for b in iter(lambda: proc.stderr.read1(4096), b"")],
                     daemon=True).start()
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and time.monotonic() < deadline:
        if ready(seen.decode(errors="replace")):
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return seen.decode(errors="replace")
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"the command ended (code {proc.returncode}) before the moment to kill it: {seen.decode()[-800:]}")


def _files_done(stderr: str) -> int:
    counts = [part.split("/")[0] for part in stderr.split("files=")[1:]]
    return max((int(c) for c in counts if c.isdigit()), default=0)


def test_kill_9_mid_ingest_then_the_same_ingest_leaves_each_document_whole_old_or_new(settings, embedder):
    kb, collection = settings.data_dir.parent / "kb", "crash"
    _write_kb(kb, 1, range(FILES))
    done = subprocess.run(_ingest_cmd(kb, collection), cwd=REPO, env=_env(settings), capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr.decode()[-800:]
    old = _expected_ids(kb)
    _write_kb(kb, 2, range(0, FILES, 2))  # every other document changes: new text, new chunk count
    _write_kb(kb, 2, range(FILES, FILES + 10))  # and ten are new
    new = _expected_ids(kb)

    # killed once some files are written and before the last: old, new and unwritten documents side by side
    stderr = _kill_when(_ingest_cmd(kb, collection), _env(settings), lambda err: 0 < _files_done(err) < FILES - 20)
    killed_at = _files_done(stderr)
    after_kill = _stored(settings, collection)  # the store opens after the crash (its WAL replays)
    ids = [i for _, i, _ in after_kill]
    assert len(ids) == len(set(ids))
    by_source: dict[str, set[str]] = {}
    for source, point_id, _ in after_kill:
        by_source.setdefault(source, set()).add(point_id)
    mixed_after_kill = [s for s, got in by_source.items() if got not in (old.get(s), new.get(s))]
    # the one upsert-then-delete a kill can split (a changed document's own write) is finished by the re-run
    assert len(mixed_after_kill) <= 1, (killed_at, mixed_after_kill)

    again = subprocess.run(_ingest_cmd(kb, collection), cwd=REPO, env=_env(settings), capture_output=True, timeout=600)
    assert again.returncode == 0, again.stderr.decode()[-800:]
    stored = _stored(settings, collection)
    held: dict[str, set[str]] = {}
    for source, point_id, _ in stored:
        held.setdefault(source, set()).add(point_id)
    assert held == new  # every document exactly its current chunks: no old one left, none missing
    assert len(stored) == sum(map(len, new.values()))  # and none stored twice
    positions = Counter((source, index) for source, _, index in stored)
    assert max(positions.values()) == 1  # one chunk per position: no old chunk 3 beside the new chunk 3


class _Crash(BaseException):
    """The process dying: not an Exception, so no per-file handler reports it and goes on."""


def test_a_crash_between_a_changed_documents_new_chunks_and_its_old_ones_removal_is_healed_by_the_next_ingest(
        settings, embedder, monkeypatch):
    """The one write a kill can split (new chunks upserted, old ones not yet deleted), made to happen every time."""
    kb, collection = settings.data_dir.parent / "kb", "split"

    def ingest(crash: bool) -> None:
        store = open_store(settings)
        if crash:
            def dies(*args: object, **kwargs: object) -> None:
                raise _Crash
            monkeypatch.setattr(store.client, "delete", dies)
        try:
            ingest_files(store, embedder, sources_for(kb), collection, SPEC.size, SPEC.overlap)
        finally:
            store.client.close()

    _write_kb(kb, 1, range(1))
    old = _expected_ids(kb)
    ingest(crash=False)
    _write_kb(kb, 2, range(1))
    new = _expected_ids(kb)
    with pytest.raises(_Crash):
        ingest(crash=True)
    [(source, ids)] = old.items()
    split = {i for _, i, _ in _stored(settings, collection)}
    assert split == ids | new[source]  # the split state: old and new side by side

    ingest(crash=False)  # the same ingest again
    assert {i for _, i, _ in _stored(settings, collection)} == new[source]


def test_kill_9_mid_evaluation_then_resume_keeps_done_samples_and_judges_none_twice(sample_data, llm_base_url, tmp_path):
    questions = [json.loads(line) for line in (REPO / "samples" / "eval" / "sample.jsonl").read_text().splitlines()]
    by_document = {q["question"]: q for q in questions}
    # about different documents: one answer quoting a passage is not mistaken for a call about the other question
    chosen = [by_document["How much does the Rhine discharge at the Dutch border?"],
              by_document["What was the name of the Florida Huguenot colony?"]]
    eval_set = tmp_path / "two.jsonl"
    eval_set.write_text("".join(json.dumps(q) + "\n" for q in chosen))
    runs_db = sample_data.runs_db

    def rows() -> list[tuple[int, str, str]]:
        if not runs_db.exists():
            return []
        with sqlite3.connect(runs_db) as conn:
            return conn.execute("SELECT idx, question, answer FROM samples ORDER BY idx").fetchall()

    with fault_proxy(llm_base_url, free_port()) as proxy:  # no fault: it counts every call the CLIs make
        # the small model answers and judges: this is about what is stored and asked, not about the scores
        env = _env(sample_data, OPENAI_BASE_URL=proxy.base_url, FQA_GROUNDING_POLICY="off", FQA_LLM_MAX_TOKENS="48",
                   FQA_JUDGE_MODEL=ANSWER_MODEL)
        run = [sys.executable, "-m", "evaluation", "run", "--set", str(eval_set), "--metrics", "answer_relevancy"]
        _kill_when(run, env, lambda _: len(rows()) >= 1, timeout_s=900)
        kept = rows()
        assert 1 <= len(kept) < len(chosen)
        [summary] = RunStore(runs_db).runs()
        assert summary.status == "failed"  # the process died before marking it; its pid is gone
        assert summary.error.startswith("interrupted: the process running it (pid ")
        calls_before = len(proxy.plan.log)

        resumed = subprocess.run([sys.executable, "-m", "evaluation", "resume", summary.id], cwd=REPO, env=env,
                                 capture_output=True, timeout=900)
        assert resumed.returncode == 0, resumed.stderr.decode()[-800:]
        after = proxy.plan.log[calls_before:]

    final = rows()
    assert [idx for idx, _, _ in final] == list(range(len(chosen)))  # every sample once
    assert final[: len(kept)] == kept  # the samples done before the kill, untouched
    assert RunStore(runs_db).run(summary.id).status == "completed"
    answers = [c for c in after if not c.structured]  # an answer's prompt ends with its question
    judged = [c for c in after if c.structured]  # a judge's prompt (answer relevancy) quotes the answer
    for _, question, answer in kept:  # neither answered nor judged again after the kill
        assert not [c for c in answers if question in c.text] and not [c for c in judged if _quotes(c.text, answer)]
    for _, question, answer in final[len(kept):]:  # the rest answered and judged in the resumed run
        assert [c for c in answers if question in c.text] and [c for c in judged if _quotes(c.text, answer)]


def _quotes(prompt: str, answer: str) -> bool:
    """The prompt carries the answer (Ragas quotes it inside JSON, escaped)."""
    head = answer.strip()[:40]
    return head in prompt or json.dumps(head)[1:-1] in prompt
