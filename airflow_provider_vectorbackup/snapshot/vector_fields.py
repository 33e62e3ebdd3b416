"""Vector fields of engines other than the Data API: the ``$vectors`` map and the definition's ``vectors`` block.

A document of a Qdrant, pgvector, Chroma or Milvus collection keeps every vector field under
``"$vectors": {<field>: <value>}``, each value self-describing and bit-exact in its own precision
(docs/format.md, "Vector fields"):

- ``{"kind": "dense", "dtype": "float32", "data": <base64>}``: little-endian elements of
  ``dtype`` (float32, float64, float16, bfloat16, int8, uint8); the dimension is the byte length
  divided by the element size;
- ``{"kind": "sparse", "dtype": "float32", "indices": [..], "data": <base64>}``: strictly
  ascending non-negative indices and their values, little-endian;
- ``{"kind": "multi", "dtype": "float32", "dimension": d, "data": <base64>}``: rows of ``d``
  elements, concatenated (a multivector: several vectors per document);
- ``{"kind": "bit", "dimension": n, "data": <base64>}``: ``n`` bits packed first bit in the most
  significant position, the last byte padded with zero bits.

Values are built only through :func:`dense`, :func:`sparse`, :func:`multi` and :func:`bits` (or
their ``*_from_bytes`` forms), so their base64 is canonical and a digest never depends on which
client read them. A collection declares its fields in its definition's ``vectors`` block,
``{<field>: {"kind", "dtype", "dimension", "metric", "nullable"}}``: the vector-loss guard checks
every declared field and the restore measures recall on each.
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_vectorbackup.snapshot.vectors import INVALID, is_canonical_base64

VECTORS_FIELD = "$vectors"

DENSE, SPARSE, MULTI, BIT = "dense", "sparse", "multi", "bit"

DTYPES = {"float32": 4, "float64": 8, "float16": 2, "bfloat16": 2, "int8": 1, "uint8": 1}
"""Element types of dense, sparse and multi values, with their size in bytes."""
_STRUCT = {"float32": "f", "float64": "d", "float16": "e", "int8": "b", "uint8": "B"}


@dataclass(frozen=True)
class VectorField:
    """One declared vector field of a collection (an entry of the definition's ``vectors`` block)."""

    name: str
    kind: str
    dtype: str | None
    dimension: int | None
    metric: str | None
    nullable: bool = False
    """The engine lets a record have no value for this field (a NULL vector column): missing values are data."""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "dtype": self.dtype, "dimension": self.dimension, "metric": self.metric,
                "nullable": self.nullable}

    def wrong_dimensions(self, seen: Mapping[str, int]) -> dict[str, int]:
        """The dimensions counted in ``seen`` (a manifest's ``dimensions``) other than the declared one.

        Empty when there is nothing to compare: no declared dimension, or a sparse field.
        """
        if self.dimension is None or self.kind == SPARSE:
            return {}
        return {dim: n for dim, n in seen.items() if dim != str(self.dimension)}


@dataclass(frozen=True)
class Inspected:
    """What :func:`inspect` found in a value: its kind, element type and dimension, or ``INVALID``."""

    kind: str
    dtype: str | None = None
    dimension: int | None = None

    @property
    def valid(self) -> bool:
        return self.kind != INVALID


_INVALID = Inspected(INVALID)


def encoding_name(kind: str, dtype: str | None) -> str:
    """How a manifest counts a value: ``"<kind>/<dtype>"``, the kind alone for a bit vector, or ``INVALID``."""
    return kind if dtype is None or kind == BIT else f"{kind}/{dtype}"


def declared_fields(definition: Mapping[str, Any] | None) -> list[VectorField]:
    """The vector fields a definition declares in its ``vectors`` block (none for a Data API definition)."""
    block = (definition or {}).get("vectors")
    if not isinstance(block, Mapping):
        return []
    fields = []
    for name, spec in block.items():
        spec = spec if isinstance(spec, Mapping) else {}
        dimension = spec.get("dimension")
        fields.append(VectorField(str(name), str(spec.get("kind")), spec.get("dtype"),
                                  dimension if isinstance(dimension, int) else None, spec.get("metric"),
                                  spec.get("nullable") is True))
    return fields


# -- building values ------------------------------------------------------------------------------

def dense(values: Sequence[float], dtype: str = "float32") -> dict[str, Any]:
    """A dense vector from numbers, packed as ``dtype`` (exact for values that ``dtype`` holds)."""
    return {"kind": DENSE, "dtype": dtype, "data": _b64(pack(values, dtype))}


def dense_from_bytes(raw: bytes, dtype: str = "float32") -> dict[str, Any]:
    """A dense vector from the engine's own little-endian bytes, kept bit for bit."""
    _check_length(raw, dtype)
    return {"kind": DENSE, "dtype": dtype, "data": _b64(raw)}


def sparse(indices: Iterable[int], values: Iterable[float], dtype: str = "float32") -> dict[str, Any]:
    """A sparse vector; pairs are sorted by index, and a repeated index is refused."""
    pairs = sorted(zip(map(int, indices), values, strict=True))
    for (a, _), (b, _) in zip(pairs, pairs[1:]):
        if a == b:
            raise ValueError(f"sparse vector repeats index {a}")
    if pairs and pairs[0][0] < 0:
        raise ValueError(f"sparse vector has negative index {pairs[0][0]}")
    return {"kind": SPARSE, "dtype": dtype, "indices": [i for i, _ in pairs],
            "data": _b64(pack([v for _, v in pairs], dtype))}


