"""The codec's promise: every supported value survives encode -> JSON text -> decode exactly."""

from __future__ import annotations

import datetime as dt
import json
import math
import struct
import uuid
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_vectorbackup.snapshot.codec import DEFAULT_CODEC, ENVELOPE_KEY
from airflow_provider_vectorbackup.snapshot.errors import EnvelopeError, UnsupportedTypeError
from airflow_provider_vectorbackup.snapshot.vectors import binary_to_floats, floats_to_binary


def store_and_load(value: Any) -> Any:
    """What a snapshot does to a value: encode, write as JSON text, read back, decode."""
    text = json.dumps(DEFAULT_CODEC.encode(value), ensure_ascii=False, allow_nan=False)
    return DEFAULT_CODEC.decode(json.loads(text))


def assert_identical(a: Any, b: Any, path: str = "value") -> None:
    """Equality that also demands the same types at every level, and treats NaN as equal to NaN."""
    assert type(a) is type(b), f"{path}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, dict):
        assert list(a) == list(b), f"{path}: keys or key order differ"
        for key in a:
            assert_identical(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{path}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_identical(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), path
    elif isinstance(a, float):
        assert a == b and math.copysign(1, a) == math.copysign(1, b), f"{path}: {a!r} != {b!r}"
    elif isinstance(a, Decimal):
        assert str(a) == str(b), f"{path}: {a!r} != {b!r}"
    elif isinstance(a, (dt.datetime, dt.time)):
        assert a == b and a.utcoffset() == b.utcoffset(), f"{path}: {a!r} != {b!r}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


offsets = st.sampled_from([None, dt.timezone.utc, dt.timezone(dt.timedelta(hours=5, minutes=30)),
                           dt.timezone(dt.timedelta(hours=-8))])
text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
keys = st.one_of(text, st.just(ENVELOPE_KEY), st.just("value"), st.just("$vector"), st.just("_id"))
hashable = st.one_of(st.integers(), text, st.booleans(), st.none())
scalars = st.one_of(
    st.none(), st.booleans(), text,
    st.integers(), st.integers(min_value=2**63, max_value=2**200), st.integers(max_value=-(2**70)),
    st.floats(allow_nan=True, allow_infinity=True),
    st.datetimes(timezones=offsets), st.dates(), st.times(timezones=offsets),
    st.decimals(allow_nan=True, allow_infinity=True), st.uuids(), st.binary(max_size=64),
    st.sets(hashable, max_size=5), st.frozensets(hashable, max_size=5),
    st.fixed_dictionaries({"$date": st.integers(min_value=0, max_value=2**45)}),
    st.fixed_dictionaries({"$uuid": st.uuids().map(str)}),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=6),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(keys, children, max_size=6),
    ),
    max_leaves=30,
)


@given(values)
@settings(max_examples=400, deadline=None)
def test_every_supported_value_round_trips_exactly(value: Any) -> None:
    assert_identical(value, store_and_load(value))


@given(st.dictionaries(keys, values, max_size=5))
@settings(max_examples=200, deadline=None)
def test_documents_round_trip_with_key_order(document: dict[str, Any]) -> None:
    assert_identical(document, store_and_load(document))


@pytest.mark.parametrize("value", [[], {}, [[]], {"a": []}, "", 0, -0.0, 2**1000, -(2**1000), "😀 \u2028 \x00"])
def test_edge_values_round_trip(value: Any) -> None:
    assert_identical(value, store_and_load(value))


@pytest.mark.parametrize("value, name", [(math.nan, "nan"), (math.inf, "inf"), (-math.inf, "-inf")])
def test_non_finite_floats_are_enveloped_as_the_spec_says(value: float, name: str) -> None:
    assert DEFAULT_CODEC.encode(value) == {ENVELOPE_KEY: "float", "value": name}
    assert DEFAULT_CODEC.encode([1.0, value]) == [1.0, {ENVELOPE_KEY: "float", "value": name}]


float32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


@given(st.lists(float32, min_size=1, max_size=64))
def test_array_vectors_of_any_float32_round_trip(vector: list[float]) -> None:
    document = {"_id": "v", "$vector": vector}
    assert_identical(document, store_and_load(document))


@given(st.lists(float32, min_size=1, max_size=64))
def test_binary_vectors_are_kept_verbatim_and_decode_to_the_same_floats(vector: list[float]) -> None:
    encoded = floats_to_binary(vector)
    document = {"_id": "v", "$vector": {"$binary": encoded}}
    assert store_and_load(document) == document  # EJSON kept verbatim, never decoded by the codec
    assert binary_to_floats(encoded) == vector


def test_binary_vector_encoding_matches_the_data_api_example() -> None:
    # The brief's wire capture: astrapy sends [0.1, 0.2, 0.3] as "PczMzT5MzM0+mZma".
    assert floats_to_binary([0.1, 0.2, 0.3]) == "PczMzT5MzM0+mZma"
    assert binary_to_floats("PczMzT5MzM0+mZma") == [struct.unpack(">f", struct.pack(">f", x))[0] for x in (0.1, 0.2, 0.3)]


