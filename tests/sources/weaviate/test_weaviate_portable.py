"""The cross-engine contract (portable17): a collection made by ``portable_definition`` holds every kind the
capabilities claim exactly, reads back as the definition, and is recognised when created again.

Weaviate's schema records no dimension: until its first vector is written the collection describes the
field's dimension as ``None``, and is recognised as the one asked for all the same."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest

from airflow_provider_vectorbackup.snapshot import vector_fields as vf
from airflow_provider_vectorbackup.snapshot.codec import DEFAULT_CODEC
from airflow_provider_vectorbackup.sources.portable import RESERVED_FIELD, PortableCollection
from airflow_provider_vectorbackup.sources.weaviate.client import WeaviateSource
from airflow_provider_vectorbackup.translation.values import fits
from tests.sources.test_conformance import digest_of, scanned

VALUES = {"string": lambda i: f"café {i}", "int": lambda i: [2**53, -(2**53), i][i % 3], "float": lambda i: i / 7,
          "bool": lambda i: bool(i % 2), "uuid": lambda i: uuid.UUID(int=i * 7919),
          "bytes": lambda i: bytes([i % 256, 0, 255])}


def test_a_portable_collection_holds_every_claimed_kind_exactly(weaviate_source) -> None:
    source = weaviate_source()
    assert set(VALUES) == WeaviateSource.capabilities.payload_kinds
    assert all(fits(DEFAULT_CODEC.encode(make(7)), WeaviateSource.capabilities) for make in VALUES.values()), \
        "a translation sends each claimed kind as it is"
    portable = PortableCollection("uuid", {"emb": {"kind": "dense", "dtype": "float32", "dimension": 8,
                                                   "metric": "cosine", "nullable": False}},
                                  payload={**{f"f_{kind}": kind for kind in VALUES}, RESERVED_FIELD: "string"})
    definition = source.portable_definition(portable)
    assert source.unsupported(definition) == []
    assert set(definition["vectors"]) == {"emb"} and definition["vectors"]["emb"]["metric"] == "cosine"
    assert definition["native"]["vectorConfig"]["emb"]["vectorizer"] == {"none": {}}
    assert source.create_collection("Portable", definition) is True
    empty = source.collection_definition("Portable")
    assert empty["vectors"]["emb"]["dimension"] is None
    assert empty == {**definition, "vectors": {"emb": {**definition["vectors"]["emb"], "dimension": None}}}
    assert source.create_collection("Portable", definition) is False

    rng = random.Random(3)
    documents = []
    for i in range(30):
        payload: dict[str, Any] = {f"f_{kind}": make(i) for kind, make in VALUES.items() if (i + len(kind)) % 4}
        if i % 5 == 0:
            payload[RESERVED_FIELD] = '{"changed": ["f_int"]}'
        documents.append({"_id": DEFAULT_CODEC.encode(uuid.UUID(int=rng.getrandbits(128), version=4)),
                          "$vectors": {"emb": vf.dense([rng.uniform(-1, 1) for _ in range(8)])},
                          "payload": DEFAULT_CODEC.encode(payload)})
    report = source.insert_documents("Portable", documents)
    assert report.ok and report.inserted == 30, report.summary()
    assert digest_of(scanned(source, "Portable", definition)) == digest_of(documents)
    assert source.collection_definition("Portable") == definition
    assert source.create_collection("Portable", definition) is False


@pytest.mark.parametrize("metric", sorted(WeaviateSource.capabilities.metrics))
def test_every_claimed_metric_is_created_read_back_and_searched(weaviate_source, metric: str) -> None:
    source = weaviate_source()
    kind = vf.MULTI if metric.startswith("max_sim_") else vf.DENSE
    portable = PortableCollection("uuid", {"v": {"kind": kind, "dtype": "float32", "dimension": 3, "metric": metric,
                                                 "nullable": False}})
    definition = source.portable_definition(portable)
    assert definition["vectors"]["v"]["metric"] == metric
    name = f"M_{metric}"
    assert source.create_collection(name, definition) is True
    rows = [[1.0, 0.0, 0.5], [0.0, 1.0, -2.0], [3.0, -1.0, 0.0]]
    documents = [{"_id": DEFAULT_CODEC.encode(uuid.UUID(int=i + 1)),
                  "$vectors": {"v": vf.multi([row, rows[(i + 1) % 3]]) if kind == vf.MULTI else vf.dense(row)},
                  "payload": {}} for i, row in enumerate(rows)]
    assert source.insert_documents(name, documents).inserted == 3
    assert source.collection_definition(name) == definition
    for document in documents:
        found = source.vector_search(name, document["$vectors"]["v"], limit=3, field="v")
        assert sorted(map(repr, found)) == sorted(repr(d["_id"]) for d in documents)
        if "dot_product" not in metric:  # a dot product may rank a longer vector above the query's own
            assert found[0] == document["_id"]
