"""Comparing a restore with its snapshot when the engine moves floats by a few ulps on every write.

Some engines cannot store a float exactly as given: Chroma moves about one float metadata value
in ten by one ulp, and the vectors of a cosine collection by up to two float32 ulps, on every
write. A content digest of the restored collection then never equals the snapshot's, although
nothing was lost. For such a source (``VectorSource.restore_tolerance``), restore compares:

- every document's *shape*, exactly, by digest: ids, strings, integers, booleans, nulls, the
  structure, and each float's position, with every float and every vector's numbers left out
  (:func:`shape_of`);
- the floats themselves on sampled documents, read back by id, within the tolerance
  (:func:`ulps_apart`), and recall on every vector field as always.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

from airflow_provider_vectorbackup.snapshot import vector_fields

_FLOAT = "~float"


def shape_of(document: Any) -> Any:
    """``document`` with each float replaced by a marker and each ``$vectors`` value by its kind, type and size."""
    kind = type(document)
    if kind is float:
        return _FLOAT
    if kind is list:
        return [shape_of(item) for item in document]
    if kind is dict:
        if vector_fields.VECTORS_FIELD in document and type(document[vector_fields.VECTORS_FIELD]) is dict:
            document = {**document, vector_fields.VECTORS_FIELD: {
                name: _vector_shape(value) for name, value in document[vector_fields.VECTORS_FIELD].items()}}
            return {key: (value if key == vector_fields.VECTORS_FIELD else shape_of(value))
                    for key, value in document.items()}
        return {key: shape_of(value) for key, value in document.items()}
    return document


def _vector_shape(value: Any) -> Any:
    found = vector_fields.inspect(value)
    if not found.valid or found.kind == vector_fields.BIT:
        return value  # compared exactly
    shape = {"kind": found.kind, "dtype": found.dtype, "dimension": found.dimension,
             "length": len(base64.b64decode(value["data"]))}
    if found.kind == vector_fields.SPARSE:
        shape["indices"] = value["indices"]
    return shape


def ulps_apart(expected: Any, restored: Any) -> int | None:
    """The most ulps any float of ``restored`` is from ``expected``'s; ``None`` if they differ otherwise.

    Payload floats are compared as float64, vector elements in their stored type (float32 and
    float64 by ulps, other element types exactly).
    """
    if type(expected) is float and type(restored) is float:
        return _ulps64(expected, restored)
    if type(expected) is not type(restored):
        return None
    if type(expected) is list:
        if len(expected) != len(restored):
            return None
        return _most(ulps_apart(a, b) for a, b in zip(expected, restored))
    if type(expected) is dict:
        if expected.keys() != restored.keys():
            return None
        if "kind" in expected and "data" in expected and vector_fields.inspect(expected).valid:
            return _vector_ulps(expected, restored)
        return _most(ulps_apart(expected[key], restored[key]) for key in expected)
    return 0 if expected == restored else None


def _vector_ulps(expected: dict[str, Any], restored: dict[str, Any]) -> int | None:
    if {k: v for k, v in expected.items() if k != "data"} != {k: v for k, v in restored.items() if k != "data"}:
        return None
    a, b = base64.b64decode(expected["data"]), base64.b64decode(restored["data"])
    dtype = expected.get("dtype")
    if len(a) != len(b):
        return None
    if dtype == "float32":
        return max((abs(_ordered32(x) - _ordered32(y)) for x, y in zip(_ints32(a), _ints32(b))), default=0)
    if dtype == "float64":
        return _most(_ulps64(x, y) for x, y in zip(struct.unpack(f"<{len(a) // 8}d", a),
                                                      struct.unpack(f"<{len(b) // 8}d", b)))
    return 0 if a == b else None


def _most(values: Any) -> int | None:
    worst = 0
    for value in values:
        if value is None:
            return None
        worst = max(worst, value)
    return worst


def _ints32(raw: bytes) -> tuple[int, ...]:
    return struct.unpack(f"<{len(raw) // 4}i", raw)


def _ordered32(bits: int) -> int:
    return bits if bits >= 0 else -(bits & 0x7FFFFFFF)


def _ulps64(a: float, b: float) -> int | None:
    if a != a or b != b:  # NaN: equal only to NaN
        return 0 if (a != a and b != b) else None
    (x,), (y,) = struct.unpack("<q", struct.pack("<d", a)), struct.unpack("<q", struct.pack("<d", b))
    ordered = [v if v >= 0 else -(v & 0x7FFFFFFFFFFFFFFF) for v in (x, y)]
    return abs(ordered[0] - ordered[1])
