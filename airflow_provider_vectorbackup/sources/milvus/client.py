"""MilvusSource: a Milvus server or a Milvus Lite directory as a :class:`~airflow_provider_vectorbackup.sources.base.VectorSource`.

Everything goes through pymilvus's ``MilvusClient``. Reads page by primary key with escaped
literals (scan.py); writes check which ids exist first and only insert, because Milvus
replaces a row whose primary key is inserted again and a restore must never overwrite a
different row. The connection (docs/sources.md, "Milvus"): type ``milvus``; ``host`` is the
server's URI (``http://host:19530``, or a bare host with ``port``) or the ``path`` extra names
a Milvus Lite directory; ``password`` holds the token (or, with ``login``, the user's password);
``schema`` or the ``db_name`` extra names the database (``default``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pymilvus

from airflow_provider_vectorbackup.connection import ConnectionSettings
from airflow_provider_vectorbackup.snapshot.digest import canonical_json
from airflow_provider_vectorbackup.snapshot.provenance import endpoint_origin
from airflow_provider_vectorbackup.sources.portable import Capabilities, PortableCollection
from airflow_provider_vectorbackup.sources.base import (
    DEFAULT_STREAMS, CollectionDefinitionMismatch, CollectionInfo, DocumentCount, DocumentFailure, InsertReport,
    NoRetries, Partition, UnsupportedDefinition,
)
from airflow_provider_vectorbackup.sources.milvus import scan as scanning
from airflow_provider_vectorbackup.sources.milvus.portable import portable_definition as collection_for
from airflow_provider_vectorbackup.sources.milvus.schema import (
    build_index_params, build_schema, definition_from_description, generated_fields, scalar_fields,
    unsupported_items, vector_fields_of,
)
from airflow_provider_vectorbackup.sources.milvus.values import (
    DEFAULT_PARTITION, PARTITION_KEY, VectorValueMismatch, row_to_stored, stored_to_row, vector_from_stored,
)

log = logging.getLogger(__name__)

DEFAULT_PORT = 19530
DEFAULT_DATABASE = "default"
PAGE_SIZE = 1000
"""Rows per query while scanning: ``query_iterator``'s default batch."""
TIMEOUT = 60.0
"""Seconds one request may take, retries included: pymilvus otherwise retries an unreachable server for minutes."""
_IDS_PER_LOOKUP = 200


class MilvusConnectionError(ValueError):
    """The connection cannot describe a Milvus server or Lite directory; the message says which field to fix."""


class MilvusRequestFailed(RuntimeError):
    """A request to Milvus failed (after pymilvus's own retries); the message names the collection and the request."""


