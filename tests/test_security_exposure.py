"""What the dashboard exposes (issue 14): where it listens, which folders it will read, and what an upload may be.

Real processes, the real embedder and embedded Qdrant; the Knowledge base page through AppTest.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from ingest import __main__ as ingest_cli
from ingest.loaders import LoadError, load_documents
from ingest.uploads import safe_name, staged_uploads
from tests.apptest import fresh_app, plain, run_ingest, texts
from tests.conftest import REPO, free_port
from tests.pdf import write_pdf_bomb
from tests.test_kb_formats import write_docx
from tests.test_kb_page import open_kb, table_with

SKY = (REPO / "samples/kb/sky_uk.txt").read_text()


# --- where the dashboard listens ------------------------------------------------------------------------------------

def outward_address() -> str | None:
    """This machine's address on its default route (no packet is sent), or None without a network."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.123", 9))
        except OSError:
            return None
        address = sock.getsockname()[0]
    return None if address.startswith("127.") else address


def answers(host: str, port: int) -> bool:
    try:
        return httpx.get(f"http://{host}:{port}/_stcore/health", timeout=2).text == "ok"
    except httpx.HTTPError:
        return False


@contextmanager
def make_dashboard(tmp_path: Path, **env: str) -> Iterator[tuple[int, str]]:
    """`make dashboard` as the Makefile runs it (python -m ops.dashboard); yields (port, what it printed first)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "ops.dashboard", "--port", str(port)], cwd=REPO,
                            env={**os.environ, "FQA_DATA_DIR": str(tmp_path / "data"), **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        banner = proc.stdout.readline() + proc.stdout.readline()  # the URL line, and a warning when there is one
        deadline = time.monotonic() + 60
        while not answers("127.0.0.1", port):
            assert proc.poll() is None and time.monotonic() < deadline, f"the dashboard did not start: {banner}"
            time.sleep(0.3)
        yield port, banner
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_make_run_serves_loopback_only_unless_another_address_is_asked_for(tmp_path):
    outside = outward_address()
    assert outside, "the test needs a non-loopback address to prove the dashboard does not answer on it"
    with make_dashboard(tmp_path) as (port, banner):
        assert f"Faithful QA dashboard: http://127.0.0.1:{port}" in banner and "warning" not in banner
        assert answers("127.0.0.1", port)
        assert not answers(outside, port)  # another machine could not reach it either
    with make_dashboard(tmp_path, FQA_SERVER_ADDRESS="0.0.0.0") as (port, banner):
        assert answers(outside, port)
        assert "warning: listening on 0.0.0.0, not loopback. The dashboard has no login" in banner


def test_streamlits_upload_limit_follows_the_per_file_setting():
    from ops.dashboard import streamlit_command
    from settings import Settings

    def flag(settings: Settings, name: str) -> str:
        command = streamlit_command(settings, 8501)
        return command[command.index(name) + 1]

    assert flag(Settings(), "--server.maxUploadSize") == "50"  # 50 MiB, settings.max_file_bytes' default
    assert flag(Settings(max_file_bytes=5 * 2**20 + 1), "--server.maxUploadSize") == "6"  # never below our limit
    assert flag(Settings(), "--server.address") == "127.0.0.1"
    config = (REPO / ".streamlit/config.toml").read_text()  # a bare `streamlit run app.py` agrees
    assert 'address = "127.0.0.1"' in config and "maxUploadSize = 50" in config


# --- which folders a folder ingest may read -------------------------------------------------------------------------

@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """allowed/ (the one root) with a document, a link to a file outside and a link to a folder outside; outside/."""
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    (allowed / "kb").mkdir(parents=True)
    outside.mkdir()
    (allowed / "kb" / "sky.txt").write_text(SKY)
    (outside / "secret.md").write_text("The vault code is 4417. The spare key hangs behind the boiler.")
    (allowed / "kb" / "notes.md").symlink_to(outside / "secret.md")
    (allowed / "escape").symlink_to(outside, target_is_directory=True)
    monkeypatch.setenv("FQA_INGEST_ROOTS", str(allowed))
    return tmp_path


def test_the_cli_refuses_folders_outside_the_roots_and_names_them(settings, tree, capsys):
    allowed = tree / "allowed"
    for path in ("/etc", str(tree / "outside"), f"{allowed}/../outside", str(allowed / "escape")):
        assert ingest_cli.main([path, "--collection", "leak"]) == 2
        err = capsys.readouterr().err
        assert f"error: {path} is outside the folders Faithful QA may read" in err
        assert f"Folder ingest reads only under: {allowed}." in err and "add their folder to FQA_INGEST_ROOTS" in err
    assert "(it is a link, or passes through one, leading out of them)" in err  # a link says so...
    assert str(tree / "outside") not in err  # ...but never where it leads
    assert not (settings.data_dir / "qdrant-edge" / "leak").exists()  # refused before the store was touched


def test_the_cli_ingests_an_allowed_folder_but_not_a_file_linking_out_of_it(settings, tree, capsys):
    assert ingest_cli.main([str(tree / "allowed" / "kb"), "--collection", "kb"]) == 1  # a file failed
    out = capsys.readouterr().out
    assert "added     kb/sky.txt" in out
    assert "failed    kb/notes.md  kb/notes.md: a link leading outside the folders Faithful QA may read" in out
    assert str(tree / "outside") not in out  # where the link leads is not disclosed
    assert "2 files: 1 added, 0 unchanged, 1 failed" in out


def test_make_ingest_sample_still_reads_the_bundled_sample(settings):
    result = subprocess.run([sys.executable, "-m", "ingest", "samples/kb", "--collection", "sample"], cwd=REPO,
                            capture_output=True, text=True, env={**os.environ, "FQA_DATA_DIR": str(settings.data_dir)})
    assert result.returncode == 0, result.stderr
    assert "6 files: 6 added" in result.stdout


@pytest.fixture
def app(settings) -> Iterator[AppTest]:
    with fresh_app(timeout=120) as app:
        yield app


def test_the_folder_field_refuses_paths_outside_the_roots_with_the_way_to_add_one(app, tree):
    open_kb(app)
    app.checkbox(key="kb.sample").uncheck()
    for path in ("/etc", f"{tree}/allowed/../outside", str(tree / "allowed" / "escape")):
        app.text_input(key="kb.folder").input(path).run()
        assert not app.exception
        [error] = app.error
        assert plain(error.value).startswith(f"{path} is outside the folders Faithful QA may read")
        assert "FQA_INGEST_ROOTS" in plain(error.value)
        app.button(key="kb.ingest").click().run()
        assert "Choose files to upload, a folder, or tick the sample box." in texts(app.warning)
    assert str(tree / "allowed") in app.text_input(key="kb.folder").help  # the field says where it may read


def test_a_file_linking_out_of_an_allowed_folder_is_reported_and_the_rest_goes_in(app, tree):
    open_kb(app)
    app.checkbox(key="kb.sample").uncheck()
    app.text_input(key="kb.folder").input(str(tree / "allowed" / "kb")).run()
    assert "1 file(s) will not be read" in texts(app.warning)  # said before anything is ingested
    run_ingest(app)
    outcomes = table_with(app, "status")
    assert list(outcomes["file"]) == ["kb/notes.md", "kb/sky.txt"]
    assert list(outcomes["status"]) == ["failed", "added"]
    assert "outside the folders Faithful QA may read" in outcomes["reason"][0]
    chunks = resources_chunks("sample")
    assert chunks and not any("vault code" in text for text in chunks)


def resources_chunks(collection: str) -> list[str]:
    from ui import resources

    return [c.text for c in resources.vector_store().scroll(collection)]


# --- what an upload may be ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "stored"), [
    ("../../etc/passwd.md", "passwd.md"),
    ("/etc/cron.d/evil.md", "evil.md"),
    ("C:\\Users\\me\\evil.md", "evil.md"),
    ("notes\x00.md.exe", "notes_.md.exe"),
    ("evil\n.md", "evil_.md"),
    ("line\r\nbreak.txt", "line_break.txt"),
    ("..", "upload"),
    ("", "upload"),
])
def test_an_uploaded_name_becomes_one_plain_file_name_inside_the_staging_folder(tmp_path, name, stored):
    assert safe_name(name) == stored
    data = tmp_path / "data"
    with staged_uploads([(name, b"x")], data) as [(path, source)]:
        assert path.parent.parent == data and path.name == stored and source == f"upload/{stored}"
    assert list(data.iterdir()) == []  # nothing is left behind


def zip_bomb(path: Path, unpacked_mb: int) -> Path:
    """A real Word document with `unpacked_mb` MB of zeros added as a member: a few kB that inflate to that much."""
    write_docx(path, ["The first ferry leaves at 6:40."])
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("word/media/padding.bin", bytes(unpacked_mb * 2**20))
    return path


def test_a_docx_zip_bomb_is_refused_before_it_is_unpacked(tmp_path):
    big = zip_bomb(tmp_path / "big.docx", 60)
    assert big.stat().st_size < 200_000
    with pytest.raises(LoadError, match=r"big.docx: unpacks to 63.\d MB, over the 52.4 MB limit per file; not read"):
        load_documents(big)
    dense = zip_bomb(tmp_path / "dense.docx", 20)  # under the per-file limit, but 20 MB from ~25 kB
    with pytest.raises(LoadError, match=r"dense.docx: unpacks to 21.\d MB from .* times its size\); not read \(this "
                                        r"looks like a zip bomb\)"):
        load_documents(dense)
    fine = write_docx(tmp_path / "fine.docx", ["The first ferry leaves at 6:40."])
    assert "6:40" in load_documents(fine)[0].text


def test_a_pdf_bomb_is_refused_before_its_text_is_extracted(tmp_path):
    """Extracting text parses every drawing instruction (about a second per MB): a few kB must not cost minutes."""
    fine = write_pdf_bomb(tmp_path / "fine.pdf", 1)
    assert "6:40" in load_documents(fine)[0].text
    big = write_pdf_bomb(tmp_path / "big.pdf", 60)
    assert big.stat().st_size < 200_000
    started = time.monotonic()
    with pytest.raises(LoadError, match=r"big.pdf: its pages unpack to more than 52.4 MB of drawing instructions, "
                                        r"the limit per file \(FQA_MAX_FILE_BYTES\); not read \(this looks like a PDF bomb\)"):
        load_documents(big)
    assert time.monotonic() - started < 20  # refused before extraction, which would take about a minute
    hidden = write_pdf_bomb(tmp_path / "hidden.pdf", 20, in_form=True)  # under the limit, in a form the page draws
    with pytest.raises(LoadError, match=r"hidden.pdf: its pages unpack to 21.\d MB from .* times its size\); not "
                                        r"read \(this looks like a PDF bomb\)"):
        load_documents(hidden)
    past_reader_cap = write_pdf_bomb(tmp_path / "huge.pdf", 80)  # one stream past pypdf's own inflation cap
    with pytest.raises(LoadError, match=r"huge.pdf: a part of it unpacks past the PDF reader's safety limit"):
        load_documents(past_reader_cap)


def test_an_upload_over_a_limit_is_refused_with_a_message_and_nothing_is_staged(app, settings, tmp_path, monkeypatch):
    monkeypatch.setenv("FQA_MAX_UPLOAD_BYTES", str(2 * 2**20))
    open_kb(app)
    app.checkbox(key="kb.sample").uncheck()
    tiny = [(f"note{i:04}.txt", f"Note {i}.".encode(), "text/plain") for i in range(2000)]
    app.file_uploader(key="kb.files").set_value(tiny).run()
    assert not app.exception
    assert "2,000 files chosen; one upload takes at most 500 (FQA_MAX_UPLOAD_FILES)" in texts(app.error)
    app.button(key="kb.ingest").click().run()
    assert "Choose files to upload" in texts(app.warning)  # nothing is ingested

    three_mb = [(f"part{i}.txt", (SKY * 400)[:1_000_000].encode(), "text/plain") for i in range(3)]
    app.file_uploader(key="kb.files").set_value(three_mb).run()
    assert "the files chosen hold 3.0 MB; one upload takes at most 2.1 MB (FQA_MAX_UPLOAD_BYTES)" in texts(app.error)
    assert not list(settings.data_dir.glob("upload-*"))


def test_a_file_over_the_per_file_limit_is_refused_alone_and_reported_with_its_reason(app, settings, tmp_path,
                                                                                      monkeypatch):
    monkeypatch.setenv("FQA_MAX_UPLOAD_BYTES", str(200 * 2**20))
    open_kb(app)
    app.checkbox(key="kb.sample").uncheck()
    huge = b"The ferry leaves at dawn. " * (50 * 2**20 // 26 + 1)  # just over 50 MiB of plain text
    bomb = zip_bomb(tmp_path / "bomb.docx", 60).read_bytes()
    app.file_uploader(key="kb.files").set_value([
        ("huge.txt", huge, "text/plain"), ("../../sky.txt", SKY.encode(), "text/plain"),
        ("bomb.docx", bomb, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ]).run()
    assert "1 file(s) will not be read" in texts(app.warning)
    run_ingest(app)
    outcomes = table_with(app, "status")
    assert list(outcomes["file"]) == ["upload/huge.txt", "upload/sky.txt", "upload/bomb.docx"]
    assert list(outcomes["status"]) == ["failed", "added", "failed"]
    assert outcomes["reason"][0] == ("huge.txt: too large (52.4 MB; the limit per file is 52.4 MB, FQA_MAX_FILE_BYTES); "
                                     "not read")
    assert "bomb.docx: unpacks to 63." in outcomes["reason"][2]
    assert "3 files: 1 added, 0 unchanged, 2 failed" in texts(app.error)
    assert not list(settings.data_dir.glob("upload-*"))  # the staging folder is gone


def test_secrets_are_never_stored_with_a_run_nor_shown_on_the_ask_page(settings, sample_data, embedder, monkeypatch):
    from evaluation.metrics import Judge, MetricName
    from evaluation.runner import run_config

    keys = {"openai_api_key": "sk-SECRET-answer", "judge_api_key": "sk-SECRET-judge", "qdrant_api_key": "SECRET-qdrant"}
    config = run_config(settings.with_overrides(**keys), Judge(settings.with_overrides(**keys), embedder),
                        [MetricName.FAITHFULNESS])
    assert config["settings"]["llm_model"] == settings.llm_model  # the run keeps its settings...
    assert "SECRET" not in str(config)  # ...but not one key

    monkeypatch.setenv("OPENAI_API_KEY", keys["openai_api_key"])
    monkeypatch.setenv("FQA_JUDGE_API_KEY", keys["judge_api_key"])
    with fresh_app() as at:  # the Ask page, the app's first
        at.run()
    assert not at.exception
    shown = [str(e.value) for e in at.sidebar.caption] + [str(e.value) for e in at.markdown] + \
        [str(e.value) for e in at.caption]
    assert any(settings.llm_model in text for text in shown)  # the sidebar names the model and endpoint...
    assert not any("SECRET" in text for text in shown)  # ...never the key
