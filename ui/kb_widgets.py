"""Knowledge-base page widgets: chunking preview, ingest progress, chunk browser (Streamlit only here)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from ingest.chunking import MAX_CHUNK_TOKENS, Chunk, ChunkSpec, TokenCounter, chunk_within, tokenizer_for
from ingest.embedder import EmbedderUnavailableError
from ingest.ingestor import FileOutcome, IngestProgress, IngestReport
from ingest.loaders import FileLimits, load_documents
from ingest.store import StoredChunk
from ingest.uploads import staged_uploads
from settings import Settings
from ui.jobs import Job
from ui.safe_text import literal

PREVIEW_CHARS = 6000


@st.cache_resource(show_spinner=False)
def token_counter(_settings: Settings) -> TokenCounter | None:
    """The embedder's tokenizer for token counts; None (and counts are left out) when it is not installed."""
    try:
        return tokenizer_for(_settings)
    except EmbedderUnavailableError:
        return None


def load_preview(settings: Settings, name: str, upload: bytes | None, path: Path | None) -> list:
    """The documents of one uploaded or on-disk file, read exactly as ingest would read them (its limits included)."""
    if upload is not None:
        with staged_uploads([(name, upload)], settings.data_dir) as [(staged, source)]:
            return load_documents(staged, source, FileLimits.of(settings))
    return load_documents(path, name, FileLimits.of(settings))


def chunk_table(chunks: list[Chunk], counter: TokenCounter | None) -> pd.DataFrame:
    rows = []
    for c in chunks:
        row = {"chunk": c.chunk_index, "start": c.start, "end": c.end, "characters": len(c.text)}
        if counter:
            row["tokens"] = counter.count(c.text)
            row["fits the embedder"] = row["tokens"] <= MAX_CHUNK_TOKENS
        if c.headers:
            row["section"] = c.headers
        row["begins"] = c.text[:60]
        rows.append(row)
    return pd.DataFrame(rows)


def marked_text(text: str, chunks: list[Chunk], limit: int = PREVIEW_CHARS) -> str:
    """The source text with ⟦n at each chunk start and n⟧ at each end (overlaps show as nested marks)."""
    marks: dict[int, list[str]] = {}
    for c in chunks:
        if c.start < limit:
            marks.setdefault(c.start, []).append(f"⟦{c.chunk_index} ")
        if c.end <= limit:
            marks.setdefault(c.end, []).insert(0, f" {c.chunk_index}⟧")
    out, last = [], 0
    for pos in sorted(marks):
        out += [text[last:pos], *marks[pos]]
        last = pos
    out.append(text[last:limit])
    return "".join(out) + ("\n…" if len(text) > limit else "")


def show_preview(doc, spec: ChunkSpec, counter: TokenCounter | None, max_chunks: int) -> None:
    """The chunks of one document, within the per-file chunk limit ingest applies (a LoadError past it)."""
    chunks = chunk_within([doc], spec, counter, max_chunks, doc.source)
    table = chunk_table(chunks, counter)
    summary = f"{len(chunks)} chunks of {literal(doc.source)} with {spec.strategy} {spec.size}/{spec.overlap} {spec.unit}"
    if counter:
        over = int((~table["fits the embedder"]).sum())
        summary += f" · {table['tokens'].min()}–{table['tokens'].max()} tokens each"
        if over:
            summary += f" · {over} over the embedder's {MAX_CHUNK_TOKENS}-token window (their ends would be ignored)"
    st.caption(summary)
    st.dataframe(table, hide_index=True, width="stretch", key="kb.preview_table")
    st.code(marked_text(doc.text, chunks), language=None, wrap_lines=True, height=300)


def ingest_progress(job: Job) -> None:
    """The bar of a running ingest job (share of the work, which moves while a batch is embedded: files done,
    chunks embedded and added, ETA, the file being read), with its Cancel button (a click reruns this fragment)."""
    snapshot: IngestProgress | None = job.progress
    if snapshot is None:
        st.progress(0.0, text=f"{job.label}: starting…")
    else:
        st.progress(min(1.0, snapshot.fraction), text=literal(snapshot.describe()))
    if job.cancel.is_set() or st.button("Cancel ingest", icon=":material/stop_circle:", key="kb.cancel"):
        job.cancel.set()
        st.caption(f"Cancelling · {job.elapsed} so far: the ingest stops before its next file or slice of chunks. "
                   "Files already written stay, each whole; the others are listed as cancelled.")
    else:
        st.caption(f"{job.label} · {job.elapsed} so far. You can use the rest of the "
                   "page meanwhile: the ingest goes on in the background and its outcome shows here.")


def _why(outcome: FileOutcome) -> str:
    return outcome.reason if outcome.reason.startswith(outcome.source) else f"{outcome.source}: {outcome.reason}"


def show_report(report: IngestReport) -> None:
    if report.failed:
        st.error("\n".join([literal(report.summary()), ""] + [f"- {literal(_why(o))}" for o in report.failed]),
                 icon=":material/error:")
    elif report.cancelled:
        st.warning(f"Cancelled: {literal(report.summary())}. Ingest again to add the cancelled files (the others are "
                   "skipped as unchanged).", icon=":material/stop_circle:")
    else:
        st.success(literal(report.summary()), icon=":material/check_circle:")
    st.dataframe(pd.DataFrame(report.rows()), hide_index=True, width="stretch", key="kb.report_table")


def length_histogram(chunks: list[StoredChunk]) -> go.Figure:
    lengths = pd.DataFrame({"characters": [len(c.text) for c in chunks]})
    fig = px.histogram(lengths, x="characters", nbins=40, title=f"Chunk lengths ({len(chunks)} chunks)")
    fig.update_layout(height=280, margin=dict(l=10, r=10, t=40, b=10), yaxis_title="chunks")
    return fig


def neighbours(chunk: StoredChunk, chunks: list[StoredChunk]) -> tuple[StoredChunk | None, StoredChunk | None]:
    same = {c.chunk_index: c for c in chunks if c.source == chunk.source}
    return same.get(chunk.chunk_index - 1), same.get(chunk.chunk_index + 1)


def show_chunk(chunk: StoredChunk, chunks: list[StoredChunk]) -> None:
    st.caption(f"{literal(chunk.source)} · {literal(chunk.title)} · chunk {chunk.chunk_index} · characters {chunk.start}–{chunk.end}")
    before, after = neighbours(chunk, chunks)
    cols = st.columns(3)
    for col, label, item in zip(cols, ("Previous chunk", "This chunk", "Next chunk"), (before, chunk, after), strict=True):
        col.markdown(f"**{label}**")
        col.text(item.text if item else "(none: document edge)")
