"""One collection of the source read into a snapshot writer. Shared by the single-task dump and the scale-out dump.

Both dumps choose their collections, read each one page by page into a writer and hand every
finished file to the store with this same code, so a scaled-out snapshot holds exactly the
bytes a single-task dump with the same settings writes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from airflow_provider_vectorbackup.jobs.models import EmbeddingModel, recorded_models
from airflow_provider_vectorbackup.sources.base import VectorSource
from airflow_provider_vectorbackup.progress import Progress
from airflow_provider_vectorbackup.snapshot.manifest import FileEntry
from airflow_provider_vectorbackup.snapshot.writer import SnapshotWriter
from airflow_provider_vectorbackup.stores.base import PendingSnapshot

log = logging.getLogger(__name__)


class UnknownCollectionsError(ValueError):
    """Collections were asked for that the source's namespace does not have; nothing was written."""


class DumpStopped(RuntimeError):
    """The dump was stopped from outside (a task timeout or signal) while this collection was being read."""


class StoredFiles:
    """Hands each finished file to the store and counts the bytes stored per collection, for progress lines.

    Called from the writer's hand-off threads, which store files of several collections at once;
    the store removes the local file once it holds it.
    """

    def __init__(self, pending: PendingSnapshot) -> None:
        self.pending = pending
        self._bytes: dict[str, int] = {}
        self._lock = threading.Lock()

    def put(self, entry: FileEntry, local: Any) -> None:
        self.pending.put(entry, local)
        collection = entry.path.split("/")[1]  # every file a writer hands on is collections/<name>/...
        with self._lock:
            self._bytes[collection] = self._bytes.get(collection, 0) + entry.bytes

    def bytes_of(self, collection: str) -> int:
        """Bytes of ``collection``'s files the store holds so far."""
        with self._lock:
            return self._bytes.get(collection, 0)


def manifest_source(source: VectorSource) -> dict[str, Any]:
    """What the manifest records as the source; only its kind if describing it fails.

    A broken connection must still leave a sealed, explained INCOMPLETE snapshot, so this never raises.
    """
    try:
        return source.describe_source()
    except Exception as exc:
        log.debug("The manifest records only the source's kind: describing it failed (%s)", type(exc).__name__)
        return {"kind": source.kind}


def select_collections(source: VectorSource, collections: list[str] | None) -> tuple[list[str], dict[str, Any]]:
    """The names to dump (``None``: every collection of the namespace, sorted) and every collection's definition.

    :raises UnknownCollectionsError: a name the namespace does not have; the message lists what it has.
    """
    definitions = {info.name: info.definition for info in source.list_collections()}
    names = list(collections) if collections else sorted(definitions)
    missing = [name for name in names if name not in definitions]
    if missing:
        raise UnknownCollectionsError(f"collections not found in {source.kind} namespace {source.namespace!r}: {missing}; "
                                      f"it has: {sorted(definitions)}")
    return names, definitions


def write_collection(source: VectorSource, writer: SnapshotWriter, name: str, definition: dict[str, Any],
                     stored: StoredFiles, *, scan_mode: str, scan_streams: int,
                     on_progress: Callable[[Progress], None] | None = None,
                     stop: threading.Event | None = None, models: Mapping[str, EmbeddingModel] | None = None) -> None:
    """Read collection ``name`` page by page into ``writer``, reporting progress after every page.

    A failure propagates after the writer has recorded the collection as failed, with how far the
    scan got. ``stop``, once set, ends the read at the next page with :class:`DumpStopped`.
    ``models`` are the embedding models the caller gave for its vector fields (recorded with those its
    definition declares).
    """
    progress = Progress(log, name, _estimate(source, name))
    with writer.collection(name, definition) as collection:
        collection.embedding_models = recorded_models(definition, models or {}, encrypted=writer.encryption is not None)
        scan = None
        try:  # a scan that cannot even start fails this collection in the manifest, as a failure mid-way does
            scan = source.scan(name, definition, streams=scan_streams, mode=scan_mode)
            with contextlib.closing(scan.pages()) as pages:
                for documents in pages:
                    if stop is not None and stop.is_set():
                        raise DumpStopped(f"the dump was stopped while collection {name!r} was being read; "
                                          f"run it again")
                    collection.write_many(documents)
                    progress.bytes = stored.bytes_of(name)
                    progress.advance(len(documents))
                    if on_progress is not None:
                        on_progress(progress)
        finally:  # a failed collection's manifest entry still says how far the scan got
            collection.scan = scan.record.to_dict() if scan is not None and scan.record is not None else None
    progress.bytes = stored.bytes_of(name)  # closing the collection waited for all its files to be stored
    progress.done()
    if on_progress is not None:  # the final count, which no page reported
        on_progress(progress)


def _estimate(source: VectorSource, name: str) -> int | None:
    try:
        return source.estimated_document_count(name)
    except Exception as exc:  # only feeds the ETA; a dump must not fail for it
        log.debug("No estimated count for %r (%s): its progress has no ETA", name, type(exc).__name__)
        return None
