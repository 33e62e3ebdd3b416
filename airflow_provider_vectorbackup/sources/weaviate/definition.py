"""Weaviate collection definitions: described from the collection's config, checked, and made from a portable one.

A definition is ``{"engine": "weaviate", "id": {"type": "uuid", "field": null}, "vectors", "native"}``.
``native`` keeps the class as the server's REST schema answers it (``GET /v1/schema/{name}``, what
``create_from_dict`` sends back as it is), without the name and the node-dependent sharding:
``description``, ``properties`` (typed, nested ones included), ``vectorConfig`` (each named
vector's vectorizer module and its settings, the embedding model among them, its index type and
settings, distance included), ``multiTenancyConfig``, ``invertedIndexConfig``,
``replicationConfig``, ``moduleConfig`` (generative and reranker modules), and, for a
multi-tenant collection, ``tenants``: the tenant names (statuses are state, not definition).

Weaviate's schema records no vector dimension: an index takes the length of the first vector written
to it and refuses any other. A field's ``dimension`` is therefore the length of the vectors the
collection holds (read from its first objects), and ``None`` while it holds none.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_vectorbackup.snapshot import vector_fields as vf
from airflow_provider_vectorbackup.sources.portable import PortableCollection

ENGINE = "weaviate"
ID_TYPE = "uuid"
VALUE_DTYPE = "float32"
METRICS = {"cosine": "cosine", "dot": "dot_product", "l2-squared": "euclidean", "manhattan": "manhattan",
           "hamming": "hamming"}
"""Weaviate distances in the definitions' vocabulary. ``l2-squared`` is ``euclidean``: it ranks alike (Weaviate
reports the squared distance)."""
MULTI_METRICS = {"cosine": "max_sim_cosine", "dot": "max_sim_dot_product", "l2-squared": "max_sim_euclidean"}
DISTANCES = {metric: distance for table in (METRICS, MULTI_METRICS) for distance, metric in table.items()}
NATIVE_KEYS = ("description", "properties", "vectorConfig", "multiTenancyConfig", "invertedIndexConfig",
               "replicationConfig", "moduleConfig")
SUPPORTED_TYPES = frozenset({"text", "int", "number", "boolean", "date", "uuid", "blob", "object",
                             "text[]", "int[]", "number[]", "boolean[]", "date[]", "uuid[]", "object[]"})
"""Property data types a backup keeps exactly; geoCoordinates, phoneNumber and cross-references are not read yet."""
PORTABLE_TYPES = {"string": "text", "int": "int", "float": "number", "bool": "boolean", "uuid": "uuid",
                  "bytes": "blob"}
"""Portable payload kinds and the property type that holds each exactly."""


def multi_tenant(definition: Mapping[str, Any]) -> bool:
    return bool(((definition.get("native") or {}).get("multiTenancyConfig") or {}).get("enabled"))


def _is_multi(config: Mapping[str, Any]) -> bool:
    return bool(((config.get("vectorIndexConfig") or {}).get("multivector") or {}).get("enabled"))


def _distance(config: Mapping[str, Any]) -> str | None:
    return (config.get("vectorIndexConfig") or {}).get("distance")


def describe(config: Mapping[str, Any], tenants: list[str] | None,
             dimensions: Mapping[str, int | None] | None = None) -> dict[str, Any]:
    """The definition of a collection from its REST schema, its tenant names (multi-tenant only) and the length of
    each named vector's vectors (``None``: none written yet)."""
    native = {key: config[key] for key in NATIVE_KEYS if config.get(key) not in (None, {})}
    if tenants is not None:
        native["tenants"] = sorted(tenants)
    vectors = {}
    for name, spec in sorted((config.get("vectorConfig") or {}).items()):
        multi = _is_multi(spec)
        distance = _distance(spec) or ""
        vectors[name] = {"kind": vf.MULTI if multi else vf.DENSE, "dtype": VALUE_DTYPE,
                         "dimension": (dimensions or {}).get(name),
                         "metric": (MULTI_METRICS if multi else METRICS).get(distance), "nullable": True}
    return {"engine": ENGINE, "id": {"type": ID_TYPE, "field": None}, "vectors": vectors, "native": native}


def property_problems(properties: list[Any], where: str = "") -> list[str]:
    found = []
    for prop in properties:
        data_type = (prop.get("dataType") or ["?"])[0]
        path = f"{where}{prop.get('name')}"
        if data_type not in SUPPORTED_TYPES:
            found.append(f"property {path!r} is of type {data_type!r}, which a backup does not keep yet (supported: "
                         f"{', '.join(sorted(SUPPORTED_TYPES))})")
        found += property_problems(prop.get("nestedProperties") or [], f"{path}.")
    return found


def read_problems(definition: Mapping[str, Any]) -> list[str]:
    """What in a collection a backup cannot read exactly yet, each naming the item (checked before reading)."""
    native = definition.get("native") or {}
    found = property_problems(list(native.get("properties") or []))
    if not native.get("vectorConfig"):
        found.append("it has no named vectors (vectorConfig): a legacy unnamed vector is not read yet")
    return found


