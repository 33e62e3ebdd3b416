"""A Milvus Lite collection made for a collection from another engine (portable_definition): it describes back as
defined, keeps a value of every payload kind it claims in the dynamic field exactly (absent keys absent, nulls
null, nested envelopes as they are), and its claimed limits are Lite's."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from decimal import Decimal
from typing import Any

import pytest

from airflow_provider_vectorbackup.snapshot import vector_fields as vf
from airflow_provider_vectorbackup.snapshot.codec import DEFAULT_CODEC
from airflow_provider_vectorbackup.sources.milvus.client import MilvusSource
from airflow_provider_vectorbackup.sources.portable import RESERVED_FIELD, PortableCollection
from airflow_provider_vectorbackup.testing.sample_data import unit_vector
from tests.sources.test_conformance import digest_of, scanned

CAPABILITIES = MilvusSource.capabilities
EMBEDDING = {"kind": "dense", "dtype": "float32", "dimension": 8, "metric": "cosine", "nullable": True}
KIND_VALUES: dict[str, list[Any]] = {
    "string": ["", "café 東京 🙂", "nul \x00 inside", "x" * 3000],
    "int": [0, -(2 ** 63), 2 ** 63 - 1],
    "float": [1.5, -0.0, 1e-300, float("nan"), float("-inf"), 0.1],
    "bool": [True, False],
    "datetime": [dt.datetime(2024, 2, 29, 23, 59, 59, 999999),
                 dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))],
    "date": [dt.date(1, 1, 1), dt.date(9999, 12, 31)],
    "time": [dt.time(23, 59, 59, 999999), dt.time(12, 0, tzinfo=dt.timezone(dt.timedelta(hours=-3)))],
    "decimal": [Decimal("1.50"), Decimal("1E+2"), Decimal("-0"), Decimal("NaN")],
    "uuid": [uuid.UUID(int=0), uuid.UUID("0b5c7a0e-51c1-4b8e-9d35-2f1c2d3e4f50")],
    "bytes": [b"", bytes(range(256))],
    "json": [None, {"nested": {"when": dt.datetime(2024, 5, 6, 7, 8, 9), "n": [1, 2.5, None, float("nan")]}},
             [1e-7, 1e16, -0.5, 2 ** 62, "s", True], "a string", 42, {"$backupType": "not ours", "k": 1},
             {"$backupType": "date", "value": "2024-01-01"}, {}, []],
}


def _portable(id_type: str) -> PortableCollection:
    payload = {f"f_{kind}": kind for kind in sorted(CAPABILITIES.payload_kinds)}
    return PortableCollection(id_type, {"embedding": EMBEDDING}, {**payload, RESERVED_FIELD: "string"},
                              max_id_length=12 if id_type == "string" else 0)


def _id(id_type: str, i: int) -> Any:
    if id_type == "int":
        return [-(2 ** 63), 2 ** 63 - 1][i] if i < 2 else i * 7919
    return ["", "東京", "a b"][i] if i < 3 else f"doc-{i:04d}"


def _documents(id_type: str, count: int = 30) -> list[dict[str, Any]]:
    """Stored-form documents with a value of every kind, some lacking some fields (and one lacking all, so with
    no ``payload``: Milvus's stored form leaves an empty one out)."""
    rng = random.Random(17)
    documents = []
    for i in range(count):
        payload = {}
        for n, (kind, values) in enumerate(sorted(KIND_VALUES.items())):
            if i % len(KIND_VALUES) != n and i != count - 1:
                payload[f"f_{kind}"] = values[i % len(values)]
        if i % 3 == 0 and i != count - 1:
            payload[RESERVED_FIELD] = '{"changed": ["f_json"]}'
        document: dict[str, Any] = {"_id": _id(id_type, i), "$vectors": {"embedding": vf.dense(unit_vector(rng, 8))}}
        if payload:
            document["payload"] = DEFAULT_CODEC.encode(payload)
        documents.append(document)
    return documents


@pytest.mark.parametrize("id_type", ["int", "string"])
def test_a_collection_made_from_a_portable_collection_holds_every_claimed_kind_exactly(milvus_source, id_type):
    source = milvus_source()
    definition = source.portable_definition(_portable(id_type))
    assert source.unsupported(definition) == []
    assert {name: {k: v for k, v in spec.items() if k != "nullable"} for name, spec in definition["vectors"].items()} \
        == {"embedding": {k: v for k, v in EMBEDDING.items() if k != "nullable"}}
    assert source.create_collection("restored", definition) is True
    assert source.collection_definition("restored") == definition
    assert source.create_collection("restored", definition) is False

    documents = _documents(id_type)
    report = source.insert_documents("restored", documents)
    assert report.failures == [] and report.inserted == len(documents)
    read = scanned(source, "restored", definition)
    assert digest_of(read) == digest_of(documents)
    lacking = next(d for d in read if d["_id"] == documents[1]["_id"])
    assert set(lacking["payload"]) == set(documents[1]["payload"]), "a key a document lacks stays absent"
    again = source.insert_documents("restored", documents)
    assert again.failures == [] and again.already_present == len(documents)


def test_a_sparse_field_and_the_longest_claimed_ids(milvus_source) -> None:
    """A sparse field is indexed by dot_product and records no dimension; ids of max_id_length characters of
    4 bytes fit the VARCHAR sized for them; a document lacking a vector is refused, never read back as zeros."""
    source = milvus_source()
    portable = PortableCollection("string", {
        "dense": {"kind": "dense", "dtype": "float32", "dimension": CAPABILITIES.max_dimension,
                  "metric": "euclidean", "nullable": True},
        "terms": {"kind": "sparse", "dtype": "float32", "dimension": 30000, "metric": "dot_product",
                  "nullable": True}}, max_id_length=CAPABILITIES.max_id_length)
    definition = source.portable_definition(portable)
    assert definition["vectors"]["terms"] == {"kind": "sparse", "dtype": "float32", "dimension": None,
                                              "metric": "dot_product", "nullable": False}
    assert source.create_collection("sparse", definition) is True
    assert source.collection_definition("sparse") == definition
    rng = random.Random(5)
    longest = "".join(chr(rng.randrange(0x10000, 0x10FFFF)) for _ in range(CAPABILITIES.max_id_length))
    dense = vf.dense([0.5] * CAPABILITIES.max_dimension)
    documents = [{"_id": longest, "$vectors": {"dense": dense, "terms": vf.sparse([3, 29999], [0.5, 1.5])},
                  "payload": {"n": 1}},
                 {"_id": "short", "$vectors": {"dense": dense, "terms": vf.sparse([0], [2.0])}}]
    assert source.insert_documents("sparse", documents).inserted == 2
    assert digest_of(scanned(source, "sparse", definition)) == digest_of(documents)
    report = source.insert_documents("sparse", [{"_id": "no vector", "$vectors": {"dense": dense}}])
    assert report.inserted == 0 and len(report.failures) == 1


def test_what_milvus_cannot_index_is_refused_naming_it() -> None:
    sparse_cosine = PortableCollection("int", {"terms": {"kind": "sparse", "dtype": "float32", "dimension": 9,
                                                         "metric": "cosine", "nullable": False}})
    with pytest.raises(ValueError, match="only by dot_product"):
        MilvusSource.portable_definition(None, sparse_cosine)
    with pytest.raises(ValueError, match="cannot have ids of type 'uuid'"):
        MilvusSource.portable_definition(None, PortableCollection("uuid", {"embedding": EMBEDDING}))
    with pytest.raises(ValueError, match="'id' is the primary key"):
        MilvusSource.portable_definition(None, PortableCollection("int", {"embedding": EMBEDDING}, {"id": "int"}))


def test_lite_refuses_a_sparse_index_by_another_metric(milvus_source) -> None:
    """Why a sparse field must be dot_product: Lite refuses a sparse index of cosine."""
    from airflow_provider_vectorbackup.sources.base import UnsupportedDefinition

    source = milvus_source()
    definition = source.portable_definition(PortableCollection("int", {"terms": {
        "kind": "sparse", "dtype": "float32", "dimension": 9, "metric": "dot_product", "nullable": False}}))
    definition["native"]["indexes"][0]["metric_type"] = "COSINE"
    with pytest.raises(UnsupportedDefinition, match="IP"):
        source.create_collection("cosine", definition)


def test_the_shared_portable_cases_round_trip_envelopes_as_sent(milvus_source) -> None:
    """tests/sources/portable_cases.py: envelopes whose text is not the codec's own (``.000000``, ``0.10E-3``)."""
    from tests.sources.portable_cases import COUNT, exactly_unit_vector, payload, portable_collection

    source = milvus_source()
    definition = source.portable_definition(portable_collection(CAPABILITIES, "embedding", "string", 8))
    assert source.create_collection("cases", definition) is True
    assert source.collection_definition("cases") == definition
    sent = [{"_id": f"doc-{i:04d}", "$vectors": {"embedding": vf.dense(exactly_unit_vector(i))},
             "payload": payload(i, CAPABILITIES)} for i in range(COUNT)]
    assert source.insert_documents("cases", sent).inserted == COUNT
    assert digest_of(scanned(source, "cases", definition)) == digest_of(sent)
