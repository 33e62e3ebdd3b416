"""What the portable-definition tests of every engine share: a collection for an engine's capabilities, and payloads.

A test asks an engine for the definition of :func:`portable_collection`, creates it, writes
:func:`payload` values of every kind the engine claims in its stored form, and reads them back.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_vectorbackup.sources.portable import RESERVED_FIELD, Capabilities, PortableCollection

DIMENSION = 8
COUNT = 30


def _envelope(name: str, value: str) -> dict[str, str]:
    return {"$backupType": name, "value": value}


def _json_value(i: int, capabilities: Capabilities) -> Any:
    """Objects, lists, nulls and mixed kinds; an envelope inside where the engine keeps them."""
    shapes: list[Any] = [{"a": {"b": [i, "two", 3.5, None, [], {}]}, "empty": {}}, [i, {"c": True}], "mixed kind", i]
    if capabilities.nulls:
        shapes.append(None)
    if capabilities.envelopes:
        shapes[0]["when"] = _envelope("datetime", f"2026-03-{1 + i % 28:02d}T10:11:12.123456+02:00")
    return shapes[i % len(shapes)]


VALUES = {
    "string": lambda i, c: f"café {i} 東京 🧭",
    "int": lambda i, c: (-1) ** i * (2**62 + i),
    "float": lambda i, c: i / 7 - 1.5,
    "bool": lambda i, c: i % 3 == 0,
    "datetime": lambda i, c: _envelope("datetime", f"2026-06-{1 + i % 28:02d}T08:52:46.{i:06d}" + ("+05:30" * (i % 2))),
    "date": lambda i, c: _envelope("date", f"1969-12-{1 + i % 28:02d}"),
    "time": lambda i, c: _envelope("time", f"23:59:{i % 60:02d}.000{i:03d}"),
    "decimal": lambda i, c: _envelope("decimal", f"{i}.10E-3"),
    "uuid": lambda i, c: _envelope("uuid", f"12345678-1234-5678-1234-{i:012d}"),
    "bytes": lambda i, c: _envelope("bytes_b64", "AP+A" * (1 + i % 3)),
    "json": _json_value,
}
"""A stored-form value of each payload kind for document ``i``."""


def field_of(kind: str) -> str:
    return f"{kind}_field"


def portable_collection(capabilities: Capabilities, vector_field: str, id_type: str,
                        max_id_length: int = 0) -> PortableCollection:
    """One dense float32 field of :data:`DIMENSION` dimensions (cosine), a payload field per claimed kind,
    and the reserved field."""
    payload = {field_of(kind): kind for kind in sorted(capabilities.payload_kinds)}
    payload[RESERVED_FIELD] = "string"
    vectors = {vector_field: {"kind": "dense", "dtype": "float32", "dimension": DIMENSION, "metric": "cosine",
                              "nullable": False}}
    return PortableCollection(id_type, vectors, payload, max_id_length)


def payload(i: int, capabilities: Capabilities) -> dict[str, Any]:
    """Document ``i``'s payload: every claimed kind, but each document lacks one or two fields."""
    kinds = sorted(capabilities.payload_kinds)
    values = {field_of(kind): VALUES[kind](i, capabilities) for n, kind in enumerate(kinds) if (i + n) % 4}
    if i % 3 == 0:
        values[RESERVED_FIELD] = '{"changed":{"when":"datetime"}}'
    return values


def exactly_unit_vector(i: int) -> list[float]:
    """Four of the :data:`DIMENSION` elements ±0.5, the others 0: length exactly 1 in any float arithmetic, so no
    engine's normalisation changes a bit of it."""
    places = [(i + k * (1 + i % 3)) % DIMENSION for k in range(4)]
    while len(set(places)) < 4:
        places = sorted(set(places) | {next(p for p in range(DIMENSION) if p not in places)})
    vector = [0.0] * DIMENSION
    for k, place in enumerate(places):
        vector[place] = 0.5 if (i >> k) & 1 else -0.5
    return vector
