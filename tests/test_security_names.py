"""A name a person types becomes a path only through one identifier check (settings.identifier).

The review's reproduction: an empty .md ingested with `--collection ../../victim` made the store create and then
delete (recursively) a folder outside data/. Every entry point reaches the store through the same check, and the
edge engine itself resolves a collection's folder strictly inside its own and deletes only what it created.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluation.evalset import EvalSetError, saved_set_path
from ingest import __main__ as ingest_cli
from ingest.collections import collection_name
from ingest.store import InvalidCollectionNameError
from ingest.store_edge import EdgeClient
from settings import InvalidNameError, Settings, identifier
from tests.apptest import fresh_app

HOSTILE_NAMES = ["..", "../..", "../../victim", "/tmp/victim", "a/b", ".hidden", "", "a\x00b", "a\\b", "x" * 101,
                 "названия", " padded "]


def victim(tmp_path: Path) -> Path:
    """A folder with a file in it, outside the data folder, that no collection name may reach."""
    folder = tmp_path / "victim"
    folder.mkdir()
    (folder / "precious.txt").write_text("keep me")
    return folder


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_identifier_refuses_every_name_that_could_leave_a_folder(name):
    with pytest.raises(InvalidNameError, match="not a usable name"):
        identifier(name, "collection")


def test_identifier_keeps_the_names_the_product_makes():
    for name in ("sample", "sample__all-minilm-l6-v2-int8__recursive-600-80", "My_KB.v2", "x" * 100):
        assert identifier(name) == name
    assert identifier(collection_name("../../" + "a" * 300, "fastembed:" + "b" * 300, "recursive", 600, 80))


def test_an_empty_ingest_into_a_traversing_collection_deletes_nothing(settings, tmp_path, monkeypatch, capsys):
    """The reproduction from the review, through the CLI: refused before the store is opened, victim intact."""
    target = victim(tmp_path)
    docs = settings.data_dir / "docs"
    docs.mkdir(parents=True)
    (docs / "empty.md").write_text("")
    monkeypatch.setenv("FQA_INGEST_ROOTS", str(settings.data_dir))
    relative = Path("..") / ".." / "victim"  # from data/qdrant-edge/ up to tmp_path/victim
    assert (settings.data_dir / "qdrant-edge" / relative).resolve() == target.resolve()
    assert ingest_cli.main([str(docs), "--collection", str(relative)]) == 2
    assert "not a usable name" in capsys.readouterr().err
    assert (target / "precious.txt").read_text() == "keep me"


@pytest.mark.parametrize("name", ["..", "../victim", "../../victim"])
def test_the_store_refuses_traversing_names_on_every_engine(any_store, tmp_path, name):
    target = victim(tmp_path)
    for call in (lambda: any_store.ensure_collection(name), lambda: any_store.check(name),
                 lambda: any_store.delete_collection(name)):
        with pytest.raises(InvalidCollectionNameError, match="not a usable name"):
            call()
    assert (target / "precious.txt").exists()
    assert any_store.names() == []


def test_the_edge_engine_never_follows_a_link_planted_in_its_folder(tmp_path):
    target = victim(tmp_path)
    (target / "collection.json").write_text("{}")  # looks like a collection to a naive check
    client = EdgeClient(tmp_path / "store")
    try:
        (client.path / "planted").symlink_to(target, target_is_directory=True)
        with pytest.raises(ValueError, match="leads out of the store's folder"):
            client.delete_collection("planted")
        assert sorted(p.name for p in target.iterdir()) == ["collection.json", "precious.txt"]
    finally:
        client.close()


def test_deleting_a_collection_removes_only_what_the_store_made(store, settings):
    store.ensure_collection("docs")
    folder = Path(store.client.path) / "docs"
    (folder / "notes.txt").write_text("not the store's")
    store.delete_collection("docs")
    assert "docs" not in store.names()
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


def test_settings_refuse_a_traversing_collection_from_the_environment(monkeypatch):
    monkeypatch.setenv("FQA_COLLECTION", "../..")
    with pytest.raises(ValueError, match="not a usable name"):
        Settings()


def test_a_saved_eval_set_name_passes_the_same_check(settings):
    for name in ("../evil", "a/b", ".x"):
        with pytest.raises(EvalSetError, match="not a usable name"):
            saved_set_path(settings, name)
    assert saved_set_path(settings, "mine").name == "mine.jsonl"


def test_the_knowledge_base_page_refuses_a_traversing_collection_name(sample_data):
    """Typing `..` into the page's Collection field: a one-line reason, Ingest disabled, the run store intact."""
    runs_db = sample_data.runs_db
    runs_db.parent.mkdir(parents=True, exist_ok=True)
    runs_db.write_bytes(b"runs")
    with fresh_app(timeout=120) as app:
        app.run()
        app.switch_page("views/knowledge_base.py").run()
        app.text_input(key="kb.collection").input("..").run()
        assert not app.exception
        assert any("not a usable name" in e.value for e in app.error)
        assert app.button(key="kb.ingest").disabled
    assert runs_db.read_bytes() == b"runs"
    assert "sample" in [p.name for p in (sample_data.data_dir / "qdrant-edge").iterdir()]
