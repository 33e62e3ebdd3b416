"""A Qdrant definition for a portable collection (a restore from another engine): vectors only, Qdrant being schemaless.

The field :data:`~.definition.UNNAMED` becomes the unnamed vector when it is the only dense or
multivector field; any other name becomes a named vector; sparse fields are sparse vectors.
The payload schema is not used: a Qdrant payload holds whatever each point brings.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from qdrant_client.http import models

from airflow_provider_vectorbackup.snapshot import vector_fields as vf
from airflow_provider_vectorbackup.sources.portable import PortableCollection
from airflow_provider_vectorbackup.sources.qdrant.definition import ENGINE, ID_TYPE, METRICS, UNNAMED, dump

_DISTANCES = {metric: distance for distance, metric in METRICS.items()}
_MULTI_DISTANCES = {f"max_sim_{metric}": distance for metric, distance in _DISTANCES.items() if metric != "manhattan"}
_ID_TYPES = {"int": ID_TYPE, "uuid": ID_TYPE}
"""Portable id types a Qdrant collection has: both are its point ids."""


def portable_definition(portable: PortableCollection, *, local: bool) -> dict[str, Any]:
    """The definition a Qdrant collection made for ``portable`` has; pure.

    Its ``native`` block holds the vector params and, for local mode (``local``), the HNSW,
    optimizer and WAL settings local mode answers whatever it was given, so the created collection
    reads back equal to it. A server fills in settings of its own (shards, replication, its
    defaults): there the created collection equals it only in what every Qdrant keeps
    (``definition.recreated_parts``, what ``create_collection`` compares). A sparse field
    is recorded without a dimension and measured by dot product, as Qdrant describes every sparse
    vector. What Qdrant cannot hold (string ids, a bit field, a dtype other than float32, a metric
    it lacks, the unnamed vector beside other dense fields) is left out of ``native``, so
    ``QdrantSource.unsupported`` names it.
    """
    dense: dict[str, Any] = {}
    sparse: dict[str, Any] = {}
    vectors: dict[str, Any] = {}
    for field, spec in portable.vectors.items():
        kind, metric = spec.get("kind"), spec.get("metric")
        entry = {"kind": kind, "dtype": spec.get("dtype"), "dimension": spec.get("dimension"), "metric": metric}
        if kind == vf.SPARSE:
            entry.update(dimension=None, metric="dot_product")
            if field != UNNAMED and metric in (None, "dot_product"):
                sparse[field] = {}
        elif kind == vf.DENSE:
            dense[field] = {"size": spec.get("dimension"), "distance": _DISTANCES.get(metric)}
        elif kind == vf.MULTI:
            dense[field] = {"size": spec.get("dimension"), "distance": _MULTI_DISTANCES.get(metric),
                            "multivector_config": {"comparator": "max_sim"}}
        vectors[field] = entry
    if UNNAMED in dense:
        params_vectors = dense[UNNAMED] if len(dense) == 1 else {k: v for k, v in dense.items() if k != UNNAMED}
    else:
        params_vectors = dense
    params: dict[str, Any] = {"vectors": params_vectors}
    if sparse:
        params["sparse_vectors"] = sparse
    config = {"params": params, **(local_mode_settings() if local else {})}
    return {"engine": ENGINE, "id": {"type": _ID_TYPES.get(portable.id_type, portable.id_type), "field": None},
            "vectors": vectors, "native": {"config": config, "payload_schema": {}, "aliases": []}}


def local_mode_settings() -> dict[str, Any]:
    """The HNSW, optimizer and WAL settings local mode describes every collection with, whatever it was given."""
    return copy.deepcopy(_local_mode_settings())


@functools.cache
def _local_mode_settings() -> dict[str, Any]:
    from qdrant_client.local.local_collection import LocalCollection  # in memory: nothing is opened or written

    described = dump(LocalCollection(models.CreateCollection(vectors={})).info().config)
    return {key: described[key] for key in ("hnsw_config", "optimizer_config", "wal_config")}
