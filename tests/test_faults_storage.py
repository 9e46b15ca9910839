"""Storage faults (issue 14): the embedded store held by another process, and a disk that fills up while a
collection or the evaluation run store is written. Real processes, a real small ext4 volume, the real engines."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from evaluation.runstore import RunStore, SampleRow
from ingest import __main__ as ingest_cli
from ingest.store import MIN_FREE_BYTES, StorageFullError
from ingest.uploads import staged_uploads
from pipeline.question_log import QuestionLog
from settings import Settings
from tests.apptest import fresh_app, plain
from tests.conftest import REPO, open_store
from tests.log_seed import make_answer

HOLD = ("import sys; from settings import Settings; from ingest.store import open_client; "
        "client = open_client(Settings()); print('holding', flush=True); sys.stdin.read(); client.close()")


@contextmanager
def store_held_elsewhere(**env: str) -> Iterator[subprocess.Popen]:
    """A second process with the embedded store of the test's settings open, until the block ends."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD], cwd=REPO, env={**os.environ, **env}, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == "holding\n"
        yield proc
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


@pytest.mark.parametrize("engine", ["edge", "local"])
def test_the_cli_names_the_process_holding_the_store_and_how_to_stop_it(settings, capsys, monkeypatch, engine):
    monkeypatch.setenv("FQA_QDRANT_ENGINE", engine)
    with store_held_elsewhere() as holder:
        assert ingest_cli.main(["samples/kb", "--collection", "sample"]) == 2
        err = capsys.readouterr().err
        assert f"is open in another process (PID {holder.pid}: {sys.executable} -c import sys; from settings" in err
        assert f"stop it (Ctrl+C in its terminal, or `kill {holder.pid}`), then try again" in err
    assert ingest_cli.main(["samples/kb", "--collection", "sample"]) == 0  # once it is gone, ingest works


def test_the_knowledge_base_page_says_which_process_holds_the_store(settings):
    with store_held_elsewhere() as holder, fresh_app() as app:
        app.run()
        app.switch_page("views/knowledge_base.py").run()
        assert not app.exception
        [error] = app.error
        shown = plain(error.value)
        assert f"open in another process (PID {holder.pid}: " in shown and f"kill {holder.pid}" in shown


# --- a full disk ----------------------------------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 MB ext4 volume, loop-mounted, with no blocks reserved for root: a disk that really fills up.

    Not tmpfs: there, merely opening an edge collection allocates its 32 MB vector file (tmpfs backs every page it
    maps), which a real disk does not.
    """
    image, mount = tmp_path / "disk.img", tmp_path / "disk"
    mount.mkdir()
    with image.open("wb") as f:
        f.truncate(64 * 2**20)
    made = subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(image)], capture_output=True, text=True)
    mounted = made.returncode == 0 and subprocess.run(["mount", "-o", "loop", str(image), str(mount)],
                                                      capture_output=True, text=True).returncode == 0
    if not mounted:
        pytest.skip("cannot loop-mount a small ext4 volume here (needs root and mkfs.ext4)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(disk: Path, leave: int) -> Path:
    """Take the disk's free space down to `leave` bytes (or to nothing) with a filler file; delete it to free them."""
    filler = disk / f"filler-{len(list(disk.glob('filler-*')))}"
    with filler.open("wb") as f:
        os.posix_fallocate(f.fileno(), 0, max(shutil.disk_usage(disk).free - leave - 2**20, 1))
        try:
            while shutil.disk_usage(disk).free > leave:
                f.write(bytes(4096))
                f.flush()  # ext4 reserves the blocks of buffered writes at once: the free count follows
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def cli(data: Path, *args: str, roots: Path = REPO / "samples") -> subprocess.CompletedProcess:
    """`python -m ingest` in its own process: if the engine died of SIGBUS on a full disk, only that process would."""
    env = {**os.environ, "FQA_DATA_DIR": str(data), "FQA_INGEST_ROOTS": f"{roots}{os.pathsep}{REPO / 'samples'}"}
    return subprocess.run([sys.executable, "-m", "ingest", *args], cwd=REPO, env=env, capture_output=True, text=True)


