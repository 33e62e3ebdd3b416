"""A Milvus collection's definition: read from ``describe_collection``, ``list_partitions`` and ``describe_index``, and rebuilt.

The ``native`` block keeps what restore needs to recreate the collection exactly, as JSON:
fields (types by name, params, primary/auto-id, nullable, default values, partition key,
function outputs), functions (BM25), dynamic field, properties, consistency level, shards,
partitions and indexes. Names, ids, timestamps, row counts and aliases are left out, so a
collection and its restored copy under another name describe alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_vectorbackup.snapshot import vector_fields as vf
from airflow_provider_vectorbackup.sources.milvus.values import BINARY, DENSE_DTYPES, SPARSE, VECTOR_TYPES

METRICS = {"COSINE": "cosine", "IP": "dot_product", "L2": "euclidean", "HAMMING": "hamming", "JACCARD": "jaccard"}
"""Milvus metric types with a name in the ``vectors`` block; any other (BM25 among them) is ``null`` there."""

ID_TYPES = {"INT64": "int64", "VARCHAR": "varchar"}

_INDEX_PROGRESS = frozenset({"total_rows", "indexed_rows", "pending_index_rows", "state"})
"""``describe_index`` answers that say how far indexing got, not how the index is defined."""
_INDEX_KEYS = ("field_name", "index_name", "index_type", "metric_type")

LITE_TYPES = frozenset({"BOOL", "INT8", "INT16", "INT32", "INT64", "FLOAT", "DOUBLE", "VARCHAR", "JSON", "ARRAY",
                        "GEOMETRY", "TIMESTAMPTZ", "FLOAT_VECTOR", "SPARSE_FLOAT_VECTOR"})
"""Field types Milvus Lite 3.2 creates (it refuses the others by name)."""
FUNCTION_TYPES = frozenset({"BM25"})
"""Functions this package recreates: BM25 needs no outside service. Others are refused, not half-restored."""


def definition_from_description(description: Mapping[str, Any], partitions: list[str],
                                indexes: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Our definition of a collection from pymilvus's ``describe_collection``, partitions and ``describe_index`` answers."""
    fields = [_field(f) for f in description["fields"]]
    primary = next(f for f in fields if f.get("is_primary"))
    index_list = sorted((_index(i) for i in indexes), key=lambda i: (i["field_name"], i["index_name"]))
    metric_of = {i["field_name"]: i["metric_type"] for i in index_list}
    vectors = {f["name"]: _vector_entry(f, metric_of.get(f["name"])) for f in fields if f["type"] in VECTOR_TYPES}
    partition_key = any(f.get("is_partition_key") for f in fields)
    native: dict[str, Any] = {
        "fields": fields,
        "functions": [_function(f) for f in description.get("functions") or []],
        "enable_dynamic_field": bool(description.get("enable_dynamic_field")),
        "auto_id": bool(description.get("auto_id")),
        "description": description.get("description") or "",
        "properties": _jsonable(dict(description.get("properties") or {})),
        "consistency_level": description.get("consistency_level_name"),
        "num_shards": description.get("num_shards"),
        # A partition key spreads rows over partitions Milvus names and fills itself: only their number is kept.
        "partitions": [] if partition_key else sorted(partitions),
        "num_partitions": description.get("num_partitions") if partition_key else None,
        "indexes": index_list,
    }
    return {"engine": "milvus", "id": {"type": ID_TYPES.get(primary["type"], primary["type"].lower()),
                                       "field": primary["name"]},
            "vectors": vectors, "native": native}


