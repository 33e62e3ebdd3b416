"""Qdrant in local mode for tests: a real engine on a temporary folder, one client per folder as local mode requires."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass
class LocalQdrant:
    """A local-mode Qdrant on ``path`` and the one client that holds it (replaced by :meth:`reopen`)."""

    path: Path
    client: Any

    def settings(self, **extra: Any):
        from airflow_provider_vectorbackup.connection import ConnectionSettings

        return ConnectionSettings("qdrant_default", conn_type="qdrant", extra={"path": str(self.path), **extra})

    def source(self, **options: Any):
        """A source sharing the fixture's client, as code in the process that holds the folder must."""
        from airflow_provider_vectorbackup.sources.qdrant.client import QdrantSource

        return QdrantSource.from_connection(self.settings(), client=self.client, **options)

    def reopen(self) -> Any:
        """Close the client and open the folder again: what another process sees (the raw stored values)."""
        from qdrant_client import QdrantClient

        self.client.close()
        self.client = QdrantClient(path=str(self.path), force_disable_check_same_thread=True)
        return self.client


@pytest.fixture
def qdrant_local(tmp_path: Path) -> Iterator[LocalQdrant]:
    from qdrant_client import QdrantClient

    path = tmp_path / "qdrant"
    engine = LocalQdrant(path, QdrantClient(path=str(path), force_disable_check_same_thread=True))
    yield engine
    engine.client.close()
