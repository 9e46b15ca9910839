"""Write minimal, valid PDFs with real text (no PDF library on the write side is needed), bombs included."""

from __future__ import annotations

import zlib
from pathlib import Path


def write_pdf(path: Path, lines: list[str]) -> Path:
    def esc(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    body = "BT /F1 11 Tf 50 780 Td 14 TL " + " ".join(f"({esc(line)}) Tj T*" for line in lines) + " ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(body)} >>\nstream\n{body}\nendstream".encode("latin-1"),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    path.write_bytes(_pdf(objects))
    return path


def write_pdf_bomb(path: Path, unpacked_mb: int, *, in_form: bool = False) -> Path:
    """A one-page PDF with a line of text and `unpacked_mb` MB of blank drawing instructions, deflated to a few
    kB: in the page's contents, or (`in_form`) in a form XObject the page draws."""
    blank, empty = zlib.compress(b" " * (unpacked_mb * 2**20), 9), zlib.compress(b" ")
    page_padding, form_padding = (empty, blank) if in_form else (blank, empty)
    text = b"BT /F1 11 Tf 50 780 Td (The first ferry leaves at 6:40.) Tj ET /Fm1 Do"

    def stream(entries: bytes, data: bytes) -> bytes:
        return b"<< %s /Length %d >>\nstream\n" % (entries, len(data)) + data + b"\nendstream"

    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 842] /Contents [4 0 R 6 0 R] "
        b"/Resources << /Font << /F1 5 0 R >> /XObject << /Fm1 7 0 R >> >> >>",
        stream(b"", text),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        stream(b"/Filter /FlateDecode", page_padding),
        stream(b"/Type /XObject /Subtype /Form /BBox [0 0 612 842] /Filter /FlateDecode", form_padding),
    ]
    path.write_bytes(_pdf(objects))
    return path


def _pdf(objects: list[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def write_pdf_repeated_page(path: Path, nodes: int, per_node: int | None = None, *, declared: int | None = None) -> Path:
    """A PDF of one real page listed nodes × per_node times (per_node defaults to nodes): a page tree of `nodes` nodes,
    each naming the same page `per_node` times. A few kB that ask for that many pages of text extraction. `declared`:
    the page count the file claims, when it lies."""
    per_node = per_node or nodes
    page_refs = b" ".join([b"4 0 R"] * per_node)
    node_refs = b" ".join([b"3 0 R"] * nodes)
    body = b"BT /F1 11 Tf 50 780 Td (The first ferry leaves at 6:40.) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (node_refs, nodes * per_node if declared is None else declared),
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (page_refs, per_node),
        b"<< /Type /Page /MediaBox [0 0 612 842] /Contents 5 0 R /Resources << /Font << /F1 6 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(body), body),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    path.write_bytes(_pdf(objects))
    return path
