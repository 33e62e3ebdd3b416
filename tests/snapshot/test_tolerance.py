"""Comparing within ulps, for engines that move floats on write: exact on everything but the floats' last bits."""

from __future__ import annotations

import math
import struct

from airflow_provider_vectorbackup.snapshot.tolerance import shape_of, ulps_apart
from airflow_provider_vectorbackup.snapshot import vector_fields as vf


def next32(value: float, steps: int = 1) -> float:
    (bits,) = struct.unpack("<i", struct.pack("<f", value))
    return struct.unpack("<f", struct.pack("<i", bits + steps))[0]


def doc(price: float = 9.9, vector: list[float] | None = None, **payload) -> dict:
    return {"_id": "a", "$vectors": {"embedding": vf.dense(vector or [0.6, 0.8])},
            "payload": {"price": price, "n": 3, "name": "x", **payload}}


def test_the_shape_keeps_everything_but_the_floats() -> None:
    assert shape_of(doc()) == shape_of(doc(price=9.900000000000002, vector=[next32(0.6), 0.8]))
    assert shape_of(doc()) != shape_of(doc(n=4)), "an integer is compared exactly"
    assert shape_of(doc()) != shape_of(doc(vector=[0.6, 0.8, 0.0])), "a vector's size is compared exactly"
    assert shape_of(doc()) != shape_of(doc(extra=1.0)), "a key more is a difference"


def test_ulps_are_counted_per_float_in_its_own_precision() -> None:
    assert ulps_apart(doc(), doc()) == 0
    assert ulps_apart(doc(), doc(price=math.nextafter(9.9, 10.0))) == 1
    assert ulps_apart(doc(), doc(vector=[next32(0.6, 2), next32(0.8, -1)])) == 2
    assert ulps_apart(doc(vector=[-0.5]), doc(vector=[next32(-0.5, 3)])) == 3
    assert ulps_apart(doc(vector=[0.0]), doc(vector=[-0.0])) == 0
    assert ulps_apart(doc(), doc(n=4)) is None
    assert ulps_apart(doc(), None) is None, "a document missing from the target is a difference"
    assert ulps_apart({"$vectors": {"e": vf.dense([1, 2], "float16")}},
                      {"$vectors": {"e": vf.dense([1, 3], "float16")}}) is None, "other element types: exact"
