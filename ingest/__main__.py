"""CLI: ingest a file or folder, or delete a document.

    python -m ingest PATH [--collection NAME | --per-config] [--strategy recursive|token|markdown]
                          [--chunk-size N] [--chunk-overlap N] [--include GLOB]... [--exclude GLOB]...
    python -m ingest --delete SOURCE --collection NAME
    python -m ingest migrate        (copy the local-mode store of earlier versions into the edge engine)

Without --collection or --per-config the collection is settings.collection ("sample"); --per-config
derives the name from the embedder and chunking config (e.g. sample__all-minilm-l6-v2-int8__token-200-20),
so configurations can be compared side by side without re-ingesting.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import ValidationError
from tqdm import tqdm

from ingest.chunking import STRATEGIES, spec_of
from ingest.collections import collection_name
from ingest.embedder import EmbedderUnavailableError, embedder_info, make_embedder
from ingest.ingestor import IngestProgress, IngestReport, delete_document, ingest_configured
from ingest.loaders import LoadError
from ingest.migrate import migrate_local
from ingest.roots import allowed_sources
from ingest.store import StoreError, VectorStore, embedded_path, legacy_collections, open_client
from ingest.store_edge import EdgeClient
from ops import profiles
from settings import Settings, plain_error


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ingest", description="Ingest a file or folder into Qdrant.")
    parser.add_argument("path", type=Path, nargs="?", help="file or folder to ingest")
    parser.add_argument("--collection", help="exact collection name (default: settings.collection)")
    parser.add_argument("--per-config", action="store_true",
                        help="use a collection named after the embedder and chunking config")
    parser.add_argument("--strategy", choices=STRATEGIES)
    parser.add_argument("--chunk-size", type=int, help="characters, or tokens for --strategy token")
    parser.add_argument("--chunk-overlap", "--overlap", type=int)
    parser.add_argument("--include", action="append", default=[], metavar="GLOB", help="only matching files (repeatable)")
    parser.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="skip matching files (repeatable)")
    parser.add_argument("--delete", metavar="SOURCE", help="delete this document and its chunks instead of ingesting")
    return parser


def print_report(report: IngestReport) -> None:
    """The outcome table the page shows, one file a line."""
    width = max((len(o.source) for o in report.outcomes), default=4)
    print(f"  {'status':<9} {'file':<{width}}  chunks added / reason")
    for outcome in report.outcomes:
        detail = outcome.reason if outcome.status == "failed" else f"{outcome.chunks} chunks"
        print(f"  {outcome.status:<9} {outcome.source:<{width}}  {detail}")
    print(report.summary())


def migrate(settings: Settings) -> int:
    """`python -m ingest migrate`: copy <data_dir>/qdrant (local mode) into the edge store, saying what happened."""
    old = settings.qdrant_path
    if settings.qdrant_url or settings.qdrant_engine != "edge":
        print("error: migrate copies into the embedded edge engine; unset QDRANT_URL and FQA_QDRANT_ENGINE", file=sys.stderr)
        return 2
    if not (old / "meta.json").exists():
        print(f"nothing to migrate: no local-mode store in {old}")
        return 0
    client = open_client(settings)
    try:
        results = migrate_local(old, client)
    finally:
        client.close()
    for r in results:
        print(f"  {r.status:<13} {r.name}: {r.chunks} chunks{f' ({r.reason})' if r.reason else ''}")
    print(f"copied {sum(r.status == 'copied' for r in results)} collection(s) from {old} into {embedded_path(settings)}; "
          f"{old} is left as it was: delete it once the dashboard shows your collections.")
    return 1 if any(r.status == "skipped" for r in results) else 0


def _legacy_note(client: object) -> None:
    if isinstance(client, EdgeClient) and (names := legacy_collections(client.path)):
        print(f"note: {client.path.with_name('qdrant')} holds collection(s) of an earlier version not in the current "
              f"engine: {', '.join(names)}. Copy them with: python -m ingest migrate", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["migrate"]:
        try:
            return migrate(Settings())
        except (ValidationError, StoreError) as exc:
            print(f"error: {plain_error(exc)}", file=sys.stderr)
            return 2
    parser = _parser()
    args = parser.parse_args(argv)
    if (args.path is None) == (args.delete is None):
        parser.error("give a PATH to ingest, or --delete SOURCE")
    try:
        settings = Settings().with_overrides(collection=args.collection, chunk_size=args.chunk_size,
                                             chunk_overlap=args.chunk_overlap, chunk_strategy=args.strategy)
        spec = spec_of(settings)
        info = embedder_info(settings)
        collection = (collection_name(settings.collection, info.id, spec.strategy, spec.size, spec.overlap)
                      if args.per_config else settings.collection)
        # the same allowed folders as the page's folder field (FQA_INGEST_ROOTS): links out of them are refused
        files, refused = (allowed_sources(args.path, settings.ingest_roots, args.include or None, args.exclude or None)
                          if args.path else ([], []))
        client = open_client(settings)
    except (ValidationError, LoadError, StoreError, EmbedderUnavailableError) as exc:
        print(f"error: {plain_error(exc)}", file=sys.stderr)
        return 2
    if note := profiles.cli_note(settings):
        print(note, file=sys.stderr)
    try:
        _legacy_note(client)
        store = VectorStore(client, info)
        if args.delete:
            removed = delete_document(store, collection, args.delete)
            print(f"deleted {args.delete!r} from {collection!r}: {removed} chunks removed")
            return 0 if removed else 1
        embedder = make_embedder(settings)
        # the bar is the share of the bytes done, so it moves while a batch of files is embedded, not only as files end
        with tqdm(total=1.0, desc=f"ingest → {collection}",
                  bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}{postfix}]") as bar:
            def progress(p: IngestProgress) -> None:
                bar.n = p.fraction
                bar.set_postfix(files=f"{p.files_done}/{p.files_total}", embedded=p.chunks_embedded,
                                added=p.chunks_added, file=p.current[-30:], refresh=False)
                bar.refresh()
            report = ingest_configured(settings, store, embedder, files, collection, progress, refused=refused)
    except (StoreError, EmbedderUnavailableError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        client.close()
    print_report(report)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
