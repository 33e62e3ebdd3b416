"""Sources built straight from connection settings, with no Airflow connection lookup."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_vectorbackup.connection import ConnectionSettings
from airflow_provider_vectorbackup.sources.astra.client import AstraSource
from airflow_provider_vectorbackup.sources.astra.retry import RetryPolicy


@pytest.fixture
def astra_source(astra_stand_in) -> Callable[..., AstraSource]:
    """Builds :class:`AstraSource` s on the stand-in's ``default_keyspace``, as the hook builds them from a connection."""

    def build(*, retry_policy: RetryPolicy | None = None) -> AstraSource:
        settings = ConnectionSettings("astra_default", conn_type="astra_db", host=astra_stand_in.url,
                                      password=astra_stand_in.token,
                                      extra={"keyspace": "default_keyspace", "environment": "other"})
        return AstraSource.from_connection(settings, retry_policy=retry_policy)

    return build


def weaviate_settings(stand_in) -> ConnectionSettings:
    """A ``weaviate`` connection to the stand-in: HTTP host and port, the API key as password, the gRPC port extra."""
    return ConnectionSettings("weaviate_default", conn_type="weaviate", host=stand_in.host, port=stand_in.http_port,
                              password=stand_in.api_key, extra={"grpc_port": stand_in.grpc_port})


@pytest.fixture
def weaviate_source(weaviate_stand_in) -> Iterator[Callable[..., Any]]:
    """Builds WeaviateSources on the (emptied) stand-in, as the hook builds them from a connection; closed after."""
    from airflow_provider_vectorbackup.sources.weaviate.client import WeaviateSource

    made: list[WeaviateSource] = []

    def build(**options: Any) -> WeaviateSource:
        made.append(WeaviateSource.from_connection(weaviate_settings(weaviate_stand_in), **options))
        return made[-1]

    yield build
    for source in made:
        source.close()
