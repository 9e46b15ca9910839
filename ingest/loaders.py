"""Turn a file into plain text, or say in plain words why it cannot be read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".pdf", ".html", ".htm", ".docx")
MAX_FILE_BYTES = 50 * 1024 * 1024


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


def _pdf_text(path: Path) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            raise LoadError(f"{path.name}: the PDF is encrypted; save an unencrypted copy and try again")
        return "\n\n".join((page.extract_text() or "") for page in reader.pages)
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        if isinstance(exc, LoadError):
            raise
        raise LoadError(f"{path.name}: not a readable PDF ({exc.__class__.__name__}: {exc})") from exc


def _html_text(data: bytes, name: str) -> tuple[str, str]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_decode(data, name), "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    title = soup.title.get_text(strip=True) if soup.title else ""
    return title, soup.get_text("\n", strip=True)


def _docx_text(path: Path) -> str:
    import zipfile

    from docx import Document

    try:
        return "\n\n".join(p.text for p in Document(str(path)).paragraphs)
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise LoadError(f"{path.name}: not a readable Word document ({exc.__class__.__name__})") from exc


def _first_heading(text: str) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line.lstrip("#").strip()[:200]
    return ""


def load_file(path: Path, source: str | None = None) -> LoadedDocument:
    """Read one file. Raises LoadError with a reason a person understands."""
    name = source or path.name
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise LoadError(f"{name}: unsupported file type {suffix or '(none)'}; supported: {', '.join(SUPPORTED_SUFFIXES)}")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise LoadError(f"{name}: too large ({size / 1e6:.0f} MB; the limit is {MAX_FILE_BYTES / 1e6:.0f} MB)")
    title = ""
    if suffix == ".pdf":
        text = _pdf_text(path)
    elif suffix == ".docx":
        text = _docx_text(path)
    elif suffix in (".html", ".htm"):
        title, text = _html_text(path.read_bytes(), name)
    else:
        text = _decode(path.read_bytes(), name)
    if not text.strip():
        raise LoadError(f"{name}: no extractable text (empty file, or a scanned PDF without a text layer)")
    return LoadedDocument(source=name, title=title or _first_heading(text), text=text)


def discover(root: Path) -> list[Path]:
    """All files under a folder (recursively, hidden ones skipped), or the file itself."""
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise LoadError(f"{root}: no such file or folder")
    return sorted(p for p in root.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts))