def multi(rows: Sequence[Sequence[float]], dtype: str = "float32") -> dict[str, Any]:
    """A multivector: one or more rows of equal length."""
    if not rows or len({len(row) for row in rows}) != 1 or not rows[0]:
        raise ValueError("a multivector needs one or more non-empty rows of equal length")
    return {"kind": MULTI, "dtype": dtype, "dimension": len(rows[0]),
            "data": _b64(b"".join(pack(row, dtype) for row in rows))}


def bits(packed: bytes, dimension: int) -> dict[str, Any]:
    """A bit vector of ``dimension`` bits, packed most significant bit first."""
    if dimension <= 0 or len(packed) != -(-dimension // 8):
        raise ValueError(f"{len(packed)} byte(s) cannot hold exactly {dimension} bits")
    return {"kind": BIT, "dimension": dimension, "data": _b64(packed)}


def bits_from_string(text: str) -> dict[str, Any]:
    """A bit vector from ``"1011..."`` (pgvector's text form)."""
    if not text or set(text) - {"0", "1"}:
        raise ValueError("a bit vector is a non-empty string of 0 and 1")
    padded = text + "0" * (-len(text) % 8)
    return bits(int(padded, 2).to_bytes(len(padded) // 8, "big"), len(text))


def pack(values: Sequence[float], dtype: str) -> bytes:
    if dtype == "bfloat16":
        return b"".join(struct.pack("<f", v)[2:] for v in values)  # the high half of each float32
    code = _STRUCT.get(dtype)
    if code is None:
        raise ValueError(f"unknown vector element type {dtype!r}; expected one of {sorted(DTYPES)}")
    return struct.pack(f"<{len(values)}{code}", *values)


def unpack(raw: bytes, dtype: str) -> list[float]:
    if dtype == "bfloat16":
        return [struct.unpack("<f", b"\0\0" + raw[i:i + 2])[0] for i in range(0, len(raw), 2)]
    return list(struct.unpack(f"<{len(raw) // DTYPES[dtype]}{_STRUCT[dtype]}", raw))


# -- reading values -------------------------------------------------------------------------------

def inspect(value: Any) -> Inspected:
    """Kind, element type and dimension of a ``$vectors`` value, or ``INVALID`` for anything malformed.

    The guard must never count junk as a vector: bad base64, a byte length that does not fit the
    element type, unsorted or mismatched sparse indices, or an unknown kind are all invalid.
    """
    if type(value) is not dict:
        return _INVALID
    kind = value.get("kind")
    raw = _raw(value.get("data"))
    if raw is None:
        return _INVALID
    if kind == BIT:
        dimension = value.get("dimension")
        if type(dimension) is not int or dimension <= 0 or len(raw) != -(-dimension // 8):
            return _INVALID
        return Inspected(BIT, None, dimension)
    dtype = value.get("dtype")
    size = DTYPES.get(dtype) if isinstance(dtype, str) else None
    if size is None or len(raw) % size:
        return _INVALID
    if kind == SPARSE:
        return _sparse(value, raw, dtype, size)  # an empty sparse vector is a vector
    if not raw:
        return _INVALID
    if kind == DENSE:
        return Inspected(DENSE, dtype, len(raw) // size)
    if kind == MULTI:
        dimension = value.get("dimension")
        if type(dimension) is not int or dimension <= 0 or (len(raw) // size) % dimension:
            return _INVALID
        return Inspected(MULTI, dtype, dimension)
    return _INVALID


def _sparse(value: dict[str, Any], raw: bytes, dtype: str, size: int) -> Inspected:
    indices = value.get("indices")
    if type(indices) is not list or len(indices) * size != len(raw):
        return _INVALID
    previous = -1
    for index in indices:
        if type(index) is not int or index <= previous:
            return _INVALID
        previous = index
    return Inspected(SPARSE, dtype, None)


def values_of(value: dict[str, Any]) -> list[float]:
    """The numbers of a dense or sparse value (a multivector's rows concatenated), widened to Python floats."""
    return unpack(base64.b64decode(value["data"]), value["dtype"])


def rows_of(value: dict[str, Any]) -> list[list[float]]:
    """A multivector's rows (a dense vector is one row)."""
    flat = values_of(value)
    width = value.get("dimension") or len(flat)
    return [flat[i:i + width] for i in range(0, len(flat), width)]


def sparse_of(value: dict[str, Any]) -> dict[int, float]:
    return dict(zip(value["indices"], values_of(value), strict=True))


def bits_of(value: dict[str, Any]) -> int:
    """A bit vector as one integer (first bit most significant), for Hamming and Jaccard."""
    raw = base64.b64decode(value["data"])
    return int.from_bytes(raw, "big") >> (8 * len(raw) - value["dimension"])


def bit_string(value: dict[str, Any]) -> str:
    """``"1011..."``: pgvector's text form of a bit vector."""
    return format(bits_of(value), f"0{value['dimension']}b")


def _raw(text: Any) -> bytes | None:
    if type(text) is not str:
        return None
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return None
    return raw if is_canonical_base64(text, raw) else None  # only the canonical spelling


def _check_length(raw: bytes, dtype: str) -> None:
    size = DTYPES.get(dtype)
    if size is None:
        raise ValueError(f"unknown vector element type {dtype!r}; expected one of {sorted(DTYPES)}")
    if not raw or len(raw) % size:
        raise ValueError(f"{len(raw)} byte(s) are not a whole number of {dtype} elements")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
