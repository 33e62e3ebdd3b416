"""Reading a whole collection fast and provably completely: prefetched, and in parallel by ``_id`` range.

The Data API answers 20 or 50 documents per request, so one scan is bounded by the round trip.
Range filters on ``_id`` work for string, number, date and boolean ids, so a collection whose
ids are strings (Astra's generated UUIDs) is split into disjoint shards read by several
streams at once:

- sixteen string shards on the first character, ``_id < "1"``, ``"1" <= _id < "2"``, …,
  ``_id >= "f"``: together they cover every string in whatever order the server compares them;
- typed catch-all shards for number, date and boolean ids (both halves of each ordering), so
  those are read too; they usually answer one empty page each.

``$uuid`` and ``$objectId`` ids cannot be range-filtered. They come from a ``defaultId`` option
(the collection is then read by one scan) or from clients writing such ids explicitly. A probe
page decides first: any id in it that is not a string means one scan. After the shards,
completeness must be proven by the server's count: an exact count (up to 1,000) not above what
the shards found, or an estimate equal to it. Otherwise a full pass reads the collection once
more and keeps only documents whose ids no shard can hold, so an explicitly written ``$uuid``
id is never silently left out. Every decision and count is kept in :class:`ScanRecord`, which
the dump stores in the manifest (docs/format.md, "Scan record").

Self-managed Data API releases older than Astra's refuse String or Date bounds on ``_id``
(``FILTER_UNSUPPORTED_DATA_TYPE``). One small range request of each type, before any shard is
read, finds out: without String bounds the collection is read by one scan, without Date bounds
by the other shards, with date ids left to the reconciling full pass.

Pages are fetched on background threads into a bounded queue, so fetching overlaps with
encoding and memory stays at a few pages per stream.

For readers in other processes, :func:`plan_partitions` makes the same decisions up front and
hands out the shards as JSON-safe partitions, plus a ``rest`` partition in place of the
reconciling pass (counts cannot prove completeness across processes); :func:`read_partition`
reads one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from astrapy.exceptions import DataAPIResponseException

from airflow_provider_vectorbackup.sources.base import DEFAULT_STREAMS, Partition, check_scan_settings
from airflow_provider_vectorbackup.sources.fetch_ahead import fetch_ahead

if TYPE_CHECKING:
    from airflow_provider_vectorbackup.sources.astra.client import AstraSource

log = logging.getLogger(__name__)

_STRING_BOUNDS = "123456789abcdef"
UNSUPPORTED_BOUND = "FILTER_UNSUPPORTED_DATA_TYPE"
"""What a Data API release that cannot range-filter ``_id`` by a type answers for such a bound."""
_EPOCH = {"$date": 0}
_PROBE_BOUNDS = {"string": _STRING_BOUNDS[0], "date": _EPOCH}
"""One bound per ``_id`` type that older releases may refuse (numbers and booleans they accept)."""


@dataclass(frozen=True)
class Shard:
    """A disjoint part of a collection: a filter, and optionally the page state to resume from."""

    name: str
    filter: dict[str, Any]
    page_state: str | None = None


def id_range_shards(refused: frozenset[str] = frozenset()) -> list[Shard]:
    """The string shards on the first character plus typed catch-alls: together, every rangeable ``_id``.

    :param refused: ``_id`` types the server cannot range-filter (``"string"``, ``"date"``): no shards for them.
    """
    shards = []
    if "string" not in refused:
        bounds = [None, *_STRING_BOUNDS, None]
        for low, high in zip(bounds, bounds[1:]):
            condition = {**({"$gte": low} if low else {}), **({"$lt": high} if high else {})}
            shards.append(Shard(f"string[{low or ''},{high or ''})", {"_id": condition}))
    shards += [Shard("number<0", {"_id": {"$lt": 0}}), Shard("number>=0", {"_id": {"$gte": 0}})]
    if "date" not in refused:
        shards += [Shard("date<1970", {"_id": {"$lt": _EPOCH}}), Shard("date>=1970", {"_id": {"$gte": _EPOCH}})]
    shards += [Shard("boolean:true", {"_id": True}), Shard("boolean:false", {"_id": False})]
    return shards


def rangeable_id(value: Any, refused: frozenset[str] = frozenset()) -> bool:
    """Whether some shard of :func:`id_range_shards` (``refused`` passed alike) holds a document with this ``_id``."""
    if isinstance(value, str):
        return "string" not in refused
    if isinstance(value, (int, float)):  # bool is an int
        return True
    return isinstance(value, dict) and set(value) == {"$date"} and "date" not in refused


def refused_bounds(source: AstraSource, collection: str) -> frozenset[str]:
    """The ``_id`` types whose range bounds the server refuses: one small request per type, before any shard."""
    refused = set()
    for kind, bound in _PROBE_BOUNDS.items():
        body = {"find": {"filter": {"_id": {"$lt": bound}}, "projection": {"_id": True}, "options": {"limit": 1}}}
        try:
            source.command(body, collection=collection)
        except DataAPIResponseException as exc:
            if not any(d.error_code == UNSUPPORTED_BOUND for d in exc.error_descriptors):
                raise
            log.warning("Collection %r: the server refuses %s bounds on _id (%s); reading it without them",
                        collection, kind.capitalize(), UNSUPPORTED_BOUND)
            refused.add(kind)
    return frozenset(refused)


@dataclass
class ScanRecord:
    """How a collection was read and why, with the counts that show nothing was missed."""

    mode: str
    """``"single"`` (one scan) or ``"id-ranges"`` (parallel shards); ``"probe"`` if it failed before choosing."""
    streams: int
    reason: str
    documents: int = 0
    shards: dict[str, int] = field(default_factory=dict)
    """Documents read per shard (``id-ranges`` only)."""
    server_count: int | None = None
    server_count_exact: bool | None = None
    reconciliation: str | None = None
    """How completeness was established: an exact count, an estimate equal to what was found, a full pass."""
    full_pass_documents: int | None = None
    """Documents only the reconciling full pass found (``None``: no full pass was made)."""
    fallback: dict[str, Any] | None = None
    """The server refused ``_id`` range bounds: which types (``refused``), its ``error``, the split used ``instead``."""
    in_band_retries: dict[str, int] = field(default_factory=dict)
    """Transient in-band errors (HTTP 200 with an ``errors`` list) retried during this scan, by error code."""

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None and v != {}}


class CollectionScan:
    """Yields a collection's pages, verbatim, fetched ahead on ``streams`` threads; fills :attr:`record`.

    Use :meth:`pages` inside ``contextlib.closing`` (or exhaust it): closing stops the fetchers.

    :param mode: ``"auto"`` reads by ``_id`` range when that is provably complete, else one scan;
        ``"ranges"`` reads by range without the reconciling pass, for collections whose ids are
        strings, numbers, dates or booleans by construction; ``"single"`` always reads with one
        scan (still prefetched).
    """

    def __init__(self, source: AstraSource, collection: str, definition: dict[str, Any], *,
                 streams: int = DEFAULT_STREAMS, mode: str = "auto") -> None:
        check_scan_settings(mode, streams)
        self.source = source
        self.collection = collection
        self.definition = definition
        self.streams = streams
        self.mode = mode
        self.record: ScanRecord | None = None

    def pages(self) -> Iterator[list[dict[str, Any]]]:
        retried_before = self.source.in_band_retries.of(self.collection)
        try:
            yield from self._pages()
        finally:  # every fetcher has stopped by now: _shard_pages waits for them
            if self.record is not None:
                self.record.in_band_retries = self.source.in_band_retries.since(self.collection, retried_before)

    def _pages(self) -> Iterator[list[dict[str, Any]]]:
        reason = self._single_scan_reason()
        if reason is not None:
            yield from self._single(reason, None)
            return
        self.record = ScanRecord("probe", 1, "reading the first page to choose how to scan")  # if the probe fails
        probe = next(self.source.scan_pages(self.collection))
        if not probe.next_page_state:
            self.record = ScanRecord("single", 1, "the collection fits in one page", len(probe.documents))
            log.debug("Read %r with its first page: the collection fits in one page", self.collection)
            yield probe.documents
            return
        odd = non_string_ids(probe.documents)
        if odd:
            yield from self._single(odd, probe)
            return
        refused = refused_bounds(self.source, self.collection)
        if "string" in refused:
            fallback = {"refused": sorted(refused), "error": UNSUPPORTED_BOUND, "instead": "single"}
            yield from self._single("the server refuses String bounds on _id (an older Data API release)", probe,
                                    fallback)
            return
        yield from self._by_id_ranges(refused)

    def _single_scan_reason(self) -> str | None:
        if self.streams == 1:
            return "one stream configured"
        return unsplittable(self.mode, self.definition)

    def _single(self, reason: str, probe: Any,
                fallback: dict[str, Any] | None = None) -> Iterator[list[dict[str, Any]]]:
        record = self.record = ScanRecord("single", 1, reason, fallback=fallback)
        log.info("Reading %r with one scan: %s", self.collection, reason)
        if probe is not None:
            record.documents += len(probe.documents)
            yield probe.documents
            if not probe.next_page_state:
                return
        shard = Shard("all", {}, probe.next_page_state if probe is not None else None)
        for _, documents in _shard_pages(self.source, self.collection, [shard], streams=1):
            record.documents += len(documents)
            yield documents

    def _by_id_ranges(self, refused: frozenset[str]) -> Iterator[list[dict[str, Any]]]:
        shards = id_range_shards(refused)
        record = self.record = ScanRecord("id-ranges", self.streams, "every id on the probe page is a string",
                                          shards={shard.name: 0 for shard in shards})
        if refused:
            record.fallback = {"refused": sorted(refused), "error": UNSUPPORTED_BOUND,
                               "instead": f"id-ranges without the {' and '.join(sorted(refused))} shards"}
        log.info("Reading %r by _id range: %d shards on %d streams", self.collection, len(shards), self.streams)
        for shard, documents in _shard_pages(self.source, self.collection, shards, streams=self.streams):
            record.shards[shard.name] += len(documents)
            record.documents += len(documents)
            yield documents
        log.debug("Read %r by _id range: %d documents by shard: %s", self.collection, record.documents,
                  ", ".join(f"{name} {count}" for name, count in record.shards.items() if count) or "none")
        yield from self._reconcile(record, refused)

    def _reconcile(self, record: ScanRecord, refused: frozenset[str]) -> Iterator[list[dict[str, Any]]]:
        """Prove nothing was missed, or read everything once more for ids that no range can hold.

        An exact count (the server counts up to 1,000) proves it when it is not above what the
        shards found. Above that, only the server's estimate is available: it proves nothing
        unless it equals what was found, so any other value costs a full pass rather than a
        snapshot that could lack ``$uuid``/``$objectId`` documents and still look complete.
        ``scan_mode="ranges"`` skips this for collections whose ids cannot be of those types, unless
        the server refused a type's bounds: ids of that type are then read by the full pass too.
        """
        counted = self.source.count_documents(self.collection)
        record.server_count_exact = counted.exact
        record.server_count = counted.count
        if not counted.exact:
            record.server_count = max(counted.count, self.source.estimated_document_count(self.collection))
        if self.mode == "ranges" and not refused:
            record.reconciliation = "trusted: scan_mode='ranges' says every id is rangeable"
        elif counted.exact and record.server_count <= record.documents:
            record.reconciliation = "exact count"
        elif not counted.exact and record.server_count == record.documents:
            record.reconciliation = "estimated count equals the documents found"
        if record.reconciliation is not None:
            log.debug("Collection %r: %d documents read, the server counts %d%s; complete by %s", self.collection,
                      record.documents, record.server_count, "" if counted.exact else " (estimated)",
                      record.reconciliation)
            return
        why = (f"the server counts {record.server_count} documents" if counted.exact else
               f"the server's estimate ({record.server_count}) cannot confirm the {record.documents} found")
        record.reconciliation = f"full pass: {why}"
        log.warning("Collection %r: %s; reading it once more for ids that ranges cannot hold ($uuid, $objectId%s)",
                    self.collection, why, "".join(f", {kind}" for kind in sorted(refused)))
        record.full_pass_documents = 0
        for _, documents in _shard_pages(self.source, self.collection, [Shard("all", {})], streams=1):
            extra = [d for d in documents if not rangeable_id(d.get("_id"), refused)]
            if extra:
                record.full_pass_documents += len(extra)
                record.documents += len(extra)
                yield extra


def unsplittable(mode: str, definition: dict[str, Any]) -> str | None:
    """Why a collection is read in one stream before anything is asked of the server, or ``None``."""
    if mode == "single":
        return "single scan requested"
    if definition.get("defaultId"):
        return "the collection sets defaultId, whose ids cannot be range-filtered"
    return None


def non_string_ids(probe: list[dict[str, Any]]) -> str | None:
    """Why the first page's ids rule out ``_id`` ranges (some are not strings), or ``None``."""
    odd = sorted({type(d.get("_id")).__name__ for d in probe if not isinstance(d.get("_id"), str)})
    return f"the probe page holds ids that are not strings ({', '.join(odd)})" if odd else None


