"""Per-config collections and document deletion, through the CLI a user runs (real embedder, embedded Qdrant)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from ingest.collections import collection_name
from ingest.embedder import embedder_info
from ingest.ingestor import delete_document, ingest_configured, sources_for
from ingest.store import CollectionNotFoundError, VectorStore, open_client
from tests.conftest import REPO

MINILM = "fastembed:all-MiniLM-L6-v2-int8"


def test_collection_names_are_deterministic_readable_and_distinct_per_config():
    assert collection_name("sample", MINILM, "recursive", 600, 80) == "sample__all-minilm-l6-v2-int8__recursive-600-80"
    assert collection_name("My KB", "openai:text-embedding-3-small", "token", 200, 20) == \
        "my-kb__text-embedding-3-small__token-200-20"
    names = {collection_name("kb", MINILM, s, size, 20) for s in ("recursive", "token", "markdown") for size in (100, 200)}
    assert len(names) == 6


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    folder = tmp_path / "kb"
    folder.mkdir()
    for name in ("rhine.md", "sky_uk.txt"):
        (folder / name).write_text((REPO / "samples/kb" / name).read_text())
    return folder


def cli(settings, *args: str) -> subprocess.CompletedProcess:
    # the test's temp folder (its documents beside its data) is an ingest root
    env = {"FQA_DATA_DIR": str(settings.data_dir), "PATH": "/usr/bin:/bin", "FQA_INGEST_ROOTS": str(settings.data_dir.parent)}
    return subprocess.run([sys.executable, "-m", "ingest", *args], capture_output=True, text=True, cwd=REPO, env=env)


def test_cli_puts_each_config_in_its_own_collection_and_keeps_explicit_names(settings, kb):
    assert cli(settings, str(kb)).returncode == 0  # no flags: the app's default collection
    assert cli(settings, str(kb), "--collection", "exact").returncode == 0
    token = cli(settings, str(kb), "--per-config", "--strategy", "token", "--chunk-size", "128", "--overlap", "16")
    assert token.returncode == 0, token.stderr
    assert "2 files: 2 added" in token.stdout and "sample__all-minilm-l6-v2-int8__token-128-16" in token.stdout
    assert cli(settings, str(kb), "--per-config", "--include", "*.md").returncode == 0
    client = open_client(settings)  # whichever embedded engine the CLI used
    try:
        store = VectorStore(client, embedder_info(settings))
        infos = {i.name: i for i in store.describe()}
        assert set(infos) == {"sample", "exact", "sample__all-minilm-l6-v2-int8__token-128-16",
                              "sample__all-minilm-l6-v2-int8__recursive-600-80"}
        assert infos["sample"].chunks == infos["exact"].chunks and infos["sample"].documents == 2
        assert infos["sample__all-minilm-l6-v2-int8__recursive-600-80"].documents == 1  # only *.md included
        assert infos["sample__all-minilm-l6-v2-int8__token-128-16"].chunks != infos["sample"].chunks
    finally:
        client.close()


def test_cli_deletes_a_document_with_its_chunks(settings, kb):
    assert cli(settings, str(kb), "--collection", "kb").returncode == 0
    gone = cli(settings, "--delete", "kb/rhine.md", "--collection", "kb")
    assert gone.returncode == 0, gone.stderr
    assert "deleted 'kb/rhine.md' from 'kb'" in gone.stdout and "chunks removed" in gone.stdout
    again = cli(settings, "--delete", "kb/rhine.md", "--collection", "kb")
    assert again.returncode == 1 and ": 0 chunks removed" in again.stdout
    missing = cli(settings, "--delete", "kb/rhine.md", "--collection", "nope")
    assert missing.returncode == 2 and "collection 'nope' does not exist" in missing.stderr
    usage = cli(settings)
    assert usage.returncode == 2 and "give a PATH to ingest, or --delete SOURCE" in usage.stderr


def test_deleting_a_document_keeps_the_others_and_re_ingest_brings_it_back(settings, store, embedder, kb):
    ingest_configured(settings, store, embedder, sources_for(kb), "kb")
    before = {c.source for c in store.scroll("kb")}
    removed = delete_document(store, "kb", "kb/sky_uk.txt")
    assert removed > 0 and {c.source for c in store.scroll("kb")} == before - {"kb/sky_uk.txt"}
    report = ingest_configured(settings, store, embedder, sources_for(kb), "kb")
    assert {o.source: o.status for o in report.outcomes} == {"kb/rhine.md": "unchanged", "kb/sky_uk.txt": "added"}
    with pytest.raises(CollectionNotFoundError):
        delete_document(store, "nope", "kb/rhine.md")


def test_cli_refuses_a_token_size_over_the_embedder_window(settings, kb):
    refused = cli(settings, str(kb), "--strategy", "token", "--chunk-size", "400", "--chunk-overlap", "40")
    assert refused.returncode == 2
    assert "token chunks must fit the embedder's 256-token window" in refused.stderr
