"""The cross-engine contract (docs/restore.md): a collection made by ``portable_definition`` holds exactly what
``capabilities`` claims, read back through the real client from the stand-in."""

from __future__ import annotations

import random
from typing import Any

from airflow_provider_vectorbackup.snapshot import vector_fields
from airflow_provider_vectorbackup.snapshot.digest import ContentDigest
from airflow_provider_vectorbackup.sources.base import VectorSource
from airflow_provider_vectorbackup.sources.pinecone.client import PineconeSource
from airflow_provider_vectorbackup.sources.portable import RESERVED_FIELD, PortableCollection
from airflow_provider_vectorbackup.testing.sample_data import unit_vector

VALUES = {"kind": "dense", "dtype": "float32", "dimension": 8, "metric": "cosine", "nullable": False}
_TEXT = ["café", "東京", "tab\tnew\nline", 'quote"back\\slash', ""]


def _digest(documents: list[dict[str, Any]]) -> str:
    digest = ContentDigest()
    for document in documents:
        digest.add(document)
    return digest.hexdigest()


def _documents(count: int = 30) -> list[dict[str, Any]]:
    """A value of every kind Pinecone claims (string, float, bool), some documents lacking some fields."""
    rng = random.Random(17)
    documents = []
    for i in range(count):
        payload: dict[str, Any] = {}
        if i % 4 != 1:
            payload["title"] = _TEXT[i % len(_TEXT)] + f" {i}"
        if i % 4 != 2:
            payload["ratio"] = [i / 7, -1.5e300, 2.0**53, -0.25][i % 4]
        if i % 4 != 3:
            payload["flag"] = bool(i % 2)
        if i % 5 == 0:
            payload[RESERVED_FIELD] = '{"changed": ["ratio"]}'
        document: dict[str, Any] = {"_id": f"doc-{i:03d}", "$vectors": {"values": vector_fields.dense(
            unit_vector(rng, 8))}}
        if payload:
            document["payload"] = payload
        documents.append(document)
    return documents


def test_a_portable_collection_holds_every_kind_it_claims_exactly(pinecone: PineconeSource) -> None:
    capabilities = PineconeSource.capabilities
    assert capabilities.payload_kinds == {"string", "float", "bool"} and capabilities.ints_as_floats
    portable = PortableCollection(id_type="string", vectors={"values": VALUES},
                                  payload={"title": "string", "ratio": "float", "flag": "bool",
                                           RESERVED_FIELD: "string"}, max_id_length=7)
    definition = pinecone.portable_definition(portable)
    assert isinstance(pinecone, VectorSource) and pinecone.unsupported(definition) == []
    assert {name: {k: spec[k] for k in ("kind", "dtype", "dimension", "metric")}
            for name, spec in definition["vectors"].items()} == \
        {"values": {k: VALUES[k] for k in ("kind", "dtype", "dimension", "metric")}}
    assert definition["id"]["type"] == "string"

    assert pinecone.create_collection("portable", definition) is True
    assert pinecone.collection_definition("portable") == definition
    documents = _documents()
    report = pinecone.insert_documents("portable", documents, chunk_size=8)
    assert report.ok and report.inserted == len(documents), report.summary()
    read = [document for page in pinecone.scan("portable", definition).pages() for document in page]
    assert _digest(read) == _digest(documents)
    assert pinecone.create_collection("portable", definition) is False


def test_a_portable_namespace_and_sparse_field_are_made_as_described(pinecone: PineconeSource) -> None:
    """Sparse beside dense needs a dot-product index; a namespace collection lands in its index's namespace."""
    sparse = {"kind": "sparse", "dtype": "float32", "dimension": None, "metric": "dot_product", "nullable": True}
    portable = PortableCollection(id_type="string", vectors={"values": {**VALUES, "metric": "dot_product"},
                                                             "sparse_values": sparse})
    definition = pinecone.portable_definition(portable)
    assert pinecone.create_collection("hybrid.part-1", definition) is True
    assert pinecone.collection_definition("hybrid.part-1") == pinecone.collection_definition("hybrid") == definition
    assert pinecone.create_collection("hybrid.part-1", definition) is False
    document = {"_id": "a", "$vectors": {"values": vector_fields.dense([0.5] * 8),
                                         "sparse_values": vector_fields.sparse([3, 2**32 - 1], [0.25, 1.5])}}
    assert pinecone.insert_documents("hybrid.part-1", [document]).inserted == 1
    assert [d for page in pinecone.scan("hybrid.part-1", definition).pages() for d in page] == [document]
    assert pinecone.count_documents("hybrid").count == 0
