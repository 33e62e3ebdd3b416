"""A Pinecone index's definition, and how collections name an index's namespaces.

A collection is one namespace of one index: ``<index>`` is the index's default namespace
(``__default__``, which every vector index has) and ``<index>.<namespace>`` any other. Index names
are lowercase letters, digits and hyphens, so the first dot always ends the index's name and the
mapping reverses; restoring some namespaces of an index is restoring those collections. A
namespace whose name has characters a snapshot's collection names do not take (docs/format.md,
section 4) cannot be dumped, and the dump says so.

The definition is ``{"engine": "pinecone", "id", "vectors", "native"}``. ``vectors`` has
``values`` (the dense field, when the index has one) and ``sparse_values`` (when it takes sparse
values), named as the vectors API names them. ``native`` keeps what ``describe_index`` (API
2026-07) says and a restore needs: ``schema`` (the ``_values`` and ``_sparse_values`` fields),
``deployment`` (without the response-only ``environment`` of a managed index), ``read_capacity``
(without its status), ``deletion_protection`` and ``tags``. The name and host are left out, so an
index and its restored copy describe alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from airflow_provider_vectorbackup.sources.base import UnsupportedDefinition
from airflow_provider_vectorbackup.sources.portable import PortableCollection

ENGINE = "pinecone"
ID = {"type": "string", "field": None}
DEFAULT_NAMESPACE = "__default__"
DENSE = "values"
SPARSE = "sparse_values"
DENSE_SCHEMA_FIELD = "_values"
SPARSE_SCHEMA_FIELD = "_sparse_values"
METRICS = {"cosine": "cosine", "euclidean": "euclidean", "dotproduct": "dot_product"}
"""Pinecone's metrics as ``vectors``-block metrics (a sparse field is always dot product)."""
MAX_DIMENSION = 20_000
WHY_NOT_POD = ("Pinecone lists the ids of serverless indexes only, and a backup reads an index by listing "
               "its ids, so a pod-based index cannot be read completely")
_INDEX_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,43}[a-z0-9])?$")


def split_name(collection: str) -> tuple[str, str]:
    """``(index, namespace)`` of a collection name; the namespace is ``__default__`` for a bare index name."""
    index, dot, namespace = collection.partition(".")
    if not _INDEX_NAME.match(index) or (dot and not namespace):
        raise UnsupportedDefinition(
            f"Pinecone cannot hold a collection named {collection!r}: a collection is <index> or <index>.<namespace>, "
            f"and index names are 1-45 lowercase letters, digits and hyphens, starting and ending with a letter or "
            f"digit; nothing was created. Restore it under another name (target_prefix or name_mapping)")
    if namespace == DEFAULT_NAMESPACE:
        raise UnsupportedDefinition(f"collection {collection!r}: the default namespace is the collection "
                                    f"{index!r}, not {collection!r}")
    return index, namespace or DEFAULT_NAMESPACE


def collection_name(index: str, namespace: str) -> str:
    return index if namespace in ("", DEFAULT_NAMESPACE) else f"{index}.{namespace}"


def describe(schema: Mapping[str, Any], deployment: Mapping[str, Any], read_capacity: Mapping[str, Any] | None,
             deletion_protection: str, tags: Mapping[str, str] | None) -> dict[str, Any]:
    """A definition from what ``describe_index`` gives (as plain JSON)."""
    fields = {name: _without_nones(spec) for name, spec in (schema.get("fields") or {}).items()}
    deployment = {k: v for k, v in deployment.items() if v is not None}
    if deployment.get("deployment_type") == "managed":
        deployment.pop("environment", None)
    capacity = {k: v for k, v in (read_capacity or {}).items() if k != "status"} or None
    native = {"schema": {"fields": fields}, "deployment": deployment,
              "read_capacity": _without_nones(capacity) if capacity else None,
              "deletion_protection": deletion_protection, "tags": dict(tags) if tags else None}
    return {"engine": ENGINE, "id": dict(ID), "vectors": vectors_of(fields), "native": native}


