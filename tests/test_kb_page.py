"""The Knowledge base page through Streamlit's AppTest: upload outcomes, chunking preview, per-config
collections, chunk browser and document deletion, on the real embedder and embedded Qdrant."""

from __future__ import annotations

from collections.abc import Iterator

import threading

import pytest
from streamlit.testing.v1 import AppTest

from ingest import ingestor
from ingest.embedder import EmbedderInfo
from ingest.store import VectorStore
from tests.apptest import fresh_app, plain, run_ingest, texts
from tests.conftest import REPO, SAMPLE_DOCUMENTS
from tests.pdf import write_pdf
from ui import jobs, resources

SKY = (REPO / "samples/kb/sky_uk.txt").read_text()


@pytest.fixture
def app(settings) -> Iterator[AppTest]:
    with fresh_app(timeout=120) as app:
        yield app


def open_kb(app: AppTest) -> AppTest:
    """Run the app and go to the Knowledge base page (after the data fixtures have filled the folder)."""
    app.run()
    return app.switch_page("views/knowledge_base.py").run()



def table_with(app: AppTest, column: str):
    return next(d.value for d in app.dataframe if column in d.value.columns)


def test_uploading_a_good_and_a_corrupt_file_reports_each_outcome(app, tmp_path):
    open_kb(app)
    app.checkbox(key="kb.sample").uncheck()
    good = write_pdf(tmp_path / "lighthouse.pdf", ["The Quesnard lighthouse light is seen from 23 nautical miles."])
    app.file_uploader(key="kb.files").set_value([("lighthouse.pdf", good.read_bytes(), "application/pdf"),
                                                 ("../../broken.pdf", b"%PDF-1.4 truncated", "application/pdf")])
    run_ingest(app)
    assert "2 files: 1 added, 0 unchanged, 1 failed" in texts(app.error)
    outcomes = table_with(app, "reason")
    assert list(outcomes["file"]) == ["upload/lighthouse.pdf", "upload/broken.pdf"]  # the path was stripped
    assert list(outcomes["status"]) == ["added", "failed"]
    assert "broken.pdf: not a readable PDF" in outcomes["reason"][1]
    assert list(app.dataframe[0].value["name"]) == ["sample"]  # the collections table is refreshed


def test_preview_shows_chunk_boundaries_and_token_counts(app, sample_data):
    open_kb(app)
    app.checkbox(key="kb.sample").check().run()
    app.selectbox(key="kb.preview_doc").select("kb/sky_uk.txt")
    app.selectbox(key="kb.strategy").select("token")
    app.number_input(key="kb.size").set_value(100)
    app.number_input(key="kb.overlap").set_value(10).run()
    assert not app.exception
    preview = table_with(app, "tokens")
    assert preview["tokens"].max() <= 100 and len(preview) > 3
    assert preview["start"][1] < preview["end"][0]  # windows overlap
    assert "chunks of kb/sky_uk.txt with token 100/10 tokens" in texts(app.caption)
    marked = app.code[0].value
    assert marked.startswith("⟦0 ") and " 0⟧" in marked and "⟦1 " in marked
    app.selectbox(key="kb.strategy").select("recursive")
    app.number_input(key="kb.size").set_value(3000).run()
    assert "over the embedder's 254-token window" in texts(app.caption)
    app.number_input(key="kb.size").set_value(100)
    app.number_input(key="kb.overlap").set_value(200).run()
    assert "must be smaller than chunk_size" in texts(app.error)


def test_a_per_config_collection_sits_beside_the_default_one(app, sample_data):
    open_kb(app)
    app.checkbox(key="kb.per_config").check()
    app.selectbox(key="kb.strategy").select("markdown").run()
    assert "sample__all-minilm-l6-v2-int8__markdown-600-80" in texts(app.caption)
    app.file_uploader(key="kb.files").set_value([("sky.txt", SKY.encode(), "text/plain")])
    run_ingest(app)
    assert "1 added" in texts(app.success)
    table = app.dataframe[0].value
    assert list(table["name"]) == ["sample", "sample__all-minilm-l6-v2-int8__markdown-600-80"]
    assert list(table["documents"]) == [SAMPLE_DOCUMENTS, 1]


def test_chunk_browser_searches_shows_neighbours_and_deletes_a_document(app, sample_data):
    open_kb(app)
    assert app.selectbox(key="kb.browse_collection").value == "sample"
    assert len(app.get("plotly_chart")) == 1
    app.text_input(key="kb.browse_query").input("Astra 2A").run()
    assert "1 of " in texts(app.caption) and "contain “Astra 2A”" in texts(app.caption)
    shown = app.selectbox(key="kb.browse_chunk").value
    assert shown.startswith("kb/sky_uk.txt · chunk ")
    before, this, after = (t.value for t in app.text)  # the chunk between its neighbours in the same document
    assert "Astra 2A" in this and this in SKY
    assert all(n in SKY and n != this for n in (before, after) if n != "(none: document edge)")
    assert before != after
    app.selectbox(key="kb.delete_doc_name").select("kb/sky_uk.txt")
    app.button(key="kb.delete_doc").click().run()
    assert not app.exception
    assert "Deleted kb/sky_uk.txt from 'sample'" in texts(app.success)
    assert app.dataframe[0].value["documents"][0] == SAMPLE_DOCUMENTS - 1  # one deleted


