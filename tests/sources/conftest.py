"""Sources built straight from connection settings, with no Airflow connection lookup."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_vectorbackup.connection import ConnectionSettings


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
