"""Reading a whole table at one point in time, in parallel primary-key ranges, with flat memory.

A dump of a table reads one consistent snapshot. The first connection opens a ``REPEATABLE READ
READ ONLY`` transaction, exports its snapshot (``pg_export_snapshot()``), counts the rows and
splits the primary key into ranges, all in that snapshot; each further stream opens its own
transaction with ``SET TRANSACTION SNAPSHOT`` on the exported one, so every stream sees exactly
the rows the count saw, whatever is written meanwhile. The exporting transaction stays open until
the last stream is done. Each stream reads its range in keyset pages (``WHERE pk > last AND pk <=
upper ORDER BY pk LIMIT n``), so memory stays at a few pages per stream, and the documents read
must equal the count taken in the same snapshot, or the scan fails.

Ranges: integer keys split ``min..max`` evenly; uuid and text keys split at quantiles
(``percentile_disc``, in the column's own collation, the order the range conditions compare in).
The first range has no lower bound and the last no upper bound, so the ranges cover every key
there can be.

Partitions for readers in other processes carry only their key range: each reads in its own
``REPEATABLE READ`` transaction, consistent within itself but not with the other partitions (an
exported snapshot lives only as long as the transaction that exported it, which a planning task
cannot keep open for its readers). One scan in one process is the consistent way.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from airflow_provider_vectorbackup.sources.base import DEFAULT_STREAMS, Partition, check_scan_settings
from airflow_provider_vectorbackup.sources.fetch_ahead import fetch_ahead
from airflow_provider_vectorbackup.sources.pgvector.catalog import is_vector, nulls_column
from airflow_provider_vectorbackup.sources.pgvector.values import ID_TYPES, NATIVE_TYPES, stored_id
from airflow_provider_vectorbackup.snapshot.codec import DEFAULT_CODEC

if TYPE_CHECKING:
    from airflow_provider_vectorbackup.sources.pgvector.client import PgvectorSource

log = logging.getLogger(__name__)

_INTEGER_KEYS = ("smallint", "integer", "bigint")


class UnreadableTable(ValueError):
    """The table cannot be dumped as a collection; the message names it and what to change."""


class ScanFailed(RuntimeError):
    """Reading a table failed part way; what was read is not a complete snapshot of it."""


@dataclass
class ScanRecord:
    """How a table was read, and the count (in the same snapshot) that proves every row was."""

    mode: str
    """``"pk-ranges"`` (parallel streams over primary-key ranges) or ``"single"`` (one stream)."""
    streams: int
    reason: str
    snapshot: str
    """How the streams share one point in time."""
    documents: int = 0
    ranges: dict[str, int] = field(default_factory=dict)
    server_count: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None and v != {}}


class TableReader:
    """The SELECT of a table's documents and the conversion of its rows to the stored form."""

    def __init__(self, schema: str, name: str, definition: dict[str, Any]) -> None:
        where = f"table {schema}.{name}"
        id_ = definition.get("id") or {}
        native = definition.get("native") or {}
        if not id_.get("field"):
            key = native.get("primary_key") or []
            raise UnreadableTable(
                f"{where} has {'a primary key of several columns ' + str(key) if key else 'no primary key'}; a "
                f"dump reads a table by a one-column primary key (smallint, integer, bigint, uuid, text or varchar). "
                f"Add one, e.g. ALTER TABLE {where[6:]} ADD COLUMN backup_id bigint GENERATED ALWAYS AS IDENTITY "
                f"PRIMARY KEY, or leave the table out of the dump")
        if id_.get("type") not in ID_TYPES.values():
            raise UnreadableTable(
                f"{where} has primary key {id_['field']!r} of type {id_.get('type')!r}; a dump reads tables whose "
                f"primary key is smallint, integer, bigint, uuid, text or varchar")
        for column in native["columns"]:
            if column["typname"] == "sparsevec" and not column["array"] and column["dimension"] is None:
                raise UnreadableTable(f"{where}: column {column['name']!r} is a sparsevec without a dimension, so "
                                      f"each vector's dimension would be lost; declare it, e.g. sparsevec(30000)")
        self.table = sql.Identifier(schema, name)
        self.key_type = id_["type"]
        self.key = sql.Identifier(id_["field"])
        columns = [c for c in native["columns"] if not c["generated"] and c["name"] != id_["field"]]
        self.names = [c["name"] for c in columns]
        self.vector = [is_vector(c) for c in columns]
        nulls = nulls_column(columns)
        self.nulls_index = columns.index(nulls) + 1 if nulls else None
        self.columns = sql.SQL(", ").join([self.key, *map(_read_expression, columns)])
        self.cast = sql.SQL(self.key_type)

    def document(self, row: tuple[Any, ...]) -> dict[str, Any]:
        vectors = {}
        payload = {}
        nulls: Any = None
        if self.nulls_index is not None:  # a NULL column is an absent field, unless the nulls column names it
            nulls = set(row[self.nulls_index] or ())
        for index, (name, vector, value) in enumerate(zip(self.names, self.vector, row[1:]), 1):
            if vector:
                if value is not None:
                    vectors[name] = value
            elif index == self.nulls_index:
                continue
            elif value is not None or nulls is None or name in nulls:
                payload[name] = value
        document: dict[str, Any] = {"_id": stored_id(row[0])}
        if vectors:
            document["$vectors"] = vectors
        document["payload"] = DEFAULT_CODEC.encode(payload)
        return document

    def pages(self, connection: psycopg.Connection, after: Any, upto: Any,
              page_size: int) -> Iterator[list[dict[str, Any]]]:
        """Keyset pages of the rows with ``after < key <= upto`` (``None``: unbounded), no empty page."""
        upper = sql.SQL(" AND {} <= %s::{}").format(self.key, self.cast) if upto is not None else sql.SQL("")
        first = sql.SQL("SELECT {} FROM {} WHERE TRUE{} ORDER BY {} LIMIT %s").format(
            self.columns, self.table, upper, self.key)
        following = sql.SQL("SELECT {} FROM {} WHERE {}{} ORDER BY {} LIMIT %s").format(
            self.columns, self.table, sql.SQL("{} > %s::{}").format(self.key, self.cast), upper, self.key)
        bound = [upto] if upto is not None else []
        last = after
        with connection.cursor(binary=True) as cursor:
            while True:
                if last is None:
                    rows = cursor.execute(first, [*bound, page_size]).fetchall()
                else:
                    rows = cursor.execute(following, [last, *bound, page_size]).fetchall()
                if not rows:
                    return
                yield [self.document(row) for row in rows]
                if len(rows) < page_size:
                    return
                last = rows[-1][0]

    def upper_bounds(self, cursor: Any, parts: int) -> list[Any]:
        """Keys splitting the table into up to ``parts`` ranges, ascending and distinct."""
        if parts < 2:
            return []
        if self.key_type in _INTEGER_KEYS:
            low, high = cursor.execute(sql.SQL("SELECT min({0}), max({0}) FROM {1}").format(
                self.key, self.table)).fetchone()
            if low is None:
                return []
            bounds = [b for b in (low - 1 + (high - low + 1) * i // parts for i in range(1, parts)) if low <= b < high]
        else:
            fractions = [i / parts for i in range(1, parts)]
            (bounds,) = cursor.execute(sql.SQL(
                "SELECT percentile_disc(%s::float8[]) WITHIN GROUP (ORDER BY {}) FROM {}").format(
                self.key, self.table), (fractions,)).fetchone()
            bounds = [b for b in bounds or [] if b is not None]
        distinct: list[Any] = []
        for bound in bounds:
            if not distinct or bound != distinct[-1]:
                distinct.append(bound)
        return distinct


def _read_expression(column: dict[str, Any]) -> sql.Composable:
    """A column as it is selected: natively, or in its text form for types without a Python value (e.g. interval)."""
    if column["typname"] in NATIVE_TYPES or is_vector(column):
        return sql.Identifier(column["name"])
    return sql.SQL("{}::text").format(sql.Identifier(column["name"]))


def key_ranges(bounds: list[Any]) -> list[tuple[Any, Any]]:
    """``(after, upto]`` ranges from ascending upper bounds; the first and last are open."""
    edges = [None, *bounds, None]
    return list(zip(edges, edges[1:]))


def range_name(after: Any, upto: Any) -> str:
    return f"({'' if after is None else after}, {'' if upto is None else upto}]"


class SnapshotScan:
    """Yields a table's pages, all read in one snapshot, on ``streams`` connections; fills :attr:`record`."""

    def __init__(self, source: PgvectorSource, name: str, definition: dict[str, Any], *,
                 streams: int = DEFAULT_STREAMS, mode: str = "auto") -> None:
        check_scan_settings(mode, streams)
        self.source = source
        self.name = name
        self.definition = definition
        self.streams = 1 if mode == "single" else streams
        self.record: ScanRecord | None = None

    def pages(self) -> Iterator[list[dict[str, Any]]]:
        where = f"table {self.source.namespace}.{self.name} of {self.source.where}"
        reader = TableReader(self.source.namespace, self.name, self.definition)
        try:
            yield from self._pages(reader)
        except psycopg.Error as exc:
            raise ScanFailed(
                f"reading {where} failed after {self.record.documents if self.record else 0} documents "
                f"({type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else 'no message'}); "
                f"what was read is not a complete copy of it: run the dump again once the server is reachable"
            ) from exc

    def _pages(self, reader: TableReader) -> Iterator[list[dict[str, Any]]]:
        with self.source.connect() as coordinator:
            coordinator.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            coordinator.read_only = True
            with coordinator.cursor(binary=True) as cursor:
                snapshot = cursor.execute("SELECT pg_export_snapshot()").fetchone()[0]
                count = cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(reader.table)).fetchone()[0]
                ranges = key_ranges(reader.upper_bounds(cursor, self.streams))
            if len(ranges) == 1:
                record = self.record = ScanRecord(
                    "single", 1, "one stream configured" if self.streams == 1 else "too few keys to split",
                    "one REPEATABLE READ transaction", server_count=count)
                for page in reader.pages(coordinator, None, None, self.source.page_size):
                    record.documents += len(page)
                    yield page
            else:
                record = self.record = ScanRecord(
                    "pk-ranges", min(self.streams, len(ranges)), f"{len(ranges)} ranges of primary key "
                    f"{self.definition['id']['field']!r}", "snapshot exported by one REPEATABLE READ transaction, "
                    "imported by every stream", ranges={range_name(*r): 0 for r in ranges}, server_count=count)
                for key_range, page in self._pages_in_snapshot(reader, snapshot, ranges):
                    record.ranges[range_name(*key_range)] += len(page)
                    record.documents += len(page)
                    yield page
            coordinator.commit()
        if record.documents != count:
            raise ScanFailed(f"table {self.source.namespace}.{self.name}: read {record.documents} documents but "
                             f"counted {count} in the same snapshot; the copy is not complete")

    def _pages_in_snapshot(self, reader: TableReader, snapshot: str,
                           ranges: list[tuple[Any, Any]]) -> Iterator[tuple[tuple[Any, Any], list[dict[str, Any]]]]:
        """Pages of every range, read by ``streams`` threads in the exported snapshot, a few pages ahead."""
        @contextlib.contextmanager
        def in_snapshot() -> Iterator[psycopg.Connection]:
            with self.source.connect() as connection:
                connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
                connection.read_only = True
                connection.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
                yield connection
                connection.rollback()

        def read(connection: psycopg.Connection, key_range: tuple[Any, Any]) -> Iterator[list[dict[str, Any]]]:
            return reader.pages(connection, *key_range, self.source.page_size)

        return fetch_ahead(ranges, read, streams=self.streams, name=f"scan-{self.name}", session=in_snapshot)


def plan_partitions(source: PgvectorSource, name: str, definition: dict[str, Any], *,
                    mode: str = "auto", parts: int = DEFAULT_STREAMS) -> list[Partition]:
    """Primary-key ranges as JSON-safe partitions (``mode="single"``: one partition, the whole table)."""
    check_scan_settings(mode)
    reader = TableReader(source.namespace, name, definition)
    with source.connect() as connection, connection.cursor(binary=True) as cursor:
        bounds = [] if mode == "single" else reader.upper_bounds(cursor, parts)
    return [Partition(range_name(after, upto), {"after": _json_key(after), "upto": _json_key(upto)})
            for after, upto in key_ranges(bounds)]


def read_partition(source: PgvectorSource, name: str, definition: dict[str, Any],
                   partition: Partition) -> Iterator[list[dict[str, Any]]]:
    """One partition's pages, read in its own REPEATABLE READ transaction."""
    reader = TableReader(source.namespace, name, definition)
    with source.connect() as connection:
        connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        connection.read_only = True
        yield from reader.pages(connection, partition.spec.get("after"), partition.spec.get("upto"),
                                source.page_size)
        connection.commit()


def _json_key(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value
