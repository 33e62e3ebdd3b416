"""A :class:`PineconeSource` on a running Pinecone stand-in, built from connection settings as the hook builds it."""

from __future__ import annotations

from airflow_provider_vectorbackup.connection import ConnectionSettings
from airflow_provider_vectorbackup.sources.pinecone.client import PineconeSource
from airflow_provider_vectorbackup.testing.pinecone import PineconeStandIn


def pinecone_source(stand_in: PineconeStandIn, **extra: object) -> PineconeSource:
    settings = ConnectionSettings("pinecone_default", conn_type="pinecone", password=stand_in.api_key,
                                  extra={"control_plane_url": stand_in.url, **extra})
    return PineconeSource.from_connection(settings)
