"""Collection (class) definitions as Weaviate's ``/v1/schema`` takes and answers them, server defaults filled in.

A class arrives as the client's ``create_from_dict``/``create`` JSON; the stand-in checks what a
real server checks for the features it serves (names, data types, named vectors with their index
type and distance, multi-tenancy) and answers with the defaults a 1.3x server adds, so the client
parses the answer as it parses a real one. Auto-schema is off: objects may only carry declared
properties.
"""

from __future__ import annotations

import copy
import re
from typing import Any

CLASS_NAME = re.compile(r"^[A-Z][_0-9A-Za-z]{0,254}$")
PROPERTY_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]{0,230}$")
VECTOR_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,229}$")
RESERVED_PROPERTIES = frozenset({"_additional", "_id", "id"})
PRIMITIVE_TYPES = frozenset({"text", "int", "number", "boolean", "date", "uuid", "blob",
                             "text[]", "int[]", "number[]", "boolean[]", "date[]", "uuid[]"})
OBJECT_TYPES = frozenset({"object", "object[]"})
DISTANCES = ("cosine", "dot", "l2-squared", "hamming", "manhattan")
INDEX_TYPES = ("hnsw", "flat")


class SchemaError(ValueError):
    """A class the server refuses (HTTP 422), with the server's message."""


def _hnsw_defaults(distance: str) -> dict[str, Any]:
    return {"skip": False, "cleanupIntervalSeconds": 300, "maxConnections": 32, "efConstruction": 128, "ef": -1,
            "dynamicEfMin": 100, "dynamicEfMax": 500, "dynamicEfFactor": 8, "vectorCacheMaxObjects": 10 ** 12,
            "flatSearchCutoff": 40000, "distance": distance, "filterStrategy": "sweeping",
            "pq": {"enabled": False, "bitCompression": False, "segments": 0, "centroids": 256,
                   "trainingLimit": 100000, "encoder": {"type": "kmeans", "distribution": "log-normal"}},
            "bq": {"enabled": False}, "sq": {"enabled": False, "trainingLimit": 100000, "rescoreLimit": 20},
            "rq": {"enabled": False, "bits": 8, "rescoreLimit": 20},
            "multivector": {"enabled": False, "aggregation": "maxSim",
                            "muvera": {"enabled": False, "ksim": 4, "dprojections": 16, "repetitions": 10}}}


def _flat_defaults(distance: str) -> dict[str, Any]:
    return {"distance": distance, "vectorCacheMaxObjects": 10 ** 12,
            "pq": {"enabled": False, "rescoreLimit": -1, "cache": False},
            "bq": {"enabled": False, "rescoreLimit": -1, "cache": False},
            "sq": {"enabled": False, "rescoreLimit": -1, "cache": False}}


