"""The ``$vectors`` value forms: bit-exact in every precision, and nothing malformed counted as a vector."""

from __future__ import annotations

import base64
import struct

import pytest

from airflow_provider_vectorbackup.snapshot import vector_fields as vf


@pytest.mark.parametrize(("dtype", "values"), [
    ("float32", [0.1, -2.5, 3.0e38, -0.0]), ("float64", [0.1, 1e300, -0.0]), ("float16", [0.1, 65504.0, -0.0]),
    ("bfloat16", [1.5, -2.0, 3.0e38]), ("int8", [-128, 0, 127]), ("uint8", [0, 255])])
def test_dense_values_keep_their_precision_bit_for_bit(dtype: str, values: list[float]) -> None:
    value = vf.dense(values, dtype)
    raw = base64.b64decode(value["data"])
    assert vf.inspect(value) == vf.Inspected("dense", dtype, len(values))
    assert vf.dense_from_bytes(raw, dtype) == value, "the engine's own bytes give the same value"
    assert vf.pack(vf.values_of(value), dtype) == raw, "decoding and encoding again changes no bit"


def test_float32_values_are_rounded_once_and_exactly() -> None:
    (stored,) = vf.values_of(vf.dense([0.1]))
    assert stored == struct.unpack("<f", struct.pack("<f", 0.1))[0] != 0.1


def test_sparse_values_are_sorted_by_index_and_refuse_repeats() -> None:
    value = vf.sparse([9, 2, 5], [0.5, 1.0, -2.0])
    assert value["indices"] == [2, 5, 9] and vf.sparse_of(value) == {2: 1.0, 5: -2.0, 9: 0.5}
    assert vf.inspect(value) == vf.Inspected("sparse", "float32", None)
    assert vf.inspect(vf.sparse([], [])).valid, "a sparse vector with no entries is still a vector"
    with pytest.raises(ValueError, match="repeats index 2"):
        vf.sparse([2, 2], [1.0, 2.0])
    with pytest.raises(ValueError, match="negative index"):
        vf.sparse([-1], [1.0])


def test_multivectors_and_bits_round_trip() -> None:
    value = vf.multi([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    assert vf.inspect(value) == vf.Inspected("multi", "float32", 2)
    assert vf.rows_of(value) == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    bits = vf.bits_from_string("101100111")
    assert vf.inspect(bits) == vf.Inspected("bit", None, 9)
    assert vf.bit_string(bits) == "101100111" and base64.b64decode(bits["data"]) == bytes([0b10110011, 0b10000000])
    with pytest.raises(ValueError):
        vf.multi([[1.0], [2.0, 3.0]])
    with pytest.raises(ValueError):
        vf.bits(b"\x00\x00", 3)


@pytest.mark.parametrize("value", [
    None, [0.1, 0.2], {"kind": "dense", "dtype": "float32", "data": "AAAA"},  # 3 bytes: not a float32
    {"kind": "dense", "dtype": "float32", "data": ""},  # empty
    {"kind": "dense", "dtype": "float32", "data": "AAAAAA=="[:-1]},  # broken padding
    {"kind": "dense", "dtype": "float32", "data": "AAAAAB=="},  # non-canonical spelling of 4 bytes
    {"kind": "dense", "dtype": "complex64", "data": "AAAAAA=="},  # unknown element type
    {"kind": "vector", "dtype": "float32", "data": "AAAAAA=="},  # unknown kind
    {"kind": "sparse", "dtype": "float32", "indices": [3, 1], "data": vf.dense([1, 2])["data"]},  # unsorted
    {"kind": "sparse", "dtype": "float32", "indices": [1], "data": vf.dense([1, 2])["data"]},  # lengths differ
    {"kind": "sparse", "dtype": "float32", "indices": [True], "data": vf.dense([1])["data"]},  # not an int
    {"kind": "multi", "dtype": "float32", "dimension": 3, "data": vf.dense([1, 2])["data"]},  # not whole rows
    {"kind": "bit", "dimension": 17, "data": "AAA="},  # 2 bytes cannot hold 17 bits
])
def test_malformed_values_are_never_counted_as_vectors(value: object) -> None:
    assert vf.inspect(value) == vf.Inspected(vf.INVALID)


def test_declared_fields_read_the_definition_vectors_block() -> None:
    definition = {"engine": "qdrant", "vectors": {
        "text": {"kind": "dense", "dtype": "float32", "dimension": 768, "metric": "cosine"},
        "keywords": {"kind": "sparse", "dtype": "float32", "dimension": None, "metric": "dot_product"}}}
    assert vf.declared_fields(definition) == [vf.VectorField("text", "dense", "float32", 768, "cosine"),
                                              vf.VectorField("keywords", "sparse", "float32", None, "dot_product")]
    assert vf.declared_fields({"vector": {"dimension": 8}}) == [], "a Data API definition has no vectors block"
