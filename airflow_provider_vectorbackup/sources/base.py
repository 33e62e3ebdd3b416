"""What a vector database must offer to be dumped, restored and validated: the :class:`VectorSource` protocol.

The jobs (dump, restore, the scale-out dump) and the CLI speak only this protocol, so adding a
source is one client class in ``sources/<kind>/`` that passes the conformance suite
(``tests/sources/test_conformance.py``), and a thin hook. Documents cross it in their *stored
form*, so a snapshot's content digest does not depend on which client read it:

- the Data API's: the JSON the database holds, ``_id`` and the vector (``$vector``, a list of
  floats or ``{"$binary": ...}``) included, EJSON values (``$date``, ``$uuid``, ...) kept as they are;
- every other engine's: ``{"_id": <native id>, "$vectors": {<field>: <value>}, "payload": {...}}``
  (Chroma adds ``"document"`` and ``"uri"``), vector values built by
  :mod:`~airflow_provider_vectorbackup.snapshot.vector_fields`; values JSON lacks (``Decimal``,
  ``datetime``, ``bytes``, ``UUID``, big or non-finite floats ...) as the codec's envelopes
  (``DEFAULT_CODEC.encode`` when scanning, ``DEFAULT_CODEC.decode`` before writing), so only JSON
  crosses this protocol. Their definitions are ``{"engine", "id", "vectors", "native"}``
  (docs/format.md, "Definitions").

No Airflow here.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

SCAN_MODES = ("auto", "ranges", "single")
"""How a collection may be split for reading: ``auto`` splits when the split is provably complete,
``ranges`` splits trusting what the source cannot prove, ``single`` never splits."""
DEFAULT_STREAMS = 4
"""Requests in flight per collection while scanning."""


def check_scan_settings(mode: str, streams: int = 1) -> None:
    """Refuse a scan mode that is not one of :data:`SCAN_MODES`, or fewer than one stream."""
    if mode not in SCAN_MODES:
        raise ValueError(f"scan mode must be one of {SCAN_MODES}, not {mode!r}")
    if streams < 1:
        raise ValueError("streams must be at least 1")


class UnsupportedDefinition(ValueError):
    """The source cannot hold a collection so defined; the message names the collection and what it refused.

    Raised before anything was created.
    """


class CollectionDefinitionMismatch(RuntimeError):
    """A collection exists with a definition other than the one asked for; it was left as it is."""


@dataclass(frozen=True)
class CollectionInfo:
    """A collection and its definition, in the source's own terms (stored in the snapshot as they are)."""

    name: str
    definition: dict[str, Any]


@dataclass(frozen=True)
class DocumentCount:
    """``exact`` is False when the server stopped counting: the collection holds at least ``count``."""

    count: int
    exact: bool


@dataclass(frozen=True)
class Partition:
    """One part of a collection; a collection's partitions hold every document exactly once.

    JSON-safe (:meth:`to_dict`, :meth:`from_dict`), so one task can plan the partitions and others
    read them. ``spec`` is the source's own description of the part, opaque to callers.
    """

    name: str
    spec: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "spec": dict(self.spec)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Partition:
        return cls(data["name"], dict(data.get("spec") or {}))


@dataclass(frozen=True)
class DocumentFailure:
    id: Any
    error_code: str
    message: str


@dataclass
class InsertReport:
    """What happened to every document: inserted now, already there identically, or failed (and why)."""

    inserted: int = 0
    already_present: int = 0
    failures: list[DocumentFailure] = field(default_factory=list)
    throttled: int = 0
    """Requests the target throttled (HTTP 429) and that were sent again."""
    fewest_in_flight: int | None = None
    """The fewest requests in flight the inserts backed off to while throttled (``None``: never backed off)."""

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def documents(self) -> int:
        return self.inserted + self.already_present + len(self.failures)

    def merge(self, other: InsertReport) -> None:
        self.inserted += other.inserted
        self.already_present += other.already_present
        self.failures.extend(other.failures)
        self.throttled += other.throttled
        if other.fewest_in_flight is not None:
            self.fewest_in_flight = min(other.fewest_in_flight, self.fewest_in_flight or other.fewest_in_flight)

    def summary(self) -> str:
        text = f"{self.inserted} inserted, {self.already_present} already present, {len(self.failures)} failed"
        if self.throttled:
            text += f", {self.throttled} throttled request(s) sent again"
            if self.fewest_in_flight is not None:
                text += f" (backed off to {self.fewest_in_flight} in flight)"
        if self.failures:
            first = self.failures[0]
            text += f" (first failure: _id {first.id!r}: {first.error_code}: {first.message})"
        return text


