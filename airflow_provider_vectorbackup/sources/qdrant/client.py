"""QdrantSource: dump, restore and validate Qdrant collections (a server, or local mode on a path), without Airflow.

Connections are of the official provider's ``qdrant`` type (apache-airflow-providers-qdrant's
``QdrantHook``): ``host``/``port`` or the ``url`` extra, the API key in ``password``, and the
extras ``grpc_port``, ``prefer_grpc`` (the provider spells it ``prefer_gprc``; both are read),
``https``, ``prefix`` and ``timeout``. Two extras of ours reach local mode: ``path`` (a folder
of ``QdrantClient(path=...)``) and ``location`` (``":memory:"``). Local mode locks its folder:
one client, in one process, at a time; code that already holds that client passes it in
(``from_connection(settings, client=...)``). See docs/sources.md, "Qdrant".
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from importlib import metadata
from typing import Any

from qdrant_client import QdrantClient
from qdrant_client.http import models
from qdrant_client.http.exceptions import UnexpectedResponse

from airflow_provider_vectorbackup.connection import ConnectionSettings
from airflow_provider_vectorbackup.snapshot.provenance import endpoint_origin
from airflow_provider_vectorbackup.sources.portable import Capabilities, PortableCollection
from airflow_provider_vectorbackup.sources.base import (
    DEFAULT_STREAMS, CollectionDefinitionMismatch, CollectionInfo, DocumentCount, DocumentFailure, InsertReport,
    NoRetries, Partition, UnsupportedDefinition, check_scan_settings,
)
from airflow_provider_vectorbackup.sources.qdrant import definition as qdef
from airflow_provider_vectorbackup.sources.qdrant import portable as qportable
from airflow_provider_vectorbackup.sources.qdrant.cosine import drift_ulps
from airflow_provider_vectorbackup.sources.qdrant.stored import (
    UnwritableDocument, point_id, query_value, same_but_cosine_drift, stored_id, to_document, to_point,
)

log = logging.getLogger(__name__)

PAGE_SIZE = 256
"""Points per ``scroll`` page: a few hundred vectors keep memory flat and round trips few."""
ID_PAGE_SIZE = 10_000
"""Points per page of the ids-only pass that plans partitions."""
DEFAULT_PARTITION_SIZE = 100_000
"""Points per partition handed to other tasks."""


class QdrantConnectionError(ValueError):
    """The connection cannot describe a Qdrant to reach; the message says which field to set."""


class QdrantReadError(RuntimeError):
    """Reading a collection failed part way; the message names the collection and where it stopped."""


@dataclass
class ScanRecord:
    """How a collection was read: one ordered ``scroll`` from the first id to the last."""

    mode: str
    streams: int
    reason: str
    documents: int = 0
    partition: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


class QdrantSource:
    """One Qdrant (server or local mode) through qdrant-client: a :class:`~airflow_provider_vectorbackup.sources.base.VectorSource`.

    Built by :meth:`from_connection`, lazily: the client is made on first use.
    """

    kind = "qdrant"
    capabilities = Capabilities(
        mixed_ids=True, id_types=frozenset({"int", "uuid"}), int_ids=(0, 2 ** 64 - 1), dense_fields=None, sparse_fields=16,
        multi=True, metrics=frozenset({"cosine", "euclidean", "dot_product", "manhattan", "max_sim_cosine",
                                       "max_sim_dot_product", "max_sim_euclidean"}),
        normalizes=frozenset({"cosine", "max_sim_cosine"}), max_dimension=65536, name_pattern=r"^(<unnamed>|[A-Za-z0-9_][A-Za-z0-9_.-]{0,199})$",
        int_range=(-(2 ** 63), 2 ** 64 - 1), payload_kinds=frozenset({"string", "int", "float", "bool", "json"}),
        envelopes=False)
    """Named dense, sparse and multivector fields (names of at most 200 bytes); payload is any JSON. Not envelopes:
    points are written with the payload decoded (so a Qdrant dump restores as it was), and qdrant-client turns a
    datetime, date, time, decimal or UUID into a string and refuses bytes that are not UTF-8, so those kinds travel
    as strings, originals kept aside."""

    def __init__(self, settings: ConnectionSettings, *, client: QdrantClient | None = None,
                 partition_size: int = DEFAULT_PARTITION_SIZE) -> None:
        self._settings = settings
        self.conn_id = settings.conn_id
        self._client = client
        self._owns_client = client is None
        self._client_lock = threading.Lock()
        self.partition_size = partition_size
        self.in_band_retries = NoRetries()
        self.local = bool(self._extra("path") or self._extra("location"))
        # local mode is not thread-safe: its calls are serialised; a server takes them concurrently
        self._calls = threading.RLock() if self.local else contextlib.nullcontext()

    @classmethod
    def from_connection(cls, settings: ConnectionSettings, *, client: QdrantClient | None = None,
                        partition_size: int = DEFAULT_PARTITION_SIZE) -> QdrantSource:
        """The source for a ``qdrant`` connection; sends nothing and opens nothing.

        :param client: a client already open on the connection's Qdrant (local mode allows one per
            path, so a process that holds it shares it); made from the connection when omitted,
            and then closed by :meth:`close`.
        :param partition_size: points per partition of :meth:`partitions`.
        """
        return cls(settings, client=client, partition_size=partition_size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(conn_id={self.conn_id!r}, where={self.where!r})"

    # -- connection ------------------------------------------------------------------------------

    def _extra(self, key: str) -> Any:
        return (self._settings.extra or {}).get(key)

    @property
    def where(self) -> str:
        """The local path, or the server's ``scheme://host:port``: never a secret."""
        if self._extra("path"):
            return f"local path {self._extra('path')}"
        if self._extra("location"):
            return f"local {self._extra('location')}"
        url = self._extra("url")
        if url:
            return endpoint_origin(url)
        host = self._settings.host
        if not host:
            return "(no host)"
        scheme = "https" if self._settings.flag("https") else "http"
        return endpoint_origin(f"{scheme}://{host}:{self._settings.port or 6333}")

    @property
    def namespace(self) -> str:
        return self.where

    def _client_arguments(self) -> dict[str, Any]:
        path, location = self._extra("path"), self._extra("location")
        if path:
            return {"path": str(path), "force_disable_check_same_thread": True}
        if location:
            if location != ":memory:":
                raise QdrantConnectionError(f"connection {self.conn_id!r}: the 'location' extra can only be "
                                            f"':memory:'; use the 'path' extra for a local folder or 'url' for a server")
            return {"location": location, "force_disable_check_same_thread": True}
        settings = self._settings
        if not (self._extra("url") or settings.host):
            raise QdrantConnectionError(
                f"connection {self.conn_id!r} has no host, 'url' extra or 'path' extra: set host (and port) or "
                f"url for a server, or the 'path' extra for local mode")
        arguments: dict[str, Any] = {"api_key": settings.password or None}
        if self._extra("url"):
            arguments["url"] = self._extra("url")
        else:
            arguments.update(host=settings.host, port=settings.port or 6333)
        prefer = "prefer_grpc" if self._extra("prefer_grpc") is not None else "prefer_gprc"
        flags = {key: settings.flag(name) for key, name in (("prefer_grpc", prefer), ("https", "https"))
                 if self._extra(name) is not None}
        for key, value in (("grpc_port", self._extra("grpc_port")), ("prefer_grpc", flags.get("prefer_grpc")),
                           ("https", flags.get("https")), ("prefix", self._extra("prefix")),
                           ("timeout", self._extra("timeout"))):
            if value not in (None, ""):
                arguments[key] = int(value) if key in ("grpc_port", "timeout") else value
        return arguments

    @property
    def client(self) -> QdrantClient:
        """The qdrant-client, made on first use (or the one passed to :meth:`from_connection`)."""
        with self._client_lock:
            if self._client is None:
                try:
                    self._client = QdrantClient(**self._client_arguments())
                except (RuntimeError, OSError) as exc:
                    raise QdrantConnectionError(
                        f"connection {self.conn_id!r}: cannot open Qdrant at {self.where}: {self._safe(exc)}. A local "
                        f"path is locked by the one client that has it open: stop the other process, or pass that "
                        f"client in (from_connection(settings, client=...))") from None
            return self._client

    def close(self) -> None:
        """Close the client this source made (one it was given stays open for its owner)."""
        with self._client_lock:
            if self._client is not None and self._owns_client:
                self._client.close()
                self._client = None

    def _safe(self, exc: BaseException) -> str:
        """An error message with the API key blanked out."""
        return self._settings.without_password(f"{type(exc).__name__}: {exc}")

    def describe_source(self) -> dict[str, Any]:
        """The manifest's ``source`` block: kind, versions and where; never the API key."""
        client_version = metadata.version("qdrant-client")
        if self.local:
            version = f"qdrant-client {client_version}, local mode"
        else:
            try:
                with self._calls:
                    version = f"Qdrant server {self.client.info().version} (qdrant-client {client_version})"
            except Exception as exc:  # the manifest still says where it came from; the scan reports the failure
                version = f"Qdrant server, version unknown ({type(exc).__name__}) (qdrant-client {client_version})"
        return {"kind": self.kind, "version": version, "where": self.where}

    def test_connection(self) -> tuple[bool, str]:
        try:
            with self._calls:
                names = self.client.get_collections().collections
        except Exception as exc:  # reported to the UI and CLI, never raised
            return False, self._safe(exc)
        return True, f"Connected to Qdrant at {self.where}: {len(names)} collection(s)"

    # -- collections -----------------------------------------------------------------------------

    def _names(self) -> list[str]:
        with self._calls:
            return sorted(c.name for c in self.client.get_collections().collections)

    def list_collections(self) -> list[CollectionInfo]:
        return [CollectionInfo(name, self._describe(name)) for name in self._names()]

    def collection_definition(self, name: str) -> dict[str, Any] | None:
        """The definition (definition.py), or ``None``: an alias is not a collection."""
        return self._describe(name) if name in self._names() else None

    def _describe(self, name: str) -> dict[str, Any]:
        with self._calls:
            info = self.client.get_collection(name)
            aliases = [a.alias_name for a in self.client.get_collection_aliases(name).aliases]
        return qdef.describe(info, aliases)

    def _slots(self, name: str, definition: dict[str, Any] | None = None) -> list[qdef.VectorSlot]:
        described = definition if definition and definition.get("engine") == qdef.ENGINE else self._describe(name)
        return qdef.slots(described["native"])

    def restore_tolerance(self, definition: dict[str, Any]) -> int:
        """The float32 ulps Qdrant may move a Cosine vector element by (the most over the Cosine fields); 0 without one.

        Qdrant renormalises Cosine vectors as it stores and searches them, so the canonical vectors
        a restore writes (``cosine.py``) read back a little off in a local-mode writing process:
        1 ulp, 2 after searches, for 64+ dimensions (over 3,000 768-dimension vectors, qdrant-client
        1.20.0), allowed 4; further for fewer dimensions, allowed 32 (``cosine.drift_ulps``,
        docs/sources.md "Qdrant"). Everything else Qdrant keeps exactly.
        """
        fields = (definition.get("vectors") or {}).values()
        return max((drift_ulps(spec.get("dimension")) for spec in fields
                    if spec.get("metric") in ("cosine", "max_sim_cosine")), default=0)

    def portable_definition(self, portable: PortableCollection) -> dict[str, Any]:
        """The definition of a collection for ``portable`` (see ``portable.py``); sends nothing."""
        return qportable.portable_definition(portable, local=self.local)

    def unsupported(self, definition: dict[str, Any]) -> list[str]:
        """What in ``definition`` Qdrant cannot create (another engine's, a distance it lacks, ...); sends nothing."""
        return qdef.problems(definition)

    def create_collection(self, name: str, definition: dict[str, Any]) -> bool:
        """Create it with everything the definition says that this Qdrant keeps; False if it exists identically.

        Identical means equal in what every Qdrant keeps (:func:`~.definition.recreated_parts`): local
        mode answers default HNSW/optimizer settings and no payload indexes whatever was asked.
        Aliases are recreated when their name is free; one taken (e.g. by the original collection
        in the same Qdrant) is left alone, with a warning.

        :raises UnsupportedDefinition: the definition is not Qdrant's or has what Qdrant cannot create.
        :raises CollectionDefinitionMismatch: a collection (or alias) of that name exists otherwise.
        """
        plan = qdef.creation(name, definition)
        existing = self.collection_definition(name)
        if existing is not None:
            if qdef.recreated_parts(existing) == qdef.recreated_parts(definition):
                return False
            raise CollectionDefinitionMismatch(
                f"collection {name!r} already exists at {self.where} with different vectors, sparse vectors or "
                f"metadata; restore under another name or drop it first")
        taken = self._aliases()
        if name in taken:
            raise CollectionDefinitionMismatch(f"{name!r} is an alias of collection {taken[name]!r} at {self.where}; "
                                               f"restore under another name")
        try:
            with self._calls:
                self.client.create_collection(name, **plan.arguments)
        except (ValueError, UnexpectedResponse) as exc:
            if isinstance(exc, UnexpectedResponse) and exc.status_code not in (400, 422):
                raise
            raise UnsupportedDefinition(f"Qdrant at {self.where} refused to create collection {name!r}: "
                                        f"{self._safe(exc)}; nothing was created") from None
        with self._calls:
            for field_name, schema in plan.payload_indexes.items():
                self.client.create_payload_index(name, field_name, field_schema=schema, wait=True)
        self._recreate_aliases(name, plan.aliases)
        log.info("Created Qdrant collection %r at %s", name, self.where)
        return True

    def _aliases(self) -> dict[str, str]:
        with self._calls:
            return {a.alias_name: a.collection_name for a in self.client.get_aliases().aliases}

    def _recreate_aliases(self, name: str, aliases: list[str]) -> None:
        taken = {**self._aliases(), **{c: c for c in self._names()}}
        for alias in aliases:
            if alias in taken:
                log.warning("Alias %r of collection %r not recreated: %r already names %r at %s", alias, name, alias,
                            taken[alias], self.where)
                continue
            operation = models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=name,
                                                                                    alias_name=alias))
            with self._calls:
                self.client.update_collection_aliases(change_aliases_operations=[operation])

    def drop_collection(self, name: str) -> None:
        with self._calls:
            self.client.delete_collection(name)
        log.info("Dropped Qdrant collection %r at %s", name, self.where)

    def count_documents(self, name: str) -> DocumentCount:
        with self._calls:
            return DocumentCount(self.client.count(name, exact=True).count, True)

    def estimated_document_count(self, name: str) -> int:
        with self._calls:
            return self.client.count(name, exact=False).count

    # -- reading ---------------------------------------------------------------------------------

    def scan(self, name: str, definition: dict[str, Any], *, streams: int = DEFAULT_STREAMS,
             mode: str = "auto") -> QdrantScan:
        """The whole collection as one ordered scroll (see :class:`QdrantScan`); ``streams`` and ``mode`` cannot split it here."""
        check_scan_settings(mode, streams)
        return QdrantScan(self, name, definition)

    def _pages(self, name: str, slots: list[qdef.VectorSlot], start: Any = None,
               stop: Any = None) -> Iterator[list[dict[str, Any]]]:
        """Stored-form pages from id ``start`` (inclusive) to ``stop`` (exclusive), in Qdrant's id order."""
        by_name = {slot.qdrant_name: slot for slot in slots}
        offset = start
        while True:
            with self._calls:
                points, offset = self.client.scroll(name, limit=PAGE_SIZE, offset=offset, with_payload=True,
                                                    with_vectors=True)
            if stop is not None:
                kept = [p for p in points if _order(p.id) < _order(stop)]
                if len(kept) < len(points):
                    offset = None
                points = kept
            if points:
                yield [to_document(point, by_name) for point in points]
            if offset is None:
                return

    def partitions(self, name: str, definition: dict[str, Any], *, mode: str = "auto") -> list[Partition]:
        """Consecutive id ranges of :attr:`partition_size` points, from an ids-only pass; one ``all`` for ``single``.

        Ranges in Qdrant's id order (integers, then UUIDs) from the first id to the last hold every
        point once, even one written after planning.
        """
        check_scan_settings(mode)
        if mode == "single":
            return [Partition("all", {"start": None, "stop": None})]
        bounds: list[Any] = []
        seen, offset = 0, None
        while True:
            with self._calls:
                points, offset = self.client.scroll(name, limit=ID_PAGE_SIZE, offset=offset, with_payload=False,
                                                    with_vectors=False)
            for point in points:
                if seen and seen % self.partition_size == 0:
                    bounds.append(point.id)
                seen += 1
            if offset is None:
                break
        starts, stops = [None, *bounds], [*bounds, None]
        return [Partition(f"ids-{i:05d}", {"start": start, "stop": stop})
                for i, (start, stop) in enumerate(zip(starts, stops))]

    def read_partition(self, name: str, partition: Partition) -> Iterator[list[dict[str, Any]]]:
        spec = partition.spec
        return self._pages(name, self._slots(name), spec.get("start"), spec.get("stop"))

    def find_by_ids(self, name: str, ids: list[Any]) -> list[dict[str, Any]]:
        slots = {slot.qdrant_name: slot for slot in self._slots(name)}
        with self._calls:
            points = self.client.retrieve(name, [point_id(i) for i in ids], with_payload=True, with_vectors=True)
        return [to_document(point, slots) for point in points]

    def vector_search(self, name: str, vector: Any, *, limit: int = 10, field: str | None = None) -> list[Any]:
        """Ids of the ``limit`` nearest points by ``field`` (the unnamed vector when ``None``), nearest first."""
        slots = {slot.field: slot for slot in self._slots(name)}
        wanted = field if field is not None else qdef.UNNAMED
        slot = slots.get(wanted)
        if slot is None:
            raise ValueError(f"collection {name!r} has no vector field {wanted!r}; it has {', '.join(slots)}")
        query = query_value(vector, slot)
        with self._calls:
            found = self.client.query_points(name, query=query, using=slot.qdrant_name or None, limit=limit,
                                             with_payload=False, with_vectors=False)
        return [stored_id(point.id) for point in found.points]

    # -- writing ---------------------------------------------------------------------------------

    def insert_documents(self, name: str, documents: Iterable[dict[str, Any]], *, chunk_size: int = 20,
                         concurrency: int = 16) -> InsertReport:
        """Upsert stored-form documents in chunks, never overwriting: Qdrant's upsert replaces, so each chunk's ids are read first.

        A point already there counts as present when it reads back as the document would (stored
        form, Cosine vectors canonical and within :func:`~.cosine.drift_ulps`: Qdrant moves
        them that much), and as a failure otherwise (left as it is). Chunks are
        written one after another (``concurrency`` is not used: local mode takes one writer).
        """
        slots = self._slots(name)
        by_field = {slot.field: slot for slot in slots}
        by_name = {slot.qdrant_name: slot for slot in slots}
        report = InsertReport()
        chunk: dict[Any, tuple[Any, models.PointStruct]] = {}
        for document in documents:
            try:
                point = to_point(document, by_field)
            except (UnwritableDocument, ValueError) as exc:
                report.failures.append(DocumentFailure(document.get("_id"), "UNWRITABLE", str(exc)))
                continue
            if point.id in chunk or len(chunk) >= chunk_size:
                report.merge(self._write_chunk(name, chunk, by_name))
                chunk = {}
            chunk[point.id] = (document.get("_id"), point)
        if chunk:
            report.merge(self._write_chunk(name, chunk, by_name))
        return report

    def _write_chunk(self, name: str, chunk: dict[Any, tuple[Any, models.PointStruct]],
                     slots: dict[str, qdef.VectorSlot]) -> InsertReport:
        report = InsertReport()
        by_field = {slot.field: slot for slot in slots.values()}
        with self._calls:
            existing = {p.id: p for p in self.client.retrieve(name, list(chunk), with_payload=True, with_vectors=True)}
            new = []
            for key, (stored, point) in chunk.items():
                there = existing.get(_normal_id(key))
                if there is None:
                    new.append(point)
                elif same_but_cosine_drift(to_document(there, slots), to_document(point, slots), by_field):
                    report.already_present += 1
                else:
                    report.failures.append(DocumentFailure(stored, "DIFFERENT_DOCUMENT_EXISTS",
                                                           f"point {key!r} exists in {name!r} with other "
                                                           f"content; left as it is"))
            if new:
                self.client.upsert(name, points=new, wait=True)
        report.inserted += len(new)
        return report


