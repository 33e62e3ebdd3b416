"""Sources built straight from connection settings, with no Airflow connection lookup."""

from __future__ import annotations

from collections.abc import Callable

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
