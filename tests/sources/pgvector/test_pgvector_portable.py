"""A pgvector table made for a collection from another engine (portable_definition) against a real PostgreSQL:
it describes back as defined, holds a value of every payload kind it claims exactly, documents lacking fields
read back lacking them, and its claimed limits are the server's."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from airflow_provider_vectorbackup.snapshot import vector_fields as vf
from airflow_provider_vectorbackup.snapshot.codec import DEFAULT_CODEC
from airflow_provider_vectorbackup.sources.pgvector.client import PgvectorSource
from airflow_provider_vectorbackup.sources.portable import RESERVED_FIELD, PortableCollection
from airflow_provider_vectorbackup.testing.sample_data import unit_vector
from tests.sources.test_conformance import digest_of, scanned

CAPABILITIES = PgvectorSource.capabilities
EMBEDDING = {"kind": "dense", "dtype": "float32", "dimension": 8, "metric": "cosine", "nullable": True}
KIND_VALUES: dict[str, list[Any]] = {
    "string": ["", "café 東京 🙂", "x" * 3000],
    "int": [0, -(2 ** 63), 2 ** 63 - 1],
    "float": [1.5, -0.0, 1e-300, float("nan"), float("inf"), 3.4028234663852886e38],
    "bool": [True, False],
    "datetime": [dt.datetime(2024, 2, 29, 23, 59, 59, 999999), dt.datetime(1969, 7, 20, 20, 17, tzinfo=dt.timezone.utc),
                 dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))],
    "date": [dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(1970, 1, 1)],
    "time": [dt.time(0, 0), dt.time(23, 59, 59, 999999), dt.time(12, 0, tzinfo=dt.timezone(dt.timedelta(hours=-3)))],
    "decimal": [Decimal("1.50"), Decimal("1.5"), Decimal("1E+2"), Decimal("-0"), Decimal("NaN"),
                Decimal("123456789012345678901234567890.123456789")],
    "uuid": [uuid.UUID(int=0), uuid.UUID("0b5c7a0e-51c1-4b8e-9d35-2f1c2d3e4f50")],
    "bytes": [b"", b"\x00\xff binary", bytes(range(256))],
    "json": [None, {"nested": {"when": dt.datetime(2024, 5, 6, 7, 8, 9), "n": [1, 2.5, None, Decimal("1.5")]}},
             [1e-7, 1e16, -0.5, 2 ** 70, "s", True], "a string", 42, 0.1, {"$backupType": "not ours", "k": 1},
             {"$backupType": "date", "value": "2024-01-01"}, {}, []],
}


def _portable(id_type: str) -> PortableCollection:
    payload = {f"f_{kind}": kind for kind in sorted(CAPABILITIES.payload_kinds)}
    return PortableCollection(id_type, {"embedding": EMBEDDING}, {**payload, RESERVED_FIELD: "string"},
                              max_id_length=12 if id_type == "string" else 0)


def _id(id_type: str, i: int) -> Any:
    if id_type == "int":
        return [-(2 ** 63), 2 ** 63 - 1][i] if i < 2 else i * 7919
    if id_type == "uuid":
        return DEFAULT_CODEC.encode(uuid.UUID(int=i * 2 ** 100 + 1))
    return ["", "東京", "a b"][i] if i < 3 else f"doc-{i:04d}"


def _documents(id_type: str, count: int = 30) -> list[dict[str, Any]]:
    """Stored-form documents with a value of every kind, some lacking some fields (and one lacking all)."""
    rng = random.Random(17)
    documents = []
    for i in range(count):
        payload = {}
        for n, (kind, values) in enumerate(sorted(KIND_VALUES.items())):
            if i % len(KIND_VALUES) != n and i != count - 1:  # each document lacks one field; the last lacks all
                payload[f"f_{kind}"] = values[i % len(values)]
        if i % 3 == 0 and i != count - 1:
            payload[RESERVED_FIELD] = '{"changed": ["f_json"]}'
        document: dict[str, Any] = {"_id": _id(id_type, i), "payload": DEFAULT_CODEC.encode(payload)}
        if i % 10 != 9:
            document["$vectors"] = {"embedding": vf.dense(unit_vector(rng, 8))}
        documents.append(document)
    return documents


@pytest.mark.parametrize("id_type", ["int", "string", "uuid"])
def test_a_table_made_from_a_portable_collection_holds_every_claimed_kind_exactly(pgvector_source, id_type) -> None:
    source = pgvector_source()
    portable = _portable(id_type)
    definition = source.portable_definition(portable)
    assert source.unsupported(definition) == []
    assert definition["vectors"] == {"embedding": EMBEDDING}
    assert source.create_collection("restored", definition) is True
    assert source.collection_definition("restored") == definition
    assert source.create_collection("restored", definition) is False

    documents = _documents(id_type)
    report = source.insert_documents("restored", documents)
    assert report.failures == [] and report.inserted == len(documents)
    read = scanned(source, "restored", definition)
    assert digest_of(read) == digest_of(documents)
    lacking = next(d for d in read if d["_id"] == documents[-1]["_id"])
    assert lacking == {"_id": documents[-1]["_id"], "payload": {}}  # absent fields stay absent, not null

    again = source.insert_documents("restored", documents)  # present rows read back equal: no failure
    assert again.failures == [] and again.already_present == len(documents)


def test_a_null_and_an_absent_field_are_told_apart_in_every_column(pgvector_server, pg_schema, pgvector_source):
    source = pgvector_source()
    source.create_collection("t", source.portable_definition(_portable("int")))
    documents = [{"_id": 1, "payload": {"f_json": None, "f_string": None, "f_int": 3}}, {"_id": 2, "payload": {}},
                 {"_id": 3, "payload": {"f_string": "x", "f_date": None}}]
    assert source.insert_documents("t", documents).inserted == 3
    assert sorted(scanned(source, "t", source.collection_definition("t")), key=lambda d: d["_id"]) == documents
    with pgvector_server.connect() as connection:
        assert connection.execute(f"SELECT id, _vectorbackup_nulls FROM {pg_schema}.t ORDER BY id").fetchall() == [
            (1, ["f_json", "f_string"]), (2, None), (3, ["f_date"])]
    refused = source.insert_documents("t", [{"_id": 4, "payload": {"_vectorbackup_nulls": ["f_int"]}}])
    assert refused.inserted == 0 and "not columns" in refused.failures[0].message


def test_the_definition_of_large_and_sparse_vectors_records_no_metric_and_quotes_keywords_as_postgresql_does(
        pgvector_source) -> None:
    source = pgvector_source()
    portable = PortableCollection("string", {
        "order": {"kind": "dense", "dtype": "float16", "dimension": 4000, "metric": "dot_product", "nullable": False},
        "Big": {"kind": "dense", "dtype": "float32", "dimension": CAPABILITIES.max_dimension, "metric": "euclidean",
                "nullable": True},
        "terms": {"kind": "sparse", "dtype": "float32", "dimension": 30000, "metric": "dot_product", "nullable": True},
        "l1": {"kind": "dense", "dtype": "float32", "dimension": 3, "metric": "manhattan", "nullable": True},
    }, {"note": "string"})
    definition = source.portable_definition(portable)
    assert {name: spec["metric"] for name, spec in definition["vectors"].items()} == {
        "order": "dot_product", "Big": None, "terms": None, "l1": "manhattan"}
    assert source.create_collection("vectors", definition) is True
    assert source.collection_definition("vectors") == definition
    documents = [{"_id": "a", "$vectors": {"order": vf.dense([65504.0, -0.0, 6e-08, 0.1] * 1000, "float16"),
                                           "Big": vf.dense([0.25] * CAPABILITIES.max_dimension),
                                           "terms": vf.sparse([0, 29999], [0.5, 1.5]), "l1": vf.dense([1.0, 2.0, 3.0])},
                  "payload": {"note": "every kind of vector"}},
                 {"_id": "b", "$vectors": {"order": vf.dense([1.0] * 4000, "float16")}, "payload": {}}]
    assert source.insert_documents("vectors", documents).inserted == 2
    assert digest_of(scanned(source, "vectors", definition)) == digest_of(documents)


def test_the_longest_string_id_claimed_is_written_and_a_much_longer_one_is_not(pgvector_source) -> None:
    """A btree key holds at most 2,704 bytes: text ids of 4-byte characters fit up to max_id_length, not beyond."""
    source = pgvector_source()
    source.create_collection("ids", source.portable_definition(PortableCollection("string", {"embedding": EMBEDDING})))
    rng = random.Random(3)

    def incompressible(length: int) -> str:  # a repeated character would be compressed inside the index
        return "".join(chr(rng.randrange(0x10000, 0x10FFFF)) for _ in range(length))

    assert source.insert_documents("ids", [{"_id": incompressible(CAPABILITIES.max_id_length),
                                            "payload": {}}]).inserted == 1
    report = source.insert_documents("ids", [{"_id": incompressible(700), "payload": {}}])
    assert report.inserted == 0 and "exceeds btree" in report.failures[0].message


def test_a_string_holding_nul_cannot_be_stored(pgvector_source) -> None:
    """PostgreSQL's text and jsonb refuse U+0000: a limit the capabilities cannot state (the lead is told)."""
    source = pgvector_source()
    source.create_collection("nul", source.portable_definition(_portable("int")))
    report = source.insert_documents("nul", [{"_id": 1, "payload": {"f_string": "a\x00b"}}])
    assert report.inserted == 0 and len(report.failures) == 1


