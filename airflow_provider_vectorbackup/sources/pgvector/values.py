"""Column values between PostgreSQL and the stored form, bit for bit.

Rows are read with psycopg's binary protocol: pgvector's binary forms are the exact element bits
(``halfvec``'s text form is a decimal rendering, so reading it is a conversion, not a copy), and
``real``, ``numeric`` and timestamps arrive without any text formatting in between. The pgvector
types get our own binary loaders here, which turn the big-endian wire bytes straight into
:mod:`~airflow_provider_vectorbackup.snapshot.vector_fields` values, so no numpy is needed.

Writing sends vectors the same way, in their binary wire form (the stored bytes swapped to big
endian), and every other value through psycopg's own adaptation, cast explicitly to the column's
type.
"""

from __future__ import annotations

import base64
import json
import math
import struct
import uuid
from decimal import Decimal
from typing import Any

from psycopg.adapt import Dumper, Loader
from psycopg.pq import Format
from psycopg.types.json import Json, Jsonb, JsonbBinaryLoader, JsonbLoader, set_json_loads

from airflow_provider_vectorbackup.snapshot import vector_fields as vf
from airflow_provider_vectorbackup.snapshot.codec import DEFAULT_CODEC, ENVELOPE_KEY, VALUE_KEY

VECTOR_TYPES = {"vector": ("dense", "float32"), "halfvec": ("dense", "float16"),
                "sparsevec": ("sparse", "float32"), "bit": ("bit", None)}
"""pgvector's column types (``bit`` is PostgreSQL's own, which pgvector indexes) and the value form of each."""

NATIVE_TYPES = frozenset({
    "int2", "int4", "int8", "float4", "float8", "numeric", "bool", "text", "varchar", "bpchar", "bytea",
    "date", "time", "timetz", "timestamp", "timestamptz", "uuid", "json", "jsonb",
})
"""Types (and arrays of them) read as Python values; any other column is read in PostgreSQL's text form."""

ID_TYPES = {"int2": "smallint", "int4": "integer", "int8": "bigint", "uuid": "uuid", "text": "text",
            "varchar": "varchar"}
"""Primary-key types a collection may have, by ``pg_type.typname``, and their name in the definition."""


def _swapped(data: bytes, size: int) -> bytes:
    """Big-endian elements of ``size`` bytes as little-endian, by slicing (no per-element Python loop)."""
    out = bytearray(len(data))
    for byte in range(size):
        out[byte::size] = data[size - 1 - byte::size]
    return bytes(out)


class DenseLoader(Loader):
    format = Format.BINARY
    dtype = "float32"

    def load(self, data: Any) -> dict[str, Any]:
        raw = bytes(data)
        size = vf.DTYPES[self.dtype]
        return vf.dense_from_bytes(_swapped(raw[4:], size), self.dtype)


class HalfLoader(DenseLoader):
    dtype = "float16"


class SparseLoader(Loader):
    format = Format.BINARY

    def load(self, data: Any) -> dict[str, Any]:
        raw = bytes(data)
        _, nnz, _ = struct.unpack_from(">iii", raw)
        indices = struct.unpack_from(f">{nnz}i", raw, 12)
        values = struct.unpack_from(f">{nnz}f", raw, 12 + 4 * nnz)
        return vf.sparse(indices, values)


class BitLoader(Loader):
    format = Format.BINARY

    def load(self, data: Any) -> dict[str, Any]:
        raw = bytes(data)
        (length,) = struct.unpack_from(">i", raw)
        return vf.bits(raw[4:], length)


LOADERS = {"vector": DenseLoader, "halfvec": HalfLoader, "sparsevec": SparseLoader, "bit": BitLoader}


def _json_number(text: str) -> float | Decimal:
    """A JSON number as a float when the float prints back as the same text, else as an exact Decimal."""
    number = float(text)
    return number if repr(number) == text else Decimal(text)


def _jsonb_number(text: str) -> float | Decimal:
    """A jsonb number as :func:`_json_number` reads it, or a float whose positional form it is (:func:`_positional`).

    ``jsonb`` keeps numbers as ``numeric`` (``1.50`` stays ``1.50``, 30 digits stay 30 digits) and prints
    them without an exponent.
    """
    number = float(text)
    if repr(number) == text or (math.isfinite(number) and _positional(number) == text):
        return number
    return Decimal(text)


def _positional(number: float) -> str:
    """A finite float as jsonb prints the number it is written as: no exponent, at least one decimal
    (``1e-07`` is ``0.0000001``, ``1e16`` is ``10000000000000000.0``, which jsonb would otherwise print as an
    integer). Written so, a float reads back as the same float."""
    text = format(Decimal(repr(number)), "f")
    return text if "." in text else text + ".0"


def _loads(text: str | bytes) -> Any:
    return json.loads(text, parse_float=_json_number)


def _loads_jsonb(text: str | bytes) -> Any:
    return json.loads(text, parse_float=_jsonb_number)


class _JsonbLoader(JsonbLoader):
    _loads = staticmethod(_loads_jsonb)


class _JsonbBinaryLoader(JsonbBinaryLoader):
    _loads = staticmethod(_loads_jsonb)


def prepare_connection(connection: Any, vector_oids: dict[int, str]) -> None:
    """Teach ``connection`` the pgvector binary loaders and dumpers (by the oids in use) and exact JSON numbers."""
    for oid, typname in vector_oids.items():
        connection.adapters.register_loader(oid, LOADERS[typname])
        connection.adapters.register_dumper(_WIRE[typname], type(f"{typname}_dumper", (_WireDumper,), {"oid": oid}))
    set_json_loads(_loads, connection)
    for loader in (_JsonbLoader, _JsonbBinaryLoader):
        connection.adapters.register_loader("jsonb", loader)


