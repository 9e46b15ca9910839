"""Turn a file into plain-text documents, or say in plain words why it cannot be read.

Most files are one document; a csv or jsonl file is one document per row (source `file.csv#row12`),
so a table of FAQs or tickets is searchable row by row.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

TEXT_SUFFIXES = (".md", ".markdown", ".txt")
ROW_SUFFIXES = (".csv", ".jsonl")
SUPPORTED_SUFFIXES = (*TEXT_SUFFIXES, ".pdf", ".html", ".htm", ".docx", *ROW_SUFFIXES)
MAX_FILE_BYTES = 50 * 1024 * 1024
# A .docx, or a PDF's drawing instructions, unpacking to more than UNPACK_MAX_RATIO times the file's size (and past
# UNPACK_RATIO_FLOOR) is refused: Word's XML and PDF page streams pack about 3-15x; a bomb packs 1000x and more
UNPACK_MAX_RATIO = 100
UNPACK_RATIO_FLOOR = 10 * 1024 * 1024
TEXT_COLUMNS = ("text", "content")  # a row's text comes from the first of these columns, else from all columns


class LoadError(ValueError):
    """A file that cannot be turned into text; the message is meant for a person."""


@dataclass(frozen=True)
class LoadedDocument:
    source: str  # stable name used in citations and as the document id
    title: str
    text: str


def _decode(data: bytes, name: str) -> str:
    for encoding in ("utf-8-sig", "utf-16") if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8-sig",):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise LoadError(f"{name}: the bytes are not valid UTF-8 text (is it a binary file with a text extension?)")


def _check_ratio(what: str, unpacked: int, packed: int, kind: str) -> None:
    """Refuse what unpacks far beyond its file's size: the one rule for zip and PDF bombs."""
    if unpacked > UNPACK_RATIO_FLOOR and unpacked > UNPACK_MAX_RATIO * packed:
        raise LoadError(f"{what} {size_text(unpacked)} from {size_text(packed)} ({unpacked // max(packed, 1):,} times "
                        f"its size); not read (this looks like a {kind} bomb)")


def _drawing_streams(page) -> Iterator:
    """The streams text extraction parses for a page: its contents and the form XObjects it draws, nested ones
    included (each once per page, as the extractor reads them)."""
    from pypdf.generic import ArrayObject

    contents = page.get("/Contents")
    contents = contents.get_object() if contents is not None else None
    if isinstance(contents, ArrayObject):
        yield from (part.get_object() for part in contents)
    elif contents is not None:
        yield contents
    seen: set[int] = set()
    pending = [page.get("/Resources")]
    while pending:
        resources = pending.pop()
        resources = resources.get_object() if resources is not None else None
        xobjects = resources.get("/XObject") if resources is not None else None
        for ref in xobjects.get_object().values() if xobjects is not None else ():
            form = ref.get_object()
            if id(form) in seen or form.get("/Subtype") != "/Form":
                continue
            seen.add(id(form))
            yield form
            pending.append(form.get("/Resources"))


def _check_pdf_unpacked(reader, path: Path, name: str, max_bytes: int) -> None:
    """Refuse a PDF whose drawing instructions unpack past the per-file limit, or far beyond the file's size, before
    extracting text: parsing them costs about a second per MB (a 4 MB file held 1.2 GB and took 66 s to fail)."""
    packed, unpacked = path.stat().st_size, 0
    for page in reader.pages:
        for stream in _drawing_streams(page):
            unpacked += len(stream.get_data())  # pypdf caps each stream's inflation (LimitReachedError)
            if unpacked > max_bytes:
                raise LoadError(f"{name}: its pages unpack to more than {size_text(max_bytes)} of drawing "
                                "instructions, the limit per file (FQA_MAX_FILE_BYTES); not read (this looks like a "
                                "PDF bomb)")
    _check_ratio(f"{name}: its pages unpack to", unpacked, packed, "PDF")


def _pdf_text(path: Path, name: str, max_bytes: int) -> str:
    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError, PdfReadError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            raise LoadError(f"{name}: the PDF is encrypted; save an unencrypted copy and try again")
        _check_pdf_unpacked(reader, path, name, max_bytes)
        return "\n\n".join((page.extract_text() or "") for page in reader.pages)
    except LimitReachedError as exc:
        raise LoadError(f"{name}: a part of it unpacks past the PDF reader's safety limit ({exc}); not read (this "
                        "looks like a PDF bomb)") from exc
    except (PdfReadError, ValueError, KeyError, OSError, AttributeError) as exc:
        if isinstance(exc, LoadError):
            raise
        raise LoadError(f"{name}: not a readable PDF ({exc.__class__.__name__}: {exc})") from exc


def _html_text(data: bytes, name: str) -> tuple[str, str]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_decode(data, name), "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    title = soup.title.get_text(strip=True) if soup.title else ""
    return title, soup.get_text("\n", strip=True)


