"""A Chroma collection's definition: what ``collection_definition`` records and what ``create_collection`` accepts.

Chroma 1.5 keeps a collection's index settings in ``configuration_json`` (``hnsw`` or ``spann``,
and the embedding function's description) and, for collections made the older way, also as
``hnsw:*`` keys of the collection metadata. Both are kept verbatim under ``native``, with which
indexes the collection's schema switches on. Names, ids and timestamps are left out, so a
collection and its restored copy under another name describe alike.

The dimension comes from the first stored embedding: Chroma fixes it on the first write and the
public client does not expose it, so an empty collection has dimension ``None``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from airflow_provider_vectorbackup.sources.base import UnsupportedDefinition

ENGINE = "chroma"
VECTOR_FIELD = "embedding"
"""The one vector field of a Chroma record, as the stored form names it."""
ID = {"type": "string", "field": None}

SPACE_METRICS = {"cosine": "cosine", "ip": "dot_product", "l2": "euclidean"}
"""Chroma's spaces as ``vectors``-block metrics. ``l2`` is the squared Euclidean distance: it ranks alike."""

HNSW_DEFAULTS = {"space": "l2", "ef_construction": 100, "ef_search": 100, "max_neighbors": 16,
                 "resize_factor": 1.2, "sync_threshold": 1000}
"""What Chroma 1.5 fills in for HNSW settings nobody gave."""
UPDATABLE_HNSW = ("ef_search", "resize_factor", "sync_threshold")
"""The HNSW settings ``Collection.modify`` can change after creation."""
_LEGACY_KEYS = {"space": "hnsw:space", "ef_construction": "hnsw:construction_ef", "max_neighbors": "hnsw:M",
                "ef_search": "hnsw:search_ef", "resize_factor": "hnsw:resize_factor",
                "sync_threshold": "hnsw:sync_threshold"}
"""Legacy collection-metadata keys Chroma reads HNSW settings from when a collection is made without a configuration."""

EMBEDDING_FUNCTIONS_RECREATED = ({"type": "legacy"}, {"type": "known", "name": "default", "config": {}})
"""Embedding-function descriptions a restore recreates (plus none): the others need their provider's package and keys."""

DEFAULT_INDEXES = {
    "*": {"bool": {"bool_inverted_index": True}, "float": {"float_inverted_index": True},
          "float_list": {"vector_index": False}, "int": {"int_inverted_index": True},
          "sparse_vector": {"sparse_vector_index": False},
          "string": {"fts_index": False, "string_inverted_index": True}},
    "#document": {"string": {"fts_index": True, "string_inverted_index": False}},
    "#embedding": {"float_list": {"vector_index": True}},
}
"""Which indexes a collection's schema switches on when nobody customized it (Chroma 1.5)."""

_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]$")


def describe(configuration: Mapping[str, Any] | None, metadata: Mapping[str, Any] | None,
             schema: Mapping[str, Any] | None, dimension: int | None) -> dict[str, Any]:
    """A definition from what Chroma describes: ``configuration_json``, metadata, the schema and the dimension."""
    configuration = dict(configuration or {})
    return {
        "engine": ENGINE,
        "id": dict(ID),
        "vectors": {VECTOR_FIELD: {"kind": "dense", "dtype": "float32", "dimension": dimension,
                                   "metric": SPACE_METRICS.get(str(space_of(configuration)))}},
        "native": {"configuration": configuration, "metadata": dict(metadata) if metadata else None,
                   "indexes": index_switches(schema)},
    }


def new_definition(dimension: int | None, metric: str = "cosine", **hnsw: Any) -> dict[str, Any]:
    """The definition of a new collection as Chroma would describe it, for callers that make one from scratch."""
    space = {v: k for k, v in SPACE_METRICS.items()}.get(metric)
    if space is None:
        raise ValueError(f"Chroma has no space for metric {metric!r}; it has {sorted(SPACE_METRICS.values())}")
    configuration = {"hnsw": {**HNSW_DEFAULTS, **hnsw, "space": space}, "spann": None,
                     "embedding_function": {"type": "legacy"}}
    return describe(configuration, None, None, dimension) | {
        "native": {"configuration": configuration, "metadata": None, "indexes": DEFAULT_INDEXES}}


