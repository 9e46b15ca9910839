"""CLI: python -m ingest PATH [--collection NAME] [--chunk-size N] [--chunk-overlap N]"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import ValidationError
from tqdm import tqdm

from ingest.embedder import EmbedderUnavailableError, embedder_info, make_embedder
from ingest.ingestor import ingest_files, sources_for
from ingest.loaders import LoadError
from ingest.store import StoreError, VectorStore, open_client
from settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingest", description="Ingest a file or folder into Qdrant.")
    parser.add_argument("path", type=Path)
    parser.add_argument("--collection")
    parser.add_argument("--chunk-size", type=int)
    parser.add_argument("--chunk-overlap", type=int)
    args = parser.parse_args(argv)
    try:
        settings = Settings().with_overrides(
            collection=args.collection, chunk_size=args.chunk_size, chunk_overlap=args.chunk_overlap
        )
        files = sources_for(args.path)
        client = open_client(settings)
    except (ValidationError, LoadError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        store = VectorStore(client, embedder_info(settings))
        embedder = make_embedder(settings)
        with tqdm(total=len(files), unit="file", desc="ingest") as bar:
            def progress(done: int, total: int, name: str) -> None:
                bar.n = done
                bar.set_postfix_str(name[-40:])
                bar.refresh()
            report = ingest_files(store, embedder, files, settings.collection, settings.chunk_size,
                                  settings.chunk_overlap, progress)
    except (StoreError, EmbedderUnavailableError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        client.close()
    for outcome in report.outcomes:
        detail = outcome.reason if outcome.status == "failed" else f"{outcome.chunks} chunks"
        print(f"  {outcome.status:<9} {outcome.source}  {detail}")
    print(report.summary())
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