def pause_ingest(monkeypatch, when=lambda snapshot: True) -> tuple[threading.Event, threading.Event]:
    """Ingest that stops at its first progress report `when` accepts (sets `reported`) until the test sets `release`."""
    reported, release, real = threading.Event(), threading.Event(), ingestor.ingest_configured

    def paused(settings, store, embedder, files, collection, progress=None, **options):
        def report(snapshot):
            progress(snapshot)
            if not reported.is_set() and when(snapshot):
                reported.set()
                assert release.wait(60)
        return real(settings, store, embedder, files, collection, report, **options)

    monkeypatch.setattr(ingestor, "ingest_configured", paused)
    return reported, release


@pytest.fixture
def paused_ingest(monkeypatch) -> tuple[threading.Event, threading.Event]:
    """Ingest that stops after its first progress report until the test sets `release`."""
    return pause_ingest(monkeypatch)


def test_ingest_progress_survives_reruns_and_a_second_ingest_is_refused(app, sample_data, paused_ingest):
    reported, release = paused_ingest
    open_kb(app)
    app.checkbox(key="kb.sample").check()
    app.file_uploader(key="kb.files").set_value([("sky.txt", SKY.encode(), "text/plain")])
    app.button(key="kb.ingest").click().run()
    job = jobs.registry().get(app.session_state["kb.job"])
    assert reported.wait(60)
    app.text_input(key="kb.browse_query").input("Astra 2A").run()  # another widget: a full rerun
    assert not app.exception and job.running
    [bar] = app.get("progress")
    assert bar.proto.text == f"0/{SAMPLE_DOCUMENTS + 1} files · 0 chunks added · upload/sky.txt"  # the upload, the samples
    assert "Ingest into 'sample'" in texts(app.caption) and "in the background" in texts(app.caption)
    assert "1 of " in texts(app.caption)  # the chunk browser still answers meanwhile

    app.button(key="kb.ingest").click().run()
    assert "Ingest into 'sample' is already running" in texts(app.warning)
    assert app.session_state["kb.job"] == job.id

    release.set()
    assert job.done.wait(120)
    app.run()
    assert not app.get("progress")
    assert f"{SAMPLE_DOCUMENTS + 1} files: 1 added, {SAMPLE_DOCUMENTS} unchanged, 0 failed" in texts(app.success)
    assert list(table_with(app, "reason")["status"]) == ["added"] + ["unchanged"] * SAMPLE_DOCUMENTS


def test_an_error_inside_the_ingest_job_is_a_message_not_a_traceback(app, sample_data):
    open_kb(app)
    VectorStore(resources.vector_store().client, EmbedderInfo("another-embedder", 8)).ensure_collection("other")
    app.checkbox(key="kb.sample").uncheck()
    app.text_input(key="kb.collection").input("other")
    app.file_uploader(key="kb.files").set_value([("sky.txt", SKY.encode(), "text/plain")])
    run_ingest(app)
    [error] = app.error
    assert plain(error.value).startswith("Ingest into 'other' stopped: collection 'other' was built with embedder "
                                  "another-embedder (8 dims)")
    assert not app.exception


def test_the_bar_moves_within_the_first_batch_and_cancel_drops_that_batch(app, sample_data, monkeypatch):
    reported, release = pause_ingest(monkeypatch, when=lambda snapshot: snapshot.chunks_embedded > 0)
    open_kb(app)
    app.checkbox(key="kb.sample").uncheck()
    app.text_input(key="kb.collection").input("fresh")
    long = "\n\n".join(f"Paragraph {i}: " + f"the ferry to island {i} leaves from pier {i % 7}. " * 10 for i in range(40))
    app.file_uploader(key="kb.files").set_value([("ferries.md", long.encode(), "text/markdown"),
                                                 ("sky.txt", SKY.encode(), "text/plain")])
    app.button(key="kb.ingest").click().run()
    job = jobs.registry().get(app.session_state["kb.job"])
    assert reported.wait(120)
    app.run()
    [bar] = app.get("progress")  # one slice of the first batch embedded: no file written yet, and yet the bar moved
    assert bar.proto.text.startswith(f"0/2 files · 0 chunks added · {ingestor.EMBED_SLICE} embedded · about ")
    assert 0 < bar.proto.value < 100

    app.button(key="kb.cancel").click().run()
    assert job.cancel.is_set() and "Cancelling" in texts(app.caption)
    release.set()
    assert job.done.wait(120)
    app.run()
    assert not app.exception and not app.get("progress")
    assert "Cancelled: 2 files: 0 added, 0 unchanged, 0 failed, 2 cancelled (not ingested)" in texts(app.warning)
    assert list(table_with(app, "reason")["status"]) == ["cancelled", "cancelled"]
    assert list(app.dataframe[0].value["name"]) == ["sample"]  # nothing was written: no empty collection is left
