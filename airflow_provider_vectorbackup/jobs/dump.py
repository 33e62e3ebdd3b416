"""Dump a source's collections into a new snapshot in a store. Shared by VectorDumpOperator and the CLI.

No Airflow context here: the caller says where to read, where to write and who is producing
the snapshot, and gets back what happened, failures included, to report its own way.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_vectorbackup.progress import Progress
from airflow_provider_vectorbackup.snapshot.compression import check as check_compression
from airflow_provider_vectorbackup.snapshot.guard import VectorLossPolicy
from airflow_provider_vectorbackup.snapshot.layout import check_snapshot_id
from airflow_provider_vectorbackup.snapshot.manifest import FileEntry, Manifest
from airflow_provider_vectorbackup.snapshot.encryption import AgeEncryption
from airflow_provider_vectorbackup.snapshot.signing import ManifestSigner
from airflow_provider_vectorbackup.snapshot.writer import DEFAULT_SEGMENT_MAX_BYTES, SnapshotResult, SnapshotWriter
from airflow_provider_vectorbackup.sources.base import DEFAULT_STREAMS, SCAN_MODES, VectorSource
from airflow_provider_vectorbackup.stores.base import (
    PendingSnapshot, SnapshotExistsError, SnapshotStore, StoredSnapshot,
)

log = logging.getLogger(__name__)


class UnknownCollectionsError(ValueError):
    """Collections were asked for that the keyspace does not have; nothing was written."""


@dataclass
class DumpOutcome:
    """A sealed snapshot (complete or INCOMPLETE) and what failed on the way, by collection."""

    snapshot: StoredSnapshot
    manifest: Manifest
    result: SnapshotResult | None
    failures: dict[str, BaseException] = field(default_factory=dict)
    already_complete: bool = False


class _StoredFiles:
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


@dataclass(frozen=True)
class DumpTuning:
    """How hard a dump works the source and the store; the defaults were chosen by measurement (docs/benchmarks.md).

    :param scan_mode: ``"auto"`` reads a collection by ``_id`` range when that is provably complete,
        ``"ranges"`` by range trusting that no id is a ``$uuid``/``$objectId`` (no reconciling pass),
        ``"single"`` always with one scan.
    :param scan_streams: requests in flight per collection.
    :param collections_at_once: collections dumped concurrently.
    :param uploads_at_once: finished segments handed to the store concurrently; local staging holds
        at most this many segments plus one being written per collection.
    """

    scan_mode: str = "auto"
    scan_streams: int = DEFAULT_STREAMS
    collections_at_once: int = 2
    uploads_at_once: int = 2

    def __post_init__(self) -> None:
        if self.scan_mode not in SCAN_MODES:
            raise ValueError(f"scan_mode must be one of {SCAN_MODES}, not {self.scan_mode!r}")
        for name in ("scan_streams", "collections_at_once", "uploads_at_once"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")


def dump_snapshot(
    astra: VectorSource, store: SnapshotStore, snapshot_id: str, *, collections: list[str] | None = None,
    segment_max_bytes: int = DEFAULT_SEGMENT_MAX_BYTES, staging_dir: str | None = None,
    vector_policy: VectorLossPolicy = VectorLossPolicy(), producer: dict[str, str] | None = None,
    on_progress: Callable[[Progress], None] | None = None, signer: ManifestSigner | None = None,
    encryption: AgeEncryption | None = None, tuning: DumpTuning = DumpTuning(), compression: str = "gzip",
) -> DumpOutcome:
    """Stream every selected collection into ``store`` as snapshot ``snapshot_id``.

    A collection that fails (the vector-loss guard, or a fault that outlasted the retries) is
    recorded as failed and the others are still backed up; the snapshot is then sealed
    INCOMPLETE. An id that is already complete is reported, never written again.

    :param signer: signs ``manifest.json`` (see docs/format.md, "Signed manifests").
    :param encryption: an ``AgeEncryption``: segments and definitions are encrypted to its recipients.
    :param tuning: scan streams and concurrency; see :class:`DumpTuning`.
    :param compression: ``"gzip"`` (level 1), ``"zstd"`` (needs the ``zstd`` extra; format version 2) or ``"none"``.
    """
    check_snapshot_id(snapshot_id)
    check_compression(compression)  # a missing zstandard package is reported before the store is touched
    try:
        pending = store.begin(snapshot_id)
    except SnapshotExistsError:
        return _already_complete(store, snapshot_id, collections, producer)
    stored = _StoredFiles(pending)
    failures: dict[str, BaseException] = {}
    with tempfile.TemporaryDirectory(prefix="vectorbackup-", dir=staging_dir) as staging:
        writer = SnapshotWriter(staging, source=_source(astra), snapshot_id=snapshot_id,
                                segment_max_bytes=segment_max_bytes, vector_policy=vector_policy,
                                on_file_complete=stored.put, producer=producer, signer=signer, encryption=encryption,
                                handoff_concurrency=tuning.uploads_at_once, compression=compression)
        try:
            # Everything after begin() runs inside the writer: a failure anywhere, even before the first
            # collection, seals the snapshot INCOMPLETE with the reason instead of leaving .inprogress.
            with writer:
                definitions = {info.name: info.definition for info in astra.list_collections()}
                names = collections or sorted(definitions)
                missing = [name for name in names if name not in definitions]
                if missing:
                    raise UnknownCollectionsError(f"collections not found in keyspace {astra.namespace!r}: "
                                                  f"{missing}; it has: {sorted(definitions)}")
                log.info("Dumping %d collection(s) of keyspace %r into %s, snapshot %s: %s", len(names),
                         astra.namespace, store.describe(), snapshot_id, ", ".join(names))
                log.debug("Dump settings: %s, compression %s, segments up to %d bytes", tuning, compression,
                          segment_max_bytes)
                stop = threading.Event()

                def dump(name: str) -> None:
                    try:
                        _dump_collection(astra, writer, name, definitions[name], stored, on_progress, tuning,
                                         stop=stop)
                    except Exception as exc:  # recorded in the manifest; the other collections still get backed up
                        log.error("Collection %r failed: %s: %s", name, type(exc).__name__, exc)
                        failures[name] = exc

                pool = concurrent.futures.ThreadPoolExecutor(tuning.collections_at_once, thread_name_prefix="dump")
                try:
                    for done in [pool.submit(dump, name) for name in names]:
                        done.result()
                except BaseException:
                    # The task is being stopped (a timeout, a signal): collections stop at their next page,
                    # those not started never start, and the snapshot is sealed INCOMPLETE with the reason.
                    stop.set()
                    raise
                finally:
                    pool.shutdown(wait=True, cancel_futures=True)
        finally:
            if writer.result is not None:
                sealed = pending.seal(writer.result)
    # By name, not by which thread finished first: the alert names the same collection every time.
    return DumpOutcome(sealed, writer.result.manifest, writer.result, dict(sorted(failures.items())))


def _source(astra: VectorSource) -> dict[str, Any]:
    try:
        return astra.describe_source()
    except Exception as exc:  # a broken connection must still leave a sealed, explained INCOMPLETE snapshot
        log.debug("The manifest records only the source's kind: describing it failed (%s)", type(exc).__name__)
        return {"kind": astra.kind}


def sealed_by(store: SnapshotStore, snapshot_id: str, producer: dict[str, str] | None) -> tuple[StoredSnapshot, Manifest]:
    """A sealed snapshot and its manifest, if this producer made it; a retry may report it, never another DAG's.

    :raises SnapshotExistsError: another producer's snapshot has this id.
    """
    existing = store.get(snapshot_id)
    manifest = store.read_manifest(existing)
    theirs = (manifest.producer or {}).get("dag_id")
    if producer is not None and theirs != producer.get("dag_id"):
        raise SnapshotExistsError(f"snapshot {snapshot_id} in {store.describe()} was made by {theirs or 'someone else'}"
                                  f", not {producer.get('dag_id')}; give this backup another snapshot id")
    return existing, manifest


def _already_complete(store: SnapshotStore, snapshot_id: str, collections: list[str] | None,
                      producer: dict[str, str] | None) -> DumpOutcome:
    """A retry after the snapshot was sealed: report it, but only if it is this producer's and holds what was asked."""
    existing, manifest = sealed_by(store, snapshot_id, producer)
    names = {c.name for c in manifest.collections}
    if collections and not set(collections) <= names:
        raise SnapshotExistsError(f"snapshot {snapshot_id} already exists without collection(s) "
                                  f"{sorted(set(collections) - names)}; give this dump another snapshot id")
    log.warning("Snapshot %s is already complete in %s; reporting it instead of dumping again", snapshot_id,
                store.describe())
    return DumpOutcome(existing, manifest, None, already_complete=True)


