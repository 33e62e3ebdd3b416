"""The content digest: order-independent, encoding-independent for vectors, sensitive to content."""

from __future__ import annotations

import base64
import hashlib
import json
import random

import pytest

from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_vectorbackup.snapshot.digest import ContentDigest, canonical_json
from airflow_provider_vectorbackup.snapshot.vectors import floats_to_binary
from tests.snapshot.conftest import sample_documents


def digest_of(documents) -> str:
    digest = ContentDigest()
    for document in documents:
        digest.add(document)
    return digest.hexdigest()


def test_the_digest_ignores_order_but_not_content_or_multiplicity() -> None:
    docs = sample_documents(50)
    shuffled = docs[:]
    random.Random(1).shuffle(shuffled)
    assert digest_of(docs) == digest_of(shuffled)
    assert digest_of(docs) != digest_of(docs[:-1])
    assert digest_of(docs) != digest_of(docs + [docs[0]])
    changed = [dict(d) for d in docs]
    changed[10]["title"] = "x"
    assert digest_of(docs) != digest_of(changed)


@given(st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), min_size=1, max_size=32))
def test_both_vector_encodings_of_one_vector_digest_alike(vector: list[float]) -> None:
    as_array = {"_id": 1, "$vector": vector}
    as_binary = {"_id": 1, "$vector": {"$binary": floats_to_binary(vector)}}
    assert canonical_json(as_array) == canonical_json(as_binary)


def test_canonical_json_matches_the_specification_example() -> None:
    # docs/format.md, "Content digest": this example and its digest are part of the contract.
    document = {"title": "Zürich", "_id": "a1", "n": 1.0, "big": 12345678901234567890, "$vector": [0.5, -1.0]}
    assert canonical_json(document) == (
        b'{"$vector":{"$binary":"PwAAAL+AAAA="},"_id":"a1","big":12345678901234567890,"n":1.0,"title":"Z\xc3\xbcrich"}')
    single = int.from_bytes(hashlib.sha256(canonical_json(document)).digest(), "big")
    assert digest_of([document]) == f"{single:064x}"
    other = int.from_bytes(hashlib.sha256(b'{"_id":"b"}').digest(), "big")
    assert digest_of([document, {"_id": "b"}]) == f"{(single + other) % 2**256:064x}"


def test_vectors_outside_float32_are_digested_as_stored() -> None:
    assert b'"$vector":[1e+39]' in canonical_json({"_id": 1, "$vector": [1e39]})


# The fast canonical path (msgspec, one base64 decode) must print exactly what the specification's
# reference definition prints: the standard library's json.dumps and a full base64 re-encode.
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**80, max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20)


def reference_canonical(document: dict) -> bytes:
    vector = document.get("$vector")
    if isinstance(vector, dict) and isinstance(vector.get("$binary"), str):
        try:
            raw = base64.b64decode(vector["$binary"], validate=True)
            if raw and len(raw) % 4 == 0:
                document = {**document, "$vector": {"$binary": base64.b64encode(raw).decode()}}
        except ValueError:
            pass
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


@given(st.dictionaries(st.text(max_size=8), _json_values, max_size=6))
def test_the_fast_canonical_form_equals_the_reference_form(document: dict) -> None:
    assert canonical_json(document) == reference_canonical(document)


@given(st.binary(min_size=4, max_size=40).filter(lambda raw: len(raw) % 4 == 0), st.sampled_from("BRhx"))
def test_non_canonical_base64_spellings_digest_as_the_canonical_one(raw: bytes, last: str) -> None:
    text = base64.b64encode(raw).decode()
    stem = text.rstrip("=")
    if stem != text:  # a padded last quantum has unused low bits: these letters set one of them
        text = stem[:-1] + last + text[len(stem):]
        assert base64.b64encode(base64.b64decode(text)).decode() != text
    document = {"_id": 1, "$vector": {"$binary": text}}
    assert canonical_json(document) == reference_canonical(document)


@pytest.mark.parametrize("value", [1e-5, 1e16, -2.5e-300, 1.7976931348623157e308, 5e-324, 0.0001, 9999999999999998.0])
def test_floats_at_the_exponent_boundary_print_as_the_specification_says(value: float) -> None:
    assert canonical_json({"_id": 1, "x": [value]}) == f'{{"_id":1,"x":[{value!r}]}}'.encode()
