"""The control plane's indexes as API version 2026-07 describes them: ``schema`` fields, ``deployment``, status.

Only vector indexes are served: a schema whose fields are exactly ``_values`` (a ``dense_vector``)
and/or ``_sparse_values`` (a ``sparse_vector``), which is what ``create(dimension=..., metric=...)``
sends and what the vectors API (upsert, fetch, list, query) reads. Document indexes (fields of
your own names) are refused with a message that says this stand-in has none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_vectorbackup.testing.pinecone.errors import PineconeError, bad_request
from airflow_provider_vectorbackup.testing.pinecone.records import (
    DEFAULT_NAMESPACE, MAX_DIMENSION, METRICS, Namespace,
)

DENSE_FIELD = "_values"
SPARSE_FIELD = "_sparse_values"
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,43}[a-z0-9])?$")
_DELETION_PROTECTION = ("enabled", "disabled")
_POD_KEYS = {"environment", "pod_type", "replicas", "shards"}


@dataclass
class Index:
    name: str
    schema: dict[str, Any]
    deployment: dict[str, Any]
    deletion_protection: str
    tags: dict[str, str] | None
    read_capacity: dict[str, Any] | None
    host: str = ""
    namespaces: dict[str, Namespace] = field(default_factory=lambda: {DEFAULT_NAMESPACE: Namespace()})

    @property
    def dimension(self) -> int | None:
        dense = self.schema["fields"].get(DENSE_FIELD)
        return dense["dimension"] if dense else None

    @property
    def metric(self) -> str:
        dense = self.schema["fields"].get(DENSE_FIELD)
        return dense["metric"] if dense else "dotproduct"

    @property
    def vector_type(self) -> str:
        return "dense" if DENSE_FIELD in self.schema["fields"] else "sparse"

    @property
    def sparse_allowed(self) -> bool:
        return SPARSE_FIELD in self.schema["fields"]

    @property
    def serverless(self) -> bool:
        return self.deployment["deployment_type"] == "managed"

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name, "host": self.host, "status": {"ready": True, "state": "Ready"},
            "schema": self.schema, "deployment": self.deployment, "deletion_protection": self.deletion_protection,
            "tags": self.tags,
        }
        if self.read_capacity is not None:
            body["read_capacity"] = {**self.read_capacity, "status": {"state": "Ready"}}
        return body


def new_index(body: Any) -> Index:
    """An index from a create request, refused as the real control plane refuses it."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object")
    name = body.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise bad_request(f"Index name {name!r} is invalid: it must be 1-45 characters of lowercase letters, digits "
                          f"and hyphens, starting and ending with a letter or digit")
    schema = _schema(body.get("schema"))
    deployment = _deployment(body.get("deployment"))
    protection = body.get("deletion_protection", "disabled")
    if protection not in _DELETION_PROTECTION:
        raise bad_request(f"deletion_protection must be one of {list(_DELETION_PROTECTION)}, got {protection!r}")
    tags = body.get("tags") or None
    if tags is not None and (not isinstance(tags, dict) or any(type(v) is not str for v in tags.values())):
        raise bad_request("tags must be an object of string values")
    read_capacity = body.get("read_capacity")
    if deployment["deployment_type"] == "pod":
        if read_capacity is not None:
            raise bad_request("read_capacity is not supported for pod-based indexes")
    else:
        read_capacity = read_capacity or {"mode": "OnDemand"}
        if read_capacity.get("mode") not in ("OnDemand", "Dedicated"):
            raise bad_request(f"read_capacity.mode must be OnDemand or Dedicated, got {read_capacity.get('mode')!r}")
    return Index(name, schema, deployment, protection, tags, read_capacity)


def _schema(schema: Any) -> dict[str, Any]:
    fields = schema.get("fields") if isinstance(schema, dict) else None
    if not isinstance(fields, dict) or not fields:
        raise bad_request("schema.fields must declare at least one searched field")
    others = sorted(set(fields) - {DENSE_FIELD, SPARSE_FIELD})
    if others:
        raise PineconeError(400, f"schema fields {others} make a document index, which this stand-in does not serve; "
                                 f"it serves vector indexes ({DENSE_FIELD!r} and/or {SPARSE_FIELD!r})")
    kept: dict[str, Any] = {}
    dense = fields.get(DENSE_FIELD)
    if dense is not None:
        dimension, metric = dense.get("dimension"), dense.get("metric", "cosine")
        if dense.get("type") != "dense_vector":
            raise bad_request(f"field {DENSE_FIELD!r} must have type dense_vector")
        if type(dimension) is not int or not 1 <= dimension <= MAX_DIMENSION:
            raise bad_request(f"dimension must be an integer from 1 to {MAX_DIMENSION}, got {dimension!r}")
        if metric not in METRICS:
            raise bad_request(f"metric must be one of {list(METRICS)}, got {metric!r}")
        kept[DENSE_FIELD] = {"type": "dense_vector", "dimension": dimension, "metric": metric}
    sparse = fields.get(SPARSE_FIELD)
    if sparse is not None:
        if sparse.get("type") != "sparse_vector":
            raise bad_request(f"field {SPARSE_FIELD!r} must have type sparse_vector")
        if dense is not None and kept[DENSE_FIELD]["metric"] != "dotproduct":
            raise bad_request("Sparse values are supported only for indexes with metric dotproduct: the dense field "
                              f"of an index declaring {SPARSE_FIELD!r} must use metric dotproduct")
        kept[SPARSE_FIELD] = {"type": "sparse_vector"}
    return {"fields": kept}


def _deployment(deployment: Any) -> dict[str, Any]:
    deployment = deployment or {"deployment_type": "managed", "cloud": "aws", "region": "us-east-1"}
    kind = deployment.get("deployment_type") if isinstance(deployment, dict) else None
    if kind == "managed":
        cloud, region = deployment.get("cloud"), deployment.get("region")
        if cloud not in ("aws", "gcp", "azure") or not isinstance(region, str) or not region:
            raise bad_request("a managed deployment needs cloud (aws, gcp or azure) and region")
        return {"deployment_type": "managed", "cloud": cloud, "region": region, "environment": f"{region}-{cloud}"}
    if kind == "pod":
        missing = sorted(_POD_KEYS - set(deployment))
        if missing:
            raise bad_request(f"a pod deployment needs {', '.join(missing)}")
        return {"deployment_type": "pod", **{k: deployment[k] for k in sorted(_POD_KEYS)}}
    raise bad_request(f"deployment.deployment_type must be managed or pod here, got {kind!r}")
