"""Milvus Lite in ``tmp_path``: one ``MilvusClient`` per directory, shared by the sources a test builds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pymilvus
import pytest

from airflow_provider_vectorbackup.connection import ConnectionSettings
from airflow_provider_vectorbackup.sources.milvus.client import MilvusSource
from tests.engines.milvus import stop_lite_server


@pytest.fixture
def lite(tmp_path) -> Iterator[Any]:
    """An open ``MilvusClient`` on a fresh Milvus Lite directory."""
    path = str(tmp_path / "m.db")
    client = pymilvus.MilvusClient(path)
    yield client
    client.close()
    stop_lite_server(path)


@pytest.fixture
def milvus_source(lite, tmp_path) -> Callable[..., MilvusSource]:
    """Builds :class:`MilvusSource` s on the Lite directory, as a ``milvus`` connection with a ``path`` extra does."""

    def build(**options: Any) -> MilvusSource:
        settings = ConnectionSettings("milvus_default", conn_type="milvus", extra={"path": str(tmp_path / "m.db")})
        return MilvusSource.from_connection(settings, client=lite, **options)

    return build
