"""The store: BM25 sparse vectors beside the dense ones, hybrid (RRF) search, with the real embedder.

Store behaviour runs on both embedded engines: qdrant-client's local mode and qdrant-edge (ingest/store_edge.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import qdrant_edge as qe
from qdrant_client import QdrantClient
from qdrant_client import models as qm

from ingest import sparse, store_edge
from ingest.embedder import embedder_info
from ingest.__main__ import main as ingest_main
from ingest.ingestor import delete_document, ingest_files, sources_for
from ingest.store import DENSE, CollectionMismatchError, StoreLockedError, VectorStore, open_client
from ingest.store_edge import EdgeClient
from settings import Settings
from tests.conftest import ENGINES, REPO, SAMPLE_DOCUMENTS, SAMPLE_KB, copy_store, ingest_sample, open_store

ANSWERABLE = [json.loads(line)["question"] for line in (REPO / "samples/eval/sample.jsonl").read_text().splitlines()
              if json.loads(line)["answerable"]]


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory, embedder) -> dict[str, Path]:
    """The sample knowledge base ingested once per engine: {engine: data folder}."""
    folders = {}
    for engine in ENGINES:
        folders[engine] = tmp_path_factory.mktemp(f"sample-{engine}")
        ingest_sample(Settings(data_dir=folders[engine], qdrant_engine=engine), embedder)
    return folders


@pytest.fixture
def open_sample(samples: dict[str, Path], tmp_path: Path) -> Iterator[Callable[[str], VectorStore]]:
    """Opens a private copy of the ingested sample (collection "sample") on an engine."""
    opened: list[VectorStore] = []

    def open_copy(engine: str) -> VectorStore:
        copy_store(samples[engine], tmp_path / engine)
        opened.append(open_store(Settings(data_dir=tmp_path / engine, qdrant_engine=engine)))
        return opened[-1]

    yield open_copy
    for store in opened:
        store.client.close()


@pytest.fixture(params=ENGINES)
def kb(request: pytest.FixtureRequest, open_sample) -> VectorStore:
    """The ingested sample knowledge base on each engine."""
    return open_sample(request.param)


@pytest.fixture
def local_kb(open_sample) -> VectorStore:
    """Only local mode (and a server) can hold the single-vector layout of collections made before hybrid search."""
    return open_sample("local")


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
    # BM25's first and the dense first tie under RRF (each first in one list, absent from the other): the tie goes to
    # the one closer to the question, so the rare place's chunk is second, kept where dense alone drops it
    [found] = [c for c in hybrid[:2] if "Isleworth" in c.text]
    assert found.source == "kb/sky_uk.txt"


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


def test_dense_search_is_unchanged_and_old_collections_keep_serving_it(local_kb, embedder):
    sample_store = local_kb
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


def test_both_engines_return_the_same_dense_neighbours(open_sample, embedder):
    local, edge = open_sample("local"), open_sample("edge")
    assert edge.count("sample") == local.count("sample")
    for question in ANSWERABLE:
        vector = embedder.embed_query(question)
        local_hits, edge_hits = local.search("sample", vector, 4), edge.search("sample", vector, 4)
        assert [c.id for c in edge_hits] == [c.id for c in local_hits]
        assert [c.score for c in edge_hits] == pytest.approx([c.score for c in local_hits], abs=1e-4)


def test_a_collection_survives_a_reopen_and_can_be_deleted(kb):
    [info] = kb.describe()
    assert (info.name, info.documents, info.hybrid) == ("sample", SAMPLE_DOCUMENTS, True) and info.chunks > 30
    assert info.disk_mb > 0
    assert {c.source for c in kb.scroll("sample")} == {f"kb/{p.name}" for p in SAMPLE_KB.iterdir()}
    kb.delete_collection("sample")
    assert kb.names() == []


def test_listing_counting_and_deleting_read_every_page_of_a_collection(kb, embedder, tmp_path):
    kb.page_size = 7  # one scroll request returns at most a page: a single request would miss most chunks
    chunks = kb.count("sample")
    assert chunks > 4 * kb.page_size
    assert len(kb.scroll("sample")) == chunks and len({c.id for c in kb.scroll("sample")}) == chunks
    assert len(kb.scroll("sample", limit=10)) == 10
    assert kb.describe()[0].documents == SAMPLE_DOCUMENTS
    rows = tmp_path / "faq.csv"
    rows.write_text("question,answer\n" + "".join(f"Is door {i} open?,Door {i} opens at {i} am.\n" for i in range(20)))
    report = ingest_files(kb, embedder, [(rows, "kb/faq.csv")], "sample", 600, 80)
    assert report.outcomes[0].chunks == 20
    assert kb.describe()[0].documents == SAMPLE_DOCUMENTS + 20  # every csv row is a document
    assert delete_document(kb, "sample", "kb/faq.csv") == 20
    assert kb.count("sample") == chunks and kb.describe()[0].documents == SAMPLE_DOCUMENTS


def test_hybrid_search_on_an_old_collection_asks_for_a_reingest(local_kb, embedder):
    _legacy_copy(local_kb, "sample", "old")
    with pytest.raises(CollectionMismatchError, match="re-ingest"):
        local_kb.hybrid_search("old", embedder.embed_query("Where is Isleworth?"), "Where is Isleworth?", 4)


def test_replacing_a_document_replaces_its_keyword_matches_too(any_store, embedder):
    store = any_store
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


def test_the_edge_engine_is_the_default_and_holds_one_client_per_folder(settings, embedder):
    client = open_client(settings)
    assert isinstance(client, EdgeClient)
    assert client.path == settings.data_dir / "qdrant-edge"
    store = VectorStore(client, embedder_info(settings))
    report = ingest_files(store, embedder, sources_for(SAMPLE_KB), "sample", settings.chunk_size, settings.chunk_overlap)
    assert not report.failed
    with pytest.raises(StoreLockedError, match="open in another process"):
        open_client(settings)
    client.close()
    reopened = VectorStore(open_client(settings), embedder_info(settings))
    assert reopened.count("sample") == report.total_chunks
    reopened.client.close()
    local = open_client(settings.with_overrides(qdrant_engine="local"))
    assert isinstance(local, QdrantClient) and local.get_collections().collections == []
    local.close()


def test_an_edge_collection_keeps_the_vector_memory_tier_it_was_made_with_across_a_reopen(settings, embedder,
                                                                                          monkeypatch):
    """The store's default tier and the Cold one bench/ingest_memory.py compares: each persisted per collection."""
    texts = {"rhine": "The Rhine flows from the Alps through Basel to the North Sea.",
             "sky": "Sky Digital was launched in 1998 using the Astra 2A satellite."}

    def fill(name: str) -> None:
        store = open_store(settings)
        store.ensure_collection(name)
        for key, text in texts.items():
            store.replace_source(name, f"{key}.md", [_chunk(key, text)], embedder.embed_documents([text]), keep_ids=[_id(key)])
        store.optimize(name)
        store.client.close()

    def vector_memory(name: str) -> str | None:
        return json.loads((settings.data_dir / "qdrant-edge" / name / "shard" / "edge_config.json").read_text())[
            "vectors"][DENSE].get("memory")

    fill("default")
    with monkeypatch.context() as patch:
        patch.setattr(store_edge, "VECTOR_MEMORY", qe.Memory.Cold)
        fill("cold")

    store = open_store(settings)
    assert (vector_memory("default"), vector_memory("cold")) == (None, "cold")
    question = embedder.embed_query("Which satellite did Sky Digital launch with?")
    for name in ("default", "cold"):
        assert store.count(name) == 2
        assert "Astra" in store.search(name, question, 1)[0].text
        assert "Astra" in store.hybrid_search(name, question, "Sky Digital satellite", 1)[0].text
    store.client.close()


