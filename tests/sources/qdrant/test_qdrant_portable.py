"""Qdrant as the target of a cross-engine restore, in real local mode: its portable definition and its capabilities."""

from __future__ import annotations

import re
import uuid

import numpy as np
import pytest

from airflow_provider_vectorbackup.snapshot import vector_fields as vf
from airflow_provider_vectorbackup.snapshot.codec import DEFAULT_CODEC
from airflow_provider_vectorbackup.snapshot.tolerance import ulps_apart
from airflow_provider_vectorbackup.sources.base import UnsupportedDefinition
from airflow_provider_vectorbackup.sources.portable import PortableCollection
from airflow_provider_vectorbackup.sources.qdrant.client import QdrantSource
from airflow_provider_vectorbackup.sources.qdrant.cosine import canonical
from airflow_provider_vectorbackup.sources.qdrant.definition import UNNAMED, recreated_parts
from tests.sources.portable_cases import COUNT, DIMENSION, VALUES, exactly_unit_vector, payload, portable_collection
from tests.sources.test_conformance import digest_of, scanned

CAPABILITIES = QdrantSource.capabilities


def documents(id_type: str, vector_of=exactly_unit_vector) -> list[dict]:
    return [{"_id": i * 1_000_003 if id_type == "int" else DEFAULT_CODEC.encode(uuid.UUID(int=i * 2**90 + i)),
             "$vectors": {UNNAMED: vf.dense(vector_of(i))}, "payload": payload(i, CAPABILITIES)}
            for i in range(COUNT)]


@pytest.mark.parametrize("id_type", sorted(CAPABILITIES.id_types))
def test_a_portable_collection_is_created_as_defined_and_keeps_every_claimed_kind(qdrant_local, id_type) -> None:
    source = qdrant_local.source()
    portable = portable_collection(CAPABILITIES, UNNAMED, id_type)
    definition = source.portable_definition(portable)
    assert source.unsupported(definition) == []
    assert definition["vectors"] == {UNNAMED: {"kind": "dense", "dtype": "float32", "dimension": DIMENSION,
                                               "metric": "cosine"}}
    assert definition["native"]["config"]["params"] == {"vectors": {"size": DIMENSION, "distance": "Cosine"}}, \
        "the only vector field is Qdrant's unnamed vector"

    assert source.create_collection("portable", definition) is True
    described = source.collection_definition("portable")
    assert described == definition
    assert source.create_collection("portable", definition) is False

    sent = documents(id_type)
    assert {kind for d in sent for kind in d["payload"]} >= {f"{k}_field" for k in CAPABILITIES.payload_kinds}
    report = source.insert_documents("portable", sent)
    assert (report.inserted, report.failures) == (COUNT, [])
    assert digest_of(scanned(source, "portable", described)) == digest_of(sent)


def test_cosine_vectors_of_a_restore_read_back_within_the_tolerance(qdrant_local) -> None:
    source = qdrant_local.source()
    definition = source.portable_definition(portable_collection(CAPABILITIES, UNNAMED, "int"))
    source.create_collection("portable", definition)
    rng = np.random.default_rng(17)
    rows = canonical(rng.normal(size=(COUNT, DIMENSION)))
    sent = documents("int", lambda i: rows[i].tolist())
    assert source.insert_documents("portable", sent).inserted == COUNT
    tolerance = source.restore_tolerance(definition)
    assert tolerance == 32
    got = {d["_id"]: d for d in scanned(source, "portable", definition)}
    assert all(ulps_apart(d, got[d["_id"]]) <= tolerance for d in sent)


