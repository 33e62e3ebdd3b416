"""Property values on the wire: a ``BatchObject``'s properties in, a search result's ``Properties`` out.

The client sends scalars (and nested objects' scalars) in a ``google.protobuf.Struct``, so every
number arrives as a double, dates, UUIDs and blobs as strings; arrays arrive typed (``text[]``,
``date[]`` and ``uuid[]`` as text arrays). The server types each value by the class's schema,
refusing what does not fit with its own messages, and answers typed ``Value`` s: ``int_value``,
``date_value``, ``uuid_value``, ``blob_value``, packed int64/float64 lists, ...
"""

from __future__ import annotations

import datetime as dt
import re
import struct
import uuid
from typing import Any

from google.protobuf import struct_pb2

from weaviate.proto.v1 import properties_pb2

from airflow_provider_vectorbackup.testing.weaviate.schema import property_types

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")


class PropertyError(ValueError):
    """One object's property does not fit the schema: the message is the server's."""


def parse_date(text: str, name: str, cls: str) -> dt.datetime:
    if not isinstance(text, str) or not _RFC3339.match(text):
        raise PropertyError(f"invalid date property '{name}' on class '{cls}': requires a string with a RFC3339 "
                            f"formatted date, but the given value is '{text}'")
    head, _, fraction = text.partition(".")
    if fraction:
        digits = re.match(r"\d+", fraction).group(0)  # type: ignore[union-attr]
        text = f"{head}.{(digits + '000000')[:6]}{fraction[len(digits):]}"
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def format_date(value: dt.datetime) -> str:
    """RFC 3339 with the fewest fraction digits (Go's ``RFC3339Nano``), ``Z`` for UTC."""
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    offset = value.utcoffset()
    if not offset:
        return text + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{text}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


