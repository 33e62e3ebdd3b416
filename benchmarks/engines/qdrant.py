"""Benchmark adapter for Qdrant in local mode (docs/benchmarks.md): start/stop, the documented bulk insert, raw scan, naive export.

No Airflow; only qdrant-client and this package. Local mode locks its folder, so ``stop`` closes
the one client before another process (the benchmarked dump or restore) opens it.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qdrant_client import QdrantClient, models

from airflow_provider_vectorbackup.connection import ConnectionSettings

BATCH_SIZE = 64
"""Points per ``upsert``: the batch size qdrant-client's own ``upload_points`` uses by default."""
SCROLL_PAGE = 256


@dataclass
class LocalQdrant:
    path: Path
    client: QdrantClient


def start(workdir: Path) -> LocalQdrant:
    path = Path(workdir) / "qdrant"
    return LocalQdrant(path, QdrantClient(path=str(path), force_disable_check_same_thread=True))


def stop(ctx: LocalQdrant) -> None:
    ctx.client.close()


def connection(ctx: LocalQdrant) -> ConnectionSettings:
    return ConnectionSettings("qdrant_bench", conn_type="qdrant", extra={"path": str(ctx.path)})


def definition(dimension: int) -> dict[str, Any]:
    """Our definition of a collection of one unnamed ``dimension``-dimension Cosine vector (payload needs none)."""
    return {"engine": "qdrant", "id": {"type": "int_or_uuid", "field": None},
            "vectors": {"<unnamed>": {"kind": "dense", "dtype": "float32", "dimension": dimension, "metric": "cosine"}},
            "native": {"config": {"params": {"vectors": {"size": dimension, "distance": "Cosine"}}},
                       "payload_schema": {}, "aliases": []}}


def bulk_insert(ctx: LocalQdrant, collection: str, records: Iterable[dict], dimension: int) -> None:
    """What Qdrant's docs show: create the collection, then ``upsert`` batches of points."""
    client = ctx.client
    client.create_collection(collection, vectors_config=models.VectorParams(size=dimension,
                                                                           distance=models.Distance.COSINE))
    batch: list[models.PointStruct] = []
    for record in records:
        batch.append(models.PointStruct(id=record["id"], vector=record["vector"], payload=record["payload"]))
        if len(batch) == BATCH_SIZE:
            client.upsert(collection, points=batch, wait=True)
            batch = []
    if batch:
        client.upsert(collection, points=batch, wait=True)


def raw_scan(ctx: LocalQdrant, collection: str) -> int:
    """``scroll`` with vectors and payload until no next offset; results discarded."""
    seen, offset = 0, None
    while True:
        points, offset = ctx.client.scroll(collection, limit=SCROLL_PAGE, offset=offset, with_payload=True,
                                           with_vectors=True)
        seen += len(points)
        if offset is None:
            return seen


def naive_export(ctx: LocalQdrant, collection: str, path: Path) -> int:
    """The loop a user writes from the docs: scroll, ``json.dumps`` each point, gzip it."""
    written, offset = 0, None
    with gzip.open(path, "wt", encoding="utf-8") as out:
        while True:
            points, offset = ctx.client.scroll(collection, limit=SCROLL_PAGE, offset=offset, with_payload=True,
                                               with_vectors=True)
            for point in points:
                out.write(json.dumps({"id": point.id, "vector": point.vector, "payload": point.payload}) + "\n")
                written += 1
            if offset is None:
                return written
