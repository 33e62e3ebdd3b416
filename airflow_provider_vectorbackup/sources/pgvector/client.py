"""PgvectorSource: tables of a PostgreSQL schema holding pgvector columns, as collections (docs/sources.md).

A collection is a table of the connection's schema (the ``pg_schema`` extra, default ``public``;
the connection's own ``schema`` field is the database, as in Airflow's postgres provider) that
has at least one ``vector``, ``halfvec``, ``sparsevec`` or ``bit`` column. A document is a row:
the one-column primary key is ``_id``, each non-NULL vector column a ``$vectors`` field of its
name, every other column a ``payload`` field (generated columns are left out: they are computed
again). No Airflow here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from functools import cached_property
from typing import Any

import psycopg
from psycopg import sql

from airflow_provider_vectorbackup.connection import ConnectionSettings
from airflow_provider_vectorbackup.snapshot.codec import DEFAULT_CODEC
from airflow_provider_vectorbackup.snapshot.digest import canonical_json
from airflow_provider_vectorbackup.sources.portable import Capabilities, PortableCollection
from airflow_provider_vectorbackup.sources.base import (
    DEFAULT_STREAMS, CollectionDefinitionMismatch, CollectionInfo, DocumentCount, DocumentFailure, InsertReport,
    NoRetries, Partition, UnsupportedDefinition,
)
from airflow_provider_vectorbackup.sources.pgvector import catalog
from airflow_provider_vectorbackup.sources.pgvector.portable import portable_definition as table_definition
from airflow_provider_vectorbackup.sources.pgvector.scan import (
    SnapshotScan, TableReader, plan_partitions, read_partition,
)
from airflow_provider_vectorbackup.sources.pgvector.values import (
    VECTOR_TYPES, native_id, payload_parameter, prepare_connection, vector_parameter,
)

log = logging.getLogger(__name__)

SCHEMA_EXTRA = "pg_schema"
"""The connection extra naming the PostgreSQL schema whose tables are the collections."""
LIBPQ_EXTRAS = ("sslmode", "sslcert", "sslkey", "sslrootcert", "sslcrl", "sslpassword", "connect_timeout",
                "application_name", "options", "keepalives", "keepalives_idle", "keepalives_interval",
                "keepalives_count", "target_session_attrs", "gssencmode", "channel_binding")
"""Extras passed on to libpq as connection parameters, as the postgres provider passes them."""
DEFAULT_PAGE_SIZE = 500
_DISTANCE = {"cosine": "<=>", "dot_product": "<#>", "euclidean": "<->", "manhattan": "<+>", "hamming": "<~>",
             "jaccard": "<%%>"}
"""pgvector's distance operator per metric (``<%%>`` is ``<%>``, escaped for psycopg's placeholders)."""
_SESSION = ("SET TimeZone = 'UTC'", "SET DateStyle = 'ISO'", "SET IntervalStyle = 'iso_8601'",
            "SET extra_float_digits = 3", "SET bytea_output = 'hex'")
"""Fixed session settings, so the same rows always read as the same stored form (timestamps in UTC,
intervals in ISO 8601, text forms of other types at full precision)."""


_SEARCH = ("SET LOCAL enable_indexscan = off", "SET LOCAL enable_bitmapscan = off")
"""Searches for recall checks are exact (a sequential scan ordered by the metric's operator): a restore is judged on
its data and metric. An hnsw index with pgvector's defaults finds 75-80% of the exact top 10 on random 768-dimension
vectors (measured), which is the index's quality, the same before and after a restore, not something the restore
changed."""


class PgvectorConnectionError(ValueError):
    """The connection cannot reach a database as configured; the message says which field to fix."""


class PgvectorSource:
    """One PostgreSQL schema through psycopg 3: a :class:`~airflow_provider_vectorbackup.sources.base.VectorSource`.

    Build it with :meth:`from_connection`; nothing connects until first use. Each operation opens
    its own connection (a scan one per stream), so one source serves several threads.
    """

    kind = "pgvector"
    capabilities = Capabilities(
        id_types=frozenset({"int", "string", "uuid"}), int_ids=(-(2 ** 63), 2 ** 63 - 1), max_id_length=600,
        dense_fields=None, sparse_fields=16, dtypes=frozenset({"float32", "float16"}),
        metrics=frozenset({"cosine", "euclidean", "dot_product", "manhattan"}), max_dimension=16000)
    """A table (portable.py): typed columns for the payload (jsonb for JSON and the kinds PostgreSQL would change),
    one column per vector field, and a column naming each row's null fields, so a NULL column is a lacking field. A text primary key is a btree key, at most 2,704 bytes: 600 characters of up to 4
    bytes fit. PostgreSQL's text and jsonb refuse the character U+0000, which no capability states."""

    def __init__(self, settings: ConnectionSettings, *, pg_schema: str | None = None,
                 page_size: int = DEFAULT_PAGE_SIZE) -> None:
        self._settings = settings
        self.conn_id = settings.conn_id
        self.namespace = pg_schema or settings.extra.get(SCHEMA_EXTRA) or "public"
        self.page_size = page_size
        self.in_band_retries = NoRetries()

    @classmethod
    def from_connection(cls, settings: ConnectionSettings, *, pg_schema: str | None = None,
                        page_size: int = DEFAULT_PAGE_SIZE) -> PgvectorSource:
        """The source for a ``postgres`` connection; sends nothing.

        :param pg_schema: overrides the connection's ``pg_schema`` extra (default ``public``).
        :param page_size: rows per keyset page of a scan.
        """
        return cls(settings, pg_schema=pg_schema, page_size=page_size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(conn_id={self.conn_id!r}, schema={self.namespace!r})"

    # -- connection ------------------------------------------------------------------------------

    @property
    def database(self) -> str:
        return self._settings.schema or "postgres"

    @property
    def where(self) -> str:
        """``host[:port]/database``, for messages and the manifest; never the login or password."""
        settings = self._settings
        port = f":{settings.port}" if settings.port else ""
        return f"{settings.host or 'localhost'}{port}/{self.database}"

    def connect(self) -> psycopg.Connection:
        """A new connection with the session settings and value loaders every read relies on."""
        settings = self._settings
        parameters: dict[str, Any] = {"dbname": self.database}
        for key, value in (("host", settings.host), ("port", settings.port), ("user", settings.login),
                           ("password", settings.password)):
            if value:
                parameters[key] = value
        parameters.update({k: v for k, v in settings.extra.items() if k in LIBPQ_EXTRAS and v is not None})
        parameters.setdefault("application_name", "airflow-provider-vectorbackup")
        try:
            connection = psycopg.connect(autocommit=True, **parameters)
        except psycopg.OperationalError as exc:
            raise PgvectorConnectionError(
                f"cannot connect to {self.where} with connection {self.conn_id!r}: {self._safe(exc)}") from None
        try:
            for statement in _SESSION:
                connection.execute(statement)
            oids = dict(connection.execute(
                "SELECT oid, typname FROM pg_type WHERE typname = ANY(%s)", (list(VECTOR_TYPES),)).fetchall())
            prepare_connection(connection, oids)
            connection.autocommit = False
        except BaseException:
            connection.close()
            raise
        return connection

    def _safe(self, exc: BaseException) -> str:
        return self._settings.without_password(str(exc).strip().replace("\n", " "))

    @cached_property
    def _versions(self) -> tuple[str, str | None]:
        with self.connect() as connection:
            server, extension = connection.execute(
                "SELECT current_setting('server_version'), "
                "(SELECT extversion FROM pg_extension WHERE extname = 'vector')").fetchone()
        return server, extension

    def describe_source(self) -> dict[str, Any]:
        """The manifest's ``source`` block: server and pgvector versions, host and database; never a secret."""
        server, extension = self._versions
        return {"kind": self.kind, "version": f"PostgreSQL {server}, pgvector {extension or 'not installed'}",
                "where": self.where, "schema": self.namespace}

    def test_connection(self) -> tuple[bool, str]:
        try:
            server, extension = self._versions
        except Exception as exc:  # reported to the UI and CLI, never raised
            return False, self._safe(exc)
        return True, f"Connected to {self.where} (PostgreSQL {server}, pgvector {extension or 'not installed'})"

    # -- collections -----------------------------------------------------------------------------

    def list_collections(self) -> list[CollectionInfo]:
        """Every table of the schema with a vector, halfvec, sparsevec or bit column, with its definition."""
        with self.connect() as connection, connection.cursor() as cursor:
            names = catalog.table_names(cursor, self.namespace)
            return [CollectionInfo(name, catalog.read_definition(cursor, self.namespace, name)) for name in names]

    def collection_definition(self, name: str) -> dict[str, Any] | None:
        with self.connect() as connection, connection.cursor() as cursor:
            return catalog.read_definition(cursor, self.namespace, name)

    def create_collection(self, name: str, definition: dict[str, Any]) -> bool:
        """Create the table and its indexes in one transaction; False if the same table exists.

        :raises UnsupportedDefinition: a type, collation or index method missing here, or a definition
            of another engine; checked before anything is created.
        :raises CollectionDefinitionMismatch: a table of that name exists with another definition.
        """
        with self.connect() as connection, connection.cursor() as cursor:
            refused = catalog.unsupported(cursor, definition)
            if refused:
                raise UnsupportedDefinition(f"table {name!r} cannot be created in schema {self.namespace!r} of "
                                            f"{self.where}: " + "; ".join(refused) + "; nothing was created")
            existing = catalog.read_definition(cursor, self.namespace, name)
            if existing is not None:
                if existing == definition:
                    return False
                differing = sorted(k for k in set(existing["native"]) | set(definition["native"])
                                   if existing["native"].get(k) != definition["native"].get(k))
                raise CollectionDefinitionMismatch(
                    f"table {name!r} already exists in schema {self.namespace!r} of {self.where} with a different "
                    f"definition (differs in: {', '.join(differing) or 'id or vectors'}); restore under another "
                    f"name or drop it first")
            try:
                catalog.create_table(cursor, self.namespace, name, definition)
            except psycopg.Error as exc:
                connection.rollback()
                raise UnsupportedDefinition(
                    f"table {name!r} in schema {self.namespace!r} of {self.where} could not be created as defined "
                    f"({type(exc).__name__}: {self._safe(exc)}); nothing was created") from exc
            connection.commit()
        log.info("Created table %r in schema %r of %s", name, self.namespace, self.where)
        return True

    def portable_definition(self, portable: PortableCollection) -> dict[str, Any]:
        """A table holding a collection from another engine exactly (portable.py); sends nothing."""
        return table_definition(portable)

    def restore_tolerance(self, definition: dict[str, Any]) -> int:
        """PostgreSQL stores every value exactly as sent: vectors as binary parameters in their wire form, every other
        value through psycopg's adaptation, cast to its column's type (values.py)."""
        return 0

    def unsupported(self, definition: dict[str, Any]) -> list[str]:
        """What in ``definition`` this database cannot recreate: another engine's definition, a column type
        (or collation, or index method) missing here, a primary key writing cannot rely on."""
        with self.connect() as connection, connection.cursor() as cursor:
            return catalog.unsupported(cursor, definition)

    def drop_collection(self, name: str) -> None:
        with self.connect() as connection:
            connection.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(self.namespace, name)))
            connection.commit()

    def count_documents(self, name: str) -> DocumentCount:
        with self.connect() as connection:
            (count,) = connection.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(self.namespace, name))).fetchone()
        return DocumentCount(count, True)

    def estimated_document_count(self, name: str) -> int:
        """The planner's row estimate (``reltuples``; 0 for a table never analyzed)."""
        with self.connect() as connection:
            row = connection.execute(
                "SELECT c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relname = %s", (self.namespace, name)).fetchone()
        return max(int(row[0]), 0) if row else 0

    # -- reading ---------------------------------------------------------------------------------

    def scan(self, name: str, definition: dict[str, Any], *, streams: int = DEFAULT_STREAMS,
             mode: str = "auto") -> SnapshotScan:
        """The whole table in one snapshot, by primary-key ranges on ``streams`` connections (scan.py)."""
        return SnapshotScan(self, name, definition, streams=streams, mode=mode)

    def partitions(self, name: str, definition: dict[str, Any], *, mode: str = "auto") -> list[Partition]:
        """Primary-key ranges; each is read in its own snapshot (see scan.py: not one point in time)."""
        return plan_partitions(self, name, definition, mode=mode)

    def read_partition(self, name: str, partition: Partition) -> Iterator[list[dict[str, Any]]]:
        definition = self._definition(name)
        return read_partition(self, name, definition, partition)

    def find_by_ids(self, name: str, ids: list[Any]) -> list[dict[str, Any]]:
        """The stored documents of these ``_id`` s (those that exist)."""
        if not ids:
            return []
        definition = self._definition(name)
        with self.connect() as connection:
            found = self._read_ids(connection, name, definition, ids)
            connection.rollback()
        return found

    def _read_ids(self, connection: psycopg.Connection, name: str, definition: dict[str, Any],
                  ids: list[Any]) -> list[dict[str, Any]]:
        reader = TableReader(self.namespace, name, definition)
        query = sql.SQL("SELECT {} FROM {} WHERE {} = ANY(%s::{}[])").format(
            reader.columns, reader.table, reader.key, reader.cast)
        with connection.cursor(binary=True) as cursor:
            rows = cursor.execute(query, ([native_id(i) for i in ids],)).fetchall()
        return [reader.document(row) for row in rows]

    def vector_search(self, name: str, vector: Any, *, limit: int = 10, field: str | None = None) -> list[Any]:
        """Ids of the ``limit`` rows nearest to ``vector`` in column ``field``, by the metric of its index.

        :raises ValueError: ``field`` is not a vector column, or has no metric (no hnsw/ivfflat index).
        """
        definition = self._definition(name)
        spec = (definition.get("vectors") or {}).get(field or "")
        if spec is None:
            raise ValueError(f"table {name!r} has no vector column {field!r}; its vector columns are "
                             f"{sorted(definition.get('vectors') or {})}")
        if spec["metric"] is None:
            raise ValueError(f"column {field!r} of table {name!r} has no hnsw or ivfflat index, so no metric "
                             f"to search by")
        column = self._column(definition, field)
        reader = TableReader(self.namespace, name, definition)
        query = sql.SQL("SELECT {key} FROM {table} WHERE {column} IS NOT NULL "
                        "ORDER BY {column} {operator} %b::{type} LIMIT %s").format(
            key=reader.key, table=reader.table, column=sql.Identifier(field), operator=sql.SQL(_DISTANCE[spec["metric"]]),
            type=sql.SQL(column["type"]))
        query_vector = vector_parameter(vector, column["typname"], column["dimension"])
        with self.connect() as connection:
            for setting in _SEARCH:
                connection.execute(setting)
            rows = connection.execute(query, (query_vector, limit)).fetchall()
            connection.rollback()
        return [DEFAULT_CODEC.encode(row[0]) for row in rows]

    # -- writing ---------------------------------------------------------------------------------

    def insert_documents(self, name: str, documents: Iterable[dict[str, Any]], *, chunk_size: int = 20,
                         concurrency: int = 16) -> InsertReport:
        """Insert stored-form documents, ``chunk_size`` rows per pipelined ``executemany``; re-running is safe.

        ``INSERT ... ON CONFLICT (pk) DO NOTHING RETURNING pk``: a row not inserted because its key
        exists counts as present when the stored row reads back as the same document (canonical
        JSON), and as a failure otherwise. A chunk the server refuses (a CHECK, a type) is written
        again row by row, so the failures name their rows. One connection: pipelining keeps the
        server busy without more (``concurrency`` is not used).

        Into an empty table (a fresh restore), everything is one transaction that drops the table's
        plain indexes first and builds them again from their own definitions after the last row:
        building an hnsw index once is several times faster than growing it row by row. A crash
        leaves the table empty with its indexes, and writing again takes the same path.
        """
        definition = self._definition(name)
        writer = _RowWriter(self.namespace, name, definition)
        report = InsertReport()
        with self.connect() as connection:
            deferred = writer.drop_indexes_if_empty(connection)
            chunk: list[dict[str, Any]] = []
            for document in documents:
                chunk.append(document)
                if len(chunk) >= chunk_size:
                    report.merge(self._insert_chunk(connection, name, definition, writer, chunk))
                    chunk = []
            if chunk:
                report.merge(self._insert_chunk(connection, name, definition, writer, chunk))
            for statement in deferred:
                connection.execute(statement)
            connection.commit()
            writer.advance_sequences(connection)
        return report

    def _insert_chunk(self, connection: psycopg.Connection, name: str, definition: dict[str, Any], writer: _RowWriter,
                      chunk: list[dict[str, Any]]) -> InsertReport:
        """One chunk in its own transaction (a savepoint inside the load of an empty table)."""
        report = InsertReport()
        rows = []
        for document in chunk:
            try:
                rows.append((document, writer.row(document)))
            except (ValueError, TypeError, KeyError) as exc:
                report.failures.append(DocumentFailure(document.get("_id"), "INVALID_DOCUMENT", str(exc)))
        try:
            with connection.transaction():
                inserted = writer.insert(connection, [row for _, row in rows])
        except (psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError,
                psycopg.errors.ProgramLimitExceeded):  # a row too large for a limit, e.g. a key for its btree
            inserted = set()
            written = []
            for document, row in rows:
                try:
                    with connection.transaction():
                        inserted |= writer.insert(connection, [row])
                except psycopg.Error as exc:
                    code = exc.sqlstate or type(exc).__name__
                    report.failures.append(DocumentFailure(document["_id"], code, self._safe(exc)))
                else:
                    written.append((document, row))
            rows = written
        report.inserted += len(inserted)
        present = [d for d, row in rows if row[writer.key_index] not in inserted]
        if present:  # read on this connection: the load of an empty table holds it locked, and sees its own rows
            with connection.transaction():
                found = self._read_ids(connection, name, definition, [d["_id"] for d in present])
            stored = {canonical_json({"_id": d["_id"]}): canonical_json(d) for d in found}
            for document in present:
                if stored.get(canonical_json({"_id": document["_id"]})) == canonical_json(document):
                    report.already_present += 1
                else:
                    report.failures.append(DocumentFailure(
                        document["_id"], "DIFFERENT_DOCUMENT_EXISTS",
                        f"table {name!r} already holds another row with this primary key"))
        return report

    # -- helpers ---------------------------------------------------------------------------------

    def _definition(self, name: str) -> dict[str, Any]:
        definition = self.collection_definition(name)
        if definition is None:
            raise LookupError(f"table {name!r} does not exist in schema {self.namespace!r} of {self.where}")
        return definition

    @staticmethod
    def _column(definition: Mapping[str, Any], name: str) -> dict[str, Any]:
        return next(c for c in definition["native"]["columns"] if c["name"] == name)


