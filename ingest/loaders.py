"""Turn a file into plain-text documents, or say in plain words why it cannot be read.

Most files are one document; a csv or jsonl file is one document per row (source `file.csv#row12`),
so a table of FAQs or tickets is searchable row by row.

Every file is untrusted, and `load_documents` is the one way in: the file is opened once, without following a link
(below an allowed folder, without following one at any level: a file swapped for a link after the folder was checked
is refused, not followed); it is read within `FileLimits` (bytes, PDF pages, rows, CPU seconds), each refusal naming
the setting that raises it; and any parser failure, foreseen or not, ends as a LoadError with a one-line reason,
never as a traceback. The text and row readers (`decode_text`, `csv_records`, `numbered_jsonl`) are shared with the
eval-set and judge-check uploads, so an encoding, a nesting or a number that one refuses, all refuse alike.
"""

from __future__ import annotations

import csv
import errno
import fnmatch
import io
import json
import os
import stat
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from settings import Settings

TEXT_SUFFIXES = (".md", ".markdown", ".txt")
ROW_SUFFIXES = (".csv", ".jsonl")
SUPPORTED_SUFFIXES = (*TEXT_SUFFIXES, ".pdf", ".html", ".htm", ".docx", *ROW_SUFFIXES)
KINDS = {".pdf": "PDF", ".docx": "Word document", ".html": "HTML page", ".htm": "HTML page", ".csv": "CSV file",
         ".jsonl": "JSON Lines file"}  # others: "text file"
# A .docx, or a PDF's drawing instructions, unpacking to more than UNPACK_MAX_RATIO times the file's size (and past
# UNPACK_RATIO_FLOOR) is refused: Word's XML and PDF page streams pack about 3-15x; a bomb packs 1000x and more
UNPACK_MAX_RATIO = 100
UNPACK_RATIO_FLOOR = 10 * 1024 * 1024
TEXT_COLUMNS = ("text", "content")  # a row's text comes from the first of these columns, else from all columns
CLOCK_EVERY_ROWS = 1000  # rows read between two looks at the CPU clock
# a file is opened read-only, never through a link at its own name, never blocking (a FIFO swapped in), not inherited
_OPEN_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_OPEN_FOLDER = os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC


class LoadError(ValueError):
    """A file that cannot be turned into text; the message is meant for a person."""


@dataclass(frozen=True)
class LoadedDocument:
    source: str  # stable name used in citations and as the document id
    title: str
    text: str


@dataclass(frozen=True)
class FileLimits:
    """What reading one file may cost (settings FQA_MAX_FILE_BYTES, FQA_MAX_PDF_PAGES, FQA_MAX_ROWS_PER_FILE,
    FQA_MAX_CHUNKS_PER_FILE, FQA_MAX_EXTRACT_SECONDS), and the folders below which no link is ever followed."""

    max_bytes: int
    max_pdf_pages: int
    max_rows: int
    max_chunks: int  # checked where a file is chunked (ingest.chunking.chunk_within)
    max_seconds: float  # CPU seconds of the reading thread
    roots: tuple[Path, ...] = ()  # real paths (settings.ingest_roots)

    @classmethod
    def of(cls, settings: Settings) -> FileLimits:
        return cls(settings.max_file_bytes, settings.max_pdf_pages, settings.max_rows_per_file,
                   settings.max_chunks_per_file, settings.max_extract_seconds, tuple(real_roots(settings.ingest_roots)))


def real_roots(roots: list[Path]) -> list[Path]:
    """The allowed folders as absolute real paths (relative ones from the working directory)."""
    return [Path(os.path.realpath(root)) for root in roots]


# the settings' default budgets, for callers without settings (bench scripts, tests); no folder is confined
DEFAULT_LIMITS = replace(FileLimits.of(Settings.model_construct()), roots=())


def plain_reason(exc: BaseException) -> str:
    """An unexpected exception as a short reason on one line: its kind and the first line of its message."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    reason = f"{exc.__class__.__name__}: {message}" if message else exc.__class__.__name__
    return reason if len(reason) <= 200 else reason[:199] + "…"


def decode_text(data: bytes, name: str) -> str:
    """The text of a file's bytes: UTF-8 (a byte-order mark is dropped) or UTF-16 with its mark. Anything else is a
    LoadError that says which encoding the bytes look like, so the person can save the file again as UTF-8."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        around = data[max(0, exc.start - 32768):exc.start + 32768]
        raise LoadError(f"{name}: not valid UTF-8 text (line {line}); {_looks_like(around)}") from None


# single-byte encodings of Western European text: a spreadsheet's "CSV" export on Windows or an old Mac
_WESTERN = {"cp1252", "latin_1", "iso8859_15", "cp850", "mac_roman"}