def vectors_of(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The ``vectors`` block a schema's ``_values`` and ``_sparse_values`` fields make."""
    vectors: dict[str, Any] = {}
    dense = fields.get(DENSE_SCHEMA_FIELD)
    if isinstance(dense, Mapping):
        vectors[DENSE] = {"kind": "dense", "dtype": "float32", "dimension": dense.get("dimension"),
                          "metric": METRICS.get(str(dense.get("metric"))), "nullable": False}
    if SPARSE_SCHEMA_FIELD in fields:
        vectors[SPARSE] = {"kind": "sparse", "dtype": "float32", "dimension": None, "metric": "dot_product",
                           "nullable": DENSE in vectors}  # beside dense values a record may have none
    return vectors


def new_definition(dimension: int | None, metric: str = "cosine", *, sparse: bool = False, cloud: str = "aws",
                   region: str = "us-east-1") -> dict[str, Any]:
    """The definition of a new serverless index, as Pinecone would describe it once created."""
    fields: dict[str, Any] = {}
    if dimension is not None:
        pinecone_metric = {v: k for k, v in METRICS.items()}.get(metric)
        if pinecone_metric is None:
            raise UnsupportedDefinition(f"Pinecone has no metric {metric!r}; it has {sorted(METRICS.values())}")
        fields[DENSE_SCHEMA_FIELD] = {"type": "dense_vector", "dimension": dimension, "metric": pinecone_metric}
    if sparse:
        fields[SPARSE_SCHEMA_FIELD] = {"type": "sparse_vector"}
    return describe({"fields": fields}, {"deployment_type": "managed", "cloud": cloud, "region": region},
                    {"mode": "OnDemand"}, "disabled", None)


def portable(collection: PortableCollection, *, cloud: str, region: str) -> dict[str, Any]:
    """A serverless index holding ``collection``: one dense field ``values`` and/or a sparse ``sparse_values``.

    :raises UnsupportedDefinition: the description asks for what no Pinecone index holds.
    """
    if collection.id_type != "string":
        raise UnsupportedDefinition(f"Pinecone ids are strings, not {collection.id_type!r}")
    unknown = sorted(set(collection.vectors) - {DENSE, SPARSE})
    if unknown or not collection.vectors:
        raise UnsupportedDefinition(f"a Pinecone index has the vector fields {DENSE!r} (dense) and {SPARSE!r} "
                                    f"(sparse), not {unknown or 'none'}")
    dense, sparse = collection.vectors.get(DENSE), collection.vectors.get(SPARSE)
    for name, spec, kind in ((DENSE, dense, "dense"), (SPARSE, sparse, "sparse")):
        if spec is not None and (spec.get("kind"), spec.get("dtype")) != (kind, "float32"):
            raise UnsupportedDefinition(f"Pinecone's {name!r} field holds {kind} float32 vectors, not "
                                        f"{spec.get('kind')} {spec.get('dtype')}")
    if dense is not None and sparse is not None and dense.get("metric") != "dot_product":
        raise UnsupportedDefinition("Pinecone takes sparse values beside dense ones only in a dot-product index, "
                                    f"not a {dense.get('metric')} one")
    definition = new_definition(dense.get("dimension") if dense else None,
                                dense.get("metric") if dense else "dot_product", sparse=sparse is not None,
                                cloud=cloud, region=region)
    check_definition(definition)
    return definition


def check_definition(definition: Mapping[str, Any], name: str | None = None) -> None:
    """Refuse what a restore cannot recreate as a serverless vector index, naming the item; sends nothing."""
    what = f"collection {name!r}" if name else "this collection"

    def refuse(item: str, why: str) -> UnsupportedDefinition:
        return UnsupportedDefinition(f"Pinecone cannot recreate {what} as defined: {item} {why}; nothing was created")

    if definition.get("engine") != ENGINE:
        raise refuse("engine", f"is {definition.get('engine')!r}, a definition of another engine (this is Pinecone's "
                               f"restore; restore into the engine the snapshot was made from)")
    if definition.get("id") != ID:
        raise refuse("id", f"{definition.get('id')!r} is not Pinecone's (string ids)")
    native = definition.get("native")
    if not isinstance(native, Mapping) or not isinstance(native.get("schema"), Mapping):
        raise refuse("native", "is missing or has no schema")
    fields = native["schema"].get("fields") or {}
    others = sorted(set(fields) - {DENSE_SCHEMA_FIELD, SPARSE_SCHEMA_FIELD})
    if others or not fields:
        raise refuse("native.schema", f"declares {others or 'no field'}: a document index, which this restore does not "
                                      f"recreate (it recreates vector indexes: {DENSE_SCHEMA_FIELD!r} and/or "
                                      f"{SPARSE_SCHEMA_FIELD!r})")
    dense = fields.get(DENSE_SCHEMA_FIELD)
    if dense is not None:
        dimension, metric = dense.get("dimension"), dense.get("metric")
        if type(dimension) is not int or not 1 <= dimension <= MAX_DIMENSION:
            raise refuse("native.schema dimension", f"{dimension!r} is not from 1 to {MAX_DIMENSION}")
        if metric not in METRICS:
            raise refuse("native.schema metric", f"{metric!r} is not one of Pinecone's ({', '.join(METRICS)})")
        if SPARSE_SCHEMA_FIELD in fields and metric != "dotproduct":
            raise refuse("native.schema", f"declares sparse values beside a {metric} dense field; Pinecone takes them "
                                          f"only with metric dotproduct")
    if definition.get("vectors") != vectors_of(fields):
        raise refuse("vectors", f"{definition.get('vectors')!r} does not match the index's schema")
    deployment = native.get("deployment") or {}
    if deployment.get("deployment_type") != "managed":
        raise refuse("native.deployment", f"is a {deployment.get('deployment_type')!r} deployment; a restore creates "
                                          f"serverless (managed) indexes only: {WHY_NOT_POD}, so the restore could not "
                                          f"be verified. Set the deployment to managed with a cloud and region")
    if native.get("deletion_protection") not in ("enabled", "disabled"):
        raise refuse("native.deletion_protection", f"{native.get('deletion_protection')!r} is not enabled or disabled")


def differences(existing: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """The items in which two definitions differ, by path, for messages."""
    found = []
    for key in sorted(set(existing) | set(wanted)):
        mine, theirs = existing.get(key), wanted.get(key)
        if isinstance(mine, Mapping) and isinstance(theirs, Mapping):
            found += [f"{key}.{k}" for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k)]
        elif mine != theirs:
            found.append(key)
    return found


def _without_nones(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _without_nones(v) for k, v in value.items() if v is not None}
    return value