class DumpStopped(RuntimeError):
    """The dump was stopped from outside (a task timeout or signal) while this collection was being read."""


def _dump_collection(astra: VectorSource, writer: SnapshotWriter, name: str, definition: dict[str, Any],
                     stored: _StoredFiles, on_progress: Callable[[Progress], None] | None, tuning: DumpTuning, *,
                     stop: threading.Event | None = None) -> None:
    progress = Progress(log, name, _estimate(astra, name))
    scan = astra.scan(name, definition, streams=tuning.scan_streams, mode=tuning.scan_mode)
    with writer.collection(name, definition) as collection:
        try:
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
            collection.scan = scan.record.to_dict() if scan.record is not None else None
    progress.bytes = stored.bytes_of(name)  # closing the collection waited for all its files to be stored
    progress.done()
    if on_progress is not None:  # the final count, which no page reported
        on_progress(progress)


def _estimate(astra: VectorSource, name: str) -> int | None:
    try:
        return astra.estimated_document_count(name)
    except Exception as exc:  # only feeds the ETA; a dump must not fail for it
        log.debug("No estimated count for %r (%s): its progress has no ETA", name, type(exc).__name__)
        return None


def summary_of(outcome: DumpOutcome, kind: str, folder: str) -> dict[str, Any]:
    """The small, JSON-safe report of a dump: enough for verify, restore and retention to find the snapshot."""
    snapshot, manifest = outcome.snapshot, outcome.manifest
    collections = {
        c.name: {"status": c.status, "documents": c.document_count,
                 "documents_with_vector": c.vectors.documents_with_vector,
                 "bytes": sum(f.bytes for f in c.files), "content_digest": c.content_digest}
        for c in manifest.collections
    }
    summary = {
        "snapshot_id": snapshot.snapshot_id, "status": manifest.status, "store": kind, "location": snapshot.location,
        "path": f"{folder.rstrip('/')}/{snapshot.ref.folder_name}", "collections": collections,
        "bytes": sum(c["bytes"] for c in collections.values()), "already_complete": outcome.already_complete,
    }
    if outcome.result is not None:
        summary.update(manifest_sha256=outcome.result.manifest_sha256, manifest_sha1=outcome.result.manifest_sha1)
    return summary