def _normal_id(point_id: Any) -> Any:
    return point_id if isinstance(point_id, int) else str(uuid.UUID(point_id))


def _order(point_id: Any) -> tuple[int, int]:
    """Qdrant's id order: every integer before every UUID, UUIDs by their 128-bit value."""
    return (0, point_id) if isinstance(point_id, int) else (1, uuid.UUID(str(point_id)).int)


class QdrantScan:
    """One read of a whole collection: a single ``scroll`` from the first id until Qdrant answers no next offset.

    Complete by construction (the scroll visits every id in order); points written during the
    scan may or may not be in it, as Qdrant gives no snapshot isolation. Pages are converted as
    they arrive, so memory stays at one page.
    """

    def __init__(self, source: QdrantSource, name: str, definition: dict[str, Any]) -> None:
        self._source, self._name, self._definition = source, name, definition
        self.record: ScanRecord | None = None

    def pages(self) -> Iterator[list[dict[str, Any]]]:
        source, name = self._source, self._name
        self.record = record = ScanRecord(
            "single", 1, "Qdrant's scroll is one cursor in id order; a collection is read by one stream here "
                         "(partitions split it by id range for several tasks)")
        try:
            for page in source._pages(name, source._slots(name, self._definition)):
                record.documents += len(page)
                yield page
        except GeneratorExit:
            raise
        except Exception as exc:
            raise QdrantReadError(
                f"reading Qdrant collection {name!r} at {source.where} failed after {record.documents} document(s): "
                f"{source._safe(exc)}. Nothing past that point was read; run the dump again once Qdrant answers "
                f"(a local path must not be open in another process)") from None
