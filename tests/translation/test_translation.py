"""The translation core without engines: every capability profile round-trips, lossy steps are named and refused."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import pytest

from airflow_provider_vectorbackup.snapshot.codec import DEFAULT_CODEC
from airflow_provider_vectorbackup.snapshot.digest import canonical_json
from airflow_provider_vectorbackup.snapshot.vector_fields import dense, sparse
from airflow_provider_vectorbackup.sources.portable import RESERVED_FIELD, Capabilities
from airflow_provider_vectorbackup.sources.registry import ENGINES
from airflow_provider_vectorbackup.translation.documents import ID_NAMESPACE, Translator, VectorMapping, neutral
from airflow_provider_vectorbackup.translation.plan import plan_collection

CAPABILITIES = {engine.kind: engine.load().capabilities for engine in ENGINES}

ASTRA_DEFINITION = {"vector": {"dimension": 3, "metric": "euclidean"}}


def astra_documents() -> list[dict[str, Any]]:
    """Data API documents with what engines disagree on: mixed id types, EJSON, nesting, nulls, big numbers."""
    return [
        {"_id": "a", "$vector": [0.5, 0.25, -1.5], "title": "café", "count": 3, "price": 9.5, "ok": True,
         "when": {"$date": 1700000000000}, "tags": ["x", "y"], "meta": {"k": [1, {"deep": None}]}, "nothing": None},
        {"_id": 7, "$vector": {"$binary": "PczMzT5MzM0+mZma"}, "title": "東京", "big": 2 ** 70, "tags": []},
        {"_id": {"$uuid": "12345678-1234-5678-1234-567812345678"}, "title": "no vector", "count": -(2 ** 63)},
    ]


def other_documents() -> list[dict[str, Any]]:
    """Stored-form documents of an engine with typed values (PostgreSQL), with the codec's envelopes."""
    payload = DEFAULT_CODEC.encode({"when": __import__("datetime").datetime(2026, 1, 2, 3, 4, 5, 678901),
                                    "price": __import__("decimal").Decimal("19.990"), "blob": b"\x00\x01",
                                    "id": uuid.UUID(int=5), "nested": {"a": [1, 2.5, "z"]}, "n": 2 ** 63 - 1})
    return [{"_id": 2 ** 63 - 1, "$vectors": {"embedding": dense([1.0, 2.0, 3.0])}, "payload": payload},
            {"_id": -5, "$vectors": {"embedding": dense([0.5, 0.0, -3.0])}, "payload": {}}]


def round_trip(documents: list[dict[str, Any]], origin: str, via: str) -> list[dict[str, Any]]:
    """``origin`` → ``via`` → ``origin``, each leg as a restore plans and translates it."""
    there_caps, back_caps = CAPABILITIES[via], CAPABILITIES[origin]
    definition = ASTRA_DEFINITION if origin == "astra" else {
        "engine": origin, "id": {"type": "int", "field": None}, "native": {},
        "vectors": {"embedding": {"kind": "dense", "dtype": "float32", "dimension": 3, "metric": "euclidean"}}}
    there = plan_collection(definition, origin, lambda: documents, via, there_caps)
    assert there.refusal() == []
    translator = there.translator(there_caps)
    moved = [translator.translate(neutral(d, origin)) for d in documents]
    back = plan_collection({"engine": via, "id": {"type": there.id_type}, "native": {},
                            "vectors": there.portable.vectors}, via, lambda: moved, origin, back_caps)
    assert back.refusal() == []
    translator = back.translator(back_caps)
    return [translator.translate(neutral(d, via)) for d in moved]


@pytest.mark.parametrize("via", sorted(set(CAPABILITIES) - {"astra"}))
def test_data_api_documents_come_back_exactly_through_every_engine(via: str) -> None:
    assert round_trip(astra_documents(), "astra", via) == astra_documents()


@pytest.mark.parametrize("via", sorted(set(CAPABILITIES) - {"pgvector"}))
def test_typed_values_come_back_exactly_through_every_engine(via: str) -> None:
    assert round_trip(other_documents(), "pgvector", via) == other_documents()


def test_ids_a_target_cannot_take_become_uuid5_in_the_documented_namespace() -> None:
    translator = Translator("qdrant", CAPABILITIES["qdrant"], [], id_type="uuid")
    assert translator.target_id("doc-1") == ({"$backupType": "uuid", "value": str(uuid.uuid5(ID_NAMESPACE, "doc-1"))},
                                             True)
    assert str(ID_NAMESPACE) == "6f1c0a52-8d3e-5b7a-9c41-2e0d7b5a9f13"  # docs/restore.md publishes it
    assert translator.target_id("doc-1") == translator.target_id("doc-1")
    chroma = Translator("chroma", CAPABILITIES["chroma"], [], id_type="string")
    assert chroma.target_id(42) == ("42", True)


