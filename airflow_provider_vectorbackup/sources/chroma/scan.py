"""Reading a whole Chroma collection: one stream of ``get(limit, offset)`` pages, checked against the count.

Chroma's ``where`` compares only numbers with ``$gt``/``$lt`` and cannot range over ids, so a
collection cannot be split into parts that provably hold every record once: it is read by one
stream, in Chroma's own record order. Offset paging stays cheap in Chroma 1.5 (measured in
docs/sources.md, "Chroma"), and memory holds one page.

Offsets shift if records are added or deleted while reading, so the count is taken before and
after: if either differs from what was read, the scan fails rather than seal a snapshot that
may miss or repeat records.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from airflow_provider_vectorbackup.sources.base import DEFAULT_STREAMS, CountedScanRecord, check_scan_settings
from airflow_provider_vectorbackup.sources.chroma.records import INCLUDE, stored_page

if TYPE_CHECKING:
    from airflow_provider_vectorbackup.sources.chroma.client import ChromaSource

WHY_ONE_STREAM = "Chroma cannot filter ids by range, so a collection is read by one stream of offset pages"


class ScanFailed(RuntimeError):
    """Reading a collection failed or it changed while being read; the message names it and what to do."""


class ChromaScan:
    """Yields a collection's pages in stored form; fills :attr:`record`."""

    def __init__(self, source: ChromaSource, name: str, *, page_size: int, streams: int = DEFAULT_STREAMS,
                 mode: str = "auto") -> None:
        check_scan_settings(mode, streams)
        self.source = source
        self.name = name
        self.page_size = page_size
        self.record: CountedScanRecord | None = None

    def pages(self) -> Iterator[list[dict[str, Any]]]:
        self.record = record = CountedScanRecord("single", 1, WHY_ONE_STREAM, self.page_size)
        collection = self._step("opening", lambda: self.source.collection(self.name))
        record.count_before = self._step("counting", collection.count)
        offset = 0
        while True:
            result = self._step(f"reading offset {offset}",
                                lambda: collection.get(limit=self.page_size, offset=offset, include=INCLUDE))
            page = self._step(f"converting offset {offset}", lambda: stored_page(result))
            if not page:
                break
            record.documents += len(page)
            offset += len(page)
            yield page
            if len(page) < self.page_size:
                break
        record.count_after = self._step("counting", collection.count)
        if not record.count_before == record.documents == record.count_after:
            raise ScanFailed(
                f"collection {self.name!r} of {self.source.namespace} changed while it was read ({record.count_before} "
                f"records before, {record.documents} read, {record.count_after} after): offset pages may have "
                f"missed or repeated records. Dump it again while nothing writes to it")

    def _step(self, what: str, call: Any) -> Any:
        try:
            return call()
        except ScanFailed:
            raise
        except Exception as exc:
            raise ScanFailed(
                f"reading collection {self.name!r} of {self.source.namespace} at {self.source.where} failed while "
                f"{what} ({type(exc).__name__}: {self.source.safe_message(exc)}); the collection was not dumped "
                f"completely. Check that the database is reachable and the collection still exists, then run the "
                f"dump again") from None
