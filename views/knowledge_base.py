"""Knowledge base: upload or pick documents, preview chunking, ingest with progress, browse and delete.

The ingest runs as a background job (ui/jobs.py): its bar survives reruns, and the rest of the page stays usable.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st
from pydantic import ValidationError

from ingest.chunking import STRATEGIES, spec_of
from ingest.collections import collection_name
from ingest.ingestor import FileOutcome, IngestReport, delete_document, ingest_configured, sources_for
from ingest.loaders import SUPPORTED_SUFFIXES, LoadError
from ingest.roots import allowed_sources, roots_hint
from ingest.uploads import UploadRefusedError, screen_uploads, staged_uploads
from ui import jobs, kb_widgets, resources
from settings import InvalidNameError, identifier, plain_error
from ui.safe_text import literal
from ui.widgets import KNOWN_ERRORS, guarded, store_or_stop


def _globs(text: str) -> list[str]:
    return [g.strip() for g in text.split(",") if g.strip()]


st.title("Knowledge base")
store = store_or_stop()
base = resources.settings()

infos = store.describe()
if infos:
    st.subheader("Collections")
    st.dataframe(pd.DataFrame([vars(i) for i in infos]), hide_index=True, width="stretch")
else:
    st.info("No collections yet. Upload documents below, or ingest the bundled sample.", icon=":material/inbox:")

st.subheader("Add documents")
uploads = st.file_uploader("Files", type=[s.lstrip(".") for s in SUPPORTED_SUFFIXES], accept_multiple_files=True,
                           key="kb.files") or []
folder_cols = st.columns([2, 1, 1])
folder = folder_cols[0].text_input("Or a folder on this machine (read recursively)", key="kb.folder",
                                   help=roots_hint(base.ingest_roots)).strip()
include = folder_cols[1].text_input("Include globs", placeholder="*.md, *.pdf", key="kb.include")
exclude = folder_cols[2].text_input("Exclude globs", placeholder="drafts/*", key="kb.exclude")
use_sample = st.checkbox("Ingest the bundled sample knowledge base (samples/kb)", value=not infos, key="kb.sample")

cols = st.columns(4)
strategy = cols[0].selectbox("Chunking", STRATEGIES, index=STRATEGIES.index(base.chunk_strategy), key="kb.strategy",
                             help="recursive: characters at paragraph/sentence breaks · token: the embedder's own "
                                  "tokens, never over its 256-token window · markdown: split by headers first")
unit = "tokens" if strategy == "token" else "characters"
chunk_size = cols[1].number_input(f"Chunk size ({unit})", 50, 8000, base.chunk_size, step=10, key="kb.size")
overlap = cols[2].number_input(f"Chunk overlap ({unit})", 0, 4000, base.chunk_overlap, step=10, key="kb.overlap")
per_config = cols[3].checkbox("A collection per config", key="kb.per_config",
                              help="Name the collection after the embedder and chunking settings, so configurations "
                                   "can be compared side by side without re-ingesting.")
collection = st.text_input("Collection", value=base.collection, key="kb.collection").strip()

try:
    config = base.with_overrides(chunk_strategy=strategy, chunk_size=int(chunk_size), chunk_overlap=int(overlap))
    spec = spec_of(config)
except ValidationError as exc:
    st.error(plain_error(exc), icon=":material/error:")  # our own words about the numbers above
    config = spec = None
if spec and per_config:
    collection = collection_name(collection or base.collection, store.embedder.id, spec.strategy, spec.size, spec.overlap)
    st.caption(f"Ingesting into **{collection}**")
try:  # the name becomes the collection's folder: it must be an identifier
    collection = identifier(collection or base.collection, "collection")
except InvalidNameError as exc:
    st.error(literal(str(exc)), icon=":material/error:")
    config = None

refused: list[FileOutcome] = []  # files turned away before reading, reported with the others after the ingest
try:
    folder_files, refused = (allowed_sources(Path(folder), base.ingest_roots, _globs(include) or None,
                                             _globs(exclude) or None) if folder else ([], []))
except LoadError as exc:
    st.error(literal(str(exc)), icon=":material/folder_off:")
    folder_files = []
sample_files = sources_for(base.sample_kb) if use_sample else []
try:
    too_large = screen_uploads([(f.name, f.size) for f in uploads], base)
except UploadRefusedError as exc:
    st.error(literal(str(exc)), icon=":material/block:")
    uploads, too_large = [], {}
refused += too_large.values()
uploads = [f for i, f in enumerate(uploads) if i not in too_large]  # their bytes are never read or staged
if refused:
    st.warning(f"{len(refused)} file(s) will not be read; the ingest report lists them too.", icon=":material/block:")
    st.dataframe(pd.DataFrame([{"file": o.source, "reason": o.reason} for o in refused]), hide_index=True,
                 key="kb.refused")

candidates = {f.name: (f.name, f.getvalue(), None) for f in uploads}
candidates |= {source: (source, None, path) for path, source in folder_files + sample_files}
if spec and candidates:
    with st.expander("Preview how a document will be chunked", key="kb.preview_box"):
        picked = st.selectbox("Document", list(candidates), key="kb.preview_doc")
        try:
            docs = kb_widgets.load_preview(config, *candidates[picked])
            kb_widgets.show_preview(docs[0], spec, kb_widgets.token_counter(base), config.max_chunks_per_file)
        except LoadError as exc:
            st.warning(literal(str(exc)), icon=":material/warning:")

if st.button("Ingest", type="primary", key="kb.ingest", disabled=config is None):
    if not (uploads or folder_files or sample_files or refused):
        st.warning("Choose files to upload, a folder, or tick the sample box.")
        st.stop()
    embedder = guarded(resources.embedder)
    target = collection
    payload = [(f.name, f.getvalue()) for f in uploads]  # the bytes, not the widget: the job outlives this run
    files = folder_files + sample_files

    def ingest(job: jobs.Job) -> IngestReport:
        with staged_uploads(payload, base.data_dir) as staged:
            return ingest_configured(config, store, embedder, staged + files, target, job.report,
                                     should_continue=job.should_continue, refused=refused)

    try:
        started = jobs.registry().start(f"ingest:{target}", f"Ingest into {target!r}", ingest, KNOWN_ERRORS)
    except jobs.JobBusyError as exc:
        st.warning(f"{exc.job.label} is already running ({exc.job.elapsed} so far): one ingest into a collection "
                   "at a time. Wait for it to finish, then ingest again (unchanged files are skipped).",
                   icon=":material/hourglass_top:")
    else:
        st.session_state["kb.job"] = started.id

if job := jobs.current("kb.job"):
    if job.running:
        jobs.follow(job, kb_widgets.ingest_progress)
    elif job.error:
        st.error(f"{literal(job.label)} stopped: {literal(job.error)}", icon=":material/error:")
    else:
        kb_widgets.show_report(job.result)
if notice := st.session_state.pop("kb.notice", None):
    st.success(literal(notice), icon=":material/delete:")

if not infos:
    st.stop()

st.subheader("Browse chunks")
names = [i.name for i in infos]
browse = st.selectbox("Collection", names, index=names.index(base.collection) if base.collection in names else 0,
                      key="kb.browse_collection")
chunks = sorted(store.scroll(browse), key=lambda c: (c.source, c.chunk_index))
query = st.text_input("Search chunks by text", key="kb.browse_query").strip()
found = [c for c in chunks if query.lower() in c.text.lower()] if query else chunks
st.plotly_chart(kb_widgets.length_histogram(chunks), key="kb.histogram")
st.caption(f"{len(found)} of {len(chunks)} chunks" + (f" contain “{literal(query)}”" if query else ""))
if found:
    st.dataframe(pd.DataFrame([{"source": c.source, "chunk": c.chunk_index, "characters": len(c.text),
                                "text": c.text[:120]} for c in found[:500]]), hide_index=True, width="stretch",
                 key="kb.browse_table")
    labels = {f"{c.source} · chunk {c.chunk_index}": c for c in found[:500]}
    shown = st.selectbox("Show a chunk with its neighbours", list(labels), key="kb.browse_chunk")
    kb_widgets.show_chunk(labels[shown], chunks)

with st.expander("Delete a document", key="kb.delete_doc_box"):
    sources = sorted({c.source for c in chunks})
    doomed_doc = st.selectbox(f"Document in {browse!r}", sources, key="kb.delete_doc_name")
    if st.button("Delete document", key="kb.delete_doc"):
        removed = guarded(lambda: delete_document(store, browse, doomed_doc))  # a full disk refuses even a delete
        st.session_state["kb.notice"] = f"Deleted {doomed_doc} from {browse!r}: {removed} chunks removed."
        st.rerun()

with st.expander("Delete a collection", key="kb.delete_box"):
    doomed = st.selectbox("Collection to delete", names, key="kb.delete_name")
    sure = st.checkbox(f"Yes, delete {doomed!r} and all its chunks", key="kb.delete_sure")
    if st.button("Delete", disabled=not sure, key="kb.delete"):
        store.delete_collection(doomed)
        st.rerun()
