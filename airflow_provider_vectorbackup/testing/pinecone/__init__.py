"""A wire-faithful local stand-in for Pinecone (API version 2026-07): control plane and per-index data planes.

Start it in-process with :class:`PineconeStandIn`, from the command line with
``python -m airflow_provider_vectorbackup.testing.pinecone --port N``, or through the
``pinecone_stand_in`` pytest fixture (:mod:`airflow_provider_vectorbackup.testing.pytest_plugin`).
"""

from __future__ import annotations

from airflow_provider_vectorbackup.testing.pinecone.standin import DEFAULT_API_KEY, PineconeStandIn

__all__ = ["DEFAULT_API_KEY", "PineconeStandIn"]
