"""Shared fixtures: real embedder, real embedded Qdrant in a temp folder, real local LLM server."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.embedder import embedder_info, make_embedder
from ingest.ingestor import ingest_files, sources_for
from ingest.store import VectorStore, embedded_path, open_client
from ops import llm_server
from ops.models import llm_path
from settings import LOCAL_LLM_PORT, Settings
from tests.paths import REPO, free_port

# the dashboard's first chart (ui/first_chart.py) would answer and judge sample questions in every AppTest and browser
# test; the tests that want it set FQA_FIRST_CHART_QUESTIONS themselves
os.environ["FQA_FIRST_CHART_QUESTIONS"] = "0"

SAMPLE_KB = REPO / "samples" / "kb"
SAMPLE_DOCUMENTS = sum(1 for path in SAMPLE_KB.iterdir() if path.is_file())  # each sample file is one document
ANSWER_MODEL = "qwen2.5-0.5b"
JUDGE_MODEL = "qwen2.5-1.5b"
# most tests exercise an answer judged by another model (the pairing with the most paths) and the 0.5B answers
# fastest; tests of the default pairing (the 1.5B judging itself) say so
os.environ["FQA_LLM_MODEL"] = ANSWER_MODEL


def copy_sparse(src: str, dst: str) -> str:
    """Copies a file's data extents only, so its holes stay holes.

    Qdrant preallocates its WAL and mmap storage as sparse files (the sample: 172 MB apparent, 0.5 MB on disk);
    `shutil.copy2` writes every zero, and a few hundred tests copying the sample filled the disk (CI, 2026-12-02).
    """
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        size = os.fstat(fin.fileno()).st_size
        pos = 0
        while pos < size:
            try:
                start = os.lseek(fin.fileno(), pos, os.SEEK_DATA)
            except OSError:  # ENXIO: only a hole is left
                break
            end = os.lseek(fin.fileno(), start, os.SEEK_HOLE)
            fin.seek(start)
            fout.seek(start)
            fout.write(fin.read(end - start))
            pos = end
        fout.truncate(size)
    shutil.copystat(src, dst)
    return dst


def copy_store(src: Path, dst: Path) -> None:
    """A private copy of an embedded Qdrant folder, as small on disk as the original."""
    shutil.copytree(src, dst, copy_function=copy_sparse)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings rooted in a temp data folder; the env is set too, for code (pages, CLIs) that builds its own."""
    monkeypatch.setenv("FQA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(REPO)
    return Settings()


@pytest.fixture(scope="session")
def embedder():
    return make_embedder(Settings())


ENGINES = ("edge", "local")  # the embedded engines (ingest/store.py); a Qdrant server speaks local mode's API


def open_store(settings: Settings) -> VectorStore:
    """The store the app itself would open for these settings (close its client when done)."""
    return VectorStore(open_client(settings), embedder_info(settings))


def ingest_sample(settings: Settings, embedder) -> None:
    """The bundled sample knowledge base, ingested for real into the store `settings` selects."""
    store = open_store(settings)
    try:
        report = ingest_files(store, embedder, sources_for(SAMPLE_KB), settings.collection, settings.chunk_size,
                              settings.chunk_overlap)
    finally:
        store.client.close()
    assert not report.failed


@pytest.fixture
def store(settings: Settings) -> Iterator[VectorStore]:
    """An empty store on the default engine."""
    opened = open_store(settings)
    yield opened
    opened.client.close()


@pytest.fixture(params=ENGINES)
def any_store(request: pytest.FixtureRequest, settings: Settings) -> Iterator[VectorStore]:
    """An empty store on each embedded engine."""
    opened = open_store(settings.with_overrides(qdrant_engine=request.param))
    yield opened
    opened.client.close()


@pytest.fixture(scope="session")
def sample_qdrant(tmp_path_factory: pytest.TempPathFactory, embedder) -> Path:
    """The sample knowledge base ingested once per session (default engine); returns the engine's folder."""
    base = Settings(data_dir=tmp_path_factory.mktemp("sample-data"))
    ingest_sample(base, embedder)
    return embedded_path(base)


@pytest.fixture
def sample_data(settings: Settings, sample_qdrant: Path) -> Settings:
    """This test's data folder holds a private copy of the ingested sample (no client open on it)."""
    copy_store(sample_qdrant, embedded_path(settings))
    return settings


@pytest.fixture
def sample_store(sample_data: Settings) -> Iterator[VectorStore]:
    opened = open_store(sample_data)
    yield opened
    opened.client.close()


@pytest.fixture(scope="session")
def llm_base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real llama.cpp OpenAI-compatible server with the answering and judge models.

    Reuses the project's running server when it serves both: two servers generating at once on 2 cores slowed
    generation from ~30 to ~0.3 tokens/s (measured), so we never start a second one.
    """
    base = Settings(openai_base_url=f"http://127.0.0.1:{LOCAL_LLM_PORT}/v1")
    if llm_server.port_open(base.openai_base_url):  # the project's server, perhaps still loading its models
        served = llm_server.wait_until_serving(base.openai_base_url, 300, {ANSWER_MODEL, JUDGE_MODEL})
        if not {ANSWER_MODEL, JUDGE_MODEL} <= served:
            pytest.fail(f"port {LOCAL_LLM_PORT} is taken by a server without {ANSWER_MODEL} and {JUDGE_MODEL}")
        yield base.openai_base_url
        return
    missing = [alias for alias in (ANSWER_MODEL, JUDGE_MODEL) if not llm_path(base, alias).exists()]
    if missing:
        pytest.fail(f"local models missing: {missing}; run `make setup`")
    proc, url = llm_server.start(base, [ANSWER_MODEL, JUDGE_MODEL], port=free_port(),
                                 workdir=tmp_path_factory.mktemp("llm"))
    yield url
    if proc is not None:
        llm_server.terminate(proc.pid)


@pytest.fixture
def llm_settings(settings: Settings, llm_base_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("OPENAI_BASE_URL", llm_base_url)
    return settings.with_overrides(openai_base_url=llm_base_url)


@pytest.fixture
def page():
    """A page in headless Debian Chromium (browser tests)."""
    from tests.browser import chromium_page

    with chromium_page(height=1400) as browser_page:
        yield browser_page
