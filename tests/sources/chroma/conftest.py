"""Fixtures for the Chroma source's tests: a real PersistentClient in a temporary folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_vectorbackup.sources.chroma.client import ChromaSource
from tests.sources.chroma.engine import persistent_client, source_on


@pytest.fixture
def chroma_path(tmp_path: Path) -> Path:
    return tmp_path / "chroma"


@pytest.fixture
def chroma_client(chroma_path: Path) -> Iterator[object]:
    with persistent_client(chroma_path) as client:
        yield client


@pytest.fixture
def chroma(chroma_client: object, chroma_path: Path) -> ChromaSource:
    """A ChromaSource on the fixture's database, with small pages so a few hundred records span several."""
    return source_on(chroma_client, chroma_path, page_size=50)
