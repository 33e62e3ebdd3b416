"""Reading a whole namespace: ``list`` pages of ids, each page fetched, checked against the counts.

``list`` walks a serverless namespace's ids in order, a page at a time with a pagination token,
and ``fetch`` reads each page's records (in several requests where long ids would make one URL too
long), so memory holds one page. Pinecone offers no other way to
enumerate records, so a namespace is one stream, and a pod-based index (which cannot ``list``) is
refused before anything is read. The namespace's record count is taken before and after, and
every listed id must be fetched: if anything differs the scan fails rather than seal a snapshot
that may miss records. (Pinecone's counts are eventually consistent: dump a namespace a little
after the last write to it.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from airflow_provider_vectorbackup.sources.base import DEFAULT_STREAMS, CountedScanRecord, check_scan_settings
from airflow_provider_vectorbackup.sources.pinecone.records import stored_form

if TYPE_CHECKING:
    from airflow_provider_vectorbackup.sources.pinecone.client import PineconeSource

WHY_ONE_STREAM = "Pinecone enumerates a namespace only by list pages with a pagination token, so one stream reads it"


class ScanFailed(RuntimeError):
    """Reading a namespace failed or it changed while being read; the message names it and what to do."""


class PodIndexNotListable(ScanFailed):
    """The collection lives in a pod-based index, whose ids Pinecone does not list: it cannot be read completely."""


class PineconeScan:
    """Yields a namespace's pages in stored form, in id order; fills :attr:`record`."""

    def __init__(self, source: PineconeSource, name: str, *, page_size: int, streams: int = DEFAULT_STREAMS,
                 mode: str = "auto") -> None:
        check_scan_settings(mode, streams)
        self.source = source
        self.name = name
        self.page_size = page_size
        self.record: CountedScanRecord | None = None

    def pages(self) -> Iterator[list[dict[str, Any]]]:
        index, namespace = self.source.listable(self.name)
        self.record = record = CountedScanRecord("single", 1, WHY_ONE_STREAM, self.page_size)
        record.count_before = self._step("counting", lambda: self.source.count_documents(self.name).count)
        wire = self.source.wire_namespace(namespace)
        pages = self._step("listing", lambda: index.list(namespace=wire, limit=self.page_size))
        while True:
            listed = self._step("listing ids", lambda: next(pages, None))
            if listed is None:
                break
            ids = [item.id for item in listed.vectors]
            fetched = self._step(f"fetching {len(ids)} records", lambda: self.source.fetch(index, ids, wire))
            missing = [id_ for id_ in ids if id_ not in fetched]
            if missing:
                raise ScanFailed(f"collection {self.name!r} changed while it was read: {len(missing)} listed record(s) "
                                 f"were gone when fetched (first {missing[0]!r}). Dump it again while nothing writes "
                                 f"to it")
            page = self._step("converting records", lambda: [stored_form(fetched[id_]) for id_ in ids])
            record.documents += len(page)
            yield page
        record.count_after = self._step("counting", lambda: self.source.count_documents(self.name).count)
        if not record.count_before == record.documents == record.count_after:
            raise ScanFailed(
                f"collection {self.name!r} at {self.source.where} changed while it was read, or its count had not "
                f"caught up ({record.count_before} records before, {record.documents} listed, {record.count_after} "
                f"after). Dump it again while nothing writes to it")

    def _step(self, what: str, call: Any) -> Any:
        try:
            return call()
        except ScanFailed:
            raise
        except Exception as exc:
            raise ScanFailed(
                f"reading collection {self.name!r} at {self.source.where} failed while {what} ({type(exc).__name__}: "
                f"{self.source.safe_message(exc)}); the collection was not dumped completely. Check that Pinecone is "
                f"reachable and the index still exists, then run the dump again") from None
