"""Ingest with the real embedder into real embedded Qdrant: formats, idempotence, failures, retrieval."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.embedder import EmbedderInfo
from ingest.ingestor import OPTIMIZING, ingest_files, sources_for
from ingest.store import CollectionMismatchError, CollectionNotFoundError, VectorStore
from ingest.uploads import safe_name, staged_uploads
from tests.conftest import REPO
from tests.pdf import write_pdf

RHINE = (REPO / "samples/kb/rhine.md").read_text()
SKY = (REPO / "samples/kb/sky_uk.txt").read_text()


@pytest.fixture
def store(any_store: VectorStore) -> VectorStore:
    """Every test here runs on each embedded engine."""
    return any_store


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    (folder / "nested").mkdir(parents=True)
    (folder / "rhine.md").write_text(RHINE)
    (folder / "nested" / "sky.txt").write_text(SKY)
    write_pdf(folder / "lighthouse.pdf", [
        "The Alderney lighthouse keeper logbook.",
        "The lighthouse at Quesnard Point was completed in 1912 and its lamp is 37 metres above sea level.",
        "Its light can be seen from 23 nautical miles away on a clear night.",
    ])
    return folder


def ingest(store: VectorStore, embedder, folder: Path, collection: str = "docs", size: int = 600, overlap: int = 80):
    return ingest_files(store, embedder, sources_for(folder), collection, size, overlap)


def top_hit(store: VectorStore, embedder, question: str, collection: str = "docs"):
    return store.search(collection, embedder.embed_query(question), 3)[0]


def test_folder_of_md_txt_pdf_is_ingested_and_reingest_changes_nothing(store, embedder, mixed_folder):
    first = ingest(store, embedder, mixed_folder)
    assert [o.status for o in first.outcomes] == ["added", "added", "added"]
    assert {o.source for o in first.outcomes} == {"docs/rhine.md", "docs/nested/sky.txt", "docs/lighthouse.pdf"}
    count = store.count("docs")
    assert count == sum(o.chunks for o in first.outcomes) > 3

    second = ingest(store, embedder, mixed_folder)
    assert [o.status for o in second.outcomes] == ["unchanged"] * 3
    assert store.count("docs") == count


def test_the_right_chunk_is_retrieved_for_a_known_question(store, embedder, mixed_folder):
    ingest(store, embedder, mixed_folder)
    hit = top_hit(store, embedder, "How far away can the Quesnard lighthouse be seen?")
    assert hit.source == "docs/lighthouse.pdf"
    assert "23 nautical miles" in hit.text
    hit = top_hit(store, embedder, "What satellite was used when Sky digital was launched?")
    assert hit.source == "docs/nested/sky.txt" and "Astra 2A" in hit.text
    # offsets point back into the source text, for highlighting
    assert SKY[hit.start:hit.end] == hit.text


def test_a_bad_file_is_reported_and_does_not_stop_the_others(store, embedder, mixed_folder):
    (mixed_folder / "broken.pdf").write_bytes(b"%PDF-1.4\n this is not really a pdf")
    (mixed_folder / "empty.md").write_text("   \n")
    (mixed_folder / "binary.txt").write_bytes(bytes(range(128, 256)))
    (mixed_folder / "notes.xyz").write_text("whatever")
    report = ingest(store, embedder, mixed_folder)
    by_source = {o.source.split("/")[-1]: o for o in report.outcomes}
    assert by_source["rhine.md"].status == by_source["sky.txt"].status == by_source["lighthouse.pdf"].status == "added"
    assert "not a readable PDF" in by_source["broken.pdf"].reason
    assert "no extractable text" in by_source["empty.md"].reason
    assert "not valid UTF-8" in by_source["binary.txt"].reason
    assert "unsupported file type .xyz" in by_source["notes.xyz"].reason
    sources = {c.source for c in store.scroll("docs")}
    assert sources == {"docs/rhine.md", "docs/nested/sky.txt", "docs/lighthouse.pdf"}


def test_a_changed_file_replaces_its_old_chunks(store, embedder, tmp_path):
    folder = tmp_path / "kb"
    folder.mkdir()
    doc = folder / "note.md"
    doc.write_text("# Opening hours\n\nThe museum opens at 9 am on weekdays.")
    ingest(store, embedder, folder, "kb")
    doc.write_text("# Opening hours\n\nThe museum opens at 11 am on weekdays and is closed on Mondays.")
    report = ingest(store, embedder, folder, "kb")
    assert report.outcomes[0].status == "added"
    texts = [c.text for c in store.scroll("kb")]
    assert len(texts) == 1 and "11 am" in texts[0]


def test_only_failures_leave_no_collection_behind(store, embedder, tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "broken.pdf").write_bytes(b"not a pdf at all")
    report = ingest(store, embedder, folder, "bad")
    assert report.failed and report.total_chunks == 0
    assert "bad" not in store.names()


def test_a_collection_built_by_another_embedder_is_refused(store, embedder, mixed_folder):
    ingest(store, embedder, mixed_folder)
    other = VectorStore(store.client, EmbedderInfo("openai:text-embedding-3-small", 1536))
    with pytest.raises(CollectionMismatchError, match="was built with embedder fastembed"):
        other.search("docs", [0.0] * 1536, 3)
    with pytest.raises(CollectionNotFoundError, match="python -m ingest"):
        store.search("nope", [0.0] * 384, 3)


def test_uploaded_names_cannot_escape_the_data_folder(tmp_path):
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("..\\..\\win.ini") == "win.ini"
    assert safe_name("my report (final).pdf") == "my_report_final_.pdf"
    data = tmp_path / "data"
    with staged_uploads([("../../evil.md", b"x"), ("evil.md", b"y")], data) as staged:
        paths = [p for p, _ in staged]
        assert all(data in p.parents for p in paths)
        first, second = (s for _, s in staged)  # the same clean name twice: the second is tagged, keeping .md
        assert first == "upload/evil.md" and re.fullmatch(r"upload/evil~[0-9a-f]{8}\.md", second)
    assert not any(data.iterdir())  # staged files are removed afterwards


def test_cli_reports_outcomes_and_fails_when_a_file_failed(settings, mixed_folder):
    (mixed_folder / "broken.pdf").write_bytes(b"garbage")
    env = {"FQA_DATA_DIR": str(settings.data_dir), "PATH": "/usr/bin:/bin", "FQA_INGEST_ROOTS": str(mixed_folder.parent)}
    result = subprocess.run([sys.executable, "-m", "ingest", str(mixed_folder), "--collection", "cli"],
                            capture_output=True, text=True, cwd=REPO, env=env)
    assert result.returncode == 1, result.stderr
    assert "failed    docs/broken.pdf" in result.stdout
    assert "3 added, 0 unchanged, 1 failed" in result.stdout
    bad = subprocess.run([sys.executable, "-m", "ingest", str(mixed_folder), "--chunk-size", "100", "--chunk-overlap", "200"],
                         capture_output=True, text=True, cwd=REPO, env=env)
    assert bad.returncode == 2 and "chunk_overlap (200) must be smaller than chunk_size (100)" in bad.stderr


def test_small_files_are_embedded_in_shared_batches_yet_each_file_is_settled_on_its_own(store, embedder, tmp_path):
    calls: list[int] = []

    class Counting:
        def embed_documents(self, texts):
            calls.append(len(texts))
            return embedder.embed_documents(texts)

    folder = tmp_path / "notes"
    folder.mkdir()
    for i in range(12):
        (folder / f"n{i:02}.md").write_text(f"Pier {i} serves the ferry to island number {i}.")
    events = []
    first = ingest_files(store, Counting(), sources_for(folder), "notes", 600, 80, events.append, batch_chunks=5,
                         optimize_after=12)
    assert [o.status for o in first.outcomes] == ["added"] * 12 and first.total_chunks == 12
    assert calls == [5, 5, 2]  # 12 one-chunk files, flushed every 5 chunks: bounded, and not one call per file
    done = [e.files_done for e in events]
    assert done == sorted(done) and [d for d, before in zip(done[1:], done, strict=False) if d > before] == list(range(1, 13))
    assert max(e.chunks_added for e in events) == 12
    assert [e.current for e in events[-2:]] == [OPTIMIZING, ""]  # a big enough run ends by indexing the collection

    (folder / "n05.md").write_text("Pier 5 is closed for repairs until spring.")
    calls.clear()
    events.clear()
    second = ingest_files(store, Counting(), sources_for(folder), "notes", 600, 80, events.append, batch_chunks=5,
                          optimize_after=12)
    assert [o.status for o in second.outcomes] == ["unchanged"] * 5 + ["added"] + ["unchanged"] * 6
    assert calls == [1] and store.count("notes") == 12 and OPTIMIZING not in {e.current for e in events}
    assert top_hit(store, embedder, "Which pier is closed for repairs?", "notes").text.startswith("Pier 5 is closed")
    assert not any("island number 5" in c.text for c in store.scroll("notes"))


def test_a_query_embeds_exactly_as_a_document_of_its_own(embedder):
    """embed_query runs on a session of its own (one thread): it must not move a vector."""
    for text in ("How far away can the Quesnard lighthouse be seen?", "", "Ünïcödé straße – 23 km?", "word " * 400):
        assert embedder.embed_query(text) == pytest.approx(embedder.embed_documents([text])[0], abs=1e-6)


def _piers(folder: Path, files: int, paragraphs: int = 12) -> list[tuple[Path, str]]:
    """`files` notes of `paragraphs` paragraphs each; at chunk size 200 every paragraph is one chunk."""
    folder.mkdir()
    for f in range(files):
        (folder / f"pier{f}.md").write_text("\n\n".join(
            f"Pier {f}.{p} serves the ferry to island {f * 100 + p}; boats leave every {p + 5} minutes in summer and every hour in winter, when the harbour master closes the outer gate."
            for p in range(paragraphs)))
    return sources_for(folder)


def test_progress_moves_while_the_first_batch_is_embedded(store, embedder, tmp_path):
    files = _piers(tmp_path / "piers", 3)
    events = []
    report = ingest_files(store, embedder, files, "piers", 200, 20, events.append, embed_slice=8)
    assert [o.chunks for o in report.outcomes] == [12, 12, 12]  # one batch of 36 chunks: no file is written before it ends
    embedding = [e for e in events if e.files_done == 0 and e.chunks_embedded]
    assert [e.chunks_embedded for e in embedding] == [8, 16, 24, 32, 36]
    shares = [e.fraction for e in embedding]
    assert 0 < shares[0] and shares == sorted(shares) and len(set(shares)) == 5
    assert all(e.eta_s is not None for e in embedding)
    assert embedding[0].describe().startswith("0/3 files · 0 chunks added · 8 embedded · about ")
    assert events[-1].fraction == pytest.approx(1.0) and events[-1].files_done == 3


def test_cancel_mid_way_leaves_only_whole_files_and_reports_the_rest(store, embedder, tmp_path):
    files = _piers(tmp_path / "piers", 6)
    events = []

    def should_continue() -> bool:  # stop once the first batch is written and the second is partly embedded
        return not any(e.chunks_added and e.chunks_embedded > e.chunks_added for e in events)

    report = ingest_files(store, embedder, files, "piers", 200, 20, events.append, batch_chunks=20, embed_slice=8,
                          optimize_after=1, should_continue=should_continue)
    assert [o.status for o in report.outcomes] == ["added"] * 2 + ["cancelled"] * 4
    assert report.total_chunks == store.count("piers") == 24
    assert {c.source for c in store.scroll("piers")} == {"piers/pier0.md", "piers/pier1.md"}
    assert "6 files: 2 added, 0 unchanged, 0 failed, 4 cancelled (not ingested)" in report.summary()
    assert OPTIMIZING not in {e.current for e in events}  # a cancelled run does not spend minutes indexing

    again = ingest_files(store, embedder, files, "piers", 200, 20)  # the written files were whole: nothing to redo
    assert [o.status for o in again.outcomes] == ["unchanged"] * 2 + ["added"] * 4
    assert store.count("piers") == 72

    nothing = ingest_files(store, embedder, files, "new", 200, 20, should_continue=lambda: False)
    assert [o.status for o in nothing.outcomes] == ["cancelled"] * 6 and "new" not in store.names()