def problems(definition: Mapping[str, Any]) -> list[str]:
    """What in ``definition`` cannot be recreated in Weaviate by this source, each naming the item (sends nothing)."""
    if definition.get("engine") != ENGINE:
        return [f"the definition is a {definition.get('engine')!r} definition, not a Weaviate one "
                f"(no 'engine': 'weaviate')"]
    native = definition.get("native")
    if not isinstance(native, Mapping) or not isinstance(native.get("vectorConfig"), Mapping) \
            or not native["vectorConfig"]:
        return ["the definition has no native.vectorConfig (named vectors); collections with only a legacy "
                "unnamed vector are not supported"]
    found = property_problems(list(native.get("properties") or []))
    for name, spec in native["vectorConfig"].items():
        distance = _distance(spec)
        known = MULTI_METRICS if _is_multi(spec) else METRICS
        if distance not in known:
            found.append(f"vector {name!r} has distance {distance!r}, not one of {', '.join(known)}")
    return found


def creation(name: str, definition: Mapping[str, Any]) -> dict[str, Any]:
    """The ``create_from_dict`` body for ``name``: the native block, without the tenants (created after)."""
    body = {key: value for key, value in definition["native"].items() if key != "tenants"}
    return {"class": name, **body}


def comparable(definition: Mapping[str, Any], *, unknown_dimensions: Iterable[str] = ()) -> dict[str, Any]:
    """What must match for an existing collection to be the one asked for: tenants may have grown since, and a
    named vector whose dimension one side does not know (``unknown_dimensions``: no vector written yet) matches
    any dimension."""
    native = {k: v for k, v in (definition.get("native") or {}).items() if k != "tenants"}
    vectors = {name: {**spec, "dimension": None} if name in unknown_dimensions else spec
               for name, spec in (definition.get("vectors") or {}).items()}
    return {"id": definition.get("id"), "vectors": vectors, "native": native}


# Weaviate 1.33's defaults for what a portable definition leaves unsaid, so that the definition it makes is the
# one the server describes after creating it (a server with other defaults is told apart on resume).
HNSW_DEFAULTS: dict[str, Any] = {
    "skip": False, "cleanupIntervalSeconds": 300, "maxConnections": 32, "efConstruction": 128, "ef": -1,
    "dynamicEfMin": 100, "dynamicEfMax": 500, "dynamicEfFactor": 8, "vectorCacheMaxObjects": 10 ** 12,
    "flatSearchCutoff": 40000, "filterStrategy": "sweeping",
    "pq": {"enabled": False, "bitCompression": False, "segments": 0, "centroids": 256, "trainingLimit": 100000,
           "encoder": {"type": "kmeans", "distribution": "log-normal"}},
    "bq": {"enabled": False}, "sq": {"enabled": False, "trainingLimit": 100000, "rescoreLimit": 20},
    "rq": {"enabled": False, "bits": 8, "rescoreLimit": 20},
    "multivector": {"enabled": False, "aggregation": "maxSim",
                    "muvera": {"enabled": False, "ksim": 4, "dprojections": 16, "repetitions": 10}}}
INVERTED_DEFAULTS: dict[str, Any] = {
    "bm25": {"b": 0.75, "k1": 1.2}, "cleanupIntervalSeconds": 60,
    "stopwords": {"preset": "en", "additions": None, "removals": None}, "usingBlockMaxWAND": True}
REPLICATION_DEFAULTS: dict[str, Any] = {"factor": 1, "asyncEnabled": False,
                                        "deletionStrategy": "NoAutomatedResolution"}
MULTI_TENANCY_OFF: dict[str, Any] = {"enabled": False, "autoTenantCreation": False, "autoTenantActivation": False}


def portable_properties(payload: Mapping[str, str]) -> list[dict[str, Any]]:
    """One property per portable payload field, of the type that holds its kind exactly, indexed as by default."""
    properties = []
    for field, kind in sorted(payload.items()):
        data_type = PORTABLE_TYPES.get(kind)
        if data_type is None:
            raise ValueError(f"payload field {field!r} is of kind {kind!r}, which Weaviate does not hold exactly")
        prop: dict[str, Any] = {"name": field, "dataType": [data_type]}
        if data_type == "text":
            prop["tokenization"] = "word"
        prop.update(indexFilterable=data_type != "blob", indexSearchable=data_type == "text",
                    indexRangeFilters=False)
        properties.append(prop)
    return properties


def portable_vector(name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """A self-provided named vector (vectorizer ``none``, HNSW) with the portable field's metric."""
    kind, metric = spec.get("kind"), spec.get("metric")
    if spec.get("dtype", VALUE_DTYPE) != VALUE_DTYPE or kind not in (vf.DENSE, vf.MULTI):
        raise ValueError(f"vector field {name!r}: Weaviate holds float32 dense and multi vectors, not "
                         f"{spec.get('dtype')} {kind}")
    distance = DISTANCES.get(metric or "")
    if distance is None or (kind == vf.MULTI) != (metric or "").startswith("max_sim_"):
        raise ValueError(f"vector field {name!r}: Weaviate has no {kind} index with metric {metric!r}")
    index = copy.deepcopy(HNSW_DEFAULTS)
    index["distance"] = distance
    index["multivector"]["enabled"] = kind == vf.MULTI
    return {"vectorizer": {"none": {}}, "vectorIndexType": "hnsw", "vectorIndexConfig": index}


def portable_native(portable: PortableCollection) -> dict[str, Any]:
    """The native block of a collection holding ``portable`` exactly, as the server describes it once created."""
    return {"properties": portable_properties(portable.payload),
            "vectorConfig": {name: portable_vector(name, spec) for name, spec in sorted(portable.vectors.items())},
            "multiTenancyConfig": dict(MULTI_TENANCY_OFF), "invertedIndexConfig": copy.deepcopy(INVERTED_DEFAULTS),
            "replicationConfig": dict(REPLICATION_DEFAULTS)}
