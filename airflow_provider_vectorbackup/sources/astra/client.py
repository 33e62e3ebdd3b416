"""AstraSource: lossless, resumable reads and idempotent bulk writes over the Astra Data API, without Airflow.

Every call goes through astrapy's raw ``command`` interface, which sends and returns the
Data API's JSON untouched. Reads therefore keep EJSON (``$date``, ``$uuid``, ``$objectId``,
``$binary``) and both ``$vector`` encodings exactly as stored, with no decoding of vectors into
floats and back (the dominant cost of a dump through astrapy's typed cursor). See
docs/hooks.md for why this was chosen over astrapy's serdes. ``AstraDBHook`` (hooks/astra.py) only
reads an Airflow connection and builds this client; the CLI builds the same one.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from astrapy.exceptions import DataAPIHttpException, DataAPIResponseException

from airflow_provider_vectorbackup import __version__
from airflow_provider_vectorbackup.connection import ConnectionSettings
from airflow_provider_vectorbackup.exceptions import CredentialsRejected
from airflow_provider_vectorbackup.snapshot.provenance import describe_source, endpoint_origin
from airflow_provider_vectorbackup.sources.astra.insert import insert_documents
from airflow_provider_vectorbackup.sources.astra.retry import InBandRetries, RetryPolicy, Throttled, describe, raise_if_transient
from airflow_provider_vectorbackup.sources.astra.scan import CollectionScan, plan_partitions, read_partition
from airflow_provider_vectorbackup.sources.astra.portable import portable_options
from airflow_provider_vectorbackup.sources.portable import Capabilities, PortableCollection
from airflow_provider_vectorbackup.sources.base import (
    DEFAULT_STREAMS, CollectionDefinitionMismatch, CollectionInfo, DocumentCount, InsertReport, Partition,
    UnsupportedDefinition,
)
from airflow_provider_vectorbackup.throttle import RateLimiter, once, parse_limit

if TYPE_CHECKING:
    from astrapy import Collection, Database

log = logging.getLogger(__name__)

FULL_PROJECTION = {"*": True}
"""Everything, ``$vector``, ``$vectorize`` and ``$lexical`` included: the default projection drops them."""

ASTRA_ENVIRONMENTS = frozenset({"prod", "dev", "test"})
ENVIRONMENTS = ASTRA_ENVIRONMENTS | {"hcd", "dse", "cassandra", "other"}
COUNT_LIMIT = 1000
"""``countDocuments`` stops counting here and answers ``moreData``."""
MAX_EMPTY_PAGES = 100
REFUSED_STATUS = frozenset({401, 403})
"""The Data API's answers to a wrong or insufficient token; never retried (retry.py), always reported as such."""


def _quiet_astrapy_request_logs() -> None:
    """astrapy logs two INFO lines per request: millions in a task log for one large dump.

    Raised to WARNING only where nobody configured a level, so a user's explicit setting wins.
    """
    for name in ("astrapy.data.database", "astrapy.data.collection"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)


class AstraConnectionError(ValueError):
    """The connection cannot describe a Data API endpoint; the message says which field to fix."""


class ScanStalledError(RuntimeError):
    """The server kept answering empty pages with a page state: the scan cannot make progress."""


@dataclass(frozen=True)
class ScanPage:
    """One page of a scan. Pass ``next_page_state`` back as ``page_state`` to resume after this page."""

    documents: list[dict[str, Any]]
    page_state: str | None
    next_page_state: str | None


