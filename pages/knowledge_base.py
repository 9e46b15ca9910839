"""Knowledge base: upload documents, choose chunking, ingest with progress, see what each collection holds."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from pydantic import ValidationError

from ingest.ingestor import ingest_files, sources_for
from ingest.loaders import SUPPORTED_SUFFIXES
from ingest.uploads import staged_uploads
from ui import resources
from ui.widgets import guarded, store_or_stop

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
with st.form("kb.form"):
    uploads = st.file_uploader("Files", type=[s.lstrip(".") for s in SUPPORTED_SUFFIXES], accept_multiple_files=True,
                               key="kb.files")
    use_sample = st.checkbox("Ingest the bundled sample knowledge base (samples/kb)", value=not infos, key="kb.sample")
    cols = st.columns(3)
    collection = cols[0].text_input("Collection", value=base.collection, key="kb.collection")
    chunk_size = cols[1].number_input("Chunk size (characters)", 50, 8000, base.chunk_size, step=50, key="kb.size")
    overlap = cols[2].number_input("Chunk overlap (characters)", 0, 4000, base.chunk_overlap, step=10, key="kb.overlap")
    submitted = st.form_submit_button("Ingest", type="primary")

if submitted:
    try:
        config = base.with_overrides(collection=collection.strip() or None, chunk_size=int(chunk_size),
                                     chunk_overlap=int(overlap))
    except ValidationError as exc:
        st.error("; ".join(e["msg"] for e in exc.errors()))
        st.stop()
    files = [(f.name, f.getvalue()) for f in uploads or []]
    if not files and not use_sample:
        st.warning("Choose files to upload or tick the sample box.")
        st.stop()
    embedder = guarded(resources.embedder)
    bar = st.progress(0.0, text="Starting…")

    def progress(done: int, total: int, name: str) -> None:
        bar.progress(done / max(total, 1), text=f"{done}/{total} files" + (f" · {name}" if name else ""))

    with staged_uploads(files, base.data_dir) as staged:
        todo = staged + (sources_for(base.sample_kb) if use_sample else [])
        report = ingest_files(store, embedder, todo, config.collection, config.chunk_size, config.chunk_overlap,
                              progress)
    (st.error if report.failed else st.success)(report.summary())
    st.dataframe(pd.DataFrame([vars(o) for o in report.outcomes]), hide_index=True, width="stretch")

if infos:
    with st.expander("Delete a collection"):
        doomed = st.selectbox("Collection to delete", [i.name for i in infos], key="kb.delete_name")
        sure = st.checkbox(f"Yes, delete {doomed!r} and all its chunks", key="kb.delete_sure")
        if st.button("Delete", disabled=not sure, key="kb.delete"):
            store.delete_collection(doomed)
            st.rerun()
