"""Chroma as the target of a cross-engine restore, with a real PersistentClient: its portable definition and capabilities."""

from __future__ import annotations

import random
import re

import pytest

from airflow_provider_vectorbackup.snapshot import vector_fields as vf
from airflow_provider_vectorbackup.snapshot.tolerance import ulps_apart
from airflow_provider_vectorbackup.sources.chroma.client import ChromaSource
from airflow_provider_vectorbackup.sources.portable import PortableCollection
from tests.sources.portable_cases import COUNT, DIMENSION, exactly_unit_vector, payload, portable_collection
from tests.sources.test_conformance import digest_of, scanned

CAPABILITIES = ChromaSource.capabilities


def record(i: int, **payload_values) -> dict:
    document = {"_id": f"doc-{i:03d}", "$vectors": {"embedding": vf.dense(exactly_unit_vector(i))}}
    values = payload_values or payload(i, CAPABILITIES)
    if values:
        document["payload"] = values
    if i % 2:
        document["document"] = f"text of {i}"
    if i % 5 == 1:
        document["uri"] = f"s3://bucket/{i}.txt"
    return document


@pytest.mark.parametrize("metric, space", [("cosine", "cosine"), ("euclidean", "l2"), ("dot_product", "ip")])
def test_a_portable_collection_is_created_as_defined_and_keeps_every_claimed_kind(chroma, metric, space) -> None:
    portable = portable_collection(CAPABILITIES, "embedding", "string")
    portable.vectors["embedding"]["metric"] = metric
    definition = chroma.portable_definition(portable)
    assert chroma.unsupported(definition) == []
    assert definition["vectors"] == {"embedding": {"kind": "dense", "dtype": "float32", "dimension": DIMENSION,
                                                   "metric": metric}}
    assert definition["native"]["configuration"]["hnsw"]["space"] == space

    assert chroma.create_collection("portable", definition) is True
    empty = chroma.collection_definition("portable")
    assert empty == {**definition, "vectors": {"embedding": {**definition["vectors"]["embedding"], "dimension": None}}}, \
        "Chroma fixes the dimension with the first record"
    assert chroma.create_collection("portable", definition) is False

    sent = [record(i) for i in range(COUNT)]
    assert {kind for d in sent for kind in d["payload"]} >= {f"{k}_field" for k in CAPABILITIES.payload_kinds}
    report = chroma.insert_documents("portable", sent)
    assert (report.inserted, report.failures) == (COUNT, [])
    assert chroma.collection_definition("portable") == definition
    assert chroma.create_collection("portable", definition) is False
    assert digest_of(scanned(chroma, "portable", definition)) == digest_of(sent)


def test_flat_lists_of_each_claimed_kind_are_kept_and_what_is_not_claimed_is_refused(chroma) -> None:
    chroma.create_collection("lists", chroma.portable_definition(portable_collection(CAPABILITIES, "embedding",
                                                                                      "string")))
    lists = {"string": ["a", "b", "東京"], "int": [1, -(2**63), 2**63 - 1], "float": [0.5, -1.25], "bool": [True, False]}
    assert set(lists) == CAPABILITIES.flat_lists
    kept = record(1, **{f"{kind}_list": value for kind, value in lists.items()})
    refused = {"null": None, "empty list": [], "empty object": {}, "object": {"a": 1}, "mixed list": [1, "a"],
               "list of lists": [[1]], "envelope": {"$backupType": "date", "value": "2026-01-01"}}
    assert not (CAPABILITIES.nulls or CAPABILITIES.nested or CAPABILITIES.envelopes)
    report = chroma.insert_documents("lists", [kept] + [record(10 + n, value=value)
                                                        for n, value in enumerate(refused.values())])
    assert report.inserted == 1 and len(report.failures) == len(refused), report.summary()
    assert digest_of(scanned(chroma, "lists", chroma.collection_definition("lists"))) == digest_of([kept])


def test_field_names_of_the_claimed_pattern_are_kept(chroma) -> None:
    chroma.create_collection("names", chroma.portable_definition(portable_collection(CAPABILITIES, "embedding",
                                                                                      "string")))
    names = ["_", "_vectorbackup", "a.b-c_d", "Z" + "9.-_" * 63 + "x", "x" * 256]
    assert all(re.match(CAPABILITIES.name_pattern, name) for name in names)
    sent = record(1, **{name: n for n, name in enumerate(names)})
    assert chroma.insert_documents("names", [sent]).inserted == 1
    assert scanned(chroma, "names", chroma.collection_definition("names")) == [sent]


def test_floats_are_kept_within_the_restore_tolerance(chroma) -> None:
    """Chroma stores some float64 metadata values an ulp off: the float kind is kept within ``restore_tolerance``."""
    definition = chroma.portable_definition(portable_collection(CAPABILITIES, "embedding", "string"))
    chroma.create_collection("floats", definition)
    rng = random.Random(4)
    sent = [record(i, ratio=rng.random(), scaled=rng.uniform(-1e9, 1e9), listed=[rng.random(), rng.random()])
            for i in range(200)]
    assert chroma.insert_documents("floats", sent).inserted == 200
    got = {d["_id"]: d for d in scanned(chroma, "floats", definition)}
    apart = [ulps_apart(d, got[d["_id"]]) for d in sent]
    assert max(apart) <= chroma.restore_tolerance(definition)
    assert max(apart) >= 1, "some moved (else the tolerance is not needed and this test should say so)"


def test_what_chroma_cannot_hold_is_named_by_unsupported(chroma) -> None:
    dense = {"kind": "dense", "dtype": "float32", "dimension": 4, "metric": "cosine", "nullable": False}
    cases = {
        "id": PortableCollection("int", {"embedding": dense}),
        "vectors": PortableCollection("string", {"embedding": dense, "title": dense}),
        "space": PortableCollection("string", {"embedding": {**dense, "metric": "manhattan"}}),
    }
    for item, portable in cases.items():
        (problem,) = chroma.unsupported(chroma.portable_definition(portable))
        assert f"as defined: {item}" in problem or f"native.configuration {item}" in problem, problem
    renamed = PortableCollection("string", {"vector": dense})
    assert "'embedding'" in chroma.unsupported(chroma.portable_definition(renamed))[0]
    float16 = PortableCollection("string", {"embedding": {**dense, "dtype": "float16"}})
    assert "float32" in chroma.unsupported(chroma.portable_definition(float16))[0]


def test_one_key_holds_values_of_several_kinds(chroma) -> None:
    """Why ``typed_fields`` is not claimed: Chroma's metadata keys take any of their kinds in each record."""
    assert not CAPABILITIES.typed_fields
    chroma.create_collection("mixed", chroma.portable_definition(portable_collection(CAPABILITIES, "embedding",
                                                                                      "string")))
    sent = [record(i, key=value) for i, value in enumerate(["text", 7, 2.5, True, ["x", "y"], [1, 2]])]
    assert chroma.insert_documents("mixed", sent).inserted == len(sent)
    assert digest_of(scanned(chroma, "mixed", chroma.collection_definition("mixed"))) == digest_of(sent)