_PLAIN_INDEXES = """
SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
WHERE i.indrelid = %s::regclass AND NOT i.indisunique
  AND NOT EXISTS (SELECT FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid)
ORDER BY i.indexrelid
"""
"""The indexes a load may build after its rows: neither unique nor behind a constraint; by name and CREATE statement."""


class _RowWriter:
    """The INSERT of one table's stored-form documents, every parameter cast to its column's type."""

    def __init__(self, schema: str, name: str, definition: dict[str, Any]) -> None:
        self.table = sql.Identifier(schema, name)
        self.name = name
        self.key = definition["id"]["field"]
        columns = [c for c in definition["native"]["columns"] if not c["generated"]]
        self.columns = columns
        self.key_index = next(i for i, c in enumerate(columns) if c["name"] == self.key)
        self.payload_names = {c["name"] for c in columns if c["name"] != self.key and not catalog.is_vector(c)}
        self.sequenced = [c["name"] for c in columns if c["serial"] or c["identity"]]
        self.nulls = catalog.nulls_column(columns)
        if self.nulls:
            self.payload_names.discard(self.nulls["name"])
        self.statement = sql.SQL("INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE VALUES ({}) "
                                 "ON CONFLICT ({}) DO NOTHING RETURNING {}").format(
            self.table, sql.SQL(", ").join(sql.Identifier(c["name"]) for c in columns),
            sql.SQL(", ").join(sql.SQL("%b::{}" if catalog.is_vector(c) else "%s::{}").format(sql.SQL(c["type"]))
                               for c in columns),
            sql.Identifier(self.key), sql.Identifier(self.key))

    def row(self, document: dict[str, Any]) -> tuple[Any, ...]:
        stored = document.get("payload") or {}
        payload = DEFAULT_CODEC.decode(stored)
        vectors = document.get("$vectors") or {}
        unknown = (set(payload) - self.payload_names) | (set(vectors) - {c["name"] for c in self.columns
                                                                         if catalog.is_vector(c)})
        if unknown:
            raise ValueError(f"fields {sorted(unknown)} are not columns of table {self.name!r}")
        values = []
        nulls = sorted(name for name, value in payload.items() if value is None) if self.nulls else None
        for column in self.columns:
            if column is self.nulls:
                values.append(nulls or None)
            elif column["name"] == self.key:
                values.append(native_id(document["_id"]))
            elif catalog.is_vector(column):
                value = vectors.get(column["name"])
                values.append(None if value is None else vector_parameter(value, column["typname"], column["dimension"]))
            else:
                value = (stored if column["typname"] in ("json", "jsonb") else payload).get(column["name"])
                values.append(payload_parameter(value, column["typname"], column["array"]))
        return tuple(values)

    def insert(self, connection: psycopg.Connection, rows: list[tuple[Any, ...]]) -> set[Any]:
        """Insert ``rows``; the keys of those inserted (not those whose key existed), as ``row[key_index]`` holds them."""
        inserted = set()
        with connection.cursor() as cursor:
            cursor.executemany(self.statement, rows, returning=True)
            while True:
                for (key,) in cursor.fetchall():
                    inserted.add(key)
                if not cursor.nextset():
                    break
        return inserted

    def drop_indexes_if_empty(self, connection: psycopg.Connection) -> list[sql.Composable]:
        """On an empty table: lock it, drop its plain indexes in an open transaction, and return what recreates them.

        Only non-unique indexes that back no constraint go (hnsw, ivfflat, btree ...): the primary key,
        UNIQUE and EXCLUDE stay, so the rows are checked as they arrive. On a table with rows nothing
        changes and the transaction is closed.
        """
        connection.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(self.table))
        if connection.execute(sql.SQL("SELECT EXISTS (SELECT FROM {})").format(self.table)).fetchone()[0]:
            connection.rollback()
            return []
        indexes = connection.execute(_PLAIN_INDEXES, (self.table.as_string(connection),)).fetchall()
        for index, _ in indexes:
            connection.execute(sql.SQL("DROP INDEX {}").format(sql.SQL(index)))
        return [sql.SQL(definition) for _, definition in indexes]

    def advance_sequences(self, connection: psycopg.Connection) -> None:
        """Move serial and identity sequences past the largest value written, so new rows get new keys."""
        for column in self.sequenced:
            connection.execute(sql.SQL(
                "SELECT setval(pg_get_serial_sequence(%s, %s), max({0})) FROM {1} HAVING max({0}) IS NOT NULL").format(
                sql.Identifier(column), self.table), (self.table.as_string(connection), column))
        connection.commit()
