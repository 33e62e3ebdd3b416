from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_vectorbackup.snapshot import SnapshotResult, SnapshotWriter, describe_source
from airflow_provider_vectorbackup.snapshot.vectors import floats_to_binary

VECTOR_DEFINITION = {"vector": {"dimension": 8, "metric": "cosine", "sourceModel": "other"}, "indexing": {"deny": ["blob"]}}


def sample_documents(count: int, dimension: int = 8, seed: int = 7) -> list[dict[str, Any]]:
    """Documents shaped like a Data API scan: both vector encodings, EJSON, nested metadata."""
    rng = random.Random(seed)
    docs = []
    for i in range(count):
        vector = [rng.uniform(-1, 1) for _ in range(dimension)]
        docs.append({
            "_id": f"doc-{i:06d}",
            "title": f"Document {i} — ünïcødé",
            "$vector": {"$binary": floats_to_binary(vector)} if i % 2 else vector,
            "created": {"$date": 1_760_000_000_000 + i},
            "tags": ["a", "b", str(i % 5)],
            "meta": {"page": i, "score": rng.random(), "nested": {"ok": True, "none": None}},
        })
    return docs


@pytest.fixture
def write_snapshot(tmp_path: Path) -> Callable[..., SnapshotResult]:
    """Write one complete snapshot of the given collections into ``tmp_path / "store"``."""

    def write(collections: dict[str, tuple[dict[str, Any], Iterable[dict[str, Any]]]] | None = None,
              **writer_options: Any) -> SnapshotResult:
        collections = collections or {"docs": (VECTOR_DEFINITION, sample_documents(300))}
        writer_options.setdefault("segment_max_bytes", 20_000)
        with SnapshotWriter(tmp_path / "store", source=describe_source("astra", "https://db.example", "ks"),
                            **writer_options) as writer:
            for name, (definition, docs) in collections.items():
                with writer.collection(name, definition) as collection:
                    collection.write_many(docs)
        return writer.result

    return write
