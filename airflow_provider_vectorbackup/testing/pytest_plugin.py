"""pytest plugin (``pytest11`` entry point ``vectorbackup``): fixtures that start the local stand-ins.

Installing the package loads this module into every pytest session on the machine, whether the
session uses the stand-ins or not, so it imports nothing but pytest: each fixture imports its
stand-in (and with it starlette, uvicorn and the SDKs) when a test first requests it. Without the
``testing`` extra a fixture fails with the command that installs it. See docs/testing.md.

``astra_stand_in`` starts a fresh server per test: one starts in ~30 ms and stops in ~0.2 s, cheap
enough that no state, fault counter or keep-alive connection leaks between tests. One Box stand-in
serves the whole session (starting uvicorn twice per test would dominate small tests) and
``box_stand_in`` resets it before every test. ``pinecone_stand_in`` starts fresh per test, as Astra's
does: each index it creates gets a server of its own, all stopped with it. The Weaviate stand-in (REST
and gRPC) is shared as Box's is: ``weaviate_stand_in`` empties it before every test.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from box_sdk_gen import BoxClient

    from airflow_provider_vectorbackup.testing.astra.standin import AstraStandIn
    from airflow_provider_vectorbackup.testing.box.standin import BoxStandIn
    from airflow_provider_vectorbackup.testing.pinecone.standin import PineconeStandIn
    from airflow_provider_vectorbackup.testing.weaviate.standin import WeaviateStandIn

ASTRA_CONN_ID = "astra_default"
BOX_CONN_ID = "box_default"
PINECONE_CONN_ID = "pinecone_default"

# The top-level modules of the packages in the `testing` extra (pyproject.toml).
_TESTING_EXTRA_MODULES = frozenset({"starlette", "uvicorn", "python_multipart", "jwt"})
# The Weaviate stand-in speaks the client's own protobuf messages, so it needs the weaviate extra too.
_WEAVIATE_EXTRA_MODULES = frozenset({"weaviate", "grpc"})


def _stand_in_class(module: str, name: str) -> Any:
    """Import a stand-in on first use; a missing web stack is reported as the extra to install."""
    try:
        return getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        if missing in _WEAVIATE_EXTRA_MODULES:
            pytest.fail(f"The Weaviate stand-in needs {missing}, which comes with the weaviate extra: "
                        f'pip install "airflow-provider-vectorbackup[weaviate,testing]"', pytrace=False)
        if missing not in _TESTING_EXTRA_MODULES:
            raise
        pytest.fail(f"The vectorbackup stand-in fixtures need {missing}, which comes with the testing extra: "
                    f'pip install "airflow-provider-vectorbackup[testing]"', pytrace=False)


@pytest.fixture
def astra_stand_in() -> Iterator[AstraStandIn]:
    """A running Astra stand-in with an empty ``default_keyspace``, page size 20, and no faults."""
    with _stand_in_class("airflow_provider_vectorbackup.testing.astra.standin", "AstraStandIn")() as stand_in:
        yield stand_in


@pytest.fixture
def astra_connection(astra_stand_in: AstraStandIn, monkeypatch: pytest.MonkeyPatch) -> str:
    """The id of an Airflow connection (``astra_default``) to :func:`astra_stand_in`."""
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{ASTRA_CONN_ID.upper()}",
        json.dumps({
            "conn_type": "astra_db", "host": astra_stand_in.url, "password": astra_stand_in.token,
            "extra": {"keyspace": "default_keyspace", "environment": "other"},
        }),
    )
    return ASTRA_CONN_ID


@pytest.fixture
def pinecone_stand_in() -> Iterator[PineconeStandIn]:
    """A running Pinecone stand-in: an empty project; every index created gets its own data-plane server."""
    with _stand_in_class("airflow_provider_vectorbackup.testing.pinecone.standin", "PineconeStandIn")() as stand_in:
        yield stand_in


@pytest.fixture
def pinecone_connection(pinecone_stand_in: PineconeStandIn, monkeypatch: pytest.MonkeyPatch) -> str:
    """The id of an Airflow connection (``pinecone_default``, type ``pinecone``) to :func:`pinecone_stand_in`."""
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{PINECONE_CONN_ID.upper()}",
        json.dumps({"conn_type": "pinecone", "password": pinecone_stand_in.api_key,
                    "extra": {"control_plane_url": pinecone_stand_in.url}}),
    )
    return PINECONE_CONN_ID


@pytest.fixture(scope="session")
def box_stand_in_session() -> Iterator[BoxStandIn]:
    """The session's running Box stand-in, not reset between tests; prefer ``box_stand_in``."""
    with _stand_in_class("airflow_provider_vectorbackup.testing.box.standin", "BoxStandIn")() as stand_in:
        yield stand_in


@pytest.fixture
def box_stand_in(box_stand_in_session: BoxStandIn) -> BoxStandIn:
    """A running Box stand-in, reset to an empty account with real-Box defaults."""
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


@pytest.fixture(scope="session")
def weaviate_stand_in_session() -> Iterator[WeaviateStandIn]:
    """The session's running Weaviate stand-in (REST and gRPC), not reset between tests; prefer ``weaviate_stand_in``."""
    with _stand_in_class("airflow_provider_vectorbackup.testing.weaviate.standin", "WeaviateStandIn")() as stand_in:
        yield stand_in


@pytest.fixture
def weaviate_stand_in(weaviate_stand_in_session: WeaviateStandIn) -> WeaviateStandIn:
    """A running Weaviate stand-in with no collections; its API key is ``weaviate_stand_in.api_key``."""
    weaviate_stand_in_session.reset()
    return weaviate_stand_in_session
