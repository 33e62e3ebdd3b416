"""A real Chroma database in a temporary folder, for the tests (no server: Chroma's embedded PersistentClient)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from airflow_provider_vectorbackup.connection import ConnectionSettings
from airflow_provider_vectorbackup.sources.chroma.client import ChromaSource


@contextmanager
def persistent_client(path: Path) -> Iterator[object]:
    """One PersistentClient on ``path``, closed afterwards so the process holds no handle on the folder."""
    import chromadb
    from chromadb.config import Settings

    client = chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False))
    try:
        yield client
    finally:
        client.close()


def settings_for(path: Path, **extra: object) -> ConnectionSettings:
    return ConnectionSettings("chroma_default", conn_type="chroma", extra={"path": str(path), **extra})


def source_on(client: object, path: Path, **options: object) -> ChromaSource:
    """The source as its hook builds it, sharing the test's client (one PersistentClient per folder per process)."""
    return ChromaSource.from_connection(settings_for(path), client=client, **options)
