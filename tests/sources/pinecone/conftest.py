"""Fixtures for the Pinecone source's tests: the stand-in, driven by the real ``pinecone`` client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_vectorbackup.sources.pinecone.client import PineconeSource
from airflow_provider_vectorbackup.testing.pinecone import PineconeStandIn
from tests.sources.pinecone.standin import pinecone_source


@pytest.fixture
def pinecone(pinecone_stand_in: PineconeStandIn) -> Iterator[PineconeSource]:
    """A PineconeSource on an empty stand-in project, with list pages of 7 ids so a few dozen records span several."""
    source = pinecone_source(pinecone_stand_in, page_size=7)
    yield source
    source.close()