class AstraSource:
    """One Data API database (Astra, HCD or DSE) through astrapy: a :class:`~airflow_provider_vectorbackup.sources.base.VectorSource`.

    Build it with :meth:`from_connection`. Its fields are parsed and nothing is sent until first use,
    so a connection with bad fields surfaces where the jobs record it (a dump still seals an explained
    INCOMPLETE snapshot); a connection id that does not exist fails earlier, when the hook looks it up,
    before anything is written.
    """

    kind = "astra"
    capabilities = Capabilities(
        mixed_ids=True, id_types=frozenset({"int", "string", "uuid"}), int_ids=(-(2 ** 63), 2 ** 63 - 1),
        max_id_length=2000, max_dimension=4096, vector_names=("$vector",), name_pattern=r"^[A-Za-z_][A-Za-z0-9_-]{0,99}$",
        payload_kinds=frozenset({"string", "int", "float", "bool", "json"}), envelopes=False, ejson=True,
        int_range=None, payload_bytes=3_890_000)
    """The Data API: one ``$vector``, any JSON but keys starting with ``$`` (so no envelopes; EJSON dates keep
    milliseconds only, so datetimes travel as strings with the original kept aside). An indexed string, ``_id``
    included, holds 8,000 bytes of UTF-8 (2,000 characters of any kind), and a document 4,000,000 characters: the
    payload gets what the longest ``_id`` and a 4,096-dimension ``$vector`` list leave."""

    def __init__(self, settings: ConnectionSettings, *, keyspace: str | None = None,
                 retry_policy: RetryPolicy | None = None) -> None:
        self._settings = settings
        self.conn_id = settings.conn_id
        self._keyspace = keyspace
        self._retry_policy = retry_policy
        self._handles: dict[str, Collection] = {}
        self._handles_lock = threading.Lock()
        self.in_band_retries = InBandRetries()
        self.throttled = Throttled()
        """Transient in-band errors retried so far, per collection: scan records and restore reports read it."""

    @classmethod
    def from_connection(cls, settings: ConnectionSettings, *, keyspace: str | None = None,
                        retry_policy: RetryPolicy | None = None) -> AstraSource:
        """The client for an ``astra_db`` connection (docs/connections.md), the way every source is built.

        :param keyspace: overrides the connection's ``keyspace`` extra.
        :param retry_policy: how idempotent requests are retried; by default from the connection's
            ``max_attempts`` extra.
        """
        return cls(settings, keyspace=keyspace, retry_policy=retry_policy)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(conn_id={self.conn_id!r})"

    # -- connection ------------------------------------------------------------------------------

    @property
    def _extras(self) -> Mapping[str, Any]:
        return self._settings.extra

    @cached_property
    def endpoint(self) -> str:
        """``scheme://host[:port]`` of the Data API."""
        conn = self._settings
        host = (conn.host or "").strip().rstrip("/")
        if not host:
            raise AstraConnectionError(
                f"connection {self.conn_id!r} has no host: set it to the API endpoint, e.g. "
                f"https://<database-id>-<region>.apps.astra.datastax.com")
        if "://" not in host:
            host = f"https://{host}"
        parts = urlsplit(host)
        if parts.path not in ("", "/"):
            raise AstraConnectionError(
                f"connection {self.conn_id!r}: the host must be the endpoint without a path "
                f"(got path {parts.path!r}); astrapy adds /api/json/v1 or /v1 itself")
        if conn.port and not parts.port:
            host = f"{host}:{conn.port}"
        return host

    @cached_property
    def environment(self) -> str:
        configured = self._extras.get("environment")
        environment = (configured or ("prod" if ".apps.astra" in self.endpoint else "other")).lower()
        if environment not in ENVIRONMENTS:
            raise AstraConnectionError(
                f"connection {self.conn_id!r}: environment {configured!r} is not one of "
                f"{', '.join(sorted(ENVIRONMENTS))}")
        return environment

    @cached_property
    def keyspace(self) -> str:
        keyspace = self._keyspace or self._extras.get("keyspace")
        if keyspace:
            return keyspace
        if self.environment in ASTRA_ENVIRONMENTS:
            return "default_keyspace"
        raise AstraConnectionError(
            f"connection {self.conn_id!r}: set the 'keyspace' extra (HCD/DSE have no default keyspace)")

    @cached_property
    def retry_policy(self) -> RetryPolicy:
        return self._retry_policy or RetryPolicy(max_attempts=int(self._extras.get("max_attempts") or 8))

    @cached_property
    def request_timeout_ms(self) -> int:
        return int(self._extras.get("request_timeout_ms") or 30_000)

    @cached_property
    def insert_timeout_ms(self) -> int:
        return int(self._extras.get("insert_timeout_ms") or 120_000)

    @cached_property
    def request_limiter(self) -> RateLimiter:
        """Paces every request (retries too) to the ``max_requests_per_second`` extra; unlimited if unset.

        One per source, shared by all the threads that use it.
        """
        try:
            limit = parse_limit(self._extras.get("max_requests_per_second"), "max_requests_per_second")
        except ValueError as error:
            raise AstraConnectionError(f"connection {self.conn_id!r}: {error}") from None
        name = f"Data API requests of connection {self.conn_id!r}"
        return once(self, "_request_limiter", lambda: RateLimiter(limit, name=name))

    @property
    def namespace(self) -> str:
        return self.keyspace

    @cached_property
    def database(self) -> Database:
        """The astrapy ``Database`` for the connection's endpoint and keyspace (built once, then cached)."""
        from astrapy import DataAPIClient
        from astrapy.api_options import APIOptions, TimeoutOptions
        from astrapy.authentication import UsernamePasswordTokenProvider

        conn = self._settings
        if not conn.password:
            raise AstraConnectionError(
                f"connection {self.conn_id!r} has no password: put the application token there "
                f"(or the password, with the username in login, for HCD/DSE)")
        token: Any = UsernamePasswordTokenProvider(conn.login, conn.password) if conn.login else conn.password
        timeouts = TimeoutOptions(request_timeout_ms=self.request_timeout_ms,
                                  general_method_timeout_ms=self.request_timeout_ms)
        client = DataAPIClient(environment=self.environment, callers=[("airflow-provider-vectorbackup", __version__)],
                               api_options=APIOptions(timeout_options=timeouts))
        _quiet_astrapy_request_logs()
        return client.get_database(self.endpoint, token=token, keyspace=self.keyspace)

    def describe_source(self) -> dict[str, Any]:
        """What a snapshot manifest records about this source: never the token."""
        return describe_source("astra", self.endpoint, self.keyspace, environment=self.environment)

    # -- low level -------------------------------------------------------------------------------

    def command(self, body: dict[str, Any], *, collection: str | None = None, timeout_ms: int | None = None,
                raise_api_errors: bool = True) -> dict[str, Any]:
        """Send one raw Data API command, retried per :attr:`retry_policy`. Only for idempotent commands.

        With ``raise_api_errors=False`` the answer's ``errors`` are the caller's to read, except a
        transient in-band error (``UNAVAILABLE_DATABASE``, ...): the command is sent again for it.

        :raises CredentialsRejected: the server refused the connection's token (HTTP 401 or 403).
        """
        what = f"{next(iter(body))} on {collection or self.keyspace}"

        def send() -> dict[str, Any]:
            self.request_limiter.acquire()  # per attempt: a retry is one more request to the server
            target: Database | Collection = self.database if collection is None else self._collection(collection)
            response = target.command(body, raise_api_errors=raise_api_errors,
                                      timeout_ms=timeout_ms or self.request_timeout_ms)
            if not raise_api_errors:
                raise_if_transient(response)
            return response
        try:
            return self.retry_policy.call(what, send,
                                          on_retry=lambda exc: self._retried(collection, exc))
        except DataAPIHttpException as exc:
            if exc.response.status_code not in REFUSED_STATUS:
                raise
            raise self._refused(exc, what) from exc

    def _retried(self, collection: str | None, exc: BaseException | None) -> None:
        self.in_band_retries.add(collection, exc)
        self.throttled.add(collection, exc)

    def _refused(self, exc: DataAPIHttpException, what: str) -> CredentialsRejected:
        """What a 401 or 403 means for this connection, built from the status and error codes, never the request."""
        status = exc.response.status_code
        codes = ", ".join(d.error_code for d in exc.error_descriptors if d.error_code)
        seen = f"HTTP {status}{f' {codes}' if codes else ''} from {endpoint_origin(self.endpoint)}"
        if status == 401:
            message = (f"the Data API refused the credentials of connection {self.conn_id!r} ({seen}): check "
                       f"that its password holds a current application token for this database (not revoked or "
                       f"expired) or, for HCD/DSE, that its login and password are right")
        else:
            message = (f"the Data API refused {what} to connection {self.conn_id!r} ({seen}): check that the "
                       f"token's role allows it in keyspace {self.keyspace!r} of this database (a dump reads; a "
                       f"restore also creates collections and writes)")
        return CredentialsRejected(message, conn_id=self.conn_id, service="Astra", status=status)

    def _collection(self, name: str) -> Collection:
        """astrapy's handle on one collection, kept: it holds the HTTP connection pool its requests reuse.

        ``Database.command`` builds a new HTTP client, and so a new connection, for every call;
        a scan of a large collection is thousands of calls.
        """
        with self._handles_lock:
            handle = self._handles.get(name)
            if handle is None:
                handle = self._handles[name] = self.database.get_collection(name)
            return handle

    # -- operations ------------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """List the keyspace's collections: the cheapest call that proves endpoint, token and keyspace."""
        try:
            names = self.command({"findCollections": {}})["status"]["collections"]
        except Exception as exc:  # reported to the UI and CLI, never raised
            return False, self._safe_message(exc)
        return True, f"Connected to {endpoint_origin(self.endpoint)}, keyspace {self.keyspace!r}: {len(names)} collection(s)"

    def list_collections(self) -> list[CollectionInfo]:
        """Every collection in the keyspace with its full definition, as ``findCollections`` explains it."""
        found = self.command({"findCollections": {"options": {"explain": True}}})["status"]["collections"]
        return [CollectionInfo(c["name"], c.get("options") or {}) for c in found]

    def collection_definition(self, name: str) -> dict[str, Any] | None:
        """The definition of one collection, or ``None`` if it does not exist."""
        for info in self.list_collections():
            if info.name == name:
                return info.definition
        return None

    def scan_pages(self, collection: str, *, page_state: str | None = None,
                   filter: dict[str, Any] | None = None) -> Iterator[ScanPage]:
        """Yield a collection's documents page by page, verbatim, with the page state to resume from.

        Unlike astrapy's cursor, an empty page that still carries a page state does not end
        the scan; a server that answers nothing but such pages raises :class:`ScanStalledError`.
        """
        state = page_state
        empty_pages = 0
        while True:
            options = {"pageState": state} if state else {}
            body = {"find": {"filter": filter or {}, "projection": FULL_PROJECTION, "options": options}}
            data = self.command(body, collection=collection).get("data") or {}
            documents, next_state = data.get("documents"), data.get("nextPageState")
            if not isinstance(documents, list):
                raise RuntimeError(f"find on {collection!r} returned no documents list; is this a Data API endpoint?")
            yield ScanPage(documents, state, next_state)
            if not next_state:
                return
            empty_pages = 0 if documents else empty_pages + 1
            if empty_pages >= MAX_EMPTY_PAGES:
                raise ScanStalledError(
                    f"scan of {collection!r} got {empty_pages} empty pages in a row that still carried a page "
                    f"state; stopped rather than loop forever. Resume later from page state {state!r}")
            state = next_state

    def iter_documents(self, collection: str, *, filter: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every document of a collection in its stored JSON form (``$vector`` included)."""
        for page in self.scan_pages(collection, filter=filter):
            yield from page.documents

    def portable_definition(self, portable: PortableCollection) -> dict[str, Any]:
        """The ``createCollection`` options of a collection for ``portable`` (see ``portable.py``); sends nothing."""
        return portable_options(portable)

    def unsupported(self, definition: dict[str, Any]) -> list[str]:
        """Another engine's definition; the rest (e.g. a dimension above 4096) only the server can judge, on create."""
        engine = definition.get("engine") if isinstance(definition, dict) else None
        if isinstance(engine, str) and isinstance(definition.get("native"), dict):
            return [f"the definition is a {engine} collection's, which a Data API collection cannot hold"]
        return []

    def restore_tolerance(self, definition: dict[str, Any]) -> int:
        """The Data API stores every value it is given exactly."""
        return 0

    def create_collection(self, name: str, definition: dict[str, Any]) -> bool:
        """Create a collection from a stored definition; return False if an identical one already exists.

        :raises CollectionDefinitionMismatch: a collection of that name exists with another definition.
        :raises UnsupportedDefinition: the Data API refused the definition (e.g. a vector dimension above
            4096); the message is the server's, naming the field.
        """
        refused = self.unsupported(definition)
        if refused:
            raise UnsupportedDefinition(f"collection {name!r} cannot be created in keyspace {self.keyspace!r}: "
                                        + "; ".join(refused) + "; nothing was created")
        existing = self.collection_definition(name)
        if existing is not None:
            if existing == definition:
                return False
            differing = sorted(k for k in set(existing) | set(definition) if existing.get(k) != definition.get(k))
            raise CollectionDefinitionMismatch(
                f"collection {name!r} already exists in keyspace {self.keyspace!r} with a different definition "
                f"(differs in: {', '.join(differing)}); restore under another name or drop it first")
        body: dict[str, Any] = {"name": name}
        if definition:
            body["options"] = definition
        try:
            self.command({"createCollection": body}, timeout_ms=max(self.request_timeout_ms, 60_000))
        except DataAPIResponseException as exc:
            refusals = [d for d in exc.error_descriptors if d.family == "REQUEST"]
            if not refusals:
                raise
            reasons = "; ".join(f"{d.error_code}: {(d.message or '').splitlines()[0]}" for d in refusals)
            raise UnsupportedDefinition(
                f"keyspace {self.keyspace!r} cannot hold collection {name!r} as defined, the Data API refused it "
                f"({reasons}); nothing was created. Fix the definition, or restore into a database that supports "
                f"it") from exc
        log.info("Created collection %r in keyspace %r", name, self.keyspace)
        return True

    def scan(self, name: str, definition: dict[str, Any], *, streams: int = DEFAULT_STREAMS,
             mode: str = "auto") -> CollectionScan:
        """A whole collection, prefetched on ``streams`` threads, by ``_id`` range where provably complete."""
        return CollectionScan(self, name, definition, streams=streams, mode=mode)

    def partitions(self, name: str, definition: dict[str, Any], *, mode: str = "auto") -> list[Partition]:
        """The ``_id``-range shards plus a ``rest`` partition, or one ``all`` partition (see sources/astra/scan.py)."""
        return plan_partitions(self, name, definition, mode=mode)

    def read_partition(self, name: str, partition: Partition) -> Iterator[list[dict[str, Any]]]:
        return read_partition(self, name, partition)

    def drop_collection(self, name: str) -> None:
        self.command({"deleteCollection": {"name": name}}, timeout_ms=max(self.request_timeout_ms, 60_000))
        log.info("Dropped collection %r from keyspace %r", name, self.keyspace)

    def count_documents(self, collection: str, *, filter: dict[str, Any] | None = None) -> DocumentCount:
        """Exact up to the server's limit of 1000; beyond it, ``exact=False`` and ``count`` is a lower bound."""
        status = self.command({"countDocuments": {"filter": filter or {}}}, collection=collection)["status"]
        return DocumentCount(int(status["count"]), not status.get("moreData", False))

    def estimated_document_count(self, collection: str) -> int:
        """The server's estimate: cheap, possibly stale (or 0 for a new collection)."""
        return int(self.command({"estimatedDocumentCount": {}}, collection=collection)["status"]["count"])

    def insert_documents(self, collection: str, documents: Iterable[dict[str, Any]], *, chunk_size: int = 20,
                         concurrency: int = 16) -> InsertReport:
        """Insert stored-form documents with bounded concurrency; re-running it is safe.

        A document whose ``_id`` already exists counts as present when the stored document is
        the same (compared in the content digest's canonical form), and as a failure otherwise.

        :param chunk_size: documents per ``insertMany`` (at most 100; small chunks suit vectors).
        :param concurrency: chunks in flight at once.
        """
        return insert_documents(self, collection, documents, chunk_size=chunk_size, concurrency=concurrency)

    def vector_search(self, collection: str, vector: list[float], *, limit: int = 10,
                      field: str | None = None) -> list[Any]:
        """The ``_id`` s of the ``limit`` documents nearest to ``vector`` by the collection's metric, nearest first.

        A Data API collection has one vector, ``$vector``: ``field`` must be ``None``.
        """
        if field is not None:
            raise ValueError(f"a Data API collection has only $vector, not the vector field {field!r}")
        body = {"find": {"filter": {}, "sort": {"$vector": vector}, "projection": {"_id": True},
                         "options": {"limit": limit}}}
        return [d["_id"] for d in self.command(body, collection=collection)["data"]["documents"]]

    def find_by_ids(self, collection: str, ids: list[Any]) -> list[dict[str, Any]]:
        """Stored documents for up to 100 ``_id`` values (the ``$in`` limit), verbatim, across pages."""
        return list(self.iter_documents(collection, filter={"_id": {"$in": ids}}))

    def _safe_message(self, exc: BaseException) -> str:
        """An error message for the UI with the token (and its ``Cassandra:`` base64 form) blanked out."""
        message = f"{describe(exc)}: {exc}"
        password = self._settings.password
        if password:
            for secret in (password, base64.b64encode(password.encode()).decode()):
                message = message.replace(secret, "***")
        return message