def _looks_like(sample: bytes) -> str:
    """What bytes that are not UTF-8 look like, for the person who can re-save them (charset-normalizer guesses)."""
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    if best is None:
        return "it does not look like text (a binary file with a text file's name?)"
    if best.encoding == "utf_8":
        return "some of its bytes are not valid UTF-8 (a damaged or cut-off file?): save it again as UTF-8"
    if _WESTERN & set(best.could_be_from_charset):
        label = "Latin-1/Windows-1252"
    elif best.encoding.startswith("cp125"):
        label = f"Windows-{best.encoding[2:]}"
    else:
        label = best.encoding.replace("_", "-").upper()
    return f"it looks like {label}: save it as UTF-8 (a spreadsheet's \"CSV UTF-8\") and try again"


class _Clock:
    """The CPU time one file's reading has used, against FQA_MAX_EXTRACT_SECONDS (the reading thread's own time, so
    other work on the machine does not count)."""

    def __init__(self, name: str, limit: float) -> None:
        self.name, self.limit, self.start = name, limit, time.thread_time()

    def check(self) -> None:
        if time.thread_time() - self.start > self.limit:
            raise LoadError(f"{self.name}: reading its text took more than {self.limit:g} s of CPU, the limit per file "
                            "(FQA_MAX_EXTRACT_SECONDS); not read")