def _field(field: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": field["name"], "type": _type_name(field["type"])}
    for key in sorted(field):
        if key in ("name", "type", "field_id"):
            continue
        value = field[key]
        if key == "default_value":
            value = default_value(value)
        elif key == "element_type":
            value = _type_name(value)
        if value in (None, False, "", {}) and key != "default_value":
            continue  # absent and false describe alike: a server may send either
        out[key] = _jsonable(value)
    return out


def default_value(value: Any) -> Any:
    """The Python value of a field's default: pymilvus returns the protobuf ``ValueField`` (``string_data: "zz"``)."""
    which = getattr(value, "WhichOneof", None)
    if which is None:
        return value
    kind = which("data")
    return None if kind is None else _jsonable(getattr(value, kind))


def _function(function: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": function["name"], "type": _type_name(function["type"]),
            "description": function.get("description") or "",
            "input_field_names": list(function.get("input_field_names") or []),
            "output_field_names": list(function.get("output_field_names") or []),
            "params": _jsonable(dict(function.get("params") or {}))}


def _index(index: Mapping[str, Any]) -> dict[str, Any]:
    params = {k: _jsonable(v) for k, v in sorted(index.items()) if k not in _INDEX_PROGRESS and k not in _INDEX_KEYS}
    return {**{k: index.get(k) for k in _INDEX_KEYS}, "params": params}


def _vector_entry(field: Mapping[str, Any], metric: str | None) -> dict[str, Any]:
    milvus_type = field["type"]
    dimension = (field.get("params") or {}).get("dim")
    dimension = int(dimension) if dimension is not None else None
    if milvus_type == SPARSE:
        kind, dtype, dimension = vf.SPARSE, "float32", None
    elif milvus_type == BINARY:
        kind, dtype = vf.BIT, None
    else:
        kind, dtype = vf.DENSE, DENSE_DTYPES[milvus_type]
    return vf.VectorField(field["name"], kind, dtype, dimension, METRICS.get(metric or ""),
                          field.get("nullable") is True).to_dict()


def _type_name(value: Any) -> str:
    return getattr(value, "name", None) or str(value)


def _jsonable(value: Any) -> Any:
    """JSON values for what pymilvus describes with enums, tuples and numpy scalars."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "name") and hasattr(value, "value"):  # an enum
        return value.name
    tolist = getattr(value, "tolist", None)
    if tolist is not None:
        return tolist()
    return str(value)


# -- from a definition back to Milvus ------------------------------------------------------------

def vector_fields_of(definition: Mapping[str, Any]) -> dict[str, tuple[str, int | None]]:
    """``{name: (milvus type, dimension)}`` of the definition's vector fields."""
    found = {}
    for field in definition["native"]["fields"]:
        if field["type"] in VECTOR_TYPES:
            dim = (field.get("params") or {}).get("dim")
            found[field["name"]] = (field["type"], int(dim) if dim is not None else None)
    return found


def scalar_fields(definition: Mapping[str, Any]) -> frozenset[str]:
    """Declared fields that are neither the primary key, a vector nor JSON: their values are written as decoded."""
    pk = definition["id"]["field"]
    return frozenset(field["name"] for field in definition["native"]["fields"]
                     if field["name"] != pk and field["type"] not in VECTOR_TYPES and field["type"] != "JSON")


def generated_fields(definition: Mapping[str, Any]) -> frozenset[str]:
    """Fields a function fills (BM25 outputs): read in a dump, never written by a restore."""
    return frozenset(name for function in definition["native"].get("functions") or []
                     for name in function.get("output_field_names") or [])


def unsupported_items(definition: Mapping[str, Any], *, lite: bool) -> list[str]:
    """What in ``definition`` this target cannot recreate exactly, each naming the field or function; empty if all."""
    from pymilvus import DataType

    native = definition.get("native")
    if definition.get("engine") != "milvus" or not isinstance(native, Mapping):
        return [f"the definition is not a Milvus one (engine {definition.get('engine')!r}); Milvus recreates only "
                f"Milvus collections"]
    problems = []
    known = set(DataType.__members__)
    for field in native.get("fields") or []:
        for key in ("type", "element_type"):
            milvus_type = field.get(key)
            if milvus_type is None:
                continue
            if milvus_type not in known:
                problems.append(f"field {field.get('name')!r} has type {milvus_type!r}, which pymilvus "
                                f"{_pymilvus_version()} does not know")
            elif lite and milvus_type not in LITE_TYPES:
                problems.append(f"field {field.get('name')!r} is {milvus_type}, which Milvus Lite cannot hold; "
                                f"restore it into a Milvus server")
    for function in native.get("functions") or []:
        if function.get("type") not in FUNCTION_TYPES:
            problems.append(f"function {function.get('name')!r} is of type {function.get('type')!r}; this package "
                            f"recreates only {', '.join(sorted(FUNCTION_TYPES))} functions")
    return problems


def _pymilvus_version() -> str:
    from pymilvus import __version__

    return __version__


def build_schema(client: Any, definition: Mapping[str, Any]) -> Any:
    """The ``CollectionSchema`` of a definition, functions included."""
    from pymilvus import DataType, Function, FunctionType

    native = definition["native"]
    schema = client.create_schema(auto_id=native.get("auto_id", False),
                                  enable_dynamic_field=native.get("enable_dynamic_field", False),
                                  description=native.get("description") or "")
    for field in native["fields"]:
        options = {k: v for k, v in field.items() if k not in ("name", "type", "params", "is_function_output")}
        if "element_type" in options:
            options["element_type"] = DataType[options["element_type"]]
        if options.get("default_value") is None:
            options.pop("default_value", None)
        schema.add_field(field["name"], DataType[field["type"]], **options, **_field_params(field.get("params") or {}))
    for function in native.get("functions") or []:
        schema.add_function(Function(name=function["name"], function_type=FunctionType[function["type"]],
                                     input_field_names=function["input_field_names"],
                                     output_field_names=function["output_field_names"],
                                     description=function.get("description") or "",
                                     params=function.get("params") or None))
    return schema


def _field_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """``add_field`` keywords from described params; Milvus describes booleans as the strings "true"/"false"."""
    out = {}
    for key, value in params.items():
        if isinstance(value, str) and value in ("true", "false"):
            value = value == "true"
        out[key] = value
    return out


def build_index_params(client: Any, definition: Mapping[str, Any]) -> Any | None:
    indexes = definition["native"].get("indexes") or []
    if not indexes:
        return None
    params = client.prepare_index_params()
    for index in indexes:
        params.add_index(index["field_name"], index_type=index.get("index_type") or "",
                         index_name=index.get("index_name") or "", metric_type=index.get("metric_type"),
                         params=dict(index.get("params") or {}))
    return params
