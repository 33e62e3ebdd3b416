"""Benchmark adapter for Chroma (embedded PersistentClient): start, the documented bulk insert, raw scan, naive export.

The baselines follow Chroma's docs: ``collection.add`` in batches of the client's
``get_max_batch_size()``, and ``collection.get(limit, offset, include=...)`` paging for reads.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import chromadb
from chromadb.config import Settings

from airflow_provider_vectorbackup.connection import ConnectionSettings
from airflow_provider_vectorbackup.sources.chroma.definition import new_definition

PAGE = 1000
INCLUDE = ["embeddings", "metadatas", "documents", "uris"]


@dataclass
class Context:
    path: Path
    client: Any


def start(workdir: Path) -> Context:
    path = Path(workdir) / "chroma"
    return Context(path, chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False)))


def stop(ctx: Context) -> None:
    ctx.client.close()


def connection(ctx: Context) -> ConnectionSettings:
    """Pass ``client=ctx.client`` to ``ChromaSource.from_connection`` in the same process (one client per folder)."""
    return ConnectionSettings("chroma_bench", conn_type="chroma", extra={"path": str(ctx.path)})


def definition(dimension: int) -> dict[str, Any]:
    return new_definition(dimension, "cosine")


def bulk_insert(ctx: Context, collection: str, records: Iterable[dict[str, Any]], dimension: int) -> None:
    target = ctx.client.create_collection(collection, embedding_function=None, metadata={"hnsw:space": "cosine"})
    batch_size = ctx.client.get_max_batch_size()
    iterator = iter(records)
    while batch := list(islice(iterator, batch_size)):
        target.add(ids=[str(r["id"]) for r in batch], embeddings=[r["vector"] for r in batch],
                   metadatas=[_flat(r["payload"]) for r in batch])


def _flat(payload: dict[str, Any]) -> dict[str, Any]:
    """Chroma refuses empty lists in metadata: an empty ``tags`` is left out, as a user would."""
    return {k: v for k, v in payload.items() if v != []}


def raw_scan(ctx: Context, collection: str) -> int:
    target = ctx.client.get_collection(collection, embedding_function=None)
    seen = offset = 0
    while True:
        page = target.get(limit=PAGE, offset=offset, include=INCLUDE)
        seen += len(page["ids"])
        offset += len(page["ids"])
        if len(page["ids"]) < PAGE:
            return seen


def naive_export(ctx: Context, collection: str, path: Path) -> int:
    target = ctx.client.get_collection(collection, embedding_function=None)
    written = offset = 0
    with gzip.open(path, "wt", encoding="utf-8") as out:
        while True:
            page = target.get(limit=PAGE, offset=offset, include=INCLUDE)
            for i, id_ in enumerate(page["ids"]):
                out.write(json.dumps({"id": id_, "embedding": page["embeddings"][i].tolist(),
                                      "metadata": page["metadatas"][i], "document": page["documents"][i],
                                      "uri": page["uris"][i]}) + "\n")
            written += len(page["ids"])
            offset += len(page["ids"])
            if len(page["ids"]) < PAGE:
                return written
