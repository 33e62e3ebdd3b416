"""The row <-> stored-form conversions, engine-free: Milvus Lite cannot create FLOAT16, BFLOAT16, INT8 or BINARY
vector fields, but a server can, so their values are checked here in every shape pymilvus returns them."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from airflow_provider_vectorbackup.snapshot import vector_fields as vf
from airflow_provider_vectorbackup.sources.milvus.scan import literal, range_filter
from airflow_provider_vectorbackup.sources.milvus.values import (
    VectorValueMismatch, row_to_stored, stored_to_row, vector_from_stored, vector_to_stored,
)

FLOAT16 = np.array([0.5, -2.0, 65504.0, 1e-3], dtype=np.float16)
INT8 = np.array([-128, 0, 7, 127], dtype=np.int8)
BFLOAT16 = b"".join(struct.pack("<f", x)[2:] for x in (1.0, -0.5, 3.140625, 0.0))


@pytest.mark.parametrize("shape", [lambda raw: raw, lambda raw: [raw], lambda raw: np.frombuffer(raw, np.uint8)],
                         ids=["bytes", "list-of-bytes", "numpy"])
@pytest.mark.parametrize(("milvus_type", "raw", "dtype"), [
    ("FLOAT16_VECTOR", FLOAT16.tobytes(), "float16"),
    ("BFLOAT16_VECTOR", BFLOAT16, "bfloat16"),
    ("INT8_VECTOR", INT8.tobytes(), "int8"),
])
def test_byte_vectors_keep_their_precision_bit_for_bit(shape, milvus_type, raw, dtype) -> None:
    stored = vector_to_stored(milvus_type, 4, shape(raw))
    assert vf.inspect(stored) == vf.Inspected("dense", dtype, 4)
    assert vector_from_stored("v", milvus_type, stored) == raw  # what pymilvus inserts for these types


def test_numpy_arrays_of_the_element_type_are_read_as_their_bytes() -> None:
    assert vf.values_of(vector_to_stored("FLOAT16_VECTOR", 4, FLOAT16)) == FLOAT16.astype(float).tolist()
    assert vf.values_of(vector_to_stored("INT8_VECTOR", 4, INT8)) == INT8.tolist()
    assert vf.values_of(vector_to_stored("BFLOAT16_VECTOR", 4, BFLOAT16)) == [1.0, -0.5, 3.140625, 0.0]


def test_binary_vectors_are_bits_of_the_field_dimension() -> None:
    packed = bytes([0b10110000, 0b00000001])
    for shape in (packed, [packed]):
        stored = vector_to_stored("BINARY_VECTOR", 16, shape)
        assert stored["kind"] == "bit" and vf.bit_string(stored) == "1011000000000001"
        assert vector_from_stored("b", "BINARY_VECTOR", stored) == packed


def test_float_and_sparse_vectors_round_trip_exactly() -> None:
    floats = [struct.unpack("<f", struct.pack("<f", x))[0] for x in (0.1, -1e-30, 3.4e38)]  # float32 widened
    stored = vector_to_stored("FLOAT_VECTOR", 3, floats)
    assert vector_from_stored("v", "FLOAT_VECTOR", stored) == floats
    sparse = vector_to_stored("SPARSE_FLOAT_VECTOR", None, {40: 0.25, 3: 1.5})
    assert sparse["indices"] == [3, 40] and vector_from_stored("s", "SPARSE_FLOAT_VECTOR", sparse) == {3: 1.5, 40: 0.25}
    assert vector_to_stored("FLOAT_VECTOR", 3, None) is None


def test_a_value_that_does_not_fit_its_field_is_refused() -> None:
    with pytest.raises(VectorValueMismatch, match="'v' is FLOAT16_VECTOR"):
        vector_from_stored("v", "FLOAT16_VECTOR", vf.dense([1.0, 2.0]))
    with pytest.raises(VectorValueMismatch, match="'b' is BINARY_VECTOR"):
        vector_from_stored("b", "BINARY_VECTOR", vf.sparse([1], [1.0]))
    with pytest.raises(VectorValueMismatch, match="does not declare"):
        stored_to_row({"_id": 1, "$vectors": {"other": vf.dense([1.0])}}, pk="id", vector_fields={})


def test_rows_split_into_vectors_payload_and_partition_and_back() -> None:
    vectors = {"v": ("FLOAT_VECTOR", 2), "f16": ("FLOAT16_VECTOR", 4), "out": ("SPARSE_FLOAT_VECTOR", None)}
    row = {"id": 7, "v": [1.0, 0.5], "f16": [FLOAT16.tobytes()], "out": {1: 2.0}, "nothing": None,
           "t": "x", "dynamic": {"k": [1, 2]}, "ratio": float("nan"), "blob": None}
    stored = row_to_stored(row, pk="id", vector_fields=vectors, partition="p1")
    assert stored["partition"] == "p1" and set(stored["$vectors"]) == {"f16", "out", "v"}
    assert stored["payload"]["ratio"] == {"$backupType": "float", "value": "nan"}  # the codec's envelope
    back = stored_to_row(stored, pk="id", vector_fields=vectors, generated=frozenset({"out"}),
                         scalar_fields=frozenset({"nothing", "t", "ratio", "blob"}))
    assert "out" not in back, "a function's output is made by Milvus, never written"
    assert back["f16"] == FLOAT16.tobytes() and back["v"] == [1.0, 0.5] and back["dynamic"] == {"k": [1, 2]}
    assert math.isnan(back["ratio"]), "a declared FLOAT takes NaN as it is"
    assert "partition" not in row_to_stored(row, pk="id", vector_fields=vectors, partition="_default")


@pytest.mark.parametrize(("key", "expected"), [
    ("a\nb", '"a\\nb"'), ('q"x', '"q\\"x"'), ("b\\n", '"b\\\\n"'), ("cr\r", '"cr\\r"'), ("tab\t東", '"tab\t東"'),
    (-(2**63), "-9223372036854775808"),
])
def test_keys_become_escaped_literals(key, expected) -> None:
    assert literal(key) == expected


def test_range_filters_are_half_open_and_continue_after_the_last_key() -> None:
    assert range_filter("pk", None, None) == ""
    assert range_filter("pk", 10, 20) == "pk >= 10 and pk < 20"
    assert range_filter("pk", 10, 20, after=15) == "pk > 15 and pk < 20"
    assert range_filter("pk", "a", None) == 'pk >= "a"'
    with pytest.raises(TypeError):
        literal(True)
