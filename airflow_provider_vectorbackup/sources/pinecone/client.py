"""PineconeSource: the vector indexes of one Pinecone project, each namespace a collection.

Connection type ``pinecone`` (the official provider's; docs/connections.md, "Pinecone"): the
password is the API key. Ours are the extras ``control_plane_url`` (default Pinecone's own,
``https://api.pinecone.io``), ``index`` (back up only that index) and ``cloud``/``region``, where
indexes a cross-engine restore creates are placed (default ``aws``/``us-east-1``; the official
form's *Pinecone Region* is the same ``region`` extra). The official form's *Host* (one index's
host) is not used: every index's host comes from the control plane.

Collections are named ``<index>`` (the default namespace) and ``<index>.<namespace>``
(definition.py). Only serverless indexes can be read, since only they list their ids; a pod-based
index's collections are listed, with their definitions, but reading one is refused with the reason.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import msgspec

from airflow_provider_vectorbackup.connection import ConnectionSettings
from airflow_provider_vectorbackup.snapshot import vector_fields
from airflow_provider_vectorbackup.snapshot.digest import canonical_json
from airflow_provider_vectorbackup.sources.base import (
    DEFAULT_STREAMS, CollectionDefinitionMismatch, CollectionInfo, DocumentCount, DocumentFailure, InsertReport,
    NoRetries, Partition, UnsupportedDefinition, check_scan_settings,
)
from airflow_provider_vectorbackup.sources.pinecone import definition as definitions
from airflow_provider_vectorbackup.sources.pinecone.definition import DEFAULT_NAMESPACE, DENSE, SPARSE, WHY_NOT_POD
from airflow_provider_vectorbackup.sources.pinecone.records import RecordRefused, stored_form, to_pinecone
from airflow_provider_vectorbackup.sources.pinecone.scan import (
    WHY_ONE_STREAM, PineconeScan, PodIndexNotListable, ScanFailed,
)
from airflow_provider_vectorbackup.sources.portable import Capabilities, PortableCollection

if TYPE_CHECKING:
    from pinecone import Index, Pinecone

log = logging.getLogger(__name__)

DEFAULT_CONTROL_PLANE = "https://api.pinecone.io"
PAGE_SIZE = 100
"""Ids per ``list`` page and records per ``fetch``: Pinecone's largest list page."""
UPSERT_BATCH = 100
"""Records per upsert at most: well within Pinecone's 1,000 records and 2 MB per request."""
FETCH_URL_BUDGET = 8_000
"""Characters of ids one ``fetch`` carries in its URL (ids go in the query string; servers cap URL lengths)."""
SPARSE_CANDIDATES = 10
"""How many times ``limit`` matches a sparse search asks for, to find ``limit`` that hold sparse values."""
MAX_TOP_K_WITH_VALUES = 1_000
"""Pinecone's largest ``top_k`` when a query includes values."""
CREATE_TIMEOUT = 300
"""Seconds to wait for a new index to be ready."""
ALL = "all"


class PineconeConnectionError(ValueError):
    """The connection cannot reach a Pinecone project; the message says which field to fix."""