def plan_partitions(source: AstraSource, collection: str, definition: dict[str, Any], *,
                    mode: str = "auto") -> list[Partition]:
    """The ``_id``-range shards plus a ``rest`` partition for the ids no shard can hold, or one ``all`` partition.

    One ``all`` partition wherever :class:`CollectionScan` would read with one scan. Counts cannot
    prove completeness across readers in other processes, so ``rest`` always reads the collection
    once more and keeps only what no shard holds (``$uuid``, ``$objectId``, and the types whose
    bounds the server refused); ``mode="ranges"`` leaves it out, as the scan leaves out its
    reconciling pass, unless the server refused a type's bounds.
    """
    check_scan_settings(mode)
    whole = [Partition("all", {"filter": {}})]
    if unsplittable(mode, definition):
        return whole
    probe = next(source.scan_pages(collection))
    if not probe.next_page_state or non_string_ids(probe.documents):
        return whole
    refused = refused_bounds(source, collection)
    if "string" in refused:
        return whole
    partitions = [Partition(shard.name, {"filter": shard.filter}) for shard in id_range_shards(refused)]
    if mode == "auto" or refused:
        partitions.append(Partition("rest", {"filter": {}, "keep": "unrangeable", "refused": sorted(refused)}))
    return partitions


def read_partition(source: AstraSource, collection: str, partition: Partition) -> Iterator[list[dict[str, Any]]]:
    """The non-empty pages of one partition of :func:`plan_partitions`, verbatim."""
    spec = partition.spec
    unrangeable_only = spec.get("keep") == "unrangeable"
    refused = frozenset(spec.get("refused") or ())
    for page in source.scan_pages(collection, filter=dict(spec.get("filter") or {})):
        documents = page.documents
        if unrangeable_only:
            documents = [d for d in documents if not rangeable_id(d.get("_id"), refused)]
        if documents:
            yield documents


def _shard_pages(source: AstraSource, collection: str, shards: list[Shard],
                 streams: int) -> Iterator[tuple[Shard, list[dict[str, Any]]]]:
    """Yield ``(shard, documents)`` for the shards' non-empty pages, read by ``streams`` threads a few pages ahead.

    The first fetch failure (after the source's retries) is raised here; leaving early stops the fetchers.
    """
    def read(_: None, shard: Shard) -> Iterator[list[dict[str, Any]]]:
        for page in source.scan_pages(collection, filter=shard.filter, page_state=shard.page_state):
            if page.documents:
                yield page.documents

    return fetch_ahead(shards, read, streams=streams, name=f"scan-{collection}")
