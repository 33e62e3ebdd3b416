"""What a manifest records about where a snapshot came from: software, source and embedding model.

Only descriptive facts go in. Endpoints are reduced to scheme, host and port, so a URL that
carries credentials or a token in its query can never leak into a manifest.
"""

from __future__ import annotations

import platform
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit

_RECORDED_DISTRIBUTIONS = ("airflow-provider-vectorbackup", "astrapy", "apache-airflow", "boxsdk")


def software_versions() -> dict[str, str]:
    """Versions of this package and the libraries that shaped the snapshot (read without importing them)."""
    versions = {"python": platform.python_version()}
    for name in _RECORDED_DISTRIBUTIONS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def describe_source(kind: str, endpoint: str | None = None, keyspace: str | None = None, **facts: Any) -> dict[str, Any]:
    """The manifest's ``source`` object. ``facts`` must be descriptive (e.g. ``database="prod"``), never secrets."""
    source: dict[str, Any] = {"kind": kind}
    if endpoint:
        source["endpoint"] = endpoint_origin(endpoint)
    if keyspace:
        source["keyspace"] = keyspace
    source.update(facts)
    return source


def endpoint_origin(endpoint: str) -> str:
    """``scheme://host[:port]`` of an endpoint, dropping user info, path, query and fragment."""
    parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def embedding_metadata(definition: dict[str, Any]) -> dict[str, Any]:
    """The embedding model a collection's vectors came from, as far as its definition says."""
    vector = (definition or {}).get("vector") or {}
    service = vector.get("service") or {}
    found = {
        "dimension": vector.get("dimension"),
        "metric": vector.get("metric"),
        "source_model": vector.get("sourceModel"),
        "provider": service.get("provider"),
        "model_name": service.get("modelName"),
    }
    return {key: value for key, value in found.items() if value is not None}
