"""Every supported format and every failure reason, with real files, the real embedder and embedded Qdrant."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from docx import Document
from pypdf import PdfWriter

from ingest.ingestor import delete_document, ingest_configured, sources_for
from ingest.loaders import LoadError, load_documents
from tests.pdf import write_pdf

FAQ_CSV = (
    "id,question,text\n"
    "1,Opening hours,\"The museum opens at 9 am on weekdays, and at 10 am on weekends.\"\n"
    "2,Tickets,Adult tickets cost 12 euros; children under 12 enter free.\n"
    "3,Parking,\"Visitor parking is on Quay Street, behind the museum.\"\n"
)


def write_docx(path: Path, paragraphs: list[str]) -> Path:
    doc = Document()
    doc.add_heading("Ferry timetable", level=1)
    for text in paragraphs:
        doc.add_paragraph(text)
    doc.save(str(path))
    return path


def test_html_keeps_the_visible_text_and_drops_scripts_and_styles(tmp_path):
    page = tmp_path / "page.html"
    page.write_text("<html><head><title>Harbour news</title><style>body { color: red }</style>"
                    "<script>var tracking = 'secret-token';</script></head><body><h1>Harbour news</h1>"
                    "<p>The new pier opened on 3 May.</p><noscript>enable javascript</noscript></body></html>")
    [doc] = load_documents(page, "web/page.html")
    assert doc.title == "Harbour news" and doc.source == "web/page.html"
    assert "The new pier opened on 3 May." in doc.text
    assert "secret-token" not in doc.text and "color: red" not in doc.text and "enable javascript" not in doc.text


def test_a_word_document_written_by_python_docx_is_read(tmp_path):
    path = write_docx(tmp_path / "ferry.docx", ["The first ferry leaves at 6:40.", "The last ferry returns at 23:10."])
    [doc] = load_documents(path)
    assert doc.title == "Ferry timetable"
    assert "The first ferry leaves at 6:40." in doc.text and "23:10" in doc.text


def test_csv_rows_become_documents_that_are_found_one_by_one(settings, store, embedder, tmp_path):
    folder = tmp_path / "museum"
    folder.mkdir()
    (folder / "faq.csv").write_text(FAQ_CSV)
    report = ingest_configured(settings, store, embedder, sources_for(folder), "museum")
    assert [(o.source, o.status) for o in report.outcomes] == [("museum/faq.csv", "added")]
    chunks = store.scroll("museum")
    assert {c.source for c in chunks} == {"museum/faq.csv#row1", "museum/faq.csv#row2", "museum/faq.csv#row3"}
    hit = store.search("museum", embedder.embed_query("How much is a ticket for an adult?"), 1)[0]
    assert hit.source == "museum/faq.csv#row2"
    assert hit.text == "Adult tickets cost 12 euros; children under 12 enter free."  # the text column only


def test_jsonl_rows_without_a_text_column_join_all_fields(tmp_path):
    path = tmp_path / "tickets.jsonl"
    path.write_text(json.dumps({"title": "Refund", "customer": "Ana", "body": "I want my money back."}) + "\n\n"
                    + json.dumps({"content": "Second ticket about parking."}) + "\n")
    first, second = load_documents(path, "tickets.jsonl")
    assert first.source == "tickets.jsonl#row1" and first.title == "Refund"
    assert first.text == "title: Refund\ncustomer: Ana\nbody: I want my money back."
    assert second.source == "tickets.jsonl#row2" and second.text == "Second ticket about parking."


def test_a_changed_csv_drops_removed_rows_and_delete_removes_every_row(settings, store, embedder, tmp_path):
    folder = tmp_path / "museum"
    folder.mkdir()
    faq = folder / "faq.csv"
    faq.write_text(FAQ_CSV)
    ingest_configured(settings, store, embedder, sources_for(folder), "museum")
    faq.write_text(FAQ_CSV.rsplit("3,Parking", 1)[0])  # the parking row is gone
    report = ingest_configured(settings, store, embedder, sources_for(folder), "museum")
    assert report.outcomes[0].status == "unchanged"
    assert {c.source for c in store.scroll("museum")} == {"museum/faq.csv#row1", "museum/faq.csv#row2"}
    faq.write_text(FAQ_CSV.rsplit("3,Parking", 1)[0].replace("at 9 am", "at 8 am"))  # row 1 changed
    report = ingest_configured(settings, store, embedder, sources_for(folder), "museum")
    assert (report.outcomes[0].status, report.outcomes[0].chunks) == ("added", 1)
    assert sorted(c.text[:25] for c in store.scroll("museum")) == ["Adult tickets cost 12 eur", "The museum opens at 8 am "]
    assert delete_document(store, "museum", "museum/faq.csv") == 2
    assert store.count("museum") == 0


def test_folder_include_and_exclude_globs(tmp_path):
    folder = tmp_path / "kb"
    (folder / "drafts").mkdir(parents=True)
    for name in ("a.md", "b.txt", "drafts/c.md", "notes.pdf", ".hidden.md"):
        (folder / name).write_text("x")
    names = lambda **kw: [s for _, s in sources_for(folder, **kw)]  # noqa: E731
    assert names() == ["kb/a.md", "kb/b.txt", "kb/drafts/c.md", "kb/notes.pdf"]
    assert names(include=["*.md"]) == ["kb/a.md", "kb/drafts/c.md"]
    assert names(include=["*.md", "*.txt"], exclude=["drafts/*"]) == ["kb/a.md", "kb/b.txt"]


@pytest.fixture
def bad_files(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    write_pdf(folder / "good.pdf", ["The harbour master's office is open from 8 am to 4 pm."])
    secret = PdfWriter(clone_from=write_pdf(tmp_path / "plain.pdf", ["Salaries for 2026."]))
    secret.encrypt(user_password="hunter2", algorithm="RC4-128")
    secret.write(folder / "encrypted.pdf")
    blank = PdfWriter()
    blank.add_blank_page(612, 842)
    blank.write(folder / "scanned.pdf")
    (folder / "slides.pptx").write_bytes(b"PK\x03\x04 not supported")
    (folder / "latin1.txt").write_bytes("Caf\xe9 cr\xe8me at the quay".encode("latin-1"))
    (folder / "huge.md").write_text("# Big\n\n" + "The tide tables repeat. " * 200)
    (folder / "broken.jsonl").write_text('{"text": "first row is fine"}\n{"text": "second row is cut off\n')
    return folder


def test_each_failure_reason_is_worded_for_a_person_and_the_good_file_still_goes_in(settings, store, embedder, bad_files):
    small = settings.with_overrides(max_file_bytes=2000)
    report = ingest_configured(small, store, embedder, sources_for(bad_files), "inbox")
    reasons = {o.source.split("/")[-1]: o.reason for o in report.outcomes}
    assert [o.source for o in report.outcomes if o.status == "added"] == ["inbox/good.pdf"]
    assert "the PDF is encrypted" in reasons["encrypted.pdf"]
    assert "no extractable text" in reasons["scanned.pdf"]
    assert "unsupported file type .pptx" in reasons["slides.pptx"]
    assert "not valid UTF-8" in reasons["latin1.txt"]
    assert "too large (4,807 bytes; the limit is 2,000 bytes)" in reasons["huge.md"]
    assert "line 2 is not valid JSON" in reasons["broken.jsonl"]
    # all-or-nothing: the jsonl's good first row did not go in alone
    assert {c.source for c in store.scroll("inbox")} == {"inbox/good.pdf"}
    assert "failed" in report.summary() and len(report.failed) == 6


def test_a_file_that_fails_while_embedding_leaves_no_chunks_and_its_batch_goes_in(settings, store, embedder, tmp_path):
    class RejectsFerries:
        """Like a provider refusing one input: any call containing b.md's text fails."""

        def embed_documents(self, texts):
            if any("Ferries" in t for t in texts):
                raise RuntimeError("embedding server rejected the input")
            return embedder.embed_documents(texts)

    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "a.md").write_text("Ships dock at pier one.")
    (folder / "b.md").write_text("Ferries leave from pier two. " * 60)
    (folder / "c.md").write_text("Yachts moor at pier three.")
    report = ingest_configured(settings, store, RejectsFerries(), sources_for(folder), "kb")  # one batch of 3 files
    assert [o.status for o in report.outcomes] == ["added", "failed", "added"]
    assert "embedding server rejected the input" in report.outcomes[1].reason
    assert {c.source for c in store.scroll("kb")} == {"kb/a.md", "kb/c.md"}