def test_a_full_disk_stops_an_ingest_with_a_message_and_the_collection_stays_readable(small_disk, tmp_path, embedder):
    data = small_disk / "data"
    assert cli(data, "samples/kb", "--collection", "sample").returncode == 0
    docs, pier = tmp_path / "docs", tmp_path / "pier.md"
    docs.mkdir()
    pier.write_text("Pier 3 serves the night ferry to Sark.")
    for i in range(10):
        (docs / f"harbour{i:02}.md").write_text(f"Harbour {i} has {i + 2} berths for fishing boats. " * 40)

    fill(small_disk, MIN_FREE_BYTES + 4 * 2**20)  # a little room above the margin: a small file still goes in
    small = cli(data, str(pier), "--collection", "sample", roots=tmp_path)
    assert small.returncode == 0, small.stderr
    fill(small_disk, 8 * 2**20)  # 8 MB left: under the margin the engine needs
    full = cli(data, str(docs), "--collection", "sample", roots=tmp_path)
    assert full.returncode == 2, (full.returncode, full.stderr[-2000:])  # not -7: the process was not killed (SIGBUS)
    assert f"error: the disk holding {data / 'qdrant-edge'} is (nearly) full: 8.0 MB free" in full.stderr
    assert "Nothing was written for it and what is stored is intact; free some space and try again" in full.stderr

    store = open_store(Settings(data_dir=data))  # readable while the disk is still full
    try:
        assert store.sources("sample") == {f"kb/{p.name}" for p in (REPO / "samples/kb").iterdir()} | {"pier.md"}
        [hit, *_] = store.search("sample", embedder.embed_query("Which pier serves the night ferry?"), 3)
        assert hit.source == "pier.md"
    finally:
        store.client.close()
    for filler in small_disk.glob("filler-*"):
        filler.unlink()
    again = cli(data, str(docs), "--collection", "sample", roots=tmp_path)  # with room again, the rest goes in
    assert again.returncode == 0 and "10 files: 10 added, 0 unchanged, 0 failed" in again.stdout


def sample_row(idx: int, answer: str) -> SampleRow:
    return SampleRow(idx=idx, item_id=f"q{idx}", question=f"Question {idx}?", reference=None, answerable=True, kind=None,
                     answer=answer, abstained=False, abstain_reason=None, outcome="answered", contexts=[], metrics=[],
                     error=None, seconds=1.0)


def test_a_full_disk_while_saving_an_evaluation_keeps_the_rows_saved_before(small_disk):
    runs = RunStore(small_disk / "runs.sqlite")
    run_id = runs.create_run("sample.jsonl", 3, {"top_k": 4})
    runs.add_sample(run_id, sample_row(0, "Paris."))
    runs.add_sample(run_id, sample_row(1, "Berlin."))
    filler = fill(small_disk, 0)
    with pytest.raises(StorageFullError) as refused:
        runs.add_sample(run_id, sample_row(2, "Rome. " * 200_000))
    assert str(refused.value).startswith(f"the disk holding {small_disk / 'runs.sqlite'} is full (0.0 MB free): this "
                                         "write was not saved; everything saved before it is intact.")
    assert "python -m evaluation resume RUN_ID" in str(refused.value)
    assert [r.answer for r in runs.samples(run_id)] == ["Paris.", "Berlin."]  # readable while full, nothing half-written
    filler.unlink()
    runs.add_sample(run_id, sample_row(2, "Rome."))
    assert [r.answer for r in RunStore(small_disk / "runs.sqlite").samples(run_id)] == ["Paris.", "Berlin.", "Rome."]


def test_a_full_disk_while_logging_an_answer_keeps_the_answers_logged_before(small_disk):
    log = QuestionLog(small_disk / "questions.sqlite")
    first = log.record(make_answer("Question 1?", "Paris."), "ask", 100)
    filler = fill(small_disk, 0)
    with pytest.raises(StorageFullError) as refused:
        log.record(make_answer("Question 2?", "Rome. " * 200_000), "ask", 100)
    assert str(refused.value).endswith("everything saved before it is intact. Free some space: until then answers are "
                                       "given but not logged.")
    assert [e.id for e in log.entries()] == [first]  # readable while full, nothing half-written
    filler.unlink()
    second = log.record(make_answer("Question 2?", "Rome."), "ask", 100)
    assert [e.question for e in QuestionLog(small_disk / "questions.sqlite").entries()] == ["Question 2?", "Question 1?"]
    assert second > first


def test_a_full_disk_while_staging_an_upload_is_a_message_and_leaves_no_partial_files(small_disk):
    data = small_disk / "data"
    data.mkdir()
    fill(small_disk, 64 * 1024)
    with pytest.raises(StorageFullError, match=f"the disk holding {data} is full: the uploaded files could not be "
                                               "staged, and nothing was ingested"):
        with staged_uploads([("a.txt", b"x" * 1000), ("b.txt", bytes(2 * 2**20))], data):
            pytest.fail("the upload was staged on a full disk")
    assert list(data.iterdir()) == []  # a.txt, staged before the disk ran out, is gone with its folder