def test_a_field_named_id_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="'id' is a column of its own"):
        PgvectorSource.portable_definition(None, PortableCollection("int", {"embedding": EMBEDDING}, {"id": "int"}))


def test_floats_in_jsonb_read_back_as_the_floats_written(pgvector_server, pg_schema, pgvector_source) -> None:
    """jsonb prints numbers without an exponent, so a float is written in that form (1e-07 as 0.0000001, 1e16 as
    10000000000000000.0) to read back as the same float, and a restored jsonb prints as the original."""
    numbers = "[0.0000001, 1e-07, 10000000000000000.0, 1.50, 1E+2, 0.1, 123456789012345678901234567890.5]"
    with pgvector_server.connect(autocommit=True) as connection:
        connection.execute(f"CREATE TABLE {pg_schema}.j (id int PRIMARY KEY, v vector(2), doc jsonb)")
        connection.execute(f"INSERT INTO {pg_schema}.j VALUES (1, '[1,2]', %s)", (numbers,))
    source = pgvector_source()
    definition = source.collection_definition("j")
    documents = scanned(source, "j", definition)
    assert documents[0]["payload"]["doc"][:4] == [1e-07, 1e-07, 1e16, {"$backupType": "decimal", "value": "1.50"}]
    source.create_collection("j2", definition)
    assert source.insert_documents("j2", documents).inserted == 1
    assert scanned(source, "j2", definition) == documents
    with pgvector_server.connect() as connection:
        texts = [row[0] for row in connection.execute(
            f"SELECT doc::text FROM {pg_schema}.j UNION ALL SELECT doc::text FROM {pg_schema}.j2")]
    assert texts[0] == texts[1]


def test_the_shared_portable_cases_round_trip_envelopes_as_sent(pgvector_source) -> None:
    """tests/sources/portable_cases.py: envelopes whose text is not the codec's own (``.000000``, ``0.10E-3``)."""
    from tests.sources.portable_cases import COUNT, exactly_unit_vector, payload, portable_collection

    source = pgvector_source()
    definition = source.portable_definition(portable_collection(CAPABILITIES, "embedding", "int"))
    assert source.create_collection("cases", definition) is True
    assert source.collection_definition("cases") == definition
    sent = [{"_id": i, "$vectors": {"embedding": vf.dense(exactly_unit_vector(i))}, "payload": payload(i, CAPABILITIES)}
            for i in range(COUNT)]
    assert source.insert_documents("cases", sent).inserted == COUNT
    assert digest_of(scanned(source, "cases", definition)) == digest_of(sent)