def _merged(defaults: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(defaults)
    for key, value in given.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _property(prop: Any, where: str) -> dict[str, Any]:
    if not isinstance(prop, dict) or not isinstance(prop.get("name"), str):
        raise SchemaError(f"{where}: a property needs a name")
    name = prop["name"]
    if not PROPERTY_NAME.match(name):
        raise SchemaError(f"'{name}' is not a valid property name. Property names in Weaviate are restricted to "
                          f"valid GraphQL names, which must be \u201c/[_A-Za-z][_0-9A-Za-z]{{0,230}}/\u201d.")
    if name in RESERVED_PROPERTIES:
        raise SchemaError(f"'{name}' is a reserved property name")
    data_type = prop.get("dataType")
    if not (isinstance(data_type, list) and len(data_type) == 1 and isinstance(data_type[0], str)):
        raise SchemaError(f"property '{name}': dataType must be a list of one type")
    kind = data_type[0]
    out = dict(prop)
    if kind in OBJECT_TYPES:
        nested = prop.get("nestedProperties")
        if not nested:
            raise SchemaError(f"property '{name}': At least one nested property is required for data type "
                              f"object/object[]")
        out["nestedProperties"] = [_property(n, f"{where}.{name}") for n in nested]
    elif kind in PRIMITIVE_TYPES:
        if prop.get("nestedProperties"):
            raise SchemaError(f"property '{name}': nestedProperties are only allowed for object/object[]")
    elif kind in ("geoCoordinates", "phoneNumber") or kind[:1].isupper():
        raise SchemaError(f"property '{name}': data type {kind!r} is not served by this stand-in")
    else:
        raise SchemaError(f"property '{name}': invalid dataType: {kind!r}")
    text = kind in ("text", "text[]")
    out.setdefault("tokenization", "word" if text else None)
    if out["tokenization"] is None:
        out.pop("tokenization")
    out.setdefault("indexFilterable", kind != "blob")
    out.setdefault("indexSearchable", text)
    out.setdefault("indexRangeFilters", False)
    return out


def _vector(name: str, config: Any, modules: frozenset[str]) -> dict[str, Any]:
    if not VECTOR_NAME.match(name):
        raise SchemaError(f"invalid target vector name {name!r}")
    if not isinstance(config, dict):
        raise SchemaError(f"vectorConfig {name!r} must be an object")
    vectorizer = config.get("vectorizer") or {"none": {}}
    if not isinstance(vectorizer, dict) or len(vectorizer) != 1:
        raise SchemaError(f"vectorConfig {name!r}: vectorizer must name exactly one module")
    module = next(iter(vectorizer))
    if module != "none" and module not in modules:  # a server refuses a module it was not started with
        raise SchemaError(f"vectorizer: no module with name \"{module}\" present")
    index_type = config.get("vectorIndexType", "hnsw")
    if index_type not in INDEX_TYPES:
        raise SchemaError(f"vectorConfig {name!r}: vector index type {index_type!r} is not served by this stand-in")
    index = dict(config.get("vectorIndexConfig") or {})
    distance = index.get("distance", "cosine")
    if distance not in DISTANCES:
        raise SchemaError(f"parse vector index config: invalid distance metric \"{distance}\"")
    defaults = _hnsw_defaults(distance) if index_type == "hnsw" else _flat_defaults(distance)
    merged = _merged(defaults, index)
    if index_type == "flat" and (merged.get("multivector") or {}).get("enabled"):
        raise SchemaError(f"vectorConfig {name!r}: multivector is only supported with hnsw")
    return {"vectorizer": {module: dict(vectorizer[module] or {})}, "vectorIndexType": index_type,
            "vectorIndexConfig": merged}


def new_class(body: Any, modules: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The class as the server keeps and answers it; :class:`SchemaError` for what it refuses.

    ``modules`` are the vectorizer modules the server was started with; their settings are kept as given.
    """
    if not isinstance(body, dict) or not isinstance(body.get("class"), str):
        raise SchemaError("a class needs a name ('class')")
    name = body["class"][:1].upper() + body["class"][1:]
    if not CLASS_NAME.match(name):
        raise SchemaError(f"'{body['class']}' is not a valid class name")
    vector_config = body.get("vectorConfig")
    if not vector_config:
        raise SchemaError(f"class {name!r}: this stand-in serves collections with named vectors (vectorConfig) only")
    if body.get("vectorizer") not in (None, "none") or body.get("vectorIndexConfig"):
        raise SchemaError(f"class {name!r}: a legacy vectorizer/vectorIndexConfig cannot be combined with "
                          f"vectorConfig in this stand-in")
    properties = [_property(p, name) for p in body.get("properties") or []]
    seen = set()
    for prop in properties:
        if prop["name"].lower() in seen:
            raise SchemaError(f"class {name!r}: property {prop['name']!r} is defined twice")
        seen.add(prop["name"].lower())
    mt = body.get("multiTenancyConfig") or {}
    inverted = _merged({"bm25": {"b": 0.75, "k1": 1.2}, "cleanupIntervalSeconds": 60,
                        "stopwords": {"preset": "en", "additions": None, "removals": None},
                        "usingBlockMaxWAND": True}, body.get("invertedIndexConfig") or {})
    replication = _merged({"factor": 1, "asyncEnabled": False, "deletionStrategy": "NoAutomatedResolution"},
                          body.get("replicationConfig") or {})
    if replication["factor"] != 1:
        raise SchemaError(f"could not find enough weaviate nodes for replication: 1 available, "
                          f"{replication['factor']} requested")
    enabled = bool(mt.get("enabled", False))
    sharding = ({"virtualPerPhysical": 0, "desiredCount": 0, "actualCount": 0, "desiredVirtualCount": 0,
                 "actualVirtualCount": 0, "key": "", "strategy": "", "function": ""} if enabled else
                {"virtualPerPhysical": 128, "desiredCount": 1, "actualCount": 1, "desiredVirtualCount": 128,
                 "actualVirtualCount": 128, "key": "_id", "strategy": "hash", "function": "murmur3"})
    answer: dict[str, Any] = {
        "class": name, "properties": properties,
        "vectorConfig": {vname: _vector(vname, cfg, modules) for vname, cfg in vector_config.items()},
        "invertedIndexConfig": inverted,
        "multiTenancyConfig": {"enabled": enabled, "autoTenantCreation": bool(mt.get("autoTenantCreation", False)),
                               "autoTenantActivation": bool(mt.get("autoTenantActivation", False))},
        "replicationConfig": replication, "shardingConfig": sharding, "vectorizer": "none",
    }
    if body.get("description") is not None:
        answer["description"] = body["description"]
    if body.get("moduleConfig"):
        raise SchemaError(f"class {name!r}: collection-level modules (generative, reranker) are not served by this "
                          f"stand-in")
    return answer


def property_types(cls: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{name: property}`` of a class or of an object property's nested properties."""
    return {p["name"]: p for p in cls.get("properties", cls.get("nestedProperties", []))}
