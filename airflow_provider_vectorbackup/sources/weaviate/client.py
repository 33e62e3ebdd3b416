"""WeaviateSource: dump, restore and validate Weaviate collections through weaviate-client v4, without Airflow.

Connections are of the official provider's ``weaviate`` type: ``host`` and ``port`` (HTTP, 8080),
the API key in ``password``, and the extras ``http_secure``, ``grpc_host`` (the HTTP host when
unset), ``grpc_port`` (50051), ``grpc_secure`` and ``skip_init_checks``. The schema is read over
REST as the server answers it; data moves over gRPC. See docs/sources.md, "Weaviate".

A multi-tenant collection is read tenant by tenant; every tenant must be active (``ACTIVE``, once
``HOT``): a dump fails the collection, naming each inactive or offloaded tenant and how to activate
it, rather than leave its objects out.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from importlib import metadata
from typing import Any

import httpx
import weaviate
from weaviate.classes.data import DataObject
from weaviate.classes.init import Auth
from weaviate.classes.query import MetadataQuery, QueryNested
from weaviate.classes.tenants import Tenant, TenantActivityStatus
from weaviate.exceptions import UnexpectedStatusCodeError, WeaviateBaseError, WeaviateInsertManyAllFailedError

from airflow_provider_vectorbackup.connection import ConnectionSettings
from airflow_provider_vectorbackup.snapshot import vector_fields as vf
from airflow_provider_vectorbackup.snapshot.digest import canonical_json
from airflow_provider_vectorbackup.snapshot.provenance import endpoint_origin
from airflow_provider_vectorbackup.sources.base import (
    DEFAULT_STREAMS, CollectionDefinitionMismatch, CollectionInfo, DocumentCount, DocumentFailure, InsertReport,
    NoRetries, Partition, UnsupportedDefinition, check_scan_settings,
)
from airflow_provider_vectorbackup.sources.portable import Capabilities, PortableCollection
from airflow_provider_vectorbackup.sources.weaviate import definition as wdef
from airflow_provider_vectorbackup.sources.weaviate.stored import (
    TENANT, UnwritableDocument, object_id, query_value, stored_id, to_document, to_object,
)

log = logging.getLogger(__name__)

PAGE_SIZE = 200
"""Objects per cursor page."""
ID_PAGE_SIZE = 10_000
"""Objects per page of the ids-only pass that plans partitions."""
DEFAULT_PARTITION_SIZE = 100_000
"""Objects per partition handed to other tasks."""
DIMENSION_PROBE = 100
"""Objects read per tenant to find the length of each named vector (the schema records none)."""
ACTIVE_STATUSES = frozenset({TenantActivityStatus.ACTIVE, TenantActivityStatus.HOT})


class WeaviateConnectionError(ValueError):
    """The connection cannot describe a Weaviate to reach; the message says which field to set."""


class WeaviateReadError(RuntimeError):
    """Reading a collection failed part way; the message names the collection and where it stopped."""


class InactiveTenants(RuntimeError):
    """A multi-tenant collection has tenants whose objects cannot be read now: they are named, never skipped."""


class UnreadableCollection(RuntimeError):
    """A collection holds what a backup cannot read exactly yet (a property type, a legacy vector): named, not read."""


@dataclass
class ScanRecord:
    """How a collection was read: tenant by tenant, each with one UUID cursor."""

    mode: str
    streams: int
    reason: str
    documents: int = 0
    tenants: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


class WeaviateSource:
    """One Weaviate through weaviate-client v4: a :class:`~airflow_provider_vectorbackup.sources.base.VectorSource`."""

    kind = "weaviate"
    capabilities = Capabilities(
        id_types=frozenset({"uuid"}), dense_fields=None, multi=True,
        metrics=frozenset({"cosine", "dot_product", "euclidean", "manhattan", "hamming", "max_sim_cosine",
                           "max_sim_dot_product"}),
        name_pattern=r"^(?!(?:id|_id|_additional)$)[a-z_][A-Za-z0-9_]{0,62}$",
        payload_kinds=frozenset(wdef.PORTABLE_TYPES), nested=False, typed_fields=True, nulls=False,
        int_range=(-(2 ** 53), 2 ** 53))
    """Named dense and multi vectors (float32); typed properties. ``euclidean`` is Weaviate's ``l2-squared``
    (same order); multivectors are offered with cosine and dot only, the late-interaction pairs Weaviate documents
    (a collection of another is still described and recreated as it is). Weaviate keeps ints as doubles (exact to 2**53); nulls and empty arrays are not kept; objects need
    declared nested properties, so free JSON is not held; dates are not offered (a naive one would come back
    with an offset). ``uuid`` and ``bytes`` values, envelopes in the stored form, are kept as they are (``uuid``
    and ``blob`` properties), so ``envelopes`` holds; no JSON value can nest one."""

    def __init__(self, settings: ConnectionSettings, *, client: Any = None, page_size: int = PAGE_SIZE,
                 partition_size: int = DEFAULT_PARTITION_SIZE) -> None:
        self._settings = settings
        self.conn_id = settings.conn_id
        self._client = client
        self._owns_client = client is None
        self._lock = threading.Lock()
        self.page_size = page_size
        self.partition_size = partition_size
        self.in_band_retries = NoRetries()

    @classmethod
    def from_connection(cls, settings: ConnectionSettings, *, client: Any = None, page_size: int = PAGE_SIZE,
                        partition_size: int = DEFAULT_PARTITION_SIZE) -> WeaviateSource:
        """The source for a ``weaviate`` connection; sends nothing.

        :param client: an open client to use (left open by :meth:`close`).
        :param page_size: objects per cursor page.
        :param partition_size: objects per partition of :meth:`partitions`.
        """
        return cls(settings, client=client, page_size=page_size, partition_size=partition_size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(conn_id={self.conn_id!r}, where={self.where!r})"

    # -- connection ------------------------------------------------------------------------------

    def _extra(self, key: str) -> Any:
        return (self._settings.extra or {}).get(key)

    @property
    def _http(self) -> tuple[str, int, bool]:
        host = self._settings.host
        if not host:
            raise WeaviateConnectionError(f"connection {self.conn_id!r} has no host: set host (and port, 8080 by "
                                          f"default) to Weaviate's HTTP address")
        return host, int(self._settings.port or 8080), self._settings.flag("http_secure")

    @property
    def where(self) -> str:
        if not self._settings.host:
            return "(no host)"
        host, port, secure = self._http
        return endpoint_origin(f"{'https' if secure else 'http'}://{host}:{port}")

    @property
    def namespace(self) -> str:
        return self.where

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                host, port, secure = self._http
                key = self._settings.password
                try:
                    self._client = weaviate.connect_to_custom(
                        http_host=host, http_port=port, http_secure=secure,
                        grpc_host=self._extra("grpc_host") or host, grpc_port=int(self._extra("grpc_port") or 50051),
                        grpc_secure=self._settings.flag("grpc_secure"),
                        auth_credentials=Auth.api_key(key) if key else None,
                        skip_init_checks=self._settings.flag("skip_init_checks"))
                except WeaviateBaseError as exc:
                    raise WeaviateConnectionError(f"connection {self.conn_id!r}: cannot open Weaviate at "
                                                  f"{self.where}: {self._safe(exc)}") from None
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None and self._owns_client:
                self._client.close()
                self._client = None

    def _safe(self, exc: BaseException) -> str:
        return self._settings.without_password(f"{type(exc).__name__}: {exc}")

    def describe_source(self) -> dict[str, Any]:
        client_version = metadata.version("weaviate-client")
        try:
            version = f"Weaviate {self.client.get_meta().get('version')} (weaviate-client {client_version})"
        except Exception as exc:  # the manifest still says where it came from; the scan reports the failure
            version = f"Weaviate, version unknown ({type(exc).__name__}) (weaviate-client {client_version})"
        return {"kind": self.kind, "version": version, "where": self.where}

    def test_connection(self) -> tuple[bool, str]:
        try:
            names = self._schema()
        except Exception as exc:  # reported to the UI and CLI, never raised
            return False, self._safe(exc)
        return True, f"Connected to Weaviate at {self.where}: {len(names)} collection(s)"

    # -- collections -----------------------------------------------------------------------------

    def _schema(self) -> dict[str, dict[str, Any]]:
        """Every class as the REST schema answers it (the client's parsed config renames keys it cannot send back)."""
        host, port, secure = self._http
        headers = {"Authorization": f"Bearer {self._settings.password}"} if self._settings.password else {}
        self.client  # noqa: B018 - connect first: a wrong address fails with the client's clear message
        response = httpx.get(f"{'https' if secure else 'http'}://{host}:{port}/v1/schema", headers=headers,
                             timeout=float(self._extra("timeout") or 30))
        response.raise_for_status()
        return {c["class"]: c for c in response.json().get("classes") or []}

    def _tenants(self, name: str) -> dict[str, Any]:
        return self.client.collections.get(name).tenants.get()

    def _describe(self, cls: dict[str, Any]) -> dict[str, Any]:
        name = cls["class"]
        if not (cls.get("multiTenancyConfig") or {}).get("enabled"):
            return wdef.describe(cls, None, self._dimensions(name, cls, [None]))
        tenants = self._tenants(name)
        active = [t for t, s in sorted(tenants.items()) if s.activity_status in ACTIVE_STATUSES]
        return wdef.describe(cls, sorted(tenants), self._dimensions(name, cls, active))

    def _dimensions(self, name: str, cls: dict[str, Any], tenants: list[str | None]) -> dict[str, int | None]:
        """Each named vector's length, from the first objects that hold one (Weaviate's index refuses other lengths).

        Reads at most :data:`DIMENSION_PROBE` objects per active tenant, tenant after tenant, until every
        vector is found; a vector none of them holds stays ``None``.
        """
        found: dict[str, int | None] = {vector: None for vector in cls.get("vectorConfig") or {}}
        for tenant in tenants:
            if all(found.values()):
                break
            objects = self._collection(name, tenant).query.fetch_objects(
                limit=DIMENSION_PROBE, include_vector=True, return_properties=[]).objects
            for obj in objects:
                for vector, value in (obj.vector or {}).items():
                    if found.get(vector) is None and value:
                        found[vector] = len(value[0]) if isinstance(value[0], list) else len(value)
        return found

    def list_collections(self) -> list[CollectionInfo]:
        return [CollectionInfo(name, self._describe(cls)) for name, cls in sorted(self._schema().items())]

    def collection_definition(self, name: str) -> dict[str, Any] | None:
        """The definition, or ``None``. Weaviate capitalises a name's first letter: ``books`` is ``Books``."""
        cls = self._schema().get(class_name(name))
        return self._describe(cls) if cls is not None else None

    def _definition(self, name: str, definition: dict[str, Any] | None = None) -> dict[str, Any]:
        if definition and definition.get("engine") == wdef.ENGINE:
            return definition
        found = self.collection_definition(name)
        if found is None:
            raise ValueError(f"collection {name!r} does not exist at {self.where}")
        return found

    def restore_tolerance(self, definition: dict[str, Any]) -> int:
        """0: Weaviate hands vectors and numbers back as they were written (float32 vectors, float64 numbers)."""
        return 0

    def unsupported(self, definition: dict[str, Any]) -> list[str]:
        return wdef.problems(definition)

    def portable_definition(self, portable: PortableCollection) -> dict[str, Any]:
        """A collection holding ``portable`` exactly: self-provided named vectors (vectorizer ``none``, HNSW),
        one typed property per payload field, no multi-tenancy; pure, sends nothing.

        Its ``dimension`` s are the portable ones; the created collection describes them once vectors are
        written (Weaviate's schema records none), and is recognised as this one before that too.
        """
        if portable.id_type != "uuid":
            raise ValueError(f"Weaviate object ids are UUIDs, not {portable.id_type}")
        native = wdef.portable_native(portable)
        return wdef.describe(native, None, {name: spec.get("dimension") for name, spec in portable.vectors.items()})

    def create_collection(self, name: str, definition: dict[str, Any]) -> bool:
        """Create the collection and its tenants (active); False if it exists as defined (tenants may have grown).

        :raises UnsupportedDefinition: not a Weaviate definition, or one Weaviate refused; nothing was created.
        :raises CollectionDefinitionMismatch: a collection of that name exists otherwise.
        """
        found = wdef.problems(definition)
        if found:
            raise UnsupportedDefinition(f"Weaviate cannot create collection {name!r} as defined: {'; '.join(found)}; "
                                        f"nothing was created")
        existing = self.collection_definition(name)
        if existing is not None:
            unknown = [field for d in (existing, definition) for field, spec in (d.get("vectors") or {}).items()
                       if spec.get("dimension") is None]
            if wdef.comparable(existing, unknown_dimensions=unknown) == \
                    wdef.comparable(definition, unknown_dimensions=unknown):
                self._add_tenants(name, definition)
                return False
            raise CollectionDefinitionMismatch(f"collection {name!r} already exists at {self.where} with different "
                                               f"properties, vectors or settings; restore under another name or drop "
                                               f"it first")
        try:
            self.client.collections.create_from_dict(wdef.creation(name, definition))
        except UnexpectedStatusCodeError as exc:
            if exc.status_code not in (400, 422):
                raise
            raise UnsupportedDefinition(f"Weaviate at {self.where} refused to create collection {name!r}: "
                                        f"{self._safe(exc)}; nothing was created") from None
        self._add_tenants(name, definition)
        log.info("Created Weaviate collection %r at %s", name, self.where)
        return True

    def _add_tenants(self, name: str, definition: dict[str, Any]) -> None:
        wanted = (definition.get("native") or {}).get("tenants") or []
        if wanted:
            have = self._tenants(name)
            missing = [t for t in wanted if t not in have]
            if missing:
                self.client.collections.get(name).tenants.create([Tenant(name=t) for t in missing])

    def drop_collection(self, name: str) -> None:
        self.client.collections.delete(name)
        log.info("Dropped Weaviate collection %r at %s", name, self.where)

    # -- tenants ---------------------------------------------------------------------------------

    def _readable_tenants(self, name: str, definition: dict[str, Any]) -> list[str | None]:
        """``[None]`` for a collection without tenants; else every tenant, all active, or :class:`InactiveTenants`.

        :raises UnreadableCollection: the collection holds what a backup cannot read exactly yet.
        """
        unreadable = wdef.read_problems(definition)
        if unreadable:
            raise UnreadableCollection(f"Weaviate collection {name!r} at {self.where} cannot be backed up exactly: "
                                       f"{'; '.join(unreadable)}. Nothing of it was read")
        if not wdef.multi_tenant(definition):
            return [None]
        tenants = self._tenants(name)
        inactive = {t: s.activity_status.value for t, s in tenants.items() if s.activity_status not in ACTIVE_STATUSES}
        if inactive:
            listed = ", ".join(f"{t!r} ({s})" for t, s in sorted(inactive.items()))
            raise InactiveTenants(
                f"Weaviate collection {name!r} at {self.where} has {len(inactive)} tenant(s) that are not active: "
                f"{listed}. Their objects cannot be read, and a backup never leaves a tenant out: activate them "
                f"(collection.tenants.update([Tenant(name=..., activity_status=TenantActivityStatus.ACTIVE)]), or "
                f"PUT /v1/schema/{name}/tenants with activityStatus ACTIVE) and run the dump again. Nothing of this "
                f"collection was written")
        return sorted(tenants)

    def _collection(self, name: str, tenant: str | None) -> Any:
        collection = self.client.collections.get(name)
        return collection.with_tenant(tenant) if tenant is not None else collection

    def count_documents(self, name: str) -> DocumentCount:
        definition = self._definition(name)
        return DocumentCount(sum(self._collection(name, t).aggregate.over_all(total_count=True).total_count or 0
                                 for t in self._readable_tenants(name, definition)), True)

    def estimated_document_count(self, name: str) -> int:
        return self.count_documents(name).count

    # -- reading ---------------------------------------------------------------------------------

    @staticmethod
    def _return_properties(properties: list[dict[str, Any]]) -> list[Any]:
        """Every property by name, nested ones spelled out (a search names blobs and nested fields explicitly)."""
        wanted: list[Any] = []
        for prop in properties:
            nested = prop.get("nestedProperties")
            wanted.append(QueryNested(name=prop["name"], properties=WeaviateSource._return_properties(nested))
                          if nested else prop["name"])
        return wanted

    def _pages(self, name: str, definition: dict[str, Any], tenant: str | None, after: str | None = None,
               through: str | None = None) -> Iterator[list[dict[str, Any]]]:
        """Stored-form pages of one tenant (or the one shard) in UUID order, after ``after`` up to ``through``."""
        schema = list(definition["native"].get("properties") or [])
        wanted = self._return_properties(schema) or None
        collection = self._collection(name, tenant)
        cursor = uuid.UUID(after) if after else None
        last = uuid.UUID(through).bytes if through else None
        while True:
            found = collection.query.fetch_objects(limit=self.page_size, after=cursor, include_vector=True,
                                                   return_properties=wanted)
            objects = [obj for obj in found.objects if last is None or obj.uuid.bytes <= last]
            if objects:
                yield [to_document(obj, schema, tenant) for obj in objects]
            if len(objects) < self.page_size:
                return
            cursor = objects[-1].uuid

    def scan(self, name: str, definition: dict[str, Any], *, streams: int = DEFAULT_STREAMS,
             mode: str = "auto") -> WeaviateScan:
        """The whole collection, tenant after tenant, each by one UUID cursor (``streams``, ``mode`` cannot split it)."""
        check_scan_settings(mode, streams)
        return WeaviateScan(self, name, self._definition(name, definition))

    def partitions(self, name: str, definition: dict[str, Any], *, mode: str = "auto") -> list[Partition]:
        """Each tenant (or the one shard) in consecutive UUID ranges of :attr:`partition_size` objects, from an
        ids-only pass; one ``all`` for ``single``. Inactive tenants are refused, named.

        Ranges in UUID order from the first UUID to the last hold every object once, even one written after
        planning.
        """
        check_scan_settings(mode)
        tenants = self._readable_tenants(name, self._definition(name, definition))
        if mode == "single":
            return [Partition("all", {"tenants": tenants})]
        partitions = []
        for t, tenant in enumerate(tenants):
            bounds = self._bounds(name, tenant)
            prefix = "" if tenant is None else f"tenant-{t:05d}-"
            for i, (after, through) in enumerate(zip([None, *bounds], [*bounds, None])):
                partitions.append(Partition(f"{prefix}ids-{i:05d}", {"tenants": [tenant], "after": after,
                                                                      "through": through}))
        return partitions

    def _bounds(self, name: str, tenant: str | None) -> list[str]:
        """The last UUID of every full :attr:`partition_size` run of objects but the final one, in UUID order."""
        collection = self._collection(name, tenant)
        bounds: list[str] = []
        seen, cursor = 0, None
        while True:
            objects = collection.query.fetch_objects(limit=ID_PAGE_SIZE, after=cursor, return_properties=[]).objects
            for obj in objects:
                seen += 1
                if seen % self.partition_size == 0:
                    bounds.append(str(obj.uuid))
            if len(objects) < ID_PAGE_SIZE:
                break
            cursor = objects[-1].uuid
        if bounds and seen % self.partition_size == 0:
            bounds.pop()  # the last run ends the tenant: its range is open-ended anyway
        return bounds

    def read_partition(self, name: str, partition: Partition) -> Iterator[list[dict[str, Any]]]:
        definition = self._definition(name)
        spec = partition.spec
        for tenant in spec.get("tenants") or [None]:
            yield from self._pages(name, definition, tenant, spec.get("after"), spec.get("through"))

    def find_by_ids(self, name: str, ids: list[Any]) -> list[dict[str, Any]]:
        """The documents with these ids, in every tenant that has one (an id may repeat across tenants)."""
        definition = self._definition(name)
        schema = list(definition["native"].get("properties") or [])
        uuids = [object_id(i) for i in ids]
        found = []
        for tenant in self._readable_tenants(name, definition):
            result = self._collection(name, tenant).query.fetch_objects_by_ids(
                uuids, limit=len(uuids), include_vector=True, return_properties=self._return_properties(schema) or None)
            found += [to_document(obj, schema, tenant) for obj in result.objects]
        return found

    def vector_search(self, name: str, vector: Any, *, limit: int = 10, field: str | None = None) -> list[Any]:
        """Ids of the ``limit`` nearest objects by the named vector ``field``, over every tenant, nearest first."""
        definition = self._definition(name)
        vectors = definition["vectors"]
        if field not in vectors:
            raise ValueError(f"collection {name!r} has no named vector {field!r}; it has {', '.join(vectors)}")
        query = query_value(vector, field, vectors[field]["kind"])
        hits = []
        for tenant in self._readable_tenants(name, definition):
            result = self._collection(name, tenant).query.near_vector(
                near_vector=query, target_vector=field, limit=limit, return_metadata=MetadataQuery(distance=True))
            hits += [(obj.metadata.distance, stored_id(obj.uuid)) for obj in result.objects]
        hits.sort(key=lambda hit: hit[0])
        return [hit[1] for hit in hits[:limit]]

    # -- writing ---------------------------------------------------------------------------------

    def insert_documents(self, name: str, documents: Iterable[dict[str, Any]], *, chunk_size: int = 20,
                         concurrency: int = 16) -> InsertReport:
        """Write stored-form documents in chunks, never overwriting: Weaviate's batch replaces, so ids are read first.

        An object already there counts as present when it reads back as the document; otherwise it is
        a failure and left as it is. Tenants named by documents are created (active) when missing.
        Chunks are written one after another (``concurrency`` is not used).
        """
        definition = self._definition(name)
        schema = list(definition["native"].get("properties") or [])
        kinds = {field: spec["kind"] for field, spec in definition["vectors"].items()}
        multi = wdef.multi_tenant(definition)
        report = InsertReport()
        chunks: dict[str | None, list[tuple[dict[str, Any], DataObject]]] = {}
        known_tenants: set[str] = set(self._tenants(name)) if multi else set()
        for document in documents:
            tenant = document.get(TENANT)
            try:
                if multi and not isinstance(tenant, str):
                    raise UnwritableDocument(f"collection {name!r} is multi-tenant: the document needs a "
                                             f"'{TENANT}' naming its tenant")
                if not multi and tenant is not None:
                    raise UnwritableDocument(f"collection {name!r} has no tenants, the document names tenant "
                                             f"{tenant!r}")
                object_uuid, properties, vectors = to_object(document, schema, kinds)
            except (UnwritableDocument, ValueError) as exc:
                report.failures.append(DocumentFailure(document.get("_id"), "UNWRITABLE", str(exc)))
                continue
            if multi and tenant not in known_tenants:
                self.client.collections.get(name).tenants.create([Tenant(name=tenant)])
                known_tenants.add(tenant)
            chunk = chunks.setdefault(tenant, [])
            chunk.append((document, DataObject(properties=properties, uuid=object_uuid, vector=vectors or None)))
            if len(chunk) >= chunk_size:
                report.merge(self._write_chunk(name, tenant, chunks.pop(tenant), schema))
        for tenant, chunk in chunks.items():
            report.merge(self._write_chunk(name, tenant, chunk, schema))
        return report

    def _write_chunk(self, name: str, tenant: str | None, chunk: list[tuple[dict[str, Any], DataObject]],
                     schema: list[dict[str, Any]]) -> InsertReport:
        report = InsertReport()
        collection = self._collection(name, tenant)
        ids = list({obj.uuid for _, obj in chunk})
        found = collection.query.fetch_objects_by_ids(ids, limit=len(ids), include_vector=True,
                                                      return_properties=self._return_properties(schema) or None)
        there = {str(obj.uuid): to_document(obj, schema, tenant) for obj in found.objects}
        new: list[tuple[dict[str, Any], DataObject]] = []
        seen: set[str] = set()
        for document, obj in chunk:
            key = str(obj.uuid)
            if key in there or key in seen:
                wanted = canonical_json(_without_empty(document))
                if key in there and canonical_json(there[key]) == wanted:
                    report.already_present += 1
                else:
                    report.failures.append(DocumentFailure(document.get("_id"), "DIFFERENT_DOCUMENT_EXISTS",
                                                           f"object {key} exists in {name!r} with other content "
                                                           f"(or twice in one write); left as it is"))
                continue
            seen.add(key)
            new.append((document, obj))
        if not new:
            return report
        try:
            result = collection.data.insert_many([obj for _, obj in new])
            errors = {index: error.message for index, error in result.errors.items()}
        except WeaviateInsertManyAllFailedError as exc:
            errors = {index: str(exc) for index in range(len(new))}
        for index, (document, _) in enumerate(new):
            if index in errors:
                report.failures.append(DocumentFailure(document.get("_id"), "REFUSED", errors[index]))
            else:
                report.inserted += 1
        return report


def class_name(name: str) -> str:
    """The class a name refers to: Weaviate (server and client) capitalises the first letter."""
    return name[:1].upper() + name[1:]


def _without_empty(document: dict[str, Any]) -> dict[str, Any]:
    """A document as it reads back: ``$vectors`` and ``payload`` as written (an empty payload stays ``{}``)."""
    out = dict(document)
    out.setdefault("payload", {})
    if not out.get(vf.VECTORS_FIELD):
        out.pop(vf.VECTORS_FIELD, None)
    return out


class WeaviateScan:
    """One read of a whole collection: each tenant (or the one shard) by a UUID cursor until a short page.

    Complete by construction: the cursor visits every UUID in order. Objects written during the scan
    may or may not be in it (Weaviate gives no snapshot isolation).
    """

    def __init__(self, source: WeaviateSource, name: str, definition: dict[str, Any]) -> None:
        self._source, self._name, self._definition = source, name, definition
        self.record: ScanRecord | None = None

    def pages(self) -> Iterator[list[dict[str, Any]]]:
        source, name = self._source, self._name
        tenants = source._readable_tenants(name, self._definition)  # InactiveTenants before anything is read
        self.record = record = ScanRecord(
            "single", 1, "Weaviate's cursor ('after') walks one shard in UUID order; tenants are read one after "
                         "another (partitions give each tenant to its own task)",
            tenants=len(tenants) if tenants != [None] else None)
        try:
            for tenant in tenants:
                for page in source._pages(name, self._definition, tenant):
                    record.documents += len(page)
                    yield page
        except GeneratorExit:
            raise
        except Exception as exc:
            raise WeaviateReadError(
                f"reading Weaviate collection {name!r} at {source.where} failed after {record.documents} document(s): "
                f"{source._safe(exc)}. Nothing past that point was read; run the dump again once Weaviate answers"
            ) from None

