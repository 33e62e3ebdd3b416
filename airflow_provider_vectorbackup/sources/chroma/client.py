"""ChromaSource: a Chroma database (embedded ``PersistentClient`` or a server through ``HttpClient``) as a vector source.

Connection type ``chroma`` (docs/sources.md, "Chroma"): the ``path`` extra opens a persistent
database in that folder; otherwise ``host``, ``port`` and the ``ssl`` extra reach a server,
with the password, if any, sent as a bearer token. The ``tenant`` and ``database`` extras pick
the namespace (Chroma's defaults otherwise).

Chroma allows one ``PersistentClient`` per folder per process, made with one set of settings,
so a caller that already has one passes it as ``client=``; otherwise it is made on first use.
Collections are always opened with ``embedding_function=None``: nothing ever downloads a model.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from typing import TYPE_CHECKING, Any

from airflow_provider_vectorbackup.connection import ConnectionSettings
from airflow_provider_vectorbackup.snapshot import vector_fields
from airflow_provider_vectorbackup.snapshot.digest import canonical_json
from airflow_provider_vectorbackup.sources.portable import Capabilities, PortableCollection
from airflow_provider_vectorbackup.sources.base import (
    DEFAULT_STREAMS, CollectionDefinitionMismatch, CollectionInfo, DocumentCount, DocumentFailure, InsertReport,
    NoRetries, Partition, UnsupportedDefinition, check_scan_settings,
)
from airflow_provider_vectorbackup.sources.chroma import definition as definitions
from airflow_provider_vectorbackup.sources.chroma import portable as chroma_portable
from airflow_provider_vectorbackup.sources.chroma.records import (
    COSINE_DRIFT_ULPS, INCLUDE, METADATA_DRIFT_ULPS, RecordRefused, add_arguments, same_but_chroma_drift, stored_page,
    to_chroma,
)
from airflow_provider_vectorbackup.sources.chroma.scan import WHY_ONE_STREAM, ChromaScan

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

log = logging.getLogger(__name__)

PAGE_SIZE = 1000
"""Records per ``get`` while scanning: 1,000 read 20,000 records of 64 dimensions in 0.6 s (docs/sources.md)."""
ALL = "all"


class ChromaConnectionError(ValueError):
    """The connection cannot describe a Chroma database; the message says which field to fix."""


DROP_BATCH = 1000
"""Records deleted per request when a collection is dropped."""


class ChromaSource:
    """A Chroma database's collections in one tenant and database: a :class:`~airflow_provider_vectorbackup.sources.base.VectorSource`."""

    kind = "chroma"
    capabilities = Capabilities(
        id_types=frozenset({"string"}), vector_names=("embedding",),
        payload_kinds=frozenset({"string", "int", "float", "bool"}), nested=False,
        flat_lists=frozenset({"string", "int", "float", "bool"}), nulls=False, envelopes=False,
        name_pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,255}$", extras=("document", "uri"))
    """One embedding and flat metadata: no nulls, no objects, lists only of one kind and not empty. Floats are kept
    within ``restore_tolerance``, not bit for bit: Chroma stores some float64 values an ulp off."""

    def __init__(self, settings: ConnectionSettings, *, client: ClientAPI | None = None,
                 page_size: int | None = None) -> None:
        self._settings = settings
        self.conn_id = settings.conn_id
        extra = settings.extra or {}
        self.path: str | None = extra.get("path") or None
        self.tenant: str = extra.get("tenant") or _chroma_default("DEFAULT_TENANT")
        self.database: str = extra.get("database") or _chroma_default("DEFAULT_DATABASE")
        self.page_size = int(page_size or extra.get("page_size") or PAGE_SIZE)
        self._client = client
        self._owns_client = client is None
        self._lock = threading.Lock()
        self.in_band_retries = NoRetries()

    @classmethod
    def from_connection(cls, settings: ConnectionSettings, *, client: ClientAPI | None = None,
                        page_size: int | None = None) -> ChromaSource:
        """The source for a ``chroma`` connection; opens nothing until first use.

        :param client: a Chroma client already open on this database (one ``PersistentClient`` per folder
            per process); it is used as it is and never closed here.
        :param page_size: records per page while scanning (default: the ``page_size`` extra, else 1,000).
        """
        return cls(settings, client=client, page_size=page_size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(conn_id={self.conn_id!r}, where={self.where!r})"

    # -- connection ------------------------------------------------------------------------------

    @property
    def namespace(self) -> str:
        return f"{self.tenant}/{self.database}"

    @property
    def mode(self) -> str:
        return "persistent" if self.path else "http"

    @property
    def where(self) -> str:
        """The folder or the server's ``scheme://host:port``: never the token."""
        if self.path:
            return self.path
        scheme = "https" if self._ssl else "http"
        return f"{scheme}://{self._settings.host or 'localhost'}:{self._settings.port or 8000}"

    @property
    def _ssl(self) -> bool:
        return self._settings.flag("ssl")

    @property
    def client(self) -> ClientAPI:
        """The Chroma client, made on first use unless one was given."""
        with self._lock:
            if self._client is None:
                self._client = self._open()
            return self._client

    def _open(self) -> ClientAPI:
        import chromadb
        from chromadb.config import Settings

        quiet = Settings(anonymized_telemetry=False)
        try:
            if self.path:
                return chromadb.PersistentClient(path=self.path, settings=quiet, tenant=self.tenant,
                                                 database=self.database)
            if not self._settings.host:
                raise ChromaConnectionError(f"connection {self.conn_id!r} has neither a 'path' extra (a persistent "
                                            f"database's folder) nor a host (a Chroma server)")
            token = self._settings.password
            headers = {"Authorization": f"Bearer {token}"} if token else None
            return chromadb.HttpClient(host=self._settings.host, port=int(self._settings.port or 8000),
                                       ssl=self._ssl, headers=headers, settings=quiet, tenant=self.tenant,
                                       database=self.database)
        except ChromaConnectionError:
            raise
        except Exception as exc:
            raise ChromaConnectionError(f"connection {self.conn_id!r} could not open Chroma at {self.where} "
                                        f"({type(exc).__name__}: {self.safe_message(exc)})") from None

    def close(self) -> None:
        """Close the client this source made (a given one stays open), so the folder can be opened again."""
        with self._lock:
            if self._client is not None and self._owns_client:
                self._client.close()
                self._client = None

    def safe_message(self, exc: BaseException) -> str:
        """An exception's text with the token blanked out."""
        return self._settings.without_password(str(exc))

    def describe_source(self) -> dict[str, Any]:
        import chromadb

        return {"kind": self.kind, "version": chromadb.__version__, "client": self.mode, "where": self.where,
                "namespace": self.namespace}

    def collection(self, name: str) -> Collection:
        return self.client.get_collection(name, embedding_function=None)

    def _find(self, name: str) -> Collection | None:
        from chromadb.errors import NotFoundError

        try:
            return self.collection(name)
        except NotFoundError:
            return None

    # -- definitions -----------------------------------------------------------------------------

    def list_collections(self) -> list[CollectionInfo]:
        names = sorted(c.name for c in self.client.list_collections())
        found = ((name, self.collection_definition(name)) for name in names)
        return [CollectionInfo(name, found_definition) for name, found_definition in found if found_definition]

    def collection_definition(self, name: str) -> dict[str, Any] | None:
        collection = self._find(name)
        if collection is None:
            return None
        first = collection.get(limit=1, include=["embeddings"])["embeddings"]
        dimension = len(first[0]) if first is not None and len(first) else None
        return definitions.describe(collection.configuration_json, collection.metadata,
                                    collection.schema.serialize_to_json() if collection.schema else None, dimension)

    def portable_definition(self, portable: PortableCollection) -> dict[str, Any]:
        """The definition of a collection for ``portable`` (see ``portable.py``); sends nothing."""
        return chroma_portable.portable_definition(portable)

    def unsupported(self, definition: dict[str, Any]) -> list[str]:
        """What of ``definition`` Chroma cannot recreate (the first problem found); sends nothing."""
        try:
            definitions.check_definition(definition)
        except UnsupportedDefinition as refused:
            return [str(refused)]
        return []

    def restore_tolerance(self, definition: dict[str, Any]) -> int:
        """Chroma 1.5.9 moves about one float metadata value in ten by an ulp, and cosine vectors by up to 2 (measured)."""
        configuration = (definition.get("native") or {}).get("configuration") or {}
        return COSINE_DRIFT_ULPS if definitions.space_of(configuration) == "cosine" else METADATA_DRIFT_ULPS

    def create_collection(self, name: str, definition: dict[str, Any]) -> bool:
        """Create it as defined; False if one with the same definition exists.

        An empty collection's dimension is fixed by its first record, so it matches any dimension.
        """
        arguments, updates = definitions.creation_arguments(name, definition)
        existing = self.collection_definition(name)
        if existing is not None:
            differing = definitions.differences(existing, definition)
            if not differing:
                return False
            raise CollectionDefinitionMismatch(
                f"collection {name!r} already exists in {self.namespace} with a different definition (differs in: "
                f"{', '.join(differing)}); restore under another name or drop it first")
        created = self.client.create_collection(name, **arguments)
        if updates:
            created.modify(configuration={"hnsw": updates})
        log.info("Created Chroma collection %r in %s", name, self.namespace)
        return True

    def drop_collection(self, name: str) -> None:
        """Delete its records, then the collection.

        Chroma 1.5 leaves a dropped collection's list-valued metadata behind, and a record of a collection
        created later can read it back as its own (docs/sources.md, "Chroma"); deleting the records first
        removes those rows.
        """
        collection = self.collection(name)
        while ids := collection.get(limit=DROP_BATCH, include=[])["ids"]:
            collection.delete(ids=ids)
        self.client.delete_collection(name)
        log.info("Dropped Chroma collection %r from %s", name, self.namespace)

    # -- reading ---------------------------------------------------------------------------------

    def count_documents(self, name: str) -> DocumentCount:
        return DocumentCount(self.collection(name).count(), True)

    def estimated_document_count(self, name: str) -> int:
        return self.collection(name).count()

    def scan(self, name: str, definition: dict[str, Any], *, streams: int = DEFAULT_STREAMS,
             mode: str = "auto") -> ChromaScan:
        """One stream of offset pages whatever ``streams`` says (see sources/chroma/scan.py)."""
        return ChromaScan(self, name, page_size=self.page_size, streams=streams, mode=mode)

    def partitions(self, name: str, definition: dict[str, Any], *, mode: str = "auto") -> list[Partition]:
        """One partition: a Chroma collection cannot be split provably (see sources/chroma/scan.py)."""
        check_scan_settings(mode)
        return [Partition(ALL, {"reason": WHY_ONE_STREAM})]

    def read_partition(self, name: str, partition: Partition) -> Iterator[list[dict[str, Any]]]:
        if partition.name != ALL:
            raise ValueError(f"Chroma collections have one partition, {ALL!r}, not {partition.name!r}")
        return ChromaScan(self, name, page_size=self.page_size).pages()

    def find_by_ids(self, name: str, ids: list[Any]) -> list[dict[str, Any]]:
        return stored_page(self.collection(name).get(ids=list(ids), include=INCLUDE))

    def vector_search(self, name: str, vector: Any, *, limit: int = 10, field: str | None = None) -> list[Any]:
        """Ids of the ``limit`` nearest records by the collection's space; ``vector`` a ``$vectors`` value or floats."""
        if field not in (None, definitions.VECTOR_FIELD):
            raise ValueError(f"a Chroma collection has one vector field, {definitions.VECTOR_FIELD!r}, not {field!r}")
        values = vector_fields.values_of(vector) if isinstance(vector, Mapping) else list(vector)
        import numpy as np

        result = self.collection(name).query(query_embeddings=[np.asarray(values, dtype=np.float32)],
                                             n_results=limit, include=[])
        return list(result["ids"][0])

    # -- writing ---------------------------------------------------------------------------------

    def insert_documents(self, name: str, documents: Iterable[dict[str, Any]], *, chunk_size: int = 20,
                         concurrency: int = 16) -> InsertReport:
        """Add stored-form documents; re-running it is safe, and nothing already there is ever changed.

        Chroma's ``add`` silently keeps the old record for an existing id and ``upsert`` merges
        metadata, so each chunk first reads the records its ids already have: an identical one
        counts as present (identical but for the few ulps Chroma moves some floats by, see
        records.py), a different one as a failure, and only new ids are added. Chunks are
        written one after another (``concurrency`` is not used): Chroma serializes writes anyway.
        """
        collection = self.collection(name)
        size = max(1, min(chunk_size, self.client.get_max_batch_size()))
        report = InsertReport()
        iterator = iter(documents)
        while chunk := list(islice(iterator, size)):
            report.merge(self._insert_chunk(collection, chunk))
        return report

    def _insert_chunk(self, collection: Collection, chunk: list[dict[str, Any]]) -> InsertReport:
        report = InsertReport()
        records, wanted = [], {}
        for document in chunk:
            try:
                record = to_chroma(document)
            except RecordRefused as refused:
                report.failures.append(DocumentFailure(document.get("_id"), refused.code, str(refused)))
                continue
            if record.id in wanted:
                self._compare(report, record.id, canonical_json(wanted[record.id]) == canonical_json(document))
                continue
            wanted[record.id] = document
            records.append(record)
        existing = {stored["_id"]: stored
                    for stored in stored_page(collection.get(ids=list(wanted), include=INCLUDE))} if wanted else {}
        cosine = definitions.space_of(collection.configuration_json) == "cosine"
        new = []
        for record in records:
            there, document = existing.get(record.id), wanted[record.id]
            if there is None:
                new.append(record)
            else:
                self._compare(report, record.id, canonical_json(there) == canonical_json(document)
                              or same_but_chroma_drift(there, document, cosine=cosine))
        if new:
            self._add(collection, new, report)
        return report

    @staticmethod
    def _compare(report: InsertReport, id_: str, same: bool) -> None:
        if same:
            report.already_present += 1
        else:
            report.failures.append(DocumentFailure(
                id_, "DIFFERENT_DOCUMENT_EXISTS", "a different record with this id is already there; it was left "
                "as it is (Chroma's add would silently keep it and upsert would merge the metadata)"))

    def _add(self, collection: Collection, records: list[Any], report: InsertReport) -> None:
        try:
            collection.add(**add_arguments(records))
            report.inserted += len(records)
            return
        except Exception as exc:
            if len(records) == 1:
                report.failures.append(DocumentFailure(records[0].id, type(exc).__name__, self.safe_message(exc)))
                return
        for record in records:  # one by one, so the failure is the record's own
            self._add(collection, [record], report)


def _chroma_default(name: str) -> str:
    from chromadb import config

    return getattr(config, name)
