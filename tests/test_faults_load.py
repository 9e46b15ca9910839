"""Several dashboard sessions at once share one store client (ui/resources.py): their first searches must not clash.

bench/load.py drives real browser sessions; this is the part of it that fits a test.
"""

from __future__ import annotations

import threading

from tests.conftest import open_store


def test_eight_sessions_searching_a_freshly_opened_store_at_once_all_get_their_passages(sample_data, embedder):
    store = open_store(sample_data)  # as the dashboard opens it: no collection loaded yet
    vector = embedder.embed_query("Florida Huguenot colony")
    start, results, errors = threading.Barrier(8), [], []

    def session() -> None:
        start.wait()
        try:
            results.append(store.hybrid_search("sample", vector, "Florida Huguenot colony", 4))
        except Exception as exc:  # noqa: BLE001 - what a session would have shown
            errors.append(exc)

    threads = [threading.Thread(target=session) for _ in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        store.client.close()
    assert not errors, errors  # it was "Can't init WAL: Kind(WouldBlock)" for all but the first
    assert len(results) == 8 and all(hits[0].source == "kb/huguenots.md" for hits in results)