_BASE64 = re.compile(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$")


def _scalar(kind: str, value: Any, name: str, cls: str) -> Any:
    """One value as the server keeps it. Integers become doubles, as Weaviate's validator makes them (so an
    int64 beyond 2**53 is rounded, in ``int[]`` too); dates keep their UTC offset."""
    where = f"property '{name}' on class '{cls}'"
    if kind == "text":
        if isinstance(value, str):
            return value
        raise PropertyError(f"invalid text {where}: not a string, but {type(value).__name__}")
    if kind == "int":
        if isinstance(value, (int, float)) and not isinstance(value, bool) and float(value) == float(int(value)):
            return int(float(value))
        raise PropertyError(f"invalid integer {where}: requires an integer, the given value is '{value}'")
    if kind == "number":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise PropertyError(f"invalid number {where}: requires a float, the given value is '{value}'")
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        raise PropertyError(f"invalid boolean {where}: not a bool, but {type(value).__name__}")
    if kind == "date":
        return parse_date(value, name, cls)
    if kind == "uuid":
        try:
            return str(uuid.UUID(value))
        except (ValueError, TypeError, AttributeError):
            raise PropertyError(f"invalid uuid {where}: requires a string of UUID format, but the given value is "
                                f"'{value}'") from None
    if kind == "blob":
        if isinstance(value, str) and _BASE64.match(value):
            return value
        raise PropertyError(f"invalid blob {where}: not a valid blob base64 string")
    raise PropertyError(f"unrecognized data type '{kind}'")


def _struct_value(value: struct_pb2.Value) -> Any:
    which = value.WhichOneof("kind")
    if which == "number_value":
        return value.number_value
    if which == "string_value":
        return value.string_value
    if which == "bool_value":
        return value.bool_value
    if which == "null_value":
        return None
    if which == "list_value":
        return [_struct_value(v) for v in value.list_value.values]
    return {k: _struct_value(v) for k, v in value.struct_value.fields.items()}


def from_batch(props: Any, schema: dict[str, Any], cls: str) -> dict[str, Any]:
    """The typed properties of a batch object (or of one nested object), by ``schema`` (a class or object property).

    Nulls and empty arrays are dropped: the server keeps neither.
    """
    types = property_types(schema)
    out: dict[str, Any] = {}

    def declared(name: str) -> dict[str, Any]:
        prop = types.get(name)
        if prop is None:
            raise PropertyError(f"no such prop with name '{name}' found in class '{cls}' in the schema. Check your "
                                f"schema files for which properties in this class are available")
        return prop

    for name, value in props.non_ref_properties.fields.items():
        prop, plain = declared(name), _struct_value(value)
        if plain is None:
            continue
        kind = prop["dataType"][0]
        if kind.endswith("[]"):
            if not isinstance(plain, list):
                raise PropertyError(f"invalid {kind} property '{name}' on class: not an array")
            if plain:
                out[name] = [_scalar(kind[:-2], v, name, cls) for v in plain]
        elif kind in ("object",):
            raise PropertyError(f"invalid object property '{name}' on class: send it as an object property")
        else:
            out[name] = _scalar(kind, plain, name, cls)
    for arrays, element in ((props.text_array_properties, None), (props.int_array_properties, "int"),
                            (props.boolean_array_properties, "boolean")):
        for array in arrays:
            prop = declared(array.prop_name)
            kind = prop["dataType"][0]
            if element is not None and kind != f"{element}[]":
                raise PropertyError(f"invalid {kind} property '{array.prop_name}' on class: got {element}[] values")
            if element is None and kind not in ("text[]", "date[]", "uuid[]"):
                raise PropertyError(f"invalid {kind} property '{array.prop_name}' on class: got text[] values")
            values = list(array.values)
            if values:
                out[array.prop_name] = [_scalar(kind[:-2], v, array.prop_name, cls) for v in values]
    for array in props.number_array_properties:
        prop = declared(array.prop_name)
        if prop["dataType"][0] != "number[]":
            raise PropertyError(f"invalid {prop['dataType'][0]} property '{array.prop_name}' on class: got number[]")
        values = (list(struct.unpack(f"<{len(array.values_bytes) // 8}d", array.values_bytes))
                  if array.values_bytes else list(array.values))
        if values:
            out[array.prop_name] = values
    for obj in props.object_properties:
        prop = declared(obj.prop_name)
        if prop["dataType"][0] != "object":
            raise PropertyError(f"invalid {prop['dataType'][0]} property '{obj.prop_name}' on class: got an object")
        out[obj.prop_name] = from_batch(obj.value, prop, cls)
    for array in props.object_array_properties:
        prop = declared(array.prop_name)
        if prop["dataType"][0] != "object[]":
            raise PropertyError(f"invalid {prop['dataType'][0]} property '{array.prop_name}' on class: got object[]")
        if array.values:
            out[array.prop_name] = [from_batch(v, prop, cls) for v in array.values]
    for name in props.empty_list_props:
        declared(name)
    return out


def go_int64(value: int) -> int:
    """A kept integer (a double's value) as Go's ``int64(float64)`` gives it on amd64: out of range is -2**63."""
    return value if -(2 ** 63) <= value < 2 ** 63 else -(2 ** 63)


def to_value(kind: str, value: Any, prop: dict[str, Any]) -> properties_pb2.Value:
    """One stored property as the typed ``Value`` a search result carries."""
    if kind == "text":
        return properties_pb2.Value(text_value=value)
    if kind == "int":
        return properties_pb2.Value(int_value=go_int64(value))
    if kind == "number":
        return properties_pb2.Value(number_value=value)
    if kind == "boolean":
        return properties_pb2.Value(bool_value=value)
    if kind == "date":
        return properties_pb2.Value(date_value=format_date(value))
    if kind == "uuid":
        return properties_pb2.Value(uuid_value=value)
    if kind == "blob":
        return properties_pb2.Value(blob_value=value)
    if kind == "object":
        return properties_pb2.Value(object_value=to_properties(value, prop, None))
    element = kind[:-2]
    lists = {
        "text": lambda: properties_pb2.ListValue(text_values=properties_pb2.TextValues(values=value)),
        "int": lambda: properties_pb2.ListValue(
            int_values=properties_pb2.IntValues(values=struct.pack(f"<{len(value)}q", *map(go_int64, value)))),
        "number": lambda: properties_pb2.ListValue(
            number_values=properties_pb2.NumberValues(values=struct.pack(f"<{len(value)}d", *value))),
        "boolean": lambda: properties_pb2.ListValue(bool_values=properties_pb2.BoolValues(values=value)),
        "date": lambda: properties_pb2.ListValue(
            date_values=properties_pb2.DateValues(values=[format_date(v) for v in value])),
        "uuid": lambda: properties_pb2.ListValue(uuid_values=properties_pb2.UuidValues(values=value)),
        "object": lambda: properties_pb2.ListValue(object_values=properties_pb2.ObjectValues(
            values=[to_properties(v, prop, None) for v in value])),
    }
    return properties_pb2.Value(list_value=lists[element]())


def to_properties(stored: dict[str, Any], schema: dict[str, Any], wanted: Any) -> properties_pb2.Properties:
    """The ``Properties`` of one stored object; ``wanted`` is ``{name: nested wanted or None}``, or None for all."""
    types = property_types(schema)
    fields = {}
    for name, value in stored.items():
        if wanted is not None and name not in wanted:
            continue
        prop = types[name]
        kind = prop["dataType"][0]
        nested = wanted.get(name) if wanted is not None else None
        if kind in ("object", "object[]") and nested is not None:
            value = ({k: v for k, v in value.items() if k in nested} if kind == "object"
                     else [{k: v for k, v in item.items() if k in nested} for item in value])
        fields[name] = to_value(kind, value, prop)
    return properties_pb2.Properties(fields=fields)