def test_load_error_for_a_missing_folder(tmp_path):
    with pytest.raises(LoadError, match="no such file or folder"):
        sources_for(tmp_path / "nowhere")


def test_progress_counts_files_and_chunks_and_estimates_the_time_left(settings, store, embedder, tmp_path):
    folder = tmp_path / "kb"
    folder.mkdir()
    for i in range(3):
        (folder / f"note{i}.md").write_text(f"# Note {i}\n\n" + f"Pier {i} serves the island ferries. " * (20 + i))
    events = []
    report = ingest_configured(settings, store, embedder, sources_for(folder), "kb", events.append)
    done = [e.files_done for e in events]
    assert done == sorted(done) and {1, 2, 3} <= set(done) and {e.files_total for e in events} == {3}
    # an event as each file is read, and one as each is written (the three notes are embedded in one batch)
    assert [e.current for e in events if e.current] == ["kb/note0.md", "kb/note1.md", "kb/note2.md"]
    assert events[-1].current == "" and events[-1].files_done == 3
    assert all((e.eta_s is None) == (e.fraction == 0) for e in events)  # an ETA once any work is done
    assert events[-1].chunks_added == sum(o.chunks for o in report.outcomes) > 3
    assert events[-1].describe().startswith(f"3/3 files · {events[-1].chunks_added} chunks added")