class MilvusSource:
    """One Milvus database: build it with :meth:`from_connection`; nothing is opened until first use."""

    kind = "milvus"
    capabilities = Capabilities(
        id_types=frozenset({"int", "string"}), int_ids=(-(2 ** 63), 2 ** 63 - 1), max_id_length=16383,
        dense_fields=4, sparse_fields=1, max_dimension=32768, name_pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
    """Milvus Lite: float32 dense and sparse fields (four vector fields at most, a server's limit); the payload in the
    dynamic field (portable.py). A server counts a VARCHAR key's 65,535 in UTF-8 bytes: 16,383 characters of up to 4
    bytes fit. Not stated by any capability: a sparse field is indexed by dot_product only, a sparse vector must
    have a non-zero element, and every document needs every vector (Lite reads a null vector back as zeros)."""

    def __init__(self, settings: ConnectionSettings, *, client: Any = None, page_size: int | None = None,
                 timeout: float | None = None) -> None:
        self._settings = settings
        self.conn_id = settings.conn_id
        self._client = client
        self._client_lock = threading.Lock()
        self._loaded: set[str] = set()
        extra = settings.extra
        self.page_size = int(page_size or extra.get("page_size") or PAGE_SIZE)
        self.timeout = float(timeout or extra.get("timeout") or TIMEOUT)
        if self.page_size < 1:
            raise MilvusConnectionError(f"connection {self.conn_id!r}: page_size must be at least 1")
        self.in_band_retries = NoRetries()

    @classmethod
    def from_connection(cls, settings: ConnectionSettings, *, client: Any = None, page_size: int | None = None,
                        timeout: float | None = None) -> MilvusSource:
        """The source for a ``milvus`` connection; lazy.

        :param client: an open ``MilvusClient`` to use instead of making one (one client per Lite path is safest).
        :param page_size: rows per query while scanning (the ``page_size`` extra; default 1,000).
        :param timeout: seconds per request, retries included (the ``timeout`` extra; default 60).
        """
        return cls(settings, client=client, page_size=page_size, timeout=timeout)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(conn_id={self.conn_id!r})"

    # -- connection ------------------------------------------------------------------------------

    @property
    def lite_path(self) -> str | None:
        """The Milvus Lite directory of the ``path`` extra, or ``None`` for a server."""
        path = self._settings.extra.get("path")
        return str(path) if path else None

    @property
    def uri(self) -> str:
        """The server's URI, without credentials."""
        host = (self._settings.host or "").strip().rstrip("/")
        if not host:
            raise MilvusConnectionError(f"connection {self.conn_id!r} has neither a host (the server's URI, e.g. "
                                        f"http://localhost:19530) nor a 'path' extra (a Milvus Lite directory)")
        if "://" not in host:
            host = f"http://{host}"
        parts = urlsplit(host)
        if parts.username or parts.password:
            raise MilvusConnectionError(f"connection {self.conn_id!r}: put the credentials in login and password, "
                                        f"not in the host")
        if parts.port is None:
            host = f"{host}:{self._settings.port or DEFAULT_PORT}"
        return host

    @property
    def where(self) -> str:
        return self.lite_path or endpoint_origin(self.uri)

    @property
    def namespace(self) -> str:
        return self._settings.schema or self._settings.extra.get("db_name") or DEFAULT_DATABASE

    @property
    def client(self) -> Any:
        """The ``MilvusClient``, made on first use."""
        with self._client_lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _connect(self) -> Any:
        settings = self._settings
        token = f"{settings.login}:{settings.password}" if settings.login else (settings.password or "")
        target = self.lite_path or self.uri
        try:
            return pymilvus.MilvusClient(target, token=token, db_name=self.namespace, timeout=self.timeout)
        except Exception as exc:
            raise MilvusRequestFailed(f"connection {self.conn_id!r}: cannot reach Milvus at {self.where} "
                                      f"(database {self.namespace!r}): {_reason(exc)}") from None

    @property
    def lite(self) -> bool:
        """A Milvus Lite target (a ``path``, or a server that says it is Lite)."""
        return bool(self.lite_path) or str(self._server_version() or "").startswith("milvus_lite")

    def _server_version(self) -> str | None:
        try:
            return str(self.client.get_server_version(timeout=self.timeout))
        except Exception as exc:  # descriptive only
            log.debug("No server version from %s (%s)", self.where, type(exc).__name__)
            return None

    def describe_source(self) -> dict[str, Any]:
        """The manifest's ``source`` block: where, which database, which versions; never the token."""

        return {"kind": self.kind, "where": self.where, "database": self.namespace,
                "version": self._server_version(), "client": f"pymilvus {pymilvus.__version__}"}

    # -- low level -------------------------------------------------------------------------------

    def _call(self, what: str, collection: str | None, method: str, *args: Any, **kwargs: Any) -> Any:
        """One ``MilvusClient`` call, bounded by :attr:`timeout`; a failure names the collection and the request."""
        try:
            return getattr(self.client, method)(*args, timeout=self.timeout, **kwargs)
        except MilvusRequestFailed:
            raise
        except Exception as exc:
            subject = f"collection {collection!r}" if collection else f"database {self.namespace!r}"
            raise MilvusRequestFailed(f"connection {self.conn_id!r}: {what} on {subject} at {self.where} failed: "
                                      f"{_reason(exc)}; check that Milvus is up and run it again") from None

    def _ensure_loaded(self, name: str) -> None:
        """Queries need the collection loaded; after a restart (Lite included) it is released."""
        if name in self._loaded:
            return
        state = self._call("get_load_state", name, "get_load_state", name)
        if getattr(state.get("state"), "name", str(state.get("state"))) != "Loaded":
            self._call("load_collection", name, "load_collection", name)
        self._loaded.add(name)

    def query(self, collection: str, filter: str, *, ordered: bool = False, limit: int | None = None,
              partition: str | None = None, output_fields: list[str] | None = None) -> list[dict[str, Any]]:
        """Rows matching ``filter``; ``ordered`` asks for primary-key order as ``query_iterator`` does."""
        self._ensure_loaded(collection)
        options: dict[str, Any] = {}
        if ordered:
            options.update(iterator="True", reduce_stop_for_best="True")
        if limit is not None:
            options["limit"] = limit
        return list(self._call("query", collection, "query", collection, filter=filter,
                               output_fields=output_fields or ["*"],
                               partition_names=[partition] if partition else None, **options))

    # -- definitions -----------------------------------------------------------------------------

    def list_collections(self) -> list[CollectionInfo]:
        names = sorted(self._call("list_collections", None, "list_collections"))
        found = []
        for name in names:
            definition = self.collection_definition(name)
            if definition is not None:  # dropped since it was listed
                found.append(CollectionInfo(name, definition))
        return found

    def collection_definition(self, name: str) -> dict[str, Any] | None:
        if not self._call("has_collection", name, "has_collection", name):
            return None
        description = self._call("describe_collection", name, "describe_collection", name)
        partitions = self._call("list_partitions", name, "list_partitions", name)
        indexes = [self._call("describe_index", name, "describe_index", name, index_name)
                   for index_name in self._call("list_indexes", name, "list_indexes", name)]
        return definition_from_description(description, partitions, indexes)

    def _definition(self, name: str) -> dict[str, Any]:
        definition = self.collection_definition(name)
        if definition is None:
            raise MilvusRequestFailed(f"collection {name!r} does not exist in database {self.namespace!r} at "
                                      f"{self.where}")
        return definition

    def unsupported(self, definition: dict[str, Any]) -> list[str]:
        """What this target cannot recreate (a Lite target holds fewer field types); asks at most the server's version."""
        return unsupported_items(definition, lite=self.lite)

    def portable_definition(self, portable: PortableCollection) -> dict[str, Any]:
        """A collection holding one from another engine exactly (portable.py); sends nothing."""
        return collection_for(portable)

    def restore_tolerance(self, definition: dict[str, Any]) -> int:
        """0: Milvus stores float32 vectors and FLOAT scalars as given, so a restore compares digests exactly
        (tests/sources/milvus/test_fidelity.py); values already float32 in the snapshot stay so."""
        return 0

    def create_collection(self, name: str, definition: dict[str, Any]) -> bool:
        """Create it with its fields, functions, indexes, properties and partitions; False if it exists identically.

        :raises UnsupportedDefinition: before anything is created, for what this target cannot hold.
        :raises CollectionDefinitionMismatch: it exists with another definition; it is left as it is.
        """
        problems = self.unsupported(definition)
        if problems:
            raise UnsupportedDefinition(f"collection {name!r}: {'; '.join(problems)}")
        existing = self.collection_definition(name)
        if existing is not None:
            if existing == definition:
                return False
            raise CollectionDefinitionMismatch(f"collection {name!r} already exists in database "
                                               f"{self.namespace!r} with another definition; it was left as it is")
        native = definition["native"]
        schema = build_schema(self.client, definition)
        options: dict[str, Any] = {"properties": dict(native.get("properties") or {})}
        for key in ("consistency_level", "num_shards", "num_partitions"):
            if native.get(key) is not None:
                options[key] = native[key]
        try:
            self.client.create_collection(name, schema=schema, index_params=build_index_params(self.client, definition),
                                          timeout=self.timeout, **options)
        except Exception as exc:
            self._drop_quietly(name)
            raise UnsupportedDefinition(f"collection {name!r}: Milvus refused to create it as defined: "
                                        f"{_reason(exc)}") from None
        for partition in native.get("partitions") or []:
            if partition != DEFAULT_PARTITION:
                self._call("create_partition", name, "create_partition", name, partition)
        return True

    def _drop_quietly(self, name: str) -> None:
        try:
            if self.client.has_collection(name, timeout=self.timeout):
                self.client.drop_collection(name, timeout=self.timeout)
        except Exception as exc:  # the refusal being raised matters more
            log.warning("Could not drop half-created collection %r: %s", name, _reason(exc))

    def drop_collection(self, name: str) -> None:
        self._loaded.discard(name)
        if self._call("has_collection", name, "has_collection", name):
            self._call("drop_collection", name, "drop_collection", name)

    # -- counting and reading --------------------------------------------------------------------

    def count_documents(self, name: str) -> DocumentCount:
        rows = self.query(name, "", output_fields=["count(*)"])
        return DocumentCount(int(rows[0]["count(*)"]), True)

    def estimated_document_count(self, name: str) -> int:
        return int(self._call("get_collection_stats", name, "get_collection_stats", name)["row_count"])

    def scan(self, name: str, definition: dict[str, Any], *, streams: int = DEFAULT_STREAMS,
             mode: str = "auto") -> scanning.MilvusScan:
        return scanning.MilvusScan(self, name, definition, streams=streams, mode=mode)

    def partitions(self, name: str, definition: dict[str, Any], *, mode: str = "auto") -> list[Partition]:
        return scanning.plan_partitions(self, name, definition, streams=DEFAULT_STREAMS, mode=mode)

    def read_partition(self, name: str, partition: Partition) -> Iterator[list[dict[str, Any]]]:
        return scanning.read_partition(self, name, self._definition(name), partition)

    def find_by_ids(self, name: str, ids: list[Any]) -> list[dict[str, Any]]:
        return list(self._find(name, self._definition(name), ids).values())

    def _find(self, name: str, definition: dict[str, Any], ids: list[Any]) -> dict[str, dict[str, Any]]:
        """Stored forms of the rows with these ids, by :func:`_key`; per recorded partition, to know each row's."""
        pk = definition["id"]["field"]
        vectors = vector_fields_of(definition)
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), _IDS_PER_LOOKUP):
            chunk = ids[start:start + _IDS_PER_LOOKUP]
            expression = f"{pk} in [{', '.join(scanning.literal(i) for i in chunk)}]"
            for partition in scanning.scanned_partitions(definition):
                for row in self.query(name, expression, partition=partition):
                    document = row_to_stored(row, pk=pk, vector_fields=vectors, partition=partition)
                    found[_key(document["_id"])] = document
        return found

    # -- writing ---------------------------------------------------------------------------------

    def insert_documents(self, name: str, documents: Iterable[dict[str, Any]], *, chunk_size: int = 20,
                         concurrency: int = 16) -> InsertReport:
        """Insert what is not there; a row already there identically is ``already_present``, a different one a failure.

        Milvus would replace a row whose key is inserted again, so each chunk's ids are looked up
        first and only the missing rows are inserted (one writer at a time: ``concurrency`` is not used).
        """
        definition = self._definition(name)
        report = InsertReport()
        chunk: list[dict[str, Any]] = []
        for document in documents:
            chunk.append(document)
            if len(chunk) >= chunk_size:
                report.merge(self._insert_chunk(name, definition, chunk))
                chunk = []
        if chunk:
            report.merge(self._insert_chunk(name, definition, chunk))
        return report

    def _insert_chunk(self, name: str, definition: dict[str, Any], documents: list[dict[str, Any]]) -> InsertReport:
        report = InsertReport()
        pk = definition["id"]["field"]
        vectors = vector_fields_of(definition)
        generated = generated_fields(definition)
        scalars = scalar_fields(definition)
        existing = self._find(name, definition, [d["_id"] for d in documents])
        by_partition: dict[str | None, list[tuple[Any, dict[str, Any]]]] = {}
        for document in documents:
            there = existing.get(_key(document["_id"]))
            if there is not None:
                if canonical_json(there) == canonical_json(document):
                    report.already_present += 1
                else:
                    report.failures.append(DocumentFailure(
                        document["_id"], "DIFFERENT_DOCUMENT_EXISTS",
                        "a different row with this primary key exists; it was left unchanged"))
                continue
            try:
                row = stored_to_row(document, pk=pk, vector_fields=vectors, generated=generated,
                                    scalar_fields=scalars)
            except (VectorValueMismatch, ValueError, KeyError) as exc:
                report.failures.append(DocumentFailure(document.get("_id"), "INVALID_DOCUMENT", str(exc)))
                continue
            by_partition.setdefault(document.get(PARTITION_KEY), []).append((document["_id"], row))
        for partition, rows in by_partition.items():
            try:
                self._call("insert", name, "insert", name, [row for _, row in rows],
                           partition_name=partition or "")
            except MilvusRequestFailed as exc:
                report.failures.extend(DocumentFailure(id_, "INSERT_FAILED", str(exc)) for id_, _ in rows)
                continue
            report.inserted += len(rows)
        return report

    # -- searching -------------------------------------------------------------------------------

    def vector_search(self, name: str, vector: Any, *, limit: int = 10, field: str | None = None) -> list[Any]:
        """Ids of the nearest rows by the field's index metric; ``field`` may be left out when there is one vector field."""
        definition = self._definition(name)
        vectors = vector_fields_of(definition)
        if field is None:
            if len(vectors) != 1:
                raise ValueError(f"collection {name!r} has vector fields {sorted(vectors)}: name the one to search")
            field = next(iter(vectors))
        if field not in vectors:
            raise ValueError(f"collection {name!r} has no vector field {field!r}; it has {sorted(vectors)}")
        data = vector_from_stored(field, vectors[field][0], vector)
        metric = next((i["metric_type"] for i in definition["native"]["indexes"] if i["field_name"] == field), None)
        self._ensure_loaded(name)
        pk = definition["id"]["field"]
        hits = self._call("search", name, "search", name, data=[data], anns_field=field, limit=limit,
                          search_params={"metric_type": metric} if metric else {}, output_fields=[pk])
        return [hit[pk] for hit in hits[0]]  # a hit is keyed by the primary key's own name


def _key(id_: Any) -> str:
    """An id as a dict key that keeps 1 and "1" apart."""
    return f"{type(id_).__name__}:{id_}"


def _reason(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return f"{type(exc).__name__}: {message}"