def _check_unpacked_size(path: Path, name: str, max_bytes: int) -> None:
    """Refuse a zip (a .docx is one) that would unpack past the per-file limit, or that unpacks far beyond its own
    size, before python-docx inflates it in memory: a few-kB "zip bomb" can hold gigabytes of XML.

    The sizes come from the zip's directory; zipfile stops inflating a member at its declared size (and fails its
    CRC check if more was hidden), so a lying directory cannot make python-docx read more than is checked here.
    """
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except zipfile.BadZipFile as exc:
        raise LoadError(f"{name}: not a readable Word document (BadZipFile)") from exc
    packed = path.stat().st_size
    if unpacked > max_bytes:
        raise LoadError(f"{name}: unpacks to {size_text(unpacked)}, over the {size_text(max_bytes)} limit per file; "
                        "not read (a Word file this large is likely a zip bomb)")
    _check_ratio(f"{name}: unpacks to", unpacked, packed, "zip")


def _docx_text(path: Path, name: str, max_bytes: int) -> str:
    import zipfile

    from docx import Document

    _check_unpacked_size(path, name, max_bytes)
    try:
        return "\n\n".join(p.text for p in Document(str(path)).paragraphs)
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise LoadError(f"{name}: not a readable Word document ({exc.__class__.__name__})") from exc


def _row_document(record: dict, name: str, number: int) -> LoadedDocument | None:
    """One csv/jsonl record as a document; None when it holds no text."""
    values = {str(k): "" if v is None else str(v).strip() for k, v in record.items() if k is not None}
    column = next((c for c in TEXT_COLUMNS if values.get(c)), None)
    text = values[column] if column else "\n".join(f"{k}: {v}" for k, v in values.items() if v)
    if not text.strip():
        return None
    title = values.get("title") or f"{Path(name).name} row {number}"
    return LoadedDocument(source=f"{name}#row{number}", title=title, text=text)


def numbered_jsonl(text: str, name: str) -> list[tuple[int, dict]]:
    """(line number, object) of each line of a JSON Lines text, blank lines skipped; a bad line is a LoadError
    naming its number (callers that validate rows further name the line too)."""
    records = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LoadError(f"{name}: line {line_no} is not valid JSON ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise LoadError(f"{name}: line {line_no} is not a JSON object")
        records.append((line_no, record))
    return records


def jsonl_records(text: str, name: str) -> list[dict]:
    """The objects of a JSON Lines text (blank lines skipped); a bad line is a LoadError naming its number."""
    return [record for _, record in numbered_jsonl(text, name)]


def _rows(data: bytes, name: str, suffix: str) -> list[LoadedDocument]:
    text = _decode(data, name)
    if suffix == ".csv":
        try:
            records = list(csv.DictReader(io.StringIO(text, newline="")))
        except csv.Error as exc:
            raise LoadError(f"{name}: not a readable CSV file ({exc})") from exc
    else:
        records = jsonl_records(text, name)
    docs = [doc for number, record in enumerate(records, start=1) if (doc := _row_document(record, name, number))]
    if not docs:
        raise LoadError(f"{name}: no extractable text (no row has a non-empty value)")
    return docs


def _first_heading(text: str) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line.lstrip("#").strip()[:200]
    return ""


def load_documents(path: Path, source: str | None = None, max_bytes: int = MAX_FILE_BYTES) -> list[LoadedDocument]:
    """Read one file into its documents. Raises LoadError with a reason a person understands."""
    name = source or path.name
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise LoadError(f"{name}: unsupported file type {suffix or '(none)'}; supported: {', '.join(SUPPORTED_SUFFIXES)}")
    size = path.stat().st_size
    if size > max_bytes:
        raise LoadError(f"{name}: too large ({size_text(size)}; the limit is {size_text(max_bytes)})")
    if suffix in ROW_SUFFIXES:
        return _rows(path.read_bytes(), name, suffix)
    title = ""
    if suffix == ".pdf":
        text = _pdf_text(path, name, max_bytes)
    elif suffix == ".docx":
        text = _docx_text(path, name, max_bytes)
    elif suffix in (".html", ".htm"):
        title, text = _html_text(path.read_bytes(), name)
    else:
        text = _decode(path.read_bytes(), name)
    if not text.strip():
        raise LoadError(f"{name}: no extractable text (empty file, or a scanned PDF without a text layer)")
    return [LoadedDocument(source=name, title=title or _first_heading(text), text=text)]


def size_text(n: int) -> str:
    """A byte count for a message: MB from 0.1 MB up, else bytes."""
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n:,} bytes"


def discover(root: Path, include: list[str] | None = None, exclude: list[str] | None = None) -> list[Path]:
    """Files under a folder (recursively, hidden ones skipped), or the file itself.

    Globs match the path relative to the folder (`**/*.md`, `drafts/*`) or the bare file name (`*.pdf`).
    """
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise LoadError(f"{root}: no such file or folder")

    def matches(rel: str, patterns: list[str]) -> bool:
        return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(rel.rsplit("/", 1)[-1], p) for p in patterns)

    found = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if not path.is_file() or any(part.startswith(".") for part in rel.split("/")):
            continue
        if include and not matches(rel, include):
            continue
        if exclude and matches(rel, exclude):
            continue
        found.append(path)
    return found
