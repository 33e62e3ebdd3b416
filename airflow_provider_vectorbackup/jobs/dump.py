"""Dump a source's collections into a new snapshot in a store, in one process. Shared by VectorDumpOperator and the CLI.

No Airflow context here: the caller says where to read and where to write, and how in
:class:`DumpOptions`, and gets back what happened, failures included, to report its own way.
The scale-out dump (:mod:`.scale_out`) takes the same options.
"""

from __future__ import annotations

import concurrent.futures
import logging
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from dataclasses import dataclass, field

from airflow_provider_vectorbackup.sources.base import VectorSource
from airflow_provider_vectorbackup.sources.base import DEFAULT_STREAMS, SCAN_MODES
from airflow_provider_vectorbackup.jobs.collection import (
    StoredFiles, manifest_source, select_collections, write_collection,
)
from airflow_provider_vectorbackup.jobs.dedup import deduplication, document_keys
from airflow_provider_vectorbackup.jobs.models import EmbeddingModel, models_by_collection, parse_models
from airflow_provider_vectorbackup.jobs.outcome import DumpOutcome, already_complete
from airflow_provider_vectorbackup.progress import Progress
from airflow_provider_vectorbackup.snapshot.compression import check_compression
from airflow_provider_vectorbackup.snapshot.encryption import AgeEncryption
from airflow_provider_vectorbackup.snapshot.guard import VectorLossPolicy
from airflow_provider_vectorbackup.snapshot.layout import check_snapshot_id
from airflow_provider_vectorbackup.snapshot.signing import ManifestSigner
from airflow_provider_vectorbackup.snapshot.writer import DEFAULT_SEGMENT_MAX_BYTES, SnapshotWriter
from airflow_provider_vectorbackup.stores.base import SnapshotExistsError, Store
from airflow_provider_vectorbackup.stores.locking import SHARED, StoreLock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DumpOptions:
    """What to dump and how; the operators and the CLI map their arguments onto these, and each is checked here.

    The speed settings' defaults were chosen by measurement (docs/benchmarks.md).

    :param collections: names to dump; ``None`` (or empty) dumps every collection of the source's namespace.
    :param segment_max_bytes: uncompressed size at which a segment rolls over.
    :param staging_dir: local folder for segments before they are stored (default: the system temp dir).
    :param vector_policy: how strict the vector-loss guard is.
    :param producer: what makes the snapshot (e.g. ``dag_id``, ``task_id``, ``run_id``); a retry reports a
        sealed snapshot only if the same producer made it.
    :param signer: signs ``manifest.json`` (see docs/format.md, "Signed manifests").
    :param encryption: an ``AgeEncryption``: segments and definitions are encrypted to its recipients.
    :param compression: ``"gzip"`` (level 1), ``"zstd"`` (needs the ``zstd`` extra; format version 2) or ``"none"``.
    :param scan_mode: ``"auto"`` reads a collection by ``_id`` range when that is provably complete,
        ``"ranges"`` by range trusting that no id is a ``$uuid``/``$objectId`` (no reconciling pass),
        ``"single"`` always with one scan.
    :param scan_streams: requests in flight per collection.
    :param collections_at_once: collections dumped concurrently (a scale-out dump runs one per task).
    :param uploads_at_once: finished segments handed to the store concurrently; local staging holds
        at most this many segments plus one being written per collection.
    :param deduplicate: store each document once per store (format 4, docs/format.md section 12): only what
        changed since the newest earlier snapshot is uploaded, and every snapshot still stands alone.
        Local staging then holds a sorted copy of the collection being written.
    :param lock_wait: seconds a deduplicating dump waits for a garbage collection that holds the store's lock.
    :param embedding_models: ``{vector field: "MODEL" or "MODEL@VERSION"}`` recorded in the manifest (the Data
        API's one vector field is ``$vector``; the field ``""`` is each collection's only vector field). A field
        no dumped collection has is refused before anything is written (docs/restore.md, "Embedding models").
    """

    collections: list[str] | None = None
    segment_max_bytes: int = DEFAULT_SEGMENT_MAX_BYTES
    staging_dir: str | None = None
    vector_policy: VectorLossPolicy = VectorLossPolicy()
    producer: dict[str, str] | None = None
    signer: ManifestSigner | None = field(default=None, repr=False)
    encryption: AgeEncryption | None = field(default=None, repr=False)
    compression: str = "gzip"
    scan_mode: str = "auto"
    scan_streams: int = DEFAULT_STREAMS
    collections_at_once: int = 2
    uploads_at_once: int = 2
    deduplicate: bool = False
    lock_wait: float = 900.0
    embedding_models: dict[str, str] | None = None

    def __post_init__(self) -> None:
        if self.collections is not None:
            if isinstance(self.collections, str) or not all(isinstance(n, str) and n for n in self.collections):
                raise ValueError(f"collections must be a list of collection names, not {self.collections!r}; "
                                 f"e.g. ['articles'], or None for every collection of the namespace")
            if len(set(self.collections)) != len(self.collections):
                raise ValueError(f"collections are listed more than once: {list(self.collections)}")
        if not isinstance(self.vector_policy, VectorLossPolicy):
            raise TypeError(f"vector_policy must be a VectorLossPolicy, not {type(self.vector_policy).__name__}")
        check_compression(self.compression, for_writing=False)  # its package is needed only where segments are written
        if self.scan_mode not in SCAN_MODES:
            raise ValueError(f"scan_mode must be one of {SCAN_MODES}, not {self.scan_mode!r}")
        for name in ("segment_max_bytes", "scan_streams", "collections_at_once", "uploads_at_once"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{name} must be a whole number, not {value!r}")
            if value < 1:
                raise ValueError(f"{name} must be at least 1, not {value}")
        if self.deduplicate:
            document_keys(self.encryption, self.signer)  # refuses encryption without a signer, before anything runs
        if not isinstance(self.lock_wait, (int, float)) or isinstance(self.lock_wait, bool) or self.lock_wait < 0:
            raise ValueError(f"lock_wait must be a number of seconds, 0 or more, not {self.lock_wait!r}")
        parse_models(self.embedding_models)

    def describe(self) -> str:
        """The settings that decide speed and bytes, for a log line; never the keys."""
        return (f"scan_mode={self.scan_mode}, scan_streams={self.scan_streams}, collections_at_once="
                f"{self.collections_at_once}, uploads_at_once={self.uploads_at_once}, compression={self.compression}, "
                f"segments up to {self.segment_max_bytes} bytes, deduplicate={self.deduplicate}")


def dump_snapshot(
    source: VectorSource, store: Store, snapshot_id: str, options: DumpOptions = DumpOptions(), *,
    on_progress: Callable[[Progress], None] | None = None,
) -> DumpOutcome:
    """Stream every selected collection into ``store`` as snapshot ``snapshot_id``.

    A collection that fails (the vector-loss guard, or a fault that outlasted the retries) is
    recorded as failed and the others are still backed up; the snapshot is then sealed
    INCOMPLETE. An id that is already complete is reported, never written again.

    :param on_progress: called after every page of every collection, from the dump's threads.
    """
    check_snapshot_id(snapshot_id)
    # A missing zstandard package is reported before the store is touched.
    check_compression(options.compression, for_writing=True)
    models = given_models(source, options)
    lock = StoreLock(store, SHARED, f"dump {snapshot_id}") if options.deduplicate else None
    if lock is not None:  # before the parent is read, so that no garbage collection sweeps what it reuses
        lock.acquire(options.lock_wait)
    try:
        return _dump(source, store, snapshot_id, options, on_progress, lock, models)
    finally:
        if lock is not None:
            lock.release()


def given_models(source: VectorSource, options: DumpOptions) -> dict[str, dict[str, EmbeddingModel]]:
    """Per collection, the embedding models ``options`` gives for its vector fields, checked before anything is
    written (the source is asked for its collections only when models are given).

    :raises ModelMismatch: a field no selected collection has.
    :raises UnknownCollectionsError: a collection the namespace does not have.
    """
    models = parse_models(options.embedding_models)
    if not models:
        return {}
    names, definitions = select_collections(source, options.collections)
    return models_by_collection(models, {name: definitions[name] for name in names})


def _dump(source: VectorSource, store: Store, snapshot_id: str, options: DumpOptions,
          on_progress: Callable[[Progress], None] | None, lock: StoreLock | None,
          models: dict[str, dict[str, EmbeddingModel]]) -> DumpOutcome:
    try:
        pending = store.begin(snapshot_id)
    except SnapshotExistsError:
        return already_complete(store, snapshot_id, options.collections, options.producer)
    if lock is not None:
        report = on_progress

        def on_progress(progress: Progress) -> None:
            lock.refresh()  # a long scan keeps the lock while it stores nothing new
            if report is not None:
                report(progress)
    stored = StoredFiles(pending)
    failures: dict[str, BaseException] = {}
    with tempfile.TemporaryDirectory(prefix="vectorbackup-", dir=options.staging_dir) as staging:
        dedup = None if lock is None else deduplication(
            store, lock, Path(staging) / "parents", keys=document_keys(options.encryption, options.signer),
            compression=options.compression, encryption=options.encryption)
        writer = SnapshotWriter(staging, source=manifest_source(source), snapshot_id=snapshot_id,
                                segment_max_bytes=options.segment_max_bytes, vector_policy=options.vector_policy,
                                on_file_complete=stored.put, producer=options.producer, signer=options.signer,
                                encryption=options.encryption, handoff_concurrency=options.uploads_at_once,
                                compression=options.compression, dedup=dedup)
        try:
            # Everything after begin() runs inside the writer: a failure anywhere, even before the first
            # collection, seals the snapshot INCOMPLETE with the reason instead of leaving .inprogress.
            with writer:
                names, definitions = select_collections(source, options.collections)
                log.info("Dumping %d collection(s) of %s namespace %r into %s, snapshot %s: %s", len(names),
                         source.kind, source.namespace, store.describe(), snapshot_id, ", ".join(names))
                log.debug("Dump settings: %s", options.describe())
                stop = threading.Event()

                def dump(name: str) -> None:
                    try:
                        write_collection(source, writer, name, definitions[name], stored, scan_mode=options.scan_mode,
                                         scan_streams=options.scan_streams, on_progress=on_progress, stop=stop,
                                         models=models.get(name))
                    except Exception as exc:  # recorded in the manifest; the other collections still get backed up
                        log.error("Collection %r failed: %s: %s", name, type(exc).__name__, exc)
                        failures[name] = exc

                pool = concurrent.futures.ThreadPoolExecutor(options.collections_at_once,
                                                             thread_name_prefix="dump")
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
