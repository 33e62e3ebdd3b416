"""Shared set-up for the Astra conformance suite: real astrapy clients aimed at the stand-in."""

from __future__ import annotations

import pytest
from astrapy import Collection, DataAPIClient, Database

from airflow_provider_vectorbackup.testing.astra import AstraStandIn


@pytest.fixture
def db(astra_stand_in: AstraStandIn) -> Database:
    """An astrapy Database on the ``/v1`` path form (a non-Astra environment)."""
    client = DataAPIClient(environment="other")
    return client.get_database(astra_stand_in.url, token=astra_stand_in.token, keyspace="default_keyspace")


@pytest.fixture
def vectors(db: Database) -> Collection:
    """A 3-dimension cosine collection."""
    return db.create_collection("vectors", definition={"vector": {"dimension": 3, "metric": "cosine"}})


@pytest.fixture
def plain_coll(db: Database) -> Collection:
    """A collection without vectors."""
    return db.create_collection("plain")