def _open(path: Path, name: str, roots: tuple[Path, ...]) -> int:
    """A descriptor of the regular file at `path`, opened without following a link at its name; when `path` lies
    below an allowed folder, every folder from there down is opened without following a link too, so what is read
    is what the folder check saw, whatever was swapped in since. Refusals never say where a link points."""
    full = Path(os.path.abspath(path))
    root = max((r for r in roots if full.is_relative_to(r) and full != r), key=lambda r: len(r.parts), default=None)
    try:
        if root is None:
            fd = os.open(full, _OPEN_FILE)
        else:
            *folders, last = full.relative_to(root).parts
            parent = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                for folder in folders:
                    below = os.open(folder, _OPEN_FOLDER, dir_fd=parent)
                    os.close(parent)
                    parent = below
                fd = os.open(last, _OPEN_FILE, dir_fd=parent)
            finally:
                os.close(parent)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            raise LoadError(f"{name}: is a link, or lies in a folder that is one (it changed after it was checked); "
                            "not read") from None
        raise LoadError(f"{name}: cannot be opened ({exc.strerror or exc})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise LoadError(f"{name}: not a regular file; not read")
    return fd


def _read(path: Path, name: str, limits: FileLimits) -> bytes:
    """The file's bytes, read once through `_open`; never more than the per-file limit, even from a growing file."""
    with os.fdopen(_open(path, name, limits.roots), "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        data = handle.read(limits.max_bytes + 1) if size <= limits.max_bytes else b""
    if size > limits.max_bytes or len(data) > limits.max_bytes:
        raise LoadError(f"{name}: too large ({size_text(max(size, len(data)))}; the limit is "
                        f"{size_text(limits.max_bytes)})")
    return data


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


def _check_pdf_unpacked(reader, packed: int, name: str, max_bytes: int) -> None:
    """Refuse a PDF whose drawing instructions unpack past the per-file limit, or far beyond the file's size, before
    extracting text: parsing them costs about a second per MB (a 4 MB file held 1.2 GB and took 66 s to fail)."""
    unpacked = 0
    for page in reader.pages:
        for stream in _drawing_streams(page):
            unpacked += len(stream.get_data())  # pypdf caps each stream's inflation (LimitReachedError)
            if unpacked > max_bytes:
                raise LoadError(f"{name}: its pages unpack to more than {size_text(max_bytes)} of drawing "
                                "instructions, the limit per file (FQA_MAX_FILE_BYTES); not read (this looks like a "
                                "PDF bomb)")
    _check_ratio(f"{name}: its pages unpack to", unpacked, packed, "PDF")


def _pdf_text(data: bytes, name: str, limits: FileLimits, clock: _Clock) -> str:
    """The text of every page. The page count is checked first, as the file declares it (free) and as pypdf lists the
    pages (within its own bounds): a few kB can name one page 90,000 times, each listing costing a page's extraction."""
    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise LoadError(f"{name}: the PDF is encrypted; save an unencrypted copy and try again")
        declared = reader.root_object["/Pages"].get_object().get("/Count", 0)
        if (pages := declared if isinstance(declared, int) and declared > limits.max_pdf_pages
                else len(reader.pages)) > limits.max_pdf_pages:
            raise LoadError(f"{name}: {pages:,} pages, more than the {limits.max_pdf_pages:,} read per PDF "
                            "(FQA_MAX_PDF_PAGES); not read")
        _check_pdf_unpacked(reader, len(data), name, limits.max_bytes)
        texts = []
        for page in reader.pages:
            clock.check()
            texts.append(page.extract_text() or "")
        return "\n\n".join(texts)
    except LimitReachedError as exc:
        raise LoadError(f"{name}: a part of it unpacks past the PDF reader's safety limit ({exc}); not read (this "
                        "looks like a PDF bomb)") from exc


def _html_text(data: bytes, name: str, clock: _Clock) -> tuple[str, str]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(decode_text(data, name), "html.parser")
    clock.check()
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    title = soup.title.get_text(strip=True) if soup.title else ""
    return title, soup.get_text("\n", strip=True)


def _check_unpacked_size(archive: zipfile.ZipFile, packed: int, name: str, max_bytes: int) -> None:
    """Refuse a zip (a .docx is one) that would unpack past the per-file limit, or that unpacks far beyond its own
    size, before python-docx inflates it in memory: a few-kB "zip bomb" can hold gigabytes of XML.

    The sizes come from the zip's directory; zipfile stops inflating a member at its declared size (and fails its
    CRC check if more was hidden), so a lying directory cannot make python-docx read more than is checked here.
    """
    unpacked = sum(member.file_size for member in archive.infolist())
    if unpacked > max_bytes:
        raise LoadError(f"{name}: unpacks to {size_text(unpacked)}, over the {size_text(max_bytes)} limit per file; "
                        "not read (a Word file this large is likely a zip bomb)")
    _check_ratio(f"{name}: unpacks to", unpacked, packed, "zip")


def _check_xml_prologs(archive: zipfile.ZipFile, name: str) -> None:
    """Refuse a Word file whose XML declares a DTD: Word never writes one, and a DTD is how entity expansion ("billion
    laughs") and external entities (a file of this machine, a URL) get in. defusedxml reads each part only up to its
    first element, where a DTD would have to be."""
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import iterparse

    for member in archive.infolist():
        if not member.filename.endswith((".xml", ".rels")):
            continue
        with archive.open(member) as part:
            try:
                next(iter(iterparse(part, events=("start",), forbid_dtd=True)), None)
            except DefusedXmlException as exc:
                raise LoadError(f"{name}: its XML ({member.filename}) declares a DTD or entities, which Word never "
                                "writes; not read (this looks like an XML entity attack: "
                                f"{exc.__class__.__name__})") from exc
            except ParseError as exc:
                raise LoadError(f"{name}: its XML ({member.filename}) is malformed ({exc}); not read") from exc


def _docx_text(data: bytes, name: str, limits: FileLimits, clock: _Clock) -> str:
    from docx import Document
    from lxml.etree import XMLSyntaxError

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise LoadError(f"{name}: not a readable Word document (BadZipFile)") from exc
    with archive:
        _check_unpacked_size(archive, len(data), name, limits.max_bytes)
        _check_xml_prologs(archive, name)
    try:
        document = Document(io.BytesIO(data))
    except XMLSyntaxError as exc:  # lxml's own limits: 256 levels of nesting, entity amplification
        raise LoadError(f"{name}: not a readable Word document: its XML is malformed or nested too deeply "
                        f"({str(exc.msg).split(',')[0]}); not read") from exc
    clock.check()
    return "\n\n".join(p.text for p in document.paragraphs)


def _row_document(record: dict, name: str, number: int) -> LoadedDocument | None:
    """One csv/jsonl record as a document; None when it holds no text."""
    values = {str(k): "" if v is None else str(v).strip() for k, v in record.items() if k is not None}
    column = next((c for c in TEXT_COLUMNS if values.get(c)), None)
    text = values[column] if column else "\n".join(f"{k}: {v}" for k, v in values.items() if v)
    if not text.strip():
        return None
    title = values.get("title") or f"{Path(name).name} row {number}"
    return LoadedDocument(source=f"{name}#row{number}", title=title, text=text)


class _LongNumber(ValueError):
    def __init__(self, digits: int) -> None:
        super().__init__(digits)
        self.digits = digits


def _bounded_int(digits: str) -> int:
    """An integer of a JSON text, refused past Python's int-string limit with a plain reason, not its ValueError."""
    if len(digits.lstrip("-")) > sys.get_int_max_str_digits():
        raise _LongNumber(len(digits.lstrip("-")))
    return int(digits)


def _json_line(line: str, name: str, line_no: int) -> object:
    try:
        return json.loads(line, parse_int=_bounded_int)
    except _LongNumber as exc:
        raise LoadError(f"{name}: line {line_no} holds a number {exc.digits:,} digits long; numbers of more than "
                        f"{sys.get_int_max_str_digits():,} digits are not read") from None
    except RecursionError:
        raise LoadError(f"{name}: line {line_no} is nested too deeply to read (objects or lists inside each other "
                        "hundreds of levels down)") from None
    except ValueError as exc:  # json.JSONDecodeError, and whatever else the decoder refuses
        raise LoadError(f"{name}: line {line_no} is not valid JSON ({getattr(exc, 'msg', None) or exc})") from None


def _too_many_rows(name: str, max_rows: int) -> LoadError:
    return LoadError(f"{name}: more than {max_rows:,} rows, the limit per file (FQA_MAX_ROWS_PER_FILE); not read. "
                     "Split it into smaller files, or raise FQA_MAX_ROWS_PER_FILE")


def numbered_jsonl(text: str, name: str, max_rows: int | None = None) -> list[tuple[int, dict]]:
    """(line number, object) of each line of a JSON Lines text, blank lines skipped; a bad line is a LoadError
    naming its number (callers that validate rows further name the line too). Lines end at "\n" only: a JSON string
    may hold a raw U+2028, which str.splitlines would break the line at."""
    records = []
    for line_no, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        record = _json_line(line, name, line_no)
        if not isinstance(record, dict):
            raise LoadError(f"{name}: line {line_no} is not a JSON object")
        records.append((line_no, record))
        if max_rows is not None and len(records) > max_rows:
            raise _too_many_rows(name, max_rows)
    return records


def jsonl_records(text: str, name: str, max_rows: int | None = None) -> list[dict]:
    """The objects of a JSON Lines text (blank lines skipped); a bad line is a LoadError naming its number."""
    return [record for _, record in numbered_jsonl(text, name, max_rows)]


def csv_records(text: str, name: str, max_rows: int | None = None) -> list[dict]:
    """The rows of a CSV text as dicts keyed by its header; a row the csv module cannot read (a field over its
    131,072-character limit, a stray quote in strict files) is a LoadError naming the line."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    records = []
    try:
        for record in reader:
            records.append(record)
            if max_rows is not None and len(records) > max_rows:
                raise _too_many_rows(name, max_rows)
    except csv.Error as exc:
        # line_num counts the lines read whole: the failing one is the next
        raise LoadError(f"{name}: not a readable CSV file (line {reader.line_num + 1}: {exc})") from exc
    return records


def _rows(data: bytes, name: str, suffix: str, limits: FileLimits, clock: _Clock) -> list[LoadedDocument]:
    text = decode_text(data, name)
    records = (csv_records if suffix == ".csv" else jsonl_records)(text, name, limits.max_rows)
    clock.check()
    docs = []
    for number, record in enumerate(records, start=1):
        if number % CLOCK_EVERY_ROWS == 0:
            clock.check()
        if doc := _row_document(record, name, number):
            docs.append(doc)
    if not docs:
        raise LoadError(f"{name}: no extractable text (no row has a non-empty value)")
    return docs


def _first_heading(text: str) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line.lstrip("#").strip()[:200]
    return ""


def load_documents(path: Path, source: str | None = None, limits: FileLimits = DEFAULT_LIMITS) -> list[LoadedDocument]:
    """Read one file into its documents. Raises LoadError with a reason a person understands, whatever went wrong."""
    name = source or path.name
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise LoadError(f"{name}: unsupported file type {suffix or '(none)'}; supported: {', '.join(SUPPORTED_SUFFIXES)}")
    try:
        data = _read(path, name, limits)
        clock = _Clock(name, limits.max_seconds)
        if suffix in ROW_SUFFIXES:
            return _rows(data, name, suffix, limits, clock)
        title = ""
        if suffix == ".pdf":
            text = _pdf_text(data, name, limits, clock)
        elif suffix == ".docx":
            text = _docx_text(data, name, limits, clock)
        elif suffix in (".html", ".htm"):
            title, text = _html_text(data, name, clock)
        else:
            text = decode_text(data, name)
    except LoadError:
        raise
    except RecursionError as exc:
        raise LoadError(f"{name}: nested too deeply to read (parts inside parts hundreds of levels down); not read") from exc
    except MemoryError as exc:
        raise LoadError(f"{name}: needs more memory to read than is free; not read") from exc
    except Exception as exc:  # noqa: BLE001 - the one boundary: whatever a parser raises ends as a plain reason
        raise LoadError(f"{name}: not a readable {KINDS.get(suffix, 'text file')} ({plain_reason(exc)})") from exc
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