def json_text(stored: Any, *, jsonb: bool = False) -> str:
    """JSON text, for a ``json`` or ``jsonb`` column, of a stored-form value: it reads back as the same stored form.

    The value is taken as stored, not decoded, so an envelope's text stays as sent (``.000000`` microseconds,
    ``0.10E-3``). An ``object`` envelope (the codec's escape of an object holding ``$backupType``) is written as
    that object, which reads back escaped again; a ``decimal`` envelope as its number where the column prints it
    back as the same text (``1.50``: so a table's own numbers are restored as numbers); any other envelope (a
    datetime, NaN, bytes ... from another engine's document) as it is, and reads back as that envelope.
    ``jsonb``: a ``jsonb`` column, which keeps numbers as ``numeric`` and prints them without an exponent, so a
    float is written in that form (a float ``-0.0`` reads back as ``0.0``: numeric has no negative zero).
    """
    kind = type(stored)
    if kind is dict:
        if ENVELOPE_KEY in stored:  # in the stored form, always an envelope (the codec escapes the others)
            name, inner = stored[ENVELOPE_KEY], stored.get(VALUE_KEY)
            if name == "object":
                stored = inner
            elif name == "decimal" and _number_reads_back(inner, jsonb):
                return inner
            else:
                return f'{{"{ENVELOPE_KEY}":{json.dumps(name)},"{VALUE_KEY}":{json_text(inner, jsonb=jsonb)}}}'
        return "{" + ",".join(f"{json.dumps(k)}:{json_text(v, jsonb=jsonb)}" for k, v in stored.items()) + "}"
    if kind is list:
        return "[" + ",".join(json_text(v, jsonb=jsonb) for v in stored) + "]"
    if kind is float:
        return _positional(stored) if jsonb else repr(stored)
    return json.dumps(stored)


def _number_reads_back(text: Any, jsonb: bool) -> bool:
    """Whether ``text``, written as a JSON number, reads back as a Decimal printed as ``text``."""
    try:
        back = (_loads_jsonb if jsonb else _loads)(text) if isinstance(text, str) else None
    except ValueError:
        return False
    if type(back) is not Decimal or str(back) != text:
        return False
    return not jsonb or ("E" not in text and not (back.is_zero() and back.is_signed()))


# -- ids ------------------------------------------------------------------------------------------

def stored_id(value: Any) -> Any:
    """A primary-key value as the stored form's ``_id``: int, str, or the codec's uuid envelope."""
    return DEFAULT_CODEC.encode(value) if isinstance(value, uuid.UUID) else value


def native_id(value: Any) -> Any:
    return DEFAULT_CODEC.decode(value)


# -- vectors as query parameters ------------------------------------------------------------------

class WireVector(bytes):
    """A vector parameter already in its type's binary wire form; :func:`prepare_connection` sends it as that type."""

    typname = ""


_WIRE = {typname: type(f"Wire_{typname}", (WireVector,), {"typname": typname}) for typname in VECTOR_TYPES}


class _WireDumper(Dumper):
    format = Format.BINARY

    def dump(self, obj: WireVector) -> bytes:
        return obj


def vector_parameter(value: dict[str, Any], typname: str, dimension: int | None) -> WireVector:
    """A stored-form vector value as a binary parameter of a column of type ``typname``: the same bits, no decimals.

    The server's input checks the rest (finite elements, the column's dimension).
    """
    inspected = vf.inspect(value)
    expected = VECTOR_TYPES[typname]
    if inspected.kind != expected[0] or (expected[1] and inspected.dtype != expected[1]):
        raise ValueError(f"a {typname} column takes a {expected[1] or ''} {expected[0]} value, "
                         f"not {inspected.kind} {inspected.dtype or ''}".replace("  ", " "))
    raw = base64.b64decode(value["data"])
    if typname == "bit":  # varbit: the length in bits, then the bits, first bit most significant
        wire = struct.pack(">i", value["dimension"]) + raw
    elif typname == "sparsevec":  # dimension, count, unused; 0-based indices; values
        if dimension is None:
            raise ValueError("a sparsevec column without a declared dimension cannot be written")
        indices = value["indices"]
        wire = (struct.pack(f">iii{len(indices)}i", dimension, len(indices), 0, *indices)
                + _swapped(raw, vf.DTYPES["float32"]))
    else:  # vector and halfvec: dimension, unused, elements
        size = vf.DTYPES[expected[1]]
        wire = struct.pack(">hh", len(raw) // size, 0) + _swapped(raw, size)
    return _WIRE[typname](wire)


def payload_parameter(value: Any, typname: str, array: bool) -> Any:
    """A payload value as the parameter for a column of (element) type ``typname``: decoded, except for ``json`` and
    ``jsonb`` columns, which take the stored form (:func:`json_text`).

    Everything else is psycopg's own adaptation; the statement casts every parameter to its column's type.
    """
    if value is None or typname not in ("json", "jsonb"):
        return value
    return [None if item is None else json_parameter(item, typname) for item in value] if array else \
        json_parameter(value, typname)


def json_parameter(stored: Any, typname: str) -> Json:
    """A stored-form value as the parameter for a ``json`` or ``jsonb`` column."""
    if typname == "json":
        return Json(stored, dumps=json_text)
    return Jsonb(stored, dumps=_jsonb_text)


def _jsonb_text(stored: Any) -> str:
    return json_text(stored, jsonb=True)