def index_switches(schema: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Which indexes the schema switches on, by key and value type, where that is not Chroma's default.

    Chroma adds a key to the schema for every metadata key it sees, with the default switches:
    those are left out, so the definition does not change as records come in. The indexes'
    settings are the configuration's, kept there.
    """
    if not schema:
        return None
    defaults = DEFAULT_INDEXES["*"]
    switches: dict[str, Any] = {}
    keyed = [("*", schema.get("defaults") or {})] + sorted((schema.get("keys") or {}).items())
    for key, types in keyed:
        usual = DEFAULT_INDEXES.get(key, {}) if key.startswith("#") or key == "*" else {}
        chosen = {}
        for value_type, indexes in sorted(types.items()):
            expected = {**defaults.get(value_type, {}), **usual.get(value_type, {})}
            found = {index: bool((spec or {}).get("enabled")) for index, spec in sorted(indexes.items())}
            if key in DEFAULT_INDEXES or found != {i: expected.get(i) for i in found}:
                chosen[value_type] = found
        if chosen:
            switches[key] = chosen
    return switches


def differences(existing: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """The items in which two definitions differ, by path, for messages."""
    found = []
    for key in sorted(set(existing) | set(wanted)):
        if key == "vectors":
            found += _vector_differences(existing.get(key) or {}, wanted.get(key) or {})
        elif key == "native":
            mine, theirs = existing.get(key) or {}, wanted.get(key) or {}
            found += [f"native.{k}" for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k)]
        elif existing.get(key) != wanted.get(key):
            found.append(key)
    return found


def _vector_differences(existing: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    found = []
    for name in sorted(set(existing) | set(wanted)):
        mine, theirs = dict(existing.get(name) or {}), dict(wanted.get(name) or {})
        if mine.get("dimension") is None:
            theirs.pop("dimension", None)
            mine.pop("dimension", None)
        found += [f"vectors.{name}.{k}" for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k)]
    return found


def check_name(name: str) -> None:
    """Chroma's own rules for collection names, checked before anything is sent."""
    problem = None
    if not isinstance(name, str) or not _NAME.match(name):
        problem = "3 to 512 characters from [a-zA-Z0-9._-], starting and ending with a letter or digit"
    elif ".." in name:
        problem = "no two consecutive dots"
    else:
        try:
            ipaddress.IPv4Address(name)
            problem = "not an IPv4 address"
        except ValueError:
            pass
    if problem:
        raise UnsupportedDefinition(f"Chroma cannot hold a collection named {name!r}: its names must have {problem}; "
                                    f"nothing was created. Restore it under another name (target_prefix or "
                                    f"name_mapping)")


def creation_arguments(name: str, definition: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``create_collection`` keyword arguments and the HNSW settings to ``modify`` after it, for ``definition``.

    :raises UnsupportedDefinition: naming the collection and the item, before anything was created.
    """
    check_name(name)
    return check_definition(definition, name)


def check_definition(definition: Mapping[str, Any],
                     name: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The checks of :func:`creation_arguments` that do not depend on the name; its result too."""
    what = f"collection {name!r}" if name else "this collection"

    def refuse(item: str, why: str) -> UnsupportedDefinition:
        return UnsupportedDefinition(f"Chroma cannot recreate {what} as defined: {item} {why}; nothing was created")

    if definition.get("engine") != ENGINE:
        raise refuse("engine", f"is {definition.get('engine')!r}, a definition of another engine (this is Chroma's "
                               f"restore; restore into the engine the snapshot was made from)")
    if definition.get("id") != ID:
        raise refuse("id", f"{definition.get('id')!r} is not Chroma's (string ids)")
    native = definition.get("native")
    if not isinstance(native, Mapping):
        raise refuse("native", "is missing")
    configuration = dict(native.get("configuration") or {})
    hnsw, spann = configuration.get("hnsw"), configuration.get("spann")
    if bool(hnsw) == bool(spann):
        raise refuse("native.configuration", "must hold exactly one of hnsw and spann")
    space = space_of(configuration)
    if space not in SPACE_METRICS:
        raise refuse("native.configuration space", f"{space!r} is not one of Chroma's ({', '.join(SPACE_METRICS)})")
    expected_vectors = {VECTOR_FIELD: {"kind": "dense", "dtype": "float32", "metric": SPACE_METRICS[space]}}
    vectors = {k: {f: v for f, v in (spec or {}).items() if f != "dimension"}
               for k, spec in (definition.get("vectors") or {}).items()}
    if vectors != expected_vectors:
        raise refuse("vectors", f"{definition.get('vectors')!r} is not one dense float32 field "
                                f"{VECTOR_FIELD!r} measured by the configuration's space {space!r}")
    indexes = native.get("indexes")
    if indexes is not None and indexes != DEFAULT_INDEXES:
        raise refuse("native.indexes", "customize the schema's indexes, which this restore does not recreate")
    metadata = native.get("metadata") or None
    odd = sorted(k for k, v in (metadata or {}).items() if type(v) not in (str, int, float, bool))
    if odd:  # Chroma 1.5.9 panics on a list in collection metadata (it takes them only in record metadata)
        raise refuse("native.metadata", f"holds values other than str, int, float or bool under {odd}")
    embedding_function = configuration.get("embedding_function")
    if embedding_function is None:
        derived = {k: (metadata or {}).get(_LEGACY_KEYS[k], v) for k, v in HNSW_DEFAULTS.items()}
        fixed = [k for k in HNSW_DEFAULTS if k not in UPDATABLE_HNSW and (hnsw or {}).get(k) != derived[k]]
        if spann or fixed:
            raise refuse("native.configuration", "has no embedding function yet index settings its metadata does "
                                                 f"not give ({', '.join(fixed) or 'spann'})")
        updates = {k: hnsw[k] for k in UPDATABLE_HNSW if k in hnsw and hnsw[k] != derived[k]}
        return {"metadata": metadata, "embedding_function": None}, updates
    if embedding_function not in EMBEDDING_FUNCTIONS_RECREATED:
        raise refuse("native.configuration embedding_function",
                     f"{embedding_function!r} is one this restore cannot rebuild without its provider's package and "
                     f"keys (it rebuilds none, 'legacy' and 'default'; the vectors themselves are restored as stored)")
    chroma_configuration: dict[str, Any] = {"hnsw": dict(hnsw)} if hnsw else {"spann": dict(spann)}
    if embedding_function["type"] == "known":
        from chromadb.utils.embedding_functions import DefaultEmbeddingFunction  # builds no model until called

        chroma_configuration["embedding_function"] = DefaultEmbeddingFunction()
        return {"metadata": metadata, "configuration": chroma_configuration}, {}
    return {"metadata": metadata, "configuration": chroma_configuration, "embedding_function": None}, {}


def space_of(configuration: Mapping[str, Any]) -> Any:
    return (configuration.get("hnsw") or configuration.get("spann") or {}).get("space")
