"""The Data API as the target of a cross-engine restore, on the Astra stand-in through astrapy: options and capabilities."""

from __future__ import annotations

import json
import re

import pytest

from airflow_provider_vectorbackup.sources.astra.client import AstraSource
from airflow_provider_vectorbackup.sources.base import UnsupportedDefinition
from airflow_provider_vectorbackup.sources.portable import RESERVED_FIELD, PortableCollection
from tests.sources.portable_cases import COUNT, DIMENSION, exactly_unit_vector, payload, portable_collection
from tests.sources.test_conformance import digest_of, scanned

CAPABILITIES = AstraSource.capabilities
IDS = {"int": lambda i: (-1) ** i * (i * 1_000_003), "string": lambda i: f"doc-{i:03d} 東京",
       "uuid": lambda i: {"$uuid": f"0190f1c2-7a3b-7c4d-8e5f-{i:012d}"}}


@pytest.fixture
def astra(astra_source) -> AstraSource:
    return astra_source()


def compact(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


@pytest.mark.parametrize("id_type", sorted(CAPABILITIES.id_types))
def test_a_portable_collection_is_created_as_defined_and_keeps_every_claimed_kind(astra, id_type) -> None:
    portable = portable_collection(CAPABILITIES, "$vector", id_type)
    options = astra.portable_definition(portable)
    assert options == {"vector": {"dimension": DIMENSION, "metric": "cosine", "sourceModel": "other"}}
    assert astra.unsupported(options) == []
    assert astra.create_collection("portable", options) is True
    assert astra.collection_definition("portable") == options
    assert astra.create_collection("portable", options) is False

    sent = [{"_id": IDS[id_type](i), "$vector": exactly_unit_vector(i), **payload(i, CAPABILITIES)}
            for i in range(COUNT)]
    assert {key for d in sent for key in d} >= {f"{k}_field" for k in CAPABILITIES.payload_kinds} | {RESERVED_FIELD}
    report = astra.insert_documents("portable", sent)
    assert (report.inserted, report.failures) == (COUNT, [])
    assert digest_of(scanned(astra, "portable", options)) == digest_of(sent)


@pytest.mark.parametrize("metric", sorted(CAPABILITIES.metrics))
def test_every_claimed_metric_is_created_and_read_back(astra, metric) -> None:
    portable = portable_collection(CAPABILITIES, "$vector", "string")
    portable.vectors["$vector"]["metric"] = metric
    options = astra.portable_definition(portable)
    assert astra.create_collection("metric", options) is True
    assert astra.collection_definition("metric") == options


def test_a_collection_without_vectors_has_no_vector_option(astra) -> None:
    options = astra.portable_definition(PortableCollection("string", {}, {"title": "string"}))
    assert options == {}
    assert astra.create_collection("plain", options) is True
    assert astra.collection_definition("plain") == options and astra.create_collection("plain", options) is False


def test_vector_fields_no_options_can_say_are_refused_by_name(astra) -> None:
    dense = {"kind": "dense", "dtype": "float32", "dimension": 4, "metric": "cosine", "nullable": False}
    for vectors in ({"$vector": dense, "title": dense}, {"embedding": dense},
                    {"$vector": {**dense, "dtype": "float16"}}, {"$vector": {**dense, "kind": "sparse"}}):
        with pytest.raises(UnsupportedDefinition, match=re.escape(repr(next(iter(reversed(vectors)))))):
            astra.portable_definition(PortableCollection("string", vectors))
    with pytest.raises(UnsupportedDefinition, match="needs a metric"):
        astra.portable_definition(PortableCollection("string", {"$vector": {**dense, "metric": None}}))


def test_ids_integers_and_ejson_of_the_claimed_ranges_and_names_of_the_claimed_pattern_are_kept(astra) -> None:
    astra.create_collection("ranges", astra.portable_definition(portable_collection(CAPABILITIES, "$vector", "int")))
    low, high = CAPABILITIES.int_ids
    assert CAPABILITIES.int_range is None, "integers of any size"
    names = ["_", RESERVED_FIELD, "a-b_c", "Z" + "9-_" * 33, "x" * 100]
    assert all(re.match(CAPABILITIES.name_pattern, name) for name in names)
    assert CAPABILITIES.ejson and CAPABILITIES.mixed_ids
    ejson = {"when": {"$date": -86_400_000}, "batch": {"$uuid": "0190f1c2-7a3b-7c4d-8e5f-0123456789ab"},
             "nested": [{"by": {"$objectId": "65f0a1b2c3d4e5f601234567"}}]}
    sent = [{"_id": low, "$vector": exactly_unit_vector(0), "huge": 2**200, "tiny": -(2**90), **ejson},
            {"_id": high, "$vector": exactly_unit_vector(1), **{name: n for n, name in enumerate(names)}},
            {"_id": "🧭" * CAPABILITIES.max_id_length, "$vector": exactly_unit_vector(2), "nothing": None},
            {"_id": IDS["uuid"](3), "$vector": exactly_unit_vector(3)}]
    assert astra.insert_documents("ranges", sent).inserted == len(sent)
    assert digest_of(scanned(astra, "ranges", astra.collection_definition("ranges"))) == digest_of(sent)


def test_what_is_not_claimed_is_refused(astra) -> None:
    """Why there are no envelopes, and why the longest ``_id`` is 2,000 characters: 8,000 bytes of UTF-8 at most."""
    assert not CAPABILITIES.envelopes
    astra.create_collection("refused", astra.portable_definition(portable_collection(CAPABILITIES, "$vector", "int")))
    refused = [{"_id": 1, "when": {"$backupType": "date", "value": "2026-01-01"}},
               {"_id": 2, "deep": {"list": [{"$backupType": "uuid", "value": "12345678-1234-5678-1234-567812345678"}]}},
               {"_id": "🧭" * (CAPABILITIES.max_id_length + 1)}]
    report = astra.insert_documents("refused", refused)
    assert report.inserted == 0 and len(report.failures) == len(refused), report.summary()
    assert [f.error_code for f in report.failures[:2]] == ["SHRED_BAD_FIELD_NAME"] * 2


def payload_of(size: int) -> dict[str, str]:
    """A payload of exactly ``size`` bytes as compact JSON, in strings short enough to be indexed."""
    fields: dict[str, str] = {}
    used = 2  # {}
    while True:
        key = f"f{len(fields):04d}"
        overhead = len(key) + 5 + (1 if fields else 0)  # "key":"" and the comma before it
        room = size - used - overhead
        fields[key] = "x" * min(room, 7000)
        used += overhead + len(fields[key])
        if room <= 7000:
            assert len(compact(fields)) == size
            return fields


def test_the_largest_claimed_payload_fits_beside_the_longest_id_and_vector_and_a_larger_one_may_not(astra) -> None:
    """Why ``payload_bytes`` is not unlimited: a document is at most 4,000,000 characters."""
    dimension = CAPABILITIES.max_dimension
    portable = portable_collection(CAPABILITIES, "$vector", "string")
    portable.vectors["$vector"]["dimension"] = dimension
    astra.create_collection("large", astra.portable_definition(portable))
    longest = -1.1754942106924411e-38  # a float32 with the longest repr
    document = {"_id": "🧭" * CAPABILITIES.max_id_length, "$vector": [longest] * dimension}
    largest = {**document, **payload_of(CAPABILITIES.payload_bytes)}
    too_large = {**document, "_id": "other", **payload_of(4_000_001)}
    report = astra.insert_documents("large", [largest, too_large], chunk_size=1, concurrency=1)
    assert report.inserted == 1 and [f.id for f in report.failures] == ["other"], report.summary()
    assert "exceeds maximum allowed (4000000)" in report.failures[0].message
