"""Benchmark adapter for Milvus Lite (docs: benchmarks/README.md; the driver calls these functions, no Airflow).

The baselines are what a user writes from the pymilvus docs: ``MilvusClient.insert`` in batches
for loading, and ``query_iterator`` for reading everything.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymilvus import DataType, MilvusClient

from airflow_provider_vectorbackup.connection import ConnectionSettings

INSERT_BATCH = 1000
"""Rows per ``insert`` call, as the pymilvus examples batch them."""
SCAN_BATCH = 1000
"""``query_iterator``'s default batch."""


@dataclass
class Context:
    client: MilvusClient
    path: str


def start(workdir: Path) -> Context:
    path = str(Path(workdir) / "milvus.db")
    return Context(MilvusClient(path), path)


def stop(ctx: Context) -> None:
    """Close the client and the in-process Lite server, so another process can open the directory."""
    from milvus_lite.server_manager import server_manager_instance

    ctx.client.close()
    server_manager_instance.release_server(ctx.path)


def connection(ctx: Context) -> ConnectionSettings:
    return ConnectionSettings("milvus_bench", conn_type="milvus", extra={"path": ctx.path})


def definition(dimension: int) -> dict[str, Any]:
    """Our definition of the benchmark collection, as ``MilvusSource.collection_definition`` describes it on Lite."""
    fields = [{"name": "id", "type": "INT64", "is_primary": True},
              {"name": "vector", "type": "FLOAT_VECTOR", "params": {"dim": dimension}},
              {"name": "title", "type": "VARCHAR", "params": {"max_length": 512}},
              {"name": "price", "type": "DOUBLE"},
              # Lite does not describe an array's element max_length (128 below), so neither does this.
              {"name": "tags", "type": "ARRAY", "element_type": "VARCHAR", "params": {"max_capacity": 64}},
              {"name": "ts", "type": "INT64"}]
    return {"engine": "milvus", "id": {"type": "int64", "field": "id"},
            "vectors": {"vector": {"kind": "dense", "dtype": "float32", "dimension": dimension, "metric": "cosine"}},
            "native": {"fields": fields, "functions": [], "enable_dynamic_field": False, "auto_id": False,
                       "description": "", "properties": {}, "consistency_level": "Strong", "num_shards": 1,
                       "partitions": ["_default"], "num_partitions": None,
                       "indexes": [{"field_name": "vector", "index_name": "vector", "index_type": "HNSW",
                                    "metric_type": "COSINE", "params": {}}]}}


def bulk_insert(ctx: Context, collection: str, records: Iterable[dict[str, Any]], dimension: int) -> None:
    """Create the collection with a schema and an HNSW index, then ``insert`` batches of rows."""
    client = ctx.client
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
    schema.add_field("title", DataType.VARCHAR, max_length=512)
    schema.add_field("price", DataType.DOUBLE)
    schema.add_field("tags", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=64, max_length=128)
    schema.add_field("ts", DataType.INT64)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="HNSW", metric_type="COSINE")
    client.create_collection(collection, schema=schema, index_params=index)
    batch: list[dict[str, Any]] = []
    for record in records:
        batch.append({"id": record["id"], "vector": record["vector"], **record["payload"]})
        if len(batch) == INSERT_BATCH:
            client.insert(collection, batch)
            batch = []
    if batch:
        client.insert(collection, batch)


def _rows(ctx: Context, collection: str) -> Iterator[list[dict[str, Any]]]:
    ctx.client.load_collection(collection)
    iterator = ctx.client.query_iterator(collection, batch_size=SCAN_BATCH, filter="", output_fields=["*"])
    try:
        while rows := iterator.next():
            yield rows
    finally:
        iterator.close()


def raw_scan(ctx: Context, collection: str) -> int:
    """``query_iterator`` over everything, results discarded."""
    return sum(len(rows) for rows in _rows(ctx, collection))


def naive_export(ctx: Context, collection: str, path: Path) -> int:
    """``query_iterator`` pages, one ``json.dumps`` line per row (vectors as lists), through gzip."""
    written = 0
    with gzip.open(path, "wt", encoding="utf-8") as out:
        for rows in _rows(ctx, collection):
            for row in rows:
                out.write(json.dumps({k: list(v) if k == "vector" else v for k, v in row.items()}) + "\n")
                written += 1
    return written
