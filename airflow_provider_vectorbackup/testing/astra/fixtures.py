"""pytest fixtures for the Astra stand-in, registered through the package's ``pytest11`` plugin.

``astra_stand_in`` starts a fresh server per test and yields the :class:`AstraStandIn`: a server
starts in ~30 ms and stops in ~0.2 s, cheap enough that no state, fault counter or keep-alive
connection leaks between tests. ``astra_connection`` points Airflow's ``astra_default``
connection at it through ``AIRFLOW_CONN_ASTRA_DEFAULT``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from airflow_provider_vectorbackup.testing.astra.standin import AstraStandIn

ASTRA_CONN_ID = "astra_default"


@pytest.fixture
def astra_stand_in() -> Iterator[AstraStandIn]:
    """A running stand-in with an empty ``default_keyspace``, page size 20, and no faults."""
    with AstraStandIn() as stand_in:
        yield stand_in


@pytest.fixture
def astra_connection(astra_stand_in: AstraStandIn, monkeypatch: pytest.MonkeyPatch) -> str:
    """The id of an Airflow connection (``astra_default``) to :func:`astra_stand_in`."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_ASTRA_DEFAULT",
        json.dumps({
            "conn_type": "astra_db", "host": astra_stand_in.url, "password": astra_stand_in.token,
            "extra": {"keyspace": "default_keyspace", "environment": "other"},
        }),
    )
    return ASTRA_CONN_ID
