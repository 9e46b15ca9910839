"""The store: BM25 sparse vectors beside the dense ones, hybrid (RRF) search, with the real embedder.

Store behaviour runs on both embedded engines: qdrant-client's local mode and qdrant-edge (ingest/store_edge.py).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from qdrant_client import models as qm

from ingest import sparse
from ingest.embedder import embedder_info
from ingest.ingestor import ingest_files, sources_for
from ingest.store import DENSE, CollectionMismatchError, StoreLockedError, VectorStore, open_client
from ingest.store_edge import EdgeClient
from settings import Settings
from tests.conftest import REPO, SAMPLE_KB

ANSWERABLE = [json.loads(line)["question"] for line in (REPO / "samples/eval/sample.jsonl").read_text().splitlines()
              if json.loads(line)["answerable"]]


@pytest.fixture(scope="module")
def edge_sample(tmp_path_factory: pytest.TempPathFactory, embedder) -> Path:
    folder = tmp_path_factory.mktemp("edge-sample")
    base = Settings()
    client = EdgeClient(folder)
    report = ingest_files(VectorStore(client, embedder_info(base)), embedder, sources_for(SAMPLE_KB),
                          base.collection, base.chunk_size, base.chunk_overlap)
    client.close()
    assert not report.failed
    return folder


@pytest.fixture(params=["local", "edge"])
def kb(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    """The ingested sample knowledge base (collection "sample") on each engine."""
    if request.param == "local":
        yield request.getfixturevalue("sample_store")
        return
    shutil.copytree(request.getfixturevalue("edge_sample"), tmp_path / "edge")
    client = EdgeClient(tmp_path / "edge")
    yield VectorStore(client, embedder_info(Settings()))
    client.close()


@pytest.fixture(params=["local", "edge"])
def empty(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    if request.param == "local":
        yield request.getfixturevalue("store")
        return
    client = EdgeClient(tmp_path / "edge")
    yield VectorStore(client, embedder_info(Settings()))
    client.close()


def test_terms_are_lowercased_stemmed_and_stripped_of_stopwords_and_punctuation():
    assert sparse.terms("The Running dogs of Zurich ran 1997 times!") == ["run", "dog", "zurich", "ran", "1997", "time"]


def test_a_query_matches_a_document_through_word_forms():
    doc = sparse.encode_documents(["Kublai issued paper money and revived Chinese rituals."])[0]
    query = sparse.encode_query("Who issues money?")
    assert set(query.indices) <= set(doc.indices)
    assert query.values == [1.0, 1.0]  # IDF comes from the collection at query time
    assert sparse.encode_query("what is the").indices == []


def test_hybrid_ranks_the_chunk_naming_a_rare_place_first_where_dense_misses_it(kb, embedder):
    question = "Where is Isleworth?"
    vector = embedder.embed_query(question)
    dense = kb.search("sample", vector, 4)
    hybrid = kb.hybrid_search("sample", vector, question, 4)
    assert not any("Isleworth" in c.text for c in dense)
    assert "Isleworth" in hybrid[0].text
    assert hybrid[0].source == "kb/sky_uk.txt"


def test_hybrid_results_carry_the_dense_cosine_similarity_for_the_abstention_gate(kb, embedder):
    question = "Who was Sorghaghtani?"
    vector = embedder.embed_query(question)
    cosine = {c.id: c.score for c in kb.search("sample", vector, 100)}
    hybrid = kb.hybrid_search("sample", vector, question, 4, prefetch_limit=20)
    assert "Sorghaghtani" in hybrid[0].text
    assert [c.score for c in hybrid] == sorted((c.score for c in hybrid), reverse=True)
    for chunk in hybrid:
        assert chunk.similarity == pytest.approx(cosine[chunk.id], abs=1e-4)
        assert chunk.score != chunk.similarity  # the fused score is a rank score, not a similarity


def _legacy_copy(store: VectorStore, source: str, target: str) -> None:
    """A collection in the layout used before hybrid search: one unnamed dense vector, no sparse one."""
    store.client.create_collection(target, vectors_config=qm.VectorParams(size=store.embedder.dim, distance=qm.Distance.COSINE),
                                   metadata={"embedder": store.embedder.id, "dim": store.embedder.dim})
    points, _ = store.client.scroll(source, limit=10_000, with_payload=True, with_vectors=[DENSE])
    chunks = [{"id": str(p.id), "payload": p.payload} for p in points]
    for src in {c["payload"]["source"] for c in chunks}:
        mine = [(c, p.vector[DENSE]) for c, p in zip(chunks, points, strict=True) if c["payload"]["source"] == src]
        store.replace_source(target, src, [c for c, _ in mine], [v for _, v in mine], keep_ids=[c["id"] for c, _ in mine])


def test_dense_search_is_unchanged_and_old_collections_keep_serving_it(sample_store, embedder):
    _legacy_copy(sample_store, "sample", "old")
    assert sample_store.count("old") == sample_store.count("sample")
    listed = {i.name: i for i in sample_store.describe()}
    assert listed["sample"].hybrid and not listed["old"].hybrid  # the page can say which needs a re-ingest
    assert listed["sample"].disk_mb > 0
    for question in ANSWERABLE:
        vector = embedder.embed_query(question)
        new = sample_store.search("sample", vector, 4)
        old = sample_store.search("old", vector, 4)
        assert [c.id for c in new] == [c.id for c in old]
        assert [c.score for c in new] == pytest.approx([c.score for c in old], abs=1e-5)
        assert all(c.similarity == c.score for c in new)


def test_both_engines_return_the_same_dense_neighbours(sample_store, edge_sample, embedder, tmp_path):
    shutil.copytree(edge_sample, tmp_path / "edge")
    client = EdgeClient(tmp_path / "edge")
    edge = VectorStore(client, embedder_info(Settings()))
    assert edge.count("sample") == sample_store.count("sample")
    for question in ANSWERABLE:
        vector = embedder.embed_query(question)
        local_hits, edge_hits = sample_store.search("sample", vector, 4), edge.search("sample", vector, 4)
        assert [c.id for c in edge_hits] == [c.id for c in local_hits]
        assert [c.score for c in edge_hits] == pytest.approx([c.score for c in local_hits], abs=1e-4)
    client.close()


def test_an_edge_collection_survives_a_reopen_and_can_be_deleted(edge_sample, embedder, tmp_path):
    shutil.copytree(edge_sample, tmp_path / "edge")
    client = EdgeClient(tmp_path / "edge")
    store = VectorStore(client, embedder_info(Settings()))
    [info] = store.describe()
    assert (info.name, info.documents, info.hybrid) == ("sample", 5, True) and info.chunks > 30
    assert info.disk_mb > 0
    assert {c.source for c in store.scroll("sample")} == {f"kb/{p.name}" for p in SAMPLE_KB.iterdir()}
    store.delete_collection("sample")
    client.close()
    assert VectorStore(EdgeClient(tmp_path / "edge"), embedder_info(Settings())).names() == []


def test_hybrid_search_on_an_old_collection_asks_for_a_reingest(sample_store, embedder):
    _legacy_copy(sample_store, "sample", "old")
    with pytest.raises(CollectionMismatchError, match="re-ingest"):
        sample_store.hybrid_search("old", embedder.embed_query("Where is Isleworth?"), "Where is Isleworth?", 4)


def test_replacing_a_document_replaces_its_keyword_matches_too(empty, embedder):
    store = empty
    store.ensure_collection("kb")
    texts = {"a": "The Obersee is the upper lake of Lake Constance.", "b": "Isleworth hosts the Sky headquarters."}
    for key, text in texts.items():
        store.replace_source("kb", f"{key}.md", [_chunk(key, text)], embedder.embed_documents([text]), keep_ids=[_id(key)])
    new_text = "Osterley is a district in west London."
    store.replace_source("kb", "b.md", [_chunk("b2", new_text, "b.md")], embedder.embed_documents([new_text]), keep_ids=[_id("b2")])
    hits = store.hybrid_search("kb", embedder.embed_query("Isleworth"), "Isleworth", 5)
    assert all("Isleworth" not in c.text for c in hits)
    assert store.hybrid_search("kb", embedder.embed_query("Osterley"), "Osterley", 1)[0].source == "b.md"


def _id(key: str) -> str:
    return f"00000000-0000-0000-0000-{key.encode().hex():0>12}"


def _chunk(key: str, text: str, source: str | None = None) -> dict:
    payload = {"source": source or f"{key}.md", "title": key, "chunk_index": 0, "start": 0, "end": len(text), "text": text}
    return {"id": _id(key), "payload": payload}


def test_the_edge_engine_is_chosen_by_settings_and_holds_one_client_per_folder(settings, embedder):
    edge_settings = settings.with_overrides(qdrant_engine="edge")
    client = open_client(edge_settings)
    assert isinstance(client, EdgeClient)
    assert client.path == edge_settings.data_dir / "qdrant-edge"
    store = VectorStore(client, embedder_info(edge_settings))
    report = ingest_files(store, embedder, sources_for(SAMPLE_KB), "sample", settings.chunk_size, settings.chunk_overlap)
    assert not report.failed
    with pytest.raises(StoreLockedError, match="open in another process"):
        open_client(edge_settings)
    client.close()
    reopened = VectorStore(open_client(edge_settings), embedder_info(edge_settings))
    assert reopened.count("sample") == report.total_chunks
    reopened.client.close()