class PineconeSource:
    """A Pinecone project's vector indexes, a collection per namespace: a ``VectorSource`` (sources/base.py)."""

    kind = "pinecone"
    capabilities = Capabilities(
        id_types=frozenset({"string"}), max_id_length=512, dense_fields=1, sparse_fields=1,
        dtypes=frozenset({"float32"}), metrics=frozenset({"cosine", "euclidean", "dot_product"}),
        max_dimension=definitions.MAX_DIMENSION, vector_names=(DENSE, SPARSE),
        payload_kinds=frozenset({"string", "float", "bool"}), nested=False, flat_lists=frozenset({"string"}),
        nulls=False, envelopes=False, ints_as_floats=True, int_range=(-(2 ** 53), 2 ** 53), payload_bytes=40_960)
    """String ids (ASCII only: the client refuses others), one dense and one sparse field (sparse beside dense only
    in a dot-product index), flat metadata of strings, floats, booleans and string lists, at most 40 KB a record."""

    def __init__(self, settings: ConnectionSettings, *, client: Pinecone | None = None,
                 page_size: int | None = None) -> None:
        self._settings = settings
        self.conn_id = settings.conn_id
        extra = settings.extra or {}
        self.control_plane_url: str = str(extra.get("control_plane_url") or DEFAULT_CONTROL_PLANE).rstrip("/")
        self.only_index: str | None = extra.get("index") or None
        self.cloud: str = extra.get("cloud") or "aws"
        self.region: str = extra.get("region") or "us-east-1"
        self.page_size = int(page_size or extra.get("page_size") or PAGE_SIZE)
        self._client = client
        self._indexes: dict[str, Index] = {}
        self._lock = threading.Lock()
        self.in_band_retries = NoRetries()

    @classmethod
    def from_connection(cls, settings: ConnectionSettings, *, client: Pinecone | None = None,
                        page_size: int | None = None) -> PineconeSource:
        """The source for a ``pinecone`` connection; sends nothing until first use.

        :param page_size: ids per ``list`` page while scanning, 1 to 100 (default: the ``page_size`` extra, else 100).
        """
        return cls(settings, client=client, page_size=page_size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(conn_id={self.conn_id!r}, where={self.where!r})"

    # -- connection ------------------------------------------------------------------------------

    @property
    def where(self) -> str:
        return self.control_plane_url

    @property
    def namespace(self) -> str:
        return f"{self.where} (index {self.only_index})" if self.only_index else self.where

    @property
    def client(self) -> Pinecone:
        with self._lock:
            if self._client is None:
                if not self._settings.password:
                    raise PineconeConnectionError(f"connection {self.conn_id!r} has no password: put the Pinecone "
                                                  f"API key there")
                from pinecone import Pinecone

                self._client = Pinecone(api_key=self._settings.password, host=self.control_plane_url)
            return self._client

    def index(self, name: str) -> Index:
        """The data-plane client of one index, at the host the control plane names."""
        with self._lock:
            handle = self._indexes.get(name)
        if handle is None:
            handle = self.client.index(name=name)
            with self._lock:
                self._indexes[name] = handle
        return handle

    def close(self) -> None:
        with self._lock:
            handles, self._indexes = list(self._indexes.values()), {}
        for handle in handles:
            handle.close()

    def safe_message(self, exc: BaseException) -> str:
        """An exception's text with the API key blanked out."""
        return self._settings.without_password(str(exc))

    def describe_source(self) -> dict[str, Any]:
        import pinecone

        described = {"kind": self.kind, "version": pinecone.__version__, "where": self.where}
        if self.only_index:
            described["index"] = self.only_index
        return described

    @staticmethod
    def wire_namespace(namespace: str) -> str:
        """The namespace as requests name it: the default one by omission."""
        return "" if namespace == DEFAULT_NAMESPACE else namespace

    # -- definitions -----------------------------------------------------------------------------

    def _describe_index(self, name: str) -> Any | None:
        from pinecone.errors.exceptions import NotFoundError

        try:
            return self.client.indexes.describe(name)
        except NotFoundError:
            return None

    @staticmethod
    def _definition_of(model: Any) -> dict[str, Any]:
        capacity = msgspec.to_builtins(model.read_capacity) if model.read_capacity is not None else None
        return definitions.describe(msgspec.to_builtins(model.schema), msgspec.to_builtins(model.deployment),
                                    capacity, model.deletion_protection, model.tags)

    @staticmethod
    def _serverless(definition: Mapping[str, Any]) -> bool:
        return definition["native"]["deployment"].get("deployment_type") == "managed"

    def list_collections(self) -> list[CollectionInfo]:
        """Every namespace of every vector index (or of the ``index`` extra's), the default one as ``<index>``."""
        found = []
        for model in sorted(self.client.indexes.list(), key=lambda m: m.name):
            if self.only_index and model.name != self.only_index:
                continue
            definition = self._definition_of(model)
            found.append(CollectionInfo(model.name, definition))
            found += [CollectionInfo(definitions.collection_name(model.name, namespace), definition)
                      for namespace in self._namespaces(model.name, definition) if namespace != DEFAULT_NAMESPACE]
        return found

    def _namespaces(self, index_name: str, definition: Mapping[str, Any]) -> list[str]:
        index = self.index(index_name)
        if not self._serverless(definition):  # pod indexes have no namespace API: their stats name the non-empty ones
            names = list(index.describe_index_stats().namespaces)
        else:
            names = [description.name for page in index.list_namespaces() for description in page.namespaces]
        return sorted({name or DEFAULT_NAMESPACE for name in names})  # the default one, whichever way it is named

    def collection_definition(self, name: str) -> dict[str, Any] | None:
        index_name, namespace = definitions.split_name(name)
        model = self._describe_index(index_name)
        if model is None:
            return None
        definition = self._definition_of(model)
        if namespace != DEFAULT_NAMESPACE and not self._namespace_exists(index_name, namespace, definition):
            return None
        return definition

    def _namespace_exists(self, index_name: str, namespace: str, definition: Mapping[str, Any]) -> bool:
        if not self._serverless(definition):
            return namespace in self._namespaces(index_name, definition)
        from pinecone.errors.exceptions import NotFoundError

        try:
            self.index(index_name).describe_namespace(name=namespace)
        except NotFoundError:
            return False
        return True

    def unsupported(self, definition: dict[str, Any]) -> list[str]:
        """What of ``definition`` Pinecone cannot recreate (the first problem found); sends nothing."""
        try:
            definitions.check_definition(definition)
        except UnsupportedDefinition as refused:
            return [str(refused)]
        return []

    def portable_definition(self, portable: PortableCollection) -> dict[str, Any]:
        """A serverless index (in the connection's ``cloud`` and ``region``) for a portable description; sends nothing.

        The payload needs no declaring: Pinecone indexes metadata as it comes.
        """
        return definitions.portable(portable, cloud=self.cloud, region=self.region)

    def restore_tolerance(self, definition: dict[str, Any]) -> int:
        """Pinecone keeps float32 vectors and float64 metadata numbers as written: 0 ulps."""
        return 0

    def create_collection(self, name: str, definition: dict[str, Any]) -> bool:
        """Create the index if needed, then the namespace; False if both exist and the index is defined alike.

        :raises UnsupportedDefinition: naming the collection and the item, before anything was created.
        :raises CollectionDefinitionMismatch: the index exists with another definition.
        """
        index_name, namespace = definitions.split_name(name)
        definitions.check_definition(definition, name)
        model = self._describe_index(index_name)
        if model is not None:
            existing = self._definition_of(model)
            differing = definitions.differences(existing, definition)
            if differing:
                raise CollectionDefinitionMismatch(
                    f"collection {name!r}: index {index_name!r} already exists at {self.where} with a different "
                    f"definition (differs in: {', '.join(differing)}); restore under another name or drop it first")
        else:
            self._create_index(name, index_name, definition)
        if namespace == DEFAULT_NAMESPACE:
            return model is None
        if model is not None and self._namespace_exists(index_name, namespace, definition):
            return False
        self.index(index_name).create_namespace(name=namespace)
        log.info("Created Pinecone namespace %r of index %r", namespace, index_name)
        return True

    def _create_index(self, name: str, index_name: str, definition: Mapping[str, Any]) -> None:
        from pinecone.errors.exceptions import ApiError

        native = definition["native"]
        try:
            self.client.indexes.create(name=index_name, schema=native["schema"], deployment=native["deployment"],
                                       read_capacity=native.get("read_capacity"),
                                       deletion_protection=native["deletion_protection"], tags=native.get("tags"),
                                       timeout=CREATE_TIMEOUT)
        except ApiError as exc:
            if exc.status_code == 400:
                raise UnsupportedDefinition(f"Pinecone refused to create collection {name!r} (index {index_name!r}): "
                                            f"{self.safe_message(exc)}; nothing was created") from None
            raise
        log.info("Created Pinecone index %r at %s", index_name, self.where)

    def drop_collection(self, name: str) -> None:
        """Delete the namespace; the default one is emptied, and its index deleted when no other namespace is left."""
        index_name, namespace = definitions.split_name(name)
        index = self.index(index_name)
        if namespace != DEFAULT_NAMESPACE:
            index.delete_namespace(name=namespace)
            log.info("Dropped Pinecone namespace %r of index %r", namespace, index_name)
            return
        definition = self.collection_definition(name)
        if definition is None:
            return
        if any(ns != DEFAULT_NAMESPACE for ns in self._namespaces(index_name, definition)):
            index.delete(delete_all=True, namespace="")
            log.info("Emptied the default namespace of Pinecone index %r (it has other namespaces)", index_name)
            return
        self.client.indexes.delete(index_name, timeout=CREATE_TIMEOUT)
        with self._lock:
            self._indexes.pop(index_name, None)
        log.info("Dropped Pinecone index %r", index_name)

    # -- reading ---------------------------------------------------------------------------------

    def listable(self, name: str) -> tuple[Index, str]:
        """The index handle and namespace of a collection that can be read, or the refusal saying why not."""
        index_name, namespace = definitions.split_name(name)
        definition = self.collection_definition(name)
        if definition is None:
            raise ScanFailed(f"collection {name!r} does not exist at {self.where}")
        if not self._serverless(definition):
            kind = definition["native"]["deployment"].get("deployment_type")
            raise PodIndexNotListable(
                f"collection {name!r} cannot be backed up: index {index_name!r} is a {kind}-based index, and "
                f"{WHY_NOT_POD}. Migrate it to a serverless index (Pinecone's pod-to-serverless migration) and back "
                f"that up, or leave it out of this backup")
        return self.index(index_name), namespace

    def count_documents(self, name: str) -> DocumentCount:
        index_name, namespace = definitions.split_name(name)
        counts = self.index(index_name).describe_index_stats().namespaces
        summary = counts.get(namespace) or (counts.get("") if namespace == DEFAULT_NAMESPACE else None)
        return DocumentCount(summary.vector_count if summary is not None else 0, True)

    def estimated_document_count(self, name: str) -> int:
        return self.count_documents(name).count

    def scan(self, name: str, definition: dict[str, Any], *, streams: int = DEFAULT_STREAMS,
             mode: str = "auto") -> PineconeScan:
        """One stream of list pages whatever ``streams`` says (see sources/pinecone/scan.py)."""
        return PineconeScan(self, name, page_size=self.page_size, streams=streams, mode=mode)

    def partitions(self, name: str, definition: dict[str, Any], *, mode: str = "auto") -> list[Partition]:
        """One partition: a namespace is enumerated only by its list pages (see sources/pinecone/scan.py).

        :raises PodIndexNotListable: the collection is in a pod-based index, refused here already, at planning.
        """
        check_scan_settings(mode)
        self.listable(name)
        return [Partition(ALL, {"reason": WHY_ONE_STREAM})]

    def read_partition(self, name: str, partition: Partition) -> Iterator[list[dict[str, Any]]]:
        if partition.name != ALL:
            raise ValueError(f"Pinecone collections have one partition, {ALL!r}, not {partition.name!r}")
        return PineconeScan(self, name, page_size=self.page_size).pages()

    def find_by_ids(self, name: str, ids: list[Any]) -> list[dict[str, Any]]:
        index_name, namespace = definitions.split_name(name)
        wanted = [str(id_) for id_ in ids]
        fetched = self.fetch(self.index(index_name), wanted, self.wire_namespace(namespace))
        return [stored_form(fetched[id_]) for id_ in wanted if id_ in fetched]

    @staticmethod
    def fetch(index: Index, ids: list[str], namespace: str) -> dict[str, Any]:
        """The records of ``ids`` that exist, by id: as few ``fetch`` requests as keep each URL within budget."""
        found: dict[str, Any] = {}
        batch: list[str] = []
        size = 0
        for id_ in ids:
            cost = len(quote(id_, safe="")) + len("&ids=")
            if batch and (size + cost > FETCH_URL_BUDGET or len(batch) == PAGE_SIZE):
                found.update(index.fetch(ids=batch, namespace=namespace).vectors)
                batch, size = [], 0
            batch.append(id_)
            size += cost
        if batch:
            found.update(index.fetch(ids=batch, namespace=namespace).vectors)
        return found

    def vector_search(self, name: str, vector: Any, *, limit: int = 10, field: str | None = None) -> list[Any]:
        """Ids of the ``limit`` nearest records: by the dense field (``values``, the default) or ``sparse_values``.

        Pinecone scores a record that shares no term with a sparse query 0, whether it has sparse
        values or none, and ranks such ties arbitrarily; so a sparse search asks for
        :data:`SPARSE_CANDIDATES` times ``limit`` matches with their values and keeps those that
        have sparse values. (Where fewer than ``limit`` of them do, the sparse field's recall reads low.)
        """
        index_name, namespace = definitions.split_name(name)
        query: dict[str, Any] = {"top_k": limit, "namespace": self.wire_namespace(namespace)}
        if field == SPARSE:
            query["sparse_vector"] = {"indices": list(vector["indices"]), "values": vector_fields.values_of(vector)}
            query.update(top_k=min(MAX_TOP_K_WITH_VALUES, SPARSE_CANDIDATES * limit), include_values=True)
        elif field in (None, DENSE):
            query["vector"] = vector_fields.values_of(vector) if isinstance(vector, Mapping) else list(vector)
        else:
            raise ValueError(f"a Pinecone index has the vector fields {DENSE!r} and {SPARSE!r}, not {field!r}")
        matches = self.index(index_name).query(**query).matches
        if field == SPARSE:
            matches = [match for match in matches if match.sparse_values is not None][:limit]
        return [match.id for match in matches]

    # -- writing ---------------------------------------------------------------------------------

    def insert_documents(self, name: str, documents: Iterable[dict[str, Any]], *, chunk_size: int = 20,
                         concurrency: int = 16) -> InsertReport:
        """Upsert stored-form documents; re-running it is safe, and nothing already there is ever changed.

        Pinecone's upsert overwrites, so each chunk first fetches the records its ids already have:
        an identical one counts as present, a different one as a failure, and only new ids are
        written. Chunks go one after another (``concurrency`` is not used).
        """
        index_name, namespace = definitions.split_name(name)
        index = self.index(index_name)
        size = max(1, min(chunk_size, UPSERT_BATCH))
        report = InsertReport()
        iterator = iter(documents)
        while chunk := list(islice(iterator, size)):
            report.merge(self._insert_chunk(index, self.wire_namespace(namespace), chunk))
        return report

    def _insert_chunk(self, index: Index, namespace: str, chunk: list[dict[str, Any]]) -> InsertReport:
        report = InsertReport()
        entries, wanted = [], {}
        for document in chunk:
            try:
                entry = to_pinecone(document)
            except RecordRefused as refused:
                report.failures.append(DocumentFailure(document.get("_id"), refused.code, str(refused)))
                continue
            if entry["id"] in wanted:
                self._compare(report, entry["id"], canonical_json(wanted[entry["id"]]) == canonical_json(document))
                continue
            wanted[entry["id"]] = document
            entries.append(entry)
        existing = self.fetch(index, list(wanted), namespace)
        new = []
        for entry in entries:
            there = existing.get(entry["id"])
            if there is None:
                new.append(entry)
            else:
                self._compare(report, entry["id"],
                              canonical_json(stored_form(there)) == canonical_json(wanted[entry["id"]]))
        if new:
            self._upsert(index, namespace, new, report)
        return report

    @staticmethod
    def _compare(report: InsertReport, id_: str, same: bool) -> None:
        if same:
            report.already_present += 1
        else:
            report.failures.append(DocumentFailure(
                id_, "DIFFERENT_DOCUMENT_EXISTS", "a different record with this id is already there; it was left "
                "as it is (Pinecone's upsert would overwrite it)"))

    def _upsert(self, index: Index, namespace: str, entries: list[dict[str, Any]], report: InsertReport) -> None:
        from pinecone.errors.exceptions import ApiError

        try:
            index.upsert(vectors=entries, namespace=namespace)
            report.inserted += len(entries)
            return
        except ApiError as exc:
            if len(entries) == 1 or exc.status_code != 400:
                for entry in entries:
                    report.failures.append(DocumentFailure(entry["id"], f"HTTP_{exc.status_code}",
                                                           self.safe_message(exc)))
                return
        for entry in entries:  # one by one, so a refusal is the record's own
            self._upsert(index, namespace, [entry], report)