class ScanRecord(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


@dataclass
class CountedScanRecord:
    """The scan record of an engine read by one stream of pages (Chroma, Pinecone): the counts before and after
    show nothing was added or removed meanwhile."""

    mode: str
    streams: int
    reason: str
    page_size: int
    documents: int = 0
    count_before: int | None = None
    count_after: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


class Scan(Protocol):
    """One read of a whole collection: :meth:`pages` yields every document once, completeness already proven.

    Use :meth:`pages` inside ``contextlib.closing`` (or exhaust it): closing stops any fetchers.
    ``record`` says how the collection was read and why (stored in the manifest); ``None`` until
    reading starts.
    """

    record: ScanRecord | None

    def pages(self) -> Iterator[list[dict[str, Any]]]: ...


class RetryTally(Protocol):
    """Transient errors retried so far, per collection and code; the restore report shows its collection's share."""

    def of(self, collection: str | None) -> collections.Counter[str]: ...

    def since(self, collection: str | None, before: collections.Counter[str]) -> dict[str, int]: ...


class NoRetries:
    """The :class:`RetryTally` of a source whose client reports no in-band transient errors: always empty."""

    def of(self, collection: str | None) -> collections.Counter[str]:
        return collections.Counter()

    def since(self, collection: str | None, before: collections.Counter[str]) -> dict[str, int]:
        return {}


@runtime_checkable
class VectorSource(Protocol):
    """A vector database as dump, restore and validation use it.

    Implementations are built from a :class:`~airflow_provider_vectorbackup.connection.ConnectionSettings`
    by ``from_connection(settings, ...)``, lazily: building one sends nothing and reads no secret,
    so a broken connection surfaces on first use, where the jobs can record it.
    """

    kind: str
    """The source's name in manifests and messages, e.g. ``"astra"``."""
    namespace: str
    """Where its collections live (Astra: the keyspace), named in messages and reports."""
    in_band_retries: RetryTally

    def describe_source(self) -> dict[str, Any]:
        """The manifest's ``source`` block: kind, where, never a secret."""
        ...

    def list_collections(self) -> list[CollectionInfo]: ...

    def collection_definition(self, name: str) -> dict[str, Any] | None:
        """The definition of one collection, or ``None`` if it does not exist."""
        ...

    def estimated_document_count(self, name: str) -> int:
        """Cheap and possibly stale: for progress and ETAs, never for proofs."""
        ...

    def count_documents(self, name: str) -> DocumentCount: ...

    def scan(self, name: str, definition: dict[str, Any], *, streams: int = DEFAULT_STREAMS,
             mode: str = "auto") -> Scan:
        """Read a whole collection, split as the source can (see :data:`SCAN_MODES`), proven complete."""
        ...

    def partitions(self, name: str, definition: dict[str, Any], *, mode: str = "auto") -> list[Partition]:
        """Disjoint parts that together hold every document once, for readers in other processes."""
        ...

    def read_partition(self, name: str, partition: Partition) -> Iterator[list[dict[str, Any]]]:
        """The pages of one partition, stored-form documents, no empty page."""
        ...

    def unsupported(self, definition: dict[str, Any]) -> list[str]:
        """What in ``definition`` this source cannot recreate, each naming the item; empty when it can.

        Restore asks before writing anything, for every collection; sends nothing where the source
        can tell locally, and never creates anything.
        """
        ...

    def restore_tolerance(self, definition: dict[str, Any]) -> int:
        """How many ulps the engine may move a float by when it stores one (0: it stores every value exactly).

        Above 0, restore compares documents exactly except for their floats, and the floats of
        sampled documents within this many ulps (``snapshot/tolerance.py``).
        """
        ...

    def create_collection(self, name: str, definition: dict[str, Any]) -> bool:
        """Create it; False if an identical one exists.

        :raises UnsupportedDefinition: the source cannot represent the definition (:meth:`unsupported`,
            or the server refused it); nothing was created.
        :raises CollectionDefinitionMismatch: it exists with another definition.
        """
        ...

    def drop_collection(self, name: str) -> None: ...

    def insert_documents(self, name: str, documents: Iterable[dict[str, Any]], *, chunk_size: int = 20,
                         concurrency: int = 16) -> InsertReport:
        """Write stored-form documents; idempotent: a document already there identically counts as present."""
        ...

    def find_by_ids(self, name: str, ids: list[Any]) -> list[dict[str, Any]]: ...

    def vector_search(self, name: str, vector: Any, *, limit: int = 10, field: str | None = None) -> list[Any]:
        """The ids of the ``limit`` nearest documents by the field's metric, nearest first (recall checks).

        ``vector`` is a query in stored form: a list of floats for ``$vector`` (``field`` None), or a
        :mod:`~airflow_provider_vectorbackup.snapshot.vector_fields` value for the ``$vectors`` field ``field``.
        """
        ...
