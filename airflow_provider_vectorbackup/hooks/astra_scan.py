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

Pages are fetched on background threads into a bounded queue, so fetching overlaps with
encoding and memory stays at a few pages per stream.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_vectorbackup.hooks.astra import AstraDBHook

log = logging.getLogger(__name__)

SCAN_MODES = ("auto", "ranges", "single")
DEFAULT_STREAMS = 4
_STRING_BOUNDS = "123456789abcdef"
_PAGES_PER_STREAM = 2


@dataclass(frozen=True)
class Shard:
    """A disjoint part of a collection: a filter, and optionally the page state to resume from."""

    name: str
    filter: dict[str, Any]
    page_state: str | None = None


def id_range_shards() -> list[Shard]:
    """The string shards on the first character plus typed catch-alls: together, every rangeable ``_id``."""
    bounds = [None, *_STRING_BOUNDS, None]
    shards = []
    for low, high in zip(bounds, bounds[1:]):
        condition = {**({"$gte": low} if low else {}), **({"$lt": high} if high else {})}
        shards.append(Shard(f"string[{low or ''},{high or ''})", {"_id": condition}))
    epoch = {"$date": 0}
    shards += [
        Shard("number<0", {"_id": {"$lt": 0}}), Shard("number>=0", {"_id": {"$gte": 0}}),
        Shard("date<1970", {"_id": {"$lt": epoch}}), Shard("date>=1970", {"_id": {"$gte": epoch}}),
        Shard("boolean:true", {"_id": True}), Shard("boolean:false", {"_id": False}),
    ]
    return shards


def rangeable_id(value: Any) -> bool:
    """Whether some shard of :func:`id_range_shards` holds a document with this stored ``_id``."""
    if isinstance(value, (str, int, float)):  # bool is an int
        return True
    return isinstance(value, dict) and set(value) == {"$date"}


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

    def __init__(self, hook: AstraDBHook, collection: str, definition: dict[str, Any], *,
                 streams: int = DEFAULT_STREAMS, mode: str = "auto") -> None:
        if mode not in SCAN_MODES:
            raise ValueError(f"scan mode must be one of {SCAN_MODES}, not {mode!r}")
        if streams < 1:
            raise ValueError("streams must be at least 1")
        self.hook = hook
        self.collection = collection
        self.definition = definition
        self.streams = streams
        self.mode = mode
        self.record: ScanRecord | None = None

    def pages(self) -> Iterator[list[dict[str, Any]]]:
        reason = self._single_scan_reason()
        if reason is not None:
            yield from self._single(reason, None)
            return
        self.record = ScanRecord("probe", 1, "reading the first page to choose how to scan")  # if the probe fails
        probe = next(self.hook.scan_pages(self.collection))
        if not probe.next_page_state:
            self.record = ScanRecord("single", 1, "the collection fits in one page", len(probe.documents))
            yield probe.documents
            return
        odd = sorted({type(d.get("_id")).__name__ for d in probe.documents if not isinstance(d.get("_id"), str)})
        if odd:
            yield from self._single(f"the probe page holds ids that are not strings ({', '.join(odd)})",
                                    probe)
            return
        yield from self._by_id_ranges()

    def _single_scan_reason(self) -> str | None:
        if self.mode == "single":
            return "single scan requested"
        if self.streams == 1:
            return "one stream configured"
        if self.definition.get("defaultId"):
            return "the collection sets defaultId, whose ids cannot be range-filtered"
        return None

    def _single(self, reason: str, probe: Any) -> Iterator[list[dict[str, Any]]]:
        record = self.record = ScanRecord("single", 1, reason)
        log.info("Reading %r with one scan: %s", self.collection, reason)
        if probe is not None:
            record.documents += len(probe.documents)
            yield probe.documents
            if not probe.next_page_state:
                return
        shard = Shard("all", {}, probe.next_page_state if probe is not None else None)
        for _, documents in _fetch_ahead(self.hook, self.collection, [shard], streams=1):
            record.documents += len(documents)
            yield documents

    def _by_id_ranges(self) -> Iterator[list[dict[str, Any]]]:
        shards = id_range_shards()
        record = self.record = ScanRecord("id-ranges", self.streams, "every id on the probe page is a string",
                                          shards={shard.name: 0 for shard in shards})
        log.info("Reading %r by _id range: %d shards on %d streams", self.collection, len(shards), self.streams)
        for shard, documents in _fetch_ahead(self.hook, self.collection, shards, streams=self.streams):
            record.shards[shard.name] += len(documents)
            record.documents += len(documents)
            yield documents
        yield from self._reconcile(record)

    def _reconcile(self, record: ScanRecord) -> Iterator[list[dict[str, Any]]]:
        """Prove nothing was missed, or read everything once more for ids that no range can hold.

        An exact count (the server counts up to 1,000) proves it when it is not above what the
        shards found. Above that, only the server's estimate is available: it proves nothing
        unless it equals what was found, so any other value costs a full pass rather than a
        snapshot that could lack ``$uuid``/``$objectId`` documents and still look complete.
        ``scan_mode="ranges"`` skips this for collections whose ids cannot be of those types.
        """
        counted = self.hook.count_documents(self.collection)
        record.server_count_exact = counted.exact
        record.server_count = counted.count
        if not counted.exact:
            record.server_count = max(counted.count, self.hook.estimated_document_count(self.collection))
        if self.mode == "ranges":
            record.reconciliation = "trusted: scan_mode='ranges' says every id is rangeable"
            return
        if counted.exact and record.server_count <= record.documents:
            record.reconciliation = "exact count"
            return
        if not counted.exact and record.server_count == record.documents:
            record.reconciliation = "estimated count equals the documents found"
            return
        why = (f"the server counts {record.server_count} documents" if counted.exact else
               f"the server's estimate ({record.server_count}) cannot confirm the {record.documents} found")
        record.reconciliation = f"full pass: {why}"
        log.warning("Collection %r: %s; reading it once more for ids that ranges cannot hold ($uuid, $objectId)",
                    self.collection, why)
        record.full_pass_documents = 0
        for _, documents in _fetch_ahead(self.hook, self.collection, [Shard("all", {})], streams=1):
            extra = [d for d in documents if not rangeable_id(d.get("_id"))]
            if extra:
                record.full_pass_documents += len(extra)
                record.documents += len(extra)
                yield extra


