"""Recognising ``$vector`` values in the two encodings the Data API stores and echoes."""

from __future__ import annotations

import base64
import binascii
import struct
from typing import Any

VECTOR_FIELD = "$vector"
VECTORIZE_FIELD = "$vectorize"

ARRAY = "array"
"""``"$vector": [0.1, 0.2, ...]``: a JSON array of numbers."""
BINARY = "binary"
"""``"$vector": {"$binary": "<base64>"}``: big-endian IEEE-754 float32, base64-encoded."""
INVALID = "invalid"
"""Present but neither of the above: unreadable as a vector."""


def inspect_vector(value: Any) -> tuple[str, int]:
    """Return ``(encoding, dimension)`` of a ``$vector`` value without decoding its floats.

    An empty array, an empty or non-base64 ``$binary``, or anything else is ``INVALID``: the
    guard must never count junk as a vector.
    """
    kind = type(value)
    if kind is list:
        if value and set(map(type, value)) <= {float, int}:
            return ARRAY, len(value)
        return INVALID, 0
    encoding, dimension, _ = read_vector(value)  # a $binary is decoded once there; arrays never reach it
    return encoding, dimension


def read_vector(value: Any) -> tuple[str, int, dict[str, str] | None]:
    """``(encoding, dimension, canonical)`` of a ``$vector`` value, decoding a ``$binary`` at most once.

    ``canonical`` is the content digest's ``{"$binary": ...}`` spelling (docs/format.md, 7.1), or
    ``None`` when the value is digested as stored (invalid, or an array outside float32 range).
    A ``$binary`` that is already canonical is returned as the same object, not re-encoded.
    """
    kind = type(value)
    if kind is list:
        encoding, dimension = inspect_vector(value)
        if encoding != ARRAY:
            return encoding, dimension, None
        try:
            return ARRAY, dimension, {"$binary": floats_to_binary(value)}
        except OverflowError:  # a number outside float32 range: digested as stored
            return ARRAY, dimension, None
    if kind is dict and len(value) == 1 and type(value.get("$binary")) is str:
        text = value["$binary"]
        try:
            raw = base64.b64decode(text.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            return INVALID, 0, None
        if not raw or len(raw) % 4:
            return INVALID, 0, None
        return BINARY, len(raw) // 4, value if is_canonical_base64(text, raw) else {
            "$binary": base64.b64encode(raw).decode("ascii")}
    return INVALID, 0, None


def is_canonical_base64(text: str, raw: bytes) -> bool:
    """Whether ``text`` is exactly ``b64encode(raw)``, checking only its length and last quantum.

    Strict decoding already fixed every full quantum; only the unused bits of a padded last
    quantum can differ between spellings of the same bytes.
    """
    if len(text) != 4 * -(-len(raw) // 3):
        return False
    tail = len(raw) % 3 or 3
    return text[-4:] == base64.b64encode(raw[-tail:]).decode("ascii")


def binary_to_floats(text: str) -> list[float]:
    """Decode a ``$binary`` vector into Python floats (float32 values widened to float64)."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(f"not a base64 vector: {exc}") from None
    if len(raw) % 4:
        raise ValueError(f"binary vector has {len(raw)} bytes, not a multiple of 4")
    return list(struct.unpack(f">{len(raw) // 4}f", raw))


def floats_to_binary(values: list[float]) -> str:
    """Encode floats as the Data API's ``$binary`` form (big-endian float32, base64)."""
    return base64.b64encode(struct.pack(f">{len(values)}f", *values)).decode("ascii")