def test_the_local_mode_store_of_an_earlier_version_is_pointed_to_then_copied_by_migrate(settings, samples, embedder, capsys):
    copy_store(samples["local"] / "qdrant", settings.qdrant_path)  # what an earlier version left in data/qdrant
    old = open_store(settings.with_overrides(qdrant_engine="local"))
    _legacy_copy(old, "sample", "legacy")  # and a collection from before hybrid search
    question = "What satellite was used when Sky digital was launched?"
    expected = [c.id for c in old.search("sample", embedder.embed_query(question), 4)]
    old.client.close()

    assert ingest_main(["--delete", "kb/rhine.md", "--collection", "sample"]) == 2
    err = capsys.readouterr().err
    assert "holds collection(s) of an earlier version not in the current engine: legacy, sample" in err
    assert "python -m ingest migrate" in err.splitlines()[-1]  # the error itself says how to get it back

    assert ingest_main(["migrate"]) == 0
    out = capsys.readouterr().out
    assert "copied        legacy" in out and "copied        sample" in out and "is left as it was" in out
    store = open_store(settings)
    assert store.names() == ["legacy", "sample"]
    assert store.count("legacy") == store.count("sample") > 30
    assert [c.id for c in store.search("sample", embedder.embed_query(question), 4)] == expected
    assert store.is_hybrid("legacy")  # BM25 vectors computed from the text on the way
    found = store.hybrid_search("legacy", embedder.embed_query("Where is Isleworth?"), "Where is Isleworth?", 4)
    assert any("Isleworth" in c.text for c in found[:2])
    store.client.close()

    assert ingest_main(["migrate"]) == 0
    assert "already there" in capsys.readouterr().out
    assert (settings.qdrant_path / "meta.json").exists()  # the old store is left untouched