def test_a_user_field_with_the_reserved_name_is_refused_in_the_plan() -> None:
    documents = [{"_id": "a", "$vector": [1.0, 0.0, 0.0], RESERVED_FIELD: "mine"}]
    plan = plan_collection(ASTRA_DEFINITION, "astra", lambda: documents, "qdrant", CAPABILITIES["qdrant"])
    assert any(RESERVED_FIELD in reason and "reserved" in reason for reason in plan.refusal())


def test_a_sparse_field_into_an_engine_without_sparse_is_lossy_and_named_with_its_flag() -> None:
    definition = {"engine": "qdrant", "id": {"type": "int"}, "native": {}, "vectors": {
        "text": {"kind": "dense", "dtype": "float32", "dimension": 2, "metric": "cosine"},
        "words": {"kind": "sparse", "dtype": "float32", "dimension": None, "metric": "dot_product"}}}
    documents = [{"_id": i, "$vectors": {"text": dense([1.0, float(i)]), "words": sparse([i], [1.0])},
                  "payload": {}} for i in range(5)]
    plan = plan_collection(definition, "qdrant", lambda: documents, "chroma", CAPABILITIES["chroma"])
    [refusal] = plan.refusal()
    assert "'words'" in refusal and "--allow-lossy drop-sparse" in refusal
    allowed = plan_collection(definition, "qdrant", lambda: documents, "chroma", CAPABILITIES["chroma"],
                              allowed=["drop-sparse"])
    assert allowed.refusal() == []
    translator = allowed.translator(CAPABILITIES["chroma"])
    moved = [translator.translate(neutral(d, "qdrant")) for d in documents]
    assert all(set(d["$vectors"]) == {"embedding"} for d in moved)
    assert translator.touched.lossy("drop-sparse") == 5


def test_a_payload_over_the_targets_limit_is_refused_unless_truncation_is_allowed() -> None:
    limited = replace(CAPABILITIES["chroma"], payload_bytes=200)
    documents = [{"_id": "small", "$vector": [1.0, 0.0, 0.0], "text": "short"},
                 {"_id": "large", "$vector": [0.0, 1.0, 0.0], "text": "x" * 500, "keep": 1}]
    plan = plan_collection(ASTRA_DEFINITION, "astra", lambda: documents, "chroma", limited)
    [refusal] = plan.refusal()
    assert "1 document(s) have a payload over" in refusal and "truncate-metadata" in refusal
    allowed = plan_collection(ASTRA_DEFINITION, "astra", lambda: documents, "chroma", limited,
                              allowed=["truncate-metadata"])
    translator = allowed.translator(limited)
    large = translator.translate(neutral(documents[1], "astra"))
    assert "text" not in large["payload"] and large["payload"]["keep"] == 1


def test_a_dimension_the_target_cannot_hold_is_a_problem_no_flag_allows() -> None:
    definition = {"vector": {"dimension": 5000, "metric": "cosine"}}
    plan = plan_collection(definition, "astra", lambda: [], "chroma", replace(CAPABILITIES["chroma"],
                                                                               max_dimension=4096),
                           allowed=["float32", "drop-vector"])
    assert any("5000 dimensions" in reason for reason in plan.refusal())


def test_an_unknown_lossy_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown lossy kind"):
        plan_collection(ASTRA_DEFINITION, "astra", lambda: [], "chroma", CAPABILITIES["chroma"], allowed=["all"])


def test_float64_vectors_into_float32_only_engines_are_lossy_and_float16_is_reversible() -> None:
    caps = Capabilities(id_types=frozenset({"int"}), int_ids=(0, 10))
    for dtype, expected in (("float64", ["exact", "lossy"]), ("float16", ["reversible"])):
        definition = {"engine": "x", "id": {}, "native": {}, "vectors": {
            "v": {"kind": "dense", "dtype": dtype, "dimension": 2, "metric": "cosine"}}}
        plan = plan_collection(definition, "x", lambda: [], "y", caps)
        assert [s.classification for s in plan.steps if s.part == "vector"] == expected
    half = {"_id": 1, "$vectors": {"v": dense([0.5, 1.5], "float16")}, "payload": {}}
    translator = Translator("y", caps, [VectorMapping("v", "v", "float32")])
    moved = translator.translate(neutral(half, "x"))
    assert moved["$vectors"]["v"]["dtype"] == "float32"
    back = Translator("x", Capabilities(id_types=frozenset({"int"}), int_ids=(0, 10),
                                        dtypes=frozenset({"float16"})), [VectorMapping("v", "v")])
    assert back.translate(neutral(moved, "y")) == half


