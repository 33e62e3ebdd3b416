"""A wire-faithful local stand-in for Weaviate: its REST schema and tenants API and its gRPC data API.

The real ``weaviate-client`` (v4) talks to it over real sockets: REST for the schema and tenants,
gRPC (the client's own generated ``weaviate.v1`` messages) for search, batch writes, tenants and
counts. Start it with :class:`WeaviateStandIn` or the ``weaviate_stand_in`` pytest fixture
(:mod:`airflow_provider_vectorbackup.testing.pytest_plugin`). What it serves, and what it does
not, is in docs/testing.md.
"""

from __future__ import annotations

from airflow_provider_vectorbackup.testing.weaviate.standin import DEFAULT_API_KEY, WeaviateStandIn

__all__ = ["DEFAULT_API_KEY", "WeaviateStandIn"]
