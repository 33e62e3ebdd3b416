"""The content digest: order-independent, encoding-independent for vectors, sensitive to content."""

from __future__ import annotations

import hashlib
import random

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
