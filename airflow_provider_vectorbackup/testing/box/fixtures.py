"""pytest fixtures for the Box stand-in (loaded by the ``vectorbackup`` pytest11 plugin).

One stand-in serves the whole test session (starting uvicorn twice per test would dominate
small tests); ``box_stand_in`` resets it before every test, so each test sees an empty
account, default settings, fresh counters and no faults.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from airflow_provider_vectorbackup.testing.box.standin import BoxStandIn

if TYPE_CHECKING:
    from box_sdk_gen import BoxClient

BOX_CONN_ID = "box_default"


@pytest.fixture(scope="session")
def box_stand_in_session() -> Iterator[BoxStandIn]:
    """The session's running :class:`BoxStandIn`, not reset between tests; prefer ``box_stand_in``."""
    with BoxStandIn() as stand_in:
        yield stand_in


@pytest.fixture
def box_stand_in(box_stand_in_session: BoxStandIn) -> BoxStandIn:
    """A running :class:`BoxStandIn`, reset to an empty account with real-Box defaults."""
    box_stand_in_session.reset()
    return box_stand_in_session


@pytest.fixture
def box_connection(box_stand_in: BoxStandIn, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point Airflow connection ``box_default`` at the stand-in (CCG credentials); returns the conn id.

    Throttling is off (``max_uploads_per_minute`` and ``max_requests_per_minute`` are 0): the
    stand-in has no rate limits, and Box's defaults would only slow tests down.
    """
    connection = {
        "conn_type": "box", "login": box_stand_in.client_id, "password": box_stand_in.client_secret,
        "extra": {"enterprise_id": box_stand_in.enterprise_id, "base_url": box_stand_in.url,
                  "upload_url": box_stand_in.upload_url, "oauth2_url": box_stand_in.oauth2_url,
                  "max_uploads_per_minute": 0, "max_requests_per_minute": 0},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{BOX_CONN_ID.upper()}", json.dumps(connection))
    return BOX_CONN_ID


@pytest.fixture
def box_client(box_stand_in: BoxStandIn) -> BoxClient:
    """A real ``box_sdk_gen.BoxClient`` (CCG, enterprise subject) talking to ``box_stand_in``."""
    return box_stand_in.ccg_client()
