"""Milvus Lite servers: one process per directory, stopped when its test is done rather than at interpreter exit.

Milvus Lite keeps a server process per directory until the interpreter exits, then logs its
shutdown into streams pytest has already closed. Stopping each test's server when the test ends
keeps the suite to one Lite process at a time, and its output clean.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


def stop_lite_server(path: str) -> None:
    """Stop the Milvus Lite server of ``path`` (after its clients are closed)."""
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_server(path)


@pytest.fixture(scope="session", autouse=True)
def _stop_milvus_lite_servers_before_exit() -> Iterator[None]:
    """Whatever a test left running is stopped while pytest's logging still works."""
    yield
    import sys

    if "milvus_lite.server_manager" in sys.modules:
        sys.modules["milvus_lite.server_manager"].server_manager_instance.release_all()
