"""Chunking strategies: exact offsets for highlighting, token windows that fit the embedder, header paths."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ingest.chunking import MAX_CHUNK_TOKENS, ChunkSpec, chunk_document, tokenizer_for
from ingest.ingestor import ingest_configured, sources_for
from ingest.loaders import LoadedDocument
from tests.conftest import REPO

RHINE = (REPO / "samples/kb/rhine.md").read_text()
GUIDE = """# Visitor guide

Welcome to the harbour museum. It tells the story of the port since 1650.

## Opening hours

The museum opens at 9 am on weekdays and at 10 am on weekends.
It is closed on 25 December.

```
# this is a code comment, not a header
print("tickets")
```

## Tickets

### Adults

Adult tickets cost 12 euros. """ + "Guided tours leave every hour from the main hall. " * 30 + """

### Children

Children under 12 enter free.
"""

SPECS = [ChunkSpec(strategy="recursive", size=300, overlap=40), ChunkSpec(strategy="token", size=64, overlap=8),
         ChunkSpec(strategy="markdown", size=300, overlap=40)]


@pytest.fixture(scope="module")
def tokens():
    from settings import Settings
    return tokenizer_for(Settings())


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.label)
@pytest.mark.parametrize("text", [RHINE, GUIDE], ids=["rhine", "guide"])
def test_every_chunk_points_back_to_its_exact_source_text(spec, text, tokens):
    chunks = chunk_document(LoadedDocument("doc.md", "Doc", text), spec, tokens)
    assert len(chunks) > 2
    assert [c.chunk_index for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert text[chunk.start:chunk.end] == chunk.text
        assert chunk.text == chunk.text.strip() and chunk.text
    # the whole document is covered: no text between consecutive chunks is lost (whitespace aside)
    for before, after in zip(chunks, chunks[1:]):
        assert text[before.end:after.start].strip() == "" or after.start < before.end


def test_token_chunks_never_exceed_the_size_or_the_embedder_window(tokens):
    text = RHINE + "\n\n" + "Hyperparameterisation of überlange Donaudampfschifffahrtsgesellschaftskapitäne. " * 40
    chunks = chunk_document(LoadedDocument("d", "d", text), ChunkSpec(strategy="token", size=MAX_CHUNK_TOKENS,
                                                                       overlap=20), tokens)
    counts = [tokens.count(c.text) for c in chunks]
    assert max(counts) <= MAX_CHUNK_TOKENS and counts[0] >= MAX_CHUNK_TOKENS - 2  # windows are filled
    small = chunk_document(LoadedDocument("d", "d", text), ChunkSpec(strategy="token", size=50, overlap=10), tokens)
    assert all(tokens.count(c.text) <= 50 for c in small)
    assert small[1].start < small[0].end  # consecutive windows overlap


def test_a_token_size_above_the_embedder_window_is_refused():
    with pytest.raises(ValidationError, match="must fit the embedder's 256-token window"):
        ChunkSpec(strategy="token", size=300, overlap=20)
    with pytest.raises(ValidationError, match=r"chunk_overlap \(50\) must be smaller than chunk_size \(50\)"):
        ChunkSpec(strategy="recursive", size=50, overlap=50)


def test_recursive_character_chunks_can_silently_overflow_the_window_token_chunks_cannot(tokens):
    """Why the token strategy exists: 2,000 characters of dense text is over 256 tokens."""
    long_chars = chunk_document(LoadedDocument("d", "d", RHINE), ChunkSpec(size=2000, overlap=0), tokens)
    assert max(tokens.count(c.text) for c in long_chars) > MAX_CHUNK_TOKENS


def test_markdown_chunks_stay_inside_their_section_and_carry_the_header_path(tokens):
    chunks = chunk_document(LoadedDocument("guide.md", "Visitor guide", GUIDE),
                            ChunkSpec(strategy="markdown", size=300, overlap=40), tokens)
    by_header = {c.headers: c for c in chunks}
    assert set(by_header) == {"Visitor guide", "Visitor guide > Opening hours",
                              "Visitor guide > Tickets > Adults", "Visitor guide > Tickets > Children"}
    hours = [c for c in chunks if c.headers == "Visitor guide > Opening hours"]
    assert "closed on 25 December" in hours[0].text
    assert "# this is a code comment" in hours[-1].text  # a '#' inside a code block is not a header
    adults = next(c for c in chunks if c.headers == "Visitor guide > Tickets > Adults")
    assert adults.text.startswith("## Tickets\n\n### Adults")  # an empty parent header goes with its child
    assert by_header["Visitor guide > Tickets > Children"].text.startswith("### Children")
    assert sum(c.headers == "Visitor guide > Tickets > Adults" for c in chunks) > 3  # a long section is size-bounded
    assert all(len(c.text) <= 300 for c in chunks)


def test_the_stored_payload_records_where_and_how_each_chunk_was_made(settings, store, embedder, tmp_path):
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "guide.md").write_text(GUIDE)
    config = settings.with_overrides(chunk_strategy="markdown", chunk_size=300, chunk_overlap=40)
    report = ingest_configured(config, store, embedder, sources_for(folder), "guide")
    assert report.outcomes[0].status == "added"
    points, _ = store.client.scroll("guide", limit=100, with_payload=True)
    payload = min((p.payload for p in points), key=lambda p: p["chunk_index"])
    assert set(payload) >= {"document_id", "source", "title", "chunk_index", "start", "end", "content_hash",
                            "chunk_strategy", "chunk_size", "chunk_overlap", "ingested_at", "headers", "text"}
    assert payload["source"] == "kb/guide.md" and payload["title"] == "Visitor guide"
    assert (payload["chunk_strategy"], payload["chunk_size"], payload["chunk_overlap"]) == ("markdown", 300, 40)
    assert payload["headers"] == "Visitor guide" and GUIDE[payload["start"]:payload["end"]] == payload["text"]
    assert len({p.payload["document_id"] for p in points}) == 1