def test_into_an_engine_that_normalises_cosine_vectors_their_length_is_a_lossy_step() -> None:
    definition = {"vector": {"dimension": 2, "metric": "cosine"}}
    documents = [{"_id": "unit", "$vector": [0.6, 0.8]}, {"_id": "long", "$vector": [3.0, 4.0]}]
    plan = plan_collection(definition, "astra", lambda: documents, "qdrant", CAPABILITIES["qdrant"])
    [refusal] = plan.refusal()
    assert "1 vector(s) are not of unit length" in refusal and "--allow-lossy normalize" in refusal
    allowed = plan_collection(definition, "astra", lambda: documents, "qdrant", CAPABILITIES["qdrant"],
                              allowed=["normalize"])
    translator = allowed.translator(CAPABILITIES["qdrant"])
    moved = [translator.translate(neutral(d, "astra")) for d in documents]
    assert [m["$vectors"]["vector"] for m in moved] == [dense([0.6, 0.8]), dense([0.6, 0.8])]
    euclidean = plan_collection({"vector": {"dimension": 2, "metric": "euclidean"}}, "astra", lambda: documents,
                                "qdrant", CAPABILITIES["qdrant"])
    assert euclidean.refusal() == [], "only cosine vectors are kept at unit length"


def test_data_api_arrays_of_float32_values_in_full_or_shortest_form_come_back_as_written() -> None:
    full = {"_id": "full", "$vector": [0.123046875, -0.5, 0.0009765625]}  # float32 values, every digit
    short = {"_id": "short", "$vector": [0.1, 0.2, 0.3]}  # the same kind of values as the Data API prints them
    assert round_trip([full, short], "astra", "pgvector") == [full, short]


def test_data_api_numbers_are_float32_values_so_a_longer_spelling_is_no_loss() -> None:
    """The format's digest reads a Data API vector as float32 (docs/format.md 7.1): spelling aside, nothing is lost."""
    wide = {"_id": "wide", "$vector": [0.1234567890123, 0.5, 0.25]}
    plan = plan_collection(ASTRA_DEFINITION, "astra", lambda: [wide], "qdrant", CAPABILITIES["qdrant"])
    assert plan.refusal() == []
    [back] = round_trip([wide], "astra", "pgvector")
    assert back["$vector"] == [0.12345679, 0.5, 0.25]
    assert canonical_json(back) == canonical_json(wide)


def test_normalised_embeddings_are_not_counted_as_losing_their_length() -> None:
    """An embedding model's unit vectors are not 1 to the last float32 bit; they lose nothing and go as they are."""
    import numpy as np

    rows = np.random.default_rng(4).normal(size=(20, 384))
    unit = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)  # as a model hands them out
    documents = [{"_id": f"e{i}", "$vector": [float(str(v)) for v in row]} for i, row in enumerate(unit)]
    definition = {"vector": {"dimension": 384, "metric": "cosine"}}
    plan = plan_collection(definition, "astra", lambda: documents, "qdrant", CAPABILITIES["qdrant"])
    assert plan.refusal() == []


def test_a_vector_field_no_definition_declares_is_a_lossy_step_not_a_silent_drop() -> None:
    definition = {"engine": "qdrant", "id": {"type": "int"}, "native": {}, "vectors": {
        "text": {"kind": "dense", "dtype": "float32", "dimension": 2, "metric": "cosine"}}}
    documents = [{"_id": 1, "$vectors": {"text": dense([1.0, 0.0]), "stray": dense([0.5, 0.5])}, "payload": {}}]
    plan = plan_collection(definition, "qdrant", lambda: documents, "chroma", CAPABILITIES["chroma"])
    [refusal] = plan.refusal()
    assert "'stray'" in refusal and "--allow-lossy drop-vector" in refusal


def test_each_lossy_change_of_one_field_needs_its_own_consent() -> None:
    definition = {"engine": "x", "id": {}, "native": {}, "vectors": {
        "v": {"kind": "dense", "dtype": "float64", "dimension": 2, "metric": "manhattan"}}}
    documents = [{"_id": "a", "$vectors": {"v": dense([1.0, 2.0], "float64")}, "payload": {}}]
    only_float32 = plan_collection(definition, "x", lambda: documents, "chroma", CAPABILITIES["chroma"],
                                   allowed=["float32"])
    [refusal] = only_float32.refusal()
    assert "metric manhattan" in refusal and "--allow-lossy metric" in refusal
    both = plan_collection(definition, "x", lambda: documents, "chroma", CAPABILITIES["chroma"],
                           allowed=["float32", "metric"])
    translator = both.translator(CAPABILITIES["chroma"])
    translator.translate(neutral(documents[0], "x"))
    assert (translator.touched.lossy("float32"), translator.touched.lossy("metric")) == (1, 1)