def test_json_values_pass_through_without_copying() -> None:
    document = {"_id": "x", "$vector": [0.5] * 1536, "meta": {"tags": ["a", "b"], "n": 3}}
    assert DEFAULT_CODEC.encode(document) is document


class Opaque:
    pass


@pytest.mark.parametrize("value, field, type_name", [
    ({"a": {"b": [1, Opaque()]}}, "document.a.b[1]", "Opaque"),
    ({"c": 1 + 2j}, "document.c", "complex"),
    ({"f": Fraction(1, 3)}, "document.f", "Fraction"),
    ({"b": bytearray(b"x")}, "document.b", "bytearray"),
])
def test_unknown_types_are_refused_naming_the_field_and_type(value: Any, field: str, type_name: str) -> None:
    with pytest.raises(UnsupportedTypeError) as caught:
        DEFAULT_CODEC.encode(value)
    message = str(caught.value)
    assert field in message and type_name in message
    assert "Codec.register" in message and "lossy" in message


def test_int_subclasses_are_refused_rather_than_flattened() -> None:
    import enum

    class Level(enum.IntEnum):
        HIGH = 1

    with pytest.raises(UnsupportedTypeError, match="Level"):
        DEFAULT_CODEC.encode({"level": Level.HIGH})


def test_non_string_keys_are_refused() -> None:
    with pytest.raises(UnsupportedTypeError, match="int"):
        DEFAULT_CODEC.encode({1: "one"})


def test_a_source_key_named_like_the_envelope_marker_is_escaped() -> None:
    document = {"_id": "x", ENVELOPE_KEY: "datetime", "value": "not a date"}
    stored = DEFAULT_CODEC.encode(document)
    assert stored == {ENVELOPE_KEY: "object", "value": document}
    assert_identical(document, store_and_load(document))


def test_extending_the_codec_round_trips_the_new_type() -> None:
    codec = DEFAULT_CODEC.copy()
    codec.register(complex, "complex", lambda c: [c.real, c.imag], lambda pair: complex(*pair))
    stored = json.loads(json.dumps(codec.encode({"z": 1 + 2j})))
    assert stored == {"z": {ENVELOPE_KEY: "complex", "value": [1.0, 2.0]}}
    assert codec.decode(stored) == {"z": 1 + 2j}
    with pytest.raises(EnvelopeError, match="unknown envelope type 'complex'.*Codec.register"):
        DEFAULT_CODEC.decode(stored)


def test_envelope_names_cannot_be_registered_twice() -> None:
    with pytest.raises(ValueError, match="already taken"):
        DEFAULT_CODEC.copy().register(complex, "datetime", str, complex)


@pytest.mark.parametrize("stored, problem", [
    ({ENVELOPE_KEY: "datetime"}, "exactly the keys"),
    ({ENVELOPE_KEY: "datetime", "value": "yesterday"}, "invalid 'datetime'"),
    ({ENVELOPE_KEY: "bytes_b64", "value": "***"}, "invalid 'bytes_b64'"),
    ({ENVELOPE_KEY: "float", "value": "big"}, "invalid 'float'"),
    ({ENVELOPE_KEY: "set", "value": "abc"}, "must be an array"),
    ({ENVELOPE_KEY: "set", "value": [[1]]}, "invalid 'set'"),
    ({ENVELOPE_KEY: "uuid", "value": 3}, "invalid 'uuid'"),
])
def test_malformed_envelopes_are_rejected_with_the_reason(stored: dict[str, Any], problem: str) -> None:
    with pytest.raises(EnvelopeError, match=problem):
        DEFAULT_CODEC.decode({"field": stored})


def test_sets_are_stored_in_a_deterministic_order() -> None:
    a = DEFAULT_CODEC.encode({3, "b", 1, "a", None})
    b = DEFAULT_CODEC.encode({"a", None, 1, "b", 3})
    assert a == b
    assert DEFAULT_CODEC.encode(uuid.UUID(int=5)) == {ENVELOPE_KEY: "uuid", "value": str(uuid.UUID(int=5))}


def test_encoding_stored_form_again_changes_nothing() -> None:
    import datetime as dt
    import uuid
    from decimal import Decimal

    document = {"_id": uuid.UUID(int=7), "payload": {"price": Decimal("9.90"), "when": dt.date(2026, 1, 2),
                                                     ENVELOPE_KEY: "user data", "nested": {"x": float("nan")}}}
    stored = DEFAULT_CODEC.encode(document)
    assert DEFAULT_CODEC.encode(stored) == stored
    assert DEFAULT_CODEC.decode(DEFAULT_CODEC.encode(stored))["_id"] == uuid.UUID(int=7)
    not_an_envelope = {ENVELOPE_KEY: "uuid", "value": "not a uuid"}
    assert DEFAULT_CODEC.encode(not_an_envelope) == {ENVELOPE_KEY: "object", "value": not_an_envelope}