@dataclass(frozen=True)
class _Finished:
    """A fetcher is done: with its error if it failed."""

    error: BaseException | None = None


def _fetch_ahead(hook: AstraDBHook, collection: str, shards: list[Shard],
                 streams: int) -> Iterator[tuple[Shard, list[dict[str, Any]]]]:
    """Yield ``(shard, documents)`` as ``streams`` threads fetch the shards' pages, a few pages ahead.

    The first fetch failure (after the hook's retries) is raised here; leaving early stops the fetchers.
    """
    pages: queue.Queue[Any] = queue.Queue(maxsize=streams * _PAGES_PER_STREAM)
    stop = threading.Event()

    def fetch(shard: Shard) -> None:
        if stop.is_set():  # a shard that had not started when another failed, or the reader left
            pages.put(_Finished())
            return
        try:
            for page in hook.scan_pages(collection, filter=shard.filter, page_state=shard.page_state):
                if stop.is_set():
                    break
                if page.documents:
                    pages.put((shard, page.documents))
        except BaseException as exc:  # handed to the reading thread, which raises it
            pages.put(_Finished(exc))
            return
        pages.put(_Finished())

    pool = concurrent.futures.ThreadPoolExecutor(streams, thread_name_prefix=f"scan-{collection}")
    running = len(shards)
    for shard in shards:
        pool.submit(fetch, shard)
    try:
        while running:
            item = pages.get()
            if isinstance(item, _Finished):
                running -= 1
                if item.error is not None:
                    raise item.error
                continue
            yield item
    finally:
        stop.set()
        while running:  # unblock fetchers waiting on a full queue until every one has finished
            if isinstance(pages.get(), _Finished):
                running -= 1
        pool.shutdown(wait=True)
