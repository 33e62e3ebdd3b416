"""Lossless mapping between source values and the JSON stored in segments.

JSON-native values (and the Data API's EJSON wrappers, which are plain JSON objects) pass
through untouched. Every other value goes into a reversible envelope
``{"$backupType": <name>, "value": <json>}``. A value of a type with no envelope makes the
writer refuse: there is deliberately no ``default=str``. Encoding is idempotent: a well-formed
envelope of a known type passes through as it is, so documents a source hands over already in
stored form (every engine but the Data API) are stored unchanged.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from airflow_provider_vectorbackup.snapshot.errors import EnvelopeError, UnsupportedTypeError

ENVELOPE_KEY = "$backupType"
VALUE_KEY = "value"

_PLAIN_SCALARS = frozenset({str, int, bool, type(None)})
_FLOAT_NAMES = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


@dataclass(frozen=True)
class Envelope:
    """How one Python type is stored: ``encode`` returns the envelope's JSON value, ``decode`` inverts it."""

    name: str
    python_type: type
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]


class Codec:
    """Encodes documents for storage and decodes them back, exactly.

    ``encode`` returns the input object itself when nothing in it needs an envelope, so the
    common case (plain JSON from the Data API) costs type checks, not copies.
    """

    def __init__(self) -> None:
        self._by_type: dict[type, Envelope] = {}
        self._by_name: dict[str, Envelope] = {}

    def register(self, python_type: type, name: str, encode: Callable[[Any], Any], decode: Callable[[Any], Any]) -> None:
        """Teach the codec a new type. ``encode`` must return JSON-native data that ``decode`` inverts."""
        if name in self._by_name or name in _STRUCTURAL:
            raise ValueError(f"envelope name {name!r} is already taken")
        envelope = Envelope(name, python_type, encode, decode)
        self._by_type[python_type] = envelope
        self._by_name[name] = envelope

    def copy(self) -> Codec:
        other = Codec()
        other._by_type = dict(self._by_type)
        other._by_name = dict(self._by_name)
        return other

    @property
    def envelope_names(self) -> list[str]:
        return sorted([*self._by_name, *_STRUCTURAL])

    # -- encoding -----------------------------------------------------------------------------

    def encode(self, value: Any) -> Any:
        kind = type(value)
        if kind in _PLAIN_SCALARS:
            return value
        if kind is float:
            return value if math.isfinite(value) else _envelope("float", _float_name(value))
        if kind is dict:
            return self._encode_dict(value)
        if kind is list:
            return self._encode_list(value)
        if kind is tuple:
            return _envelope("tuple", self._encode_list(list(value)))
        if kind is set or kind is frozenset:
            members = sorted((self.encode(item) for item in value), key=canonical_sort_key)
            return _envelope(kind.__name__, members)
        envelope = self._by_type.get(kind)
        if envelope is None:
            raise UnsupportedTypeError(kind)
        return _envelope(envelope.name, envelope.encode(value))

    def _encode_dict(self, value: dict[Any, Any]) -> dict[str, Any]:
        if ENVELOPE_KEY in value and self._is_envelope(value):
            return value  # already stored form (sources other than the Data API hand documents over encoded)
        out: dict[str, Any] | None = None
        for key, item in value.items():
            if type(key) is not str:
                raise UnsupportedTypeError(type(key), [f"<key {key!r}>"])
            try:
                encoded = self.encode(item)
            except UnsupportedTypeError as exc:
                raise exc.at(key) from None
            if encoded is not item and out is None:
                out = {}
                for done_key, done_item in value.items():
                    if done_key == key:
                        break
                    out[done_key] = done_item
            if out is not None:
                out[key] = encoded
        result = value if out is None else out
        if ENVELOPE_KEY in value:
            # A source key that collides with our marker is escaped, so it is never mistaken for an envelope.
            return _envelope("object", result)
        return result

    def _encode_list(self, items: list[Any]) -> list[Any]:
        kinds = set(map(type, items))
        if kinds <= _PLAIN_SCALARS:
            return items
        if kinds == {float} and _all_finite(items):
            return items  # the common shape of a vector
        out: list[Any] | None = None
        for index, item in enumerate(items):
            try:
                encoded = self.encode(item)
            except UnsupportedTypeError as exc:
                raise exc.at(index) from None
            if encoded is not item and out is None:
                out = items[:index]
            if out is not None:
                out.append(encoded)
        return items if out is None else out

    def _is_envelope(self, value: dict[Any, Any]) -> bool:
        """Whether ``value`` is a well-formed envelope of a known type, so that encoding stored form changes nothing."""
        if len(value) != 2 or VALUE_KEY not in value:
            return False
        try:
            self._decode_envelope(value)
        except EnvelopeError:
            return False
        return True

    # -- decoding -----------------------------------------------------------------------------

    def decode(self, value: Any) -> Any:
        kind = type(value)
        if kind is dict:
            if ENVELOPE_KEY in value:
                return self._decode_envelope(value)
            return {key: self.decode(item) for key, item in value.items()}
        if kind is list:
            if set(map(type, value)) <= _LEAF_TYPES:
                return value
            return [self.decode(item) for item in value]
        return value

    def _decode_envelope(self, value: dict[str, Any]) -> Any:
        name = value.get(ENVELOPE_KEY)
        if set(value) != {ENVELOPE_KEY, VALUE_KEY}:
            raise EnvelopeError(f"malformed envelope {_short(value)}: it must have exactly the keys "
                                f"{ENVELOPE_KEY!r} and {VALUE_KEY!r}")
        inner = value[VALUE_KEY]
        try:
            if name == "object":
                if type(inner) is not dict:
                    raise ValueError("value must be an object")
                return {key: self.decode(item) for key, item in inner.items()}
            if name == "tuple":
                return tuple(self.decode(item) for item in _as_list(inner))
            if name in ("set", "frozenset"):
                members = (self.decode(item) for item in _as_list(inner))
                return set(members) if name == "set" else frozenset(members)
            if name == "float":
                return _FLOAT_NAMES[inner]
            envelope = self._by_name.get(name) if isinstance(name, str) else None
            if envelope is None:
                raise EnvelopeError(
                    f"unknown envelope type {name!r}: this snapshot was written with a codec extension or a "
                    f"newer format; register the same envelope with Codec.register(...) before reading it")
            return envelope.decode(inner)
        except EnvelopeError:
            raise
        except (ValueError, TypeError, KeyError, ArithmeticError) as exc:
            raise EnvelopeError(f"invalid {name!r} envelope {_short(value)}: {exc}") from None