def test_named_dense_multivector_and_sparse_fields_map_to_their_qdrant_kinds(qdrant_local) -> None:
    source = qdrant_local.source()
    portable = PortableCollection("uuid", {
        UNNAMED: {"kind": "dense", "dtype": "float32", "dimension": 4, "metric": "dot_product", "nullable": False},
        "title": {"kind": "dense", "dtype": "float32", "dimension": 3, "metric": "euclidean", "nullable": True},
        "tokens": {"kind": "multi", "dtype": "float32", "dimension": 2, "metric": "max_sim_cosine", "nullable": True},
        "words": {"kind": "sparse", "dtype": "float32", "dimension": None, "metric": "dot_product", "nullable": True}},
        {"title": "string"})
    definition = source.portable_definition(portable)
    assert set(definition["native"]["config"]["params"]["vectors"]) == {"title", "tokens"}
    (problem,) = source.unsupported(definition)
    assert repr(UNNAMED) in problem, "the unnamed vector cannot sit beside named ones"

    named = PortableCollection("uuid", {k: v for k, v in portable.vectors.items() if k != UNNAMED}, {})
    definition = source.portable_definition(named)
    assert source.unsupported(definition) == []
    assert source.create_collection("named", definition) is True
    described = source.collection_definition("named")
    assert described == definition
    assert described["vectors"] == {
        "title": {"kind": "dense", "dtype": "float32", "dimension": 3, "metric": "euclidean"},
        "tokens": {"kind": "multi", "dtype": "float32", "dimension": 2, "metric": "max_sim_cosine"},
        "words": {"kind": "sparse", "dtype": "float32", "dimension": None, "metric": "dot_product"}}
    assert source.create_collection("named", definition) is False
    sent = [{"_id": DEFAULT_CODEC.encode(uuid.UUID(int=i + 1)), "payload": {},
             "$vectors": {"title": vf.dense([i, 0.5, -1.0]), "tokens": vf.multi([[0.6, 0.8], [0.0, -1.0]]),
                          "words": vf.sparse([3, 70 + i], [0.25, i / 4])}} for i in range(5)]
    assert source.insert_documents("named", sent).inserted == 5
    assert digest_of(scanned(source, "named", described)) == digest_of(sent)


def test_what_qdrant_cannot_hold_is_named_by_unsupported() -> None:
    dense = {"kind": "dense", "dtype": "float32", "dimension": 4, "metric": "cosine", "nullable": False}
    cases = {
        "id type 'string'": PortableCollection("string", {"v": dense}),
        "dtype 'float16'": PortableCollection("int", {"v": {**dense, "dtype": "float16"}}),
        "'b' (bit": PortableCollection("int", {"b": {"kind": "bit", "dtype": None, "dimension": 16,
                                                      "metric": "hamming", "nullable": False}}),
        "distance None": PortableCollection("int", {"v": {**dense, "metric": "hamming"}}),
    }
    source = QdrantSource.from_connection(_settings())
    for expected, portable in cases.items():
        problems = source.unsupported(source.portable_definition(portable))
        assert any(expected in problem for problem in problems), (expected, problems)


def test_a_server_gets_the_vector_params_only_and_fills_in_its_own_settings() -> None:
    from airflow_provider_vectorbackup.connection import ConnectionSettings

    server = QdrantSource.from_connection(ConnectionSettings("qdrant_default", conn_type="qdrant", host="qdrant.invalid"))
    local = QdrantSource.from_connection(_settings())
    portable = portable_collection(CAPABILITIES, UNNAMED, "int")
    on_server, on_local = server.portable_definition(portable), local.portable_definition(portable)
    assert on_server["native"]["config"] == {"params": {"vectors": {"size": DIMENSION, "distance": "Cosine"}}}
    assert recreated_parts(on_server) == recreated_parts(on_local), "the same collection to create_collection"
    assert server.unsupported(on_server) == [] and server._client is None, "nothing was opened"


def _settings():
    from airflow_provider_vectorbackup.connection import ConnectionSettings

    return ConnectionSettings("qdrant_default", conn_type="qdrant", extra={"location": ":memory:"})


UTF8_BYTES = {"$backupType": "bytes_b64", "value": "Y2Fmw6k="}
"""``café`` in UTF-8: qdrant-client sends such bytes as that text, and fails on bytes that are not UTF-8."""