_STRUCTURAL = ("object", "tuple", "set", "frozenset", "float")
_LEAF_TYPES = frozenset({str, int, float, bool, type(None)})


def _envelope(name: str, inner: Any) -> dict[str, Any]:
    return {ENVELOPE_KEY: name, VALUE_KEY: inner}


def _all_finite(floats: list[float]) -> bool:
    # fsum is exact, so its result is non-finite only when an item is (or, rarely, the sum
    # overflows, which merely sends the list down the item-by-item path).
    try:
        return math.isfinite(math.fsum(floats))
    except (OverflowError, ValueError):
        return False


def _float_name(value: float) -> str:
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def _as_list(inner: Any) -> list[Any]:
    if type(inner) is not list:
        raise ValueError("value must be an array")
    return inner


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= 120 else text[:117] + "..."


def canonical_sort_key(encoded: Any) -> str:
    """Order of members inside a stored set: by their compact, key-sorted JSON text."""
    return json.dumps(encoded, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _string(inner: Any, what: str) -> str:
    if type(inner) is not str:
        raise ValueError(f"value must be {what}")
    return inner


def _decode_datetime(inner: Any) -> dt.datetime:
    return dt.datetime.fromisoformat(_string(inner, "an ISO 8601 date-time string"))


def _decode_date(inner: Any) -> dt.date:
    return dt.date.fromisoformat(_string(inner, "an ISO 8601 date string"))


def _decode_time(inner: Any) -> dt.time:
    return dt.time.fromisoformat(_string(inner, "an ISO 8601 time string"))


def _decode_decimal(inner: Any) -> Decimal:
    return Decimal(_string(inner, "a decimal string"))


def _decode_uuid(inner: Any) -> uuid.UUID:
    return uuid.UUID(_string(inner, "a UUID string"))


def _decode_bytes(inner: Any) -> bytes:
    return base64.b64decode(_string(inner, "a base64 string").encode("ascii"), validate=True)


def _build_default_codec() -> Codec:
    codec = Codec()
    codec.register(dt.datetime, "datetime", dt.datetime.isoformat, _decode_datetime)
    codec.register(dt.date, "date", dt.date.isoformat, _decode_date)
    codec.register(dt.time, "time", dt.time.isoformat, _decode_time)
    codec.register(Decimal, "decimal", str, _decode_decimal)
    codec.register(uuid.UUID, "uuid", str, _decode_uuid)
    codec.register(bytes, "bytes_b64", lambda raw: base64.b64encode(raw).decode("ascii"), _decode_bytes)
    return codec


DEFAULT_CODEC = _build_default_codec()
"""The codec every snapshot uses unless a caller extends a copy of it."""