@pytest.mark.parametrize("kind", ["datetime", "date", "time", "decimal", "uuid", "bytes"])
def test_values_qdrant_client_turns_into_strings_are_not_claimed(qdrant_local, kind) -> None:
    """Why ``capabilities`` claims neither these kinds nor envelopes: a point is written decoded, and qdrant-client
    sends a datetime, date, time, decimal, UUID or bytes as a string."""
    assert kind not in CAPABILITIES.payload_kinds and not CAPABILITIES.envelopes
    source = qdrant_local.source()
    source.create_collection("kinds", source.portable_definition(portable_collection(CAPABILITIES, UNNAMED, "int")))
    value = UTF8_BYTES if kind == "bytes" else VALUES[kind](1, CAPABILITIES)
    sent = {"_id": 1, "$vectors": {UNNAMED: vf.dense(exactly_unit_vector(1))},
            "payload": {"top": value, "nested": {"inside": [value]}}}
    assert source.insert_documents("kinds", [sent]).inserted == 1
    (got,) = scanned(source, "kinds", source.collection_definition("kinds"))
    assert got["payload"]["top"] == got["payload"]["nested"]["inside"][0] != value
    assert isinstance(got["payload"]["top"], str)


@pytest.mark.parametrize("metric", sorted(CAPABILITIES.metrics))
def test_every_claimed_metric_is_created_and_read_back(qdrant_local, metric) -> None:
    source = qdrant_local.source()
    kind = "multi" if metric.startswith("max_sim_") else "dense"
    portable = PortableCollection("int", {"v": {"kind": kind, "dtype": "float32", "dimension": 3, "metric": metric,
                                                "nullable": False}})
    definition = source.portable_definition(portable)
    assert source.create_collection("metric", definition) is True
    assert source.collection_definition("metric") == definition
    assert definition["vectors"] == {"v": {"kind": kind, "dtype": "float32", "dimension": 3, "metric": metric}}


def test_the_claimed_limits_of_ids_fields_names_and_dimensions_hold(qdrant_local) -> None:
    source = qdrant_local.source()
    longest = "v" + ".9-_" * 49 + "xyz"
    assert re.match(CAPABILITIES.name_pattern, longest) and len(longest) == 200
    assert re.match(CAPABILITIES.name_pattern, UNNAMED) and not re.match(CAPABILITIES.name_pattern, longest + "z")
    too_long = PortableCollection("int", {longest + "z": {"kind": "dense", "dtype": "float32", "dimension": 2,
                                                          "metric": "euclidean", "nullable": True}})
    with pytest.raises(UnsupportedDefinition, match="at most 200 bytes"):
        source.create_collection("too_long", source.portable_definition(too_long))
    dense = {"kind": "dense", "dtype": "float32", "dimension": 2, "metric": "euclidean", "nullable": True}
    sparse = {"kind": "sparse", "dtype": "float32", "dimension": None, "metric": "dot_product", "nullable": True}
    vectors = {longest: dense, "wide": {**dense, "dimension": CAPABILITIES.max_dimension},
               **{f"s{n}": sparse for n in range(CAPABILITIES.sparse_fields)}}
    definition = source.portable_definition(PortableCollection("int", vectors))
    assert source.create_collection("limits", definition) is True
    assert source.collection_definition("limits") == definition
    low, high = CAPABILITIES.int_ids
    small, large = CAPABILITIES.int_range
    sent = [{"_id": low, "$vectors": {longest: vf.dense([0.5, -2.0]), "s15": vf.sparse([0], [1.0])},
             "payload": {longest: small, UNNAMED: "a payload key too", "nothing": None}},
            {"_id": high, "$vectors": {"s0": vf.sparse([2**32 - 1], [0.25])}, "payload": {"i": large}}]
    assert source.insert_documents("limits", sent).inserted == 2
    assert digest_of(scanned(source, "limits", definition)) == digest_of(sent)
