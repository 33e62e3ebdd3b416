"""Streaming, atomic snapshot writer: opens a snapshot, runs its collections' writers, and seals it once.

A snapshot is built in ``.<id>.inprogress/`` and becomes visible under its final name only
once ``manifest.json`` is durable: ``<id>/`` when every collection succeeded, ``<id>.INCOMPLETE/``
when any failed. A hard kill leaves the ``.inprogress`` folder, which readers ignore. Memory
stays flat: documents go to disk one line at a time and segments roll over at a set size.

Each collection is written by a :class:`~.collection_writer.CollectionWriter` into
:class:`~.segment.SegmentFile` s; :func:`~.sealing.seal_folder` writes the manifest last and renames.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from airflow_provider_vectorbackup.snapshot.codec import DEFAULT_CODEC, Codec
from airflow_provider_vectorbackup.snapshot.collection_writer import CollectionWriter, check_adoptable
from airflow_provider_vectorbackup.snapshot.compression import FORMAT_VERSION_FOR, check_compression
from airflow_provider_vectorbackup.snapshot.dedup_writer import PACKING_DIR, Deduplication
from airflow_provider_vectorbackup.snapshot.packs import DEDUP_FORMAT_VERSION
from airflow_provider_vectorbackup.snapshot.encryption import ENCRYPTED_SUFFIX, AgeEncryption
from airflow_provider_vectorbackup.snapshot.errors import SnapshotError
from airflow_provider_vectorbackup.snapshot.files import fsync_dir
from airflow_provider_vectorbackup.snapshot.handoff import FileHandoff
from airflow_provider_vectorbackup.snapshot.guard import VectorLossPolicy
from airflow_provider_vectorbackup.snapshot.layout import (
    SnapshotState, collection_dir, folder_name, new_snapshot_id, segment_path, slice_segments,
)
from airflow_provider_vectorbackup.snapshot.manifest import (
    COLLECTION_FAILED, STATUS_COMPLETE, STATUS_INCOMPLETE, CollectionEntry, FileEntry, Manifest, format_version_for,
)
from airflow_provider_vectorbackup.snapshot.provenance import software_versions
from airflow_provider_vectorbackup.snapshot.sealing import SnapshotResult, seal_folder
from airflow_provider_vectorbackup.snapshot.segment import SegmentFile
from airflow_provider_vectorbackup.snapshot.signing import ManifestSigner

__all__ = ["DEFAULT_COMPRESS_LEVEL", "DEFAULT_SEGMENT_MAX_BYTES", "CollectionWriter", "FileCallback", "SnapshotResult",
           "SnapshotWriter"]

DEFAULT_SEGMENT_MAX_BYTES = 256 * 1024 * 1024
DEFAULT_COMPRESS_LEVEL = 1  # measured: 5x faster than 6 on vector JSON for ~6% more bytes (docs/format.md)

FileCallback = Callable[[FileEntry, Path], None]
"""Called with each finished data or definition file, e.g. to upload it while the next one is written."""


class _Starting:
    """Holds a collection's name while its writer is being created, so a second start is refused."""

    _closed = False

    def __init__(self, name: str) -> None:
        self.name = name


class SnapshotWriter:
    """Builds one snapshot under ``root``. Use as a context manager, or call :meth:`finish` / :meth:`abort`.

    :param root: folder that holds snapshots (the store).
    :param source: what was backed up, from :func:`provenance.describe_source`; never credentials.
    :param segment_max_bytes: a segment rolls over before its uncompressed JSON would exceed this.
    :param on_file_complete: called with each finished file, so it can be uploaded at once.
    :param producer: what made the snapshot (e.g. Airflow ``dag_id``, ``task_id``, ``run_id``), so
        retention can tell its own snapshots from others'.
    :param signer: optional :class:`signing.HmacKey` or :class:`signing.Ed25519Signer`; when given,
        ``manifest.json.sig`` is written after the manifest and before the folder is renamed.
    :param encryption: optional :class:`encryption.AgeEncryption` (public recipients only); when given,
        every segment and ``definition.json`` is stored age-encrypted as ``<name>.age``, the manifest
        lists the ciphertexts and carries no definition, and ``on_file_complete`` sees only ciphertext.
    :param dedup: a :class:`~.dedup_writer.Deduplication`: documents are stored once per store, in packs in its
        shared ``data/`` area, and the snapshot keeps only an index (format 4, docs/format.md section 12).
    :param handoff_concurrency: 0 calls ``on_file_complete`` inline; ``n`` runs closing, encrypting
        and ``on_file_complete`` of up to ``n`` segments on threads while the next segment is written
        (the callback must then be thread-safe). A segment is listed only once its hand-off succeeded.
    """

    def __init__(
        self, root: str | os.PathLike[str], *, source: dict[str, Any], snapshot_id: str | None = None,
        segment_max_bytes: int = DEFAULT_SEGMENT_MAX_BYTES, compression: str = "gzip",
        compress_level: int = DEFAULT_COMPRESS_LEVEL, codec: Codec = DEFAULT_CODEC,
        vector_policy: VectorLossPolicy = VectorLossPolicy(), on_file_complete: FileCallback | None = None,
        producer: dict[str, str] | None = None, signer: ManifestSigner | None = None,
        encryption: AgeEncryption | None = None, handoff_concurrency: int = 0, dedup: Deduplication | None = None,
    ) -> None:
        check_compression(compression, for_writing=True)
        if segment_max_bytes < 1:
            raise ValueError("segment_max_bytes must be positive")
        self.root = Path(root)
        self.source = dict(source)
        self.snapshot_id = snapshot_id or new_snapshot_id()
        self.segment_max_bytes = segment_max_bytes
        self.compression = compression
        self.compress_level = compress_level
        self.codec = codec
        self.vector_policy = vector_policy
        self._on_file_complete = on_file_complete
        self.producer = producer
        self.signer = signer
        if encryption is not None and not isinstance(encryption, AgeEncryption):
            raise TypeError(f"encryption must be an AgeEncryption (public recipients), not {type(encryption).__name__}")
        self.encryption = encryption
        self.dedup = dedup
        self._collections: dict[str, CollectionEntry] = {}
        self._writing: dict[str, CollectionWriter] = {}
        self._lock = threading.Lock()
        self._handoff = FileHandoff(handoff_concurrency)
        self._started_at: dt.datetime | None = None
        self._started_clock = 0.0
        self.result: SnapshotResult | None = None
        self.path = self.root / folder_name(self.snapshot_id, SnapshotState.IN_PROGRESS)

    def open(self) -> SnapshotWriter:
        """Create the ``.inprogress`` folder; refuse if this id exists in any state."""
        self.root.mkdir(parents=True, exist_ok=True)
        for state in SnapshotState:
            existing = self.root / folder_name(self.snapshot_id, state)
            if existing.exists():
                raise SnapshotError(f"snapshot {self.snapshot_id} already exists as {existing.name!r}; "
                                    f"choose another snapshot id or remove the old folder")
        self.path.mkdir()
        fsync_dir(self.root)
        self._started_at = dt.datetime.now(dt.timezone.utc)
        self._started_clock = time.monotonic()
        return self

    def collection(self, name: str, definition: dict[str, Any], *, slice_index: int | None = None) -> CollectionWriter:
        """Start writing a collection. Starting a failed collection again rewrites it from scratch.

        Several collections may be written at once, each from its own thread. With ``slice_index``
        this writer writes one slice of a collection that several writers share (docs/format.md,
        4.2): its segments are numbered from the slice's block, and only slice 0 writes
        ``definition.json``; the recorded entry describes the slice alone.
        """
        if self._started_at is None:
            raise SnapshotError("open the snapshot writer before adding collections")
        with self._lock:
            if name in self._writing:
                raise SnapshotError(f"collection {name!r} is still being written")
            previous = self._collections.get(name)
            if previous is not None and previous.status != COLLECTION_FAILED:
                raise SnapshotError(f"collection {name!r} is already in snapshot {self.snapshot_id}")
            self._collections.pop(name, None)
            self._writing[name] = placeholder = _Starting(name)
        try:
            if previous is not None:
                shutil.rmtree(self.path / collection_dir(name))
            if slice_index is not None and self.dedup is not None:
                raise SnapshotError("a deduplicated snapshot cannot be written in slices yet: dump collection "
                                    f"{name!r} in one task, or without deduplication")
            if slice_index is None:
                writer = CollectionWriter(self, name, definition)
            else:
                writer = CollectionWriter(self, name, definition, segments=slice_segments(slice_index),
                                          with_definition=slice_index == 0)
        except BaseException:  # a failed start has recorded itself as failed; free the name
            with self._lock:
                if self._writing.get(name) is placeholder:
                    del self._writing[name]
            raise
        with self._lock:
            self._writing[name] = writer
        return writer

    def _new_segment(self, collection: str, index: int) -> SegmentFile:
        relative = segment_path(collection, index, self.compression)
        return SegmentFile(self.path / relative, relative, self.compression, self.compress_level)

    def _encrypt_segment(self, entry: FileEntry, plain: Path) -> tuple[FileEntry, Path]:
        """Encrypt a finished segment into ``<name>.age`` and delete the plaintext; the entry describes the ciphertext."""
        encryption = self.encryption
        if encryption is None:
            raise SnapshotError("internal error: no encryption configured")
        encrypted = plain.with_name(plain.name + ENCRYPTED_SUFFIX)
        digests, size = encryption.encrypt_file(plain, encrypted)
        plain.unlink()
        fsync_dir(plain.parent)
        return FileEntry(entry.path + ENCRYPTED_SUFFIX, size, digests.sha256, entry.documents, entry.uncompressed_bytes,
                         sha1=digests.sha1), encrypted

    def _file_complete(self, entry: FileEntry, local: Path) -> None:
        if self._on_file_complete is not None:
            self._on_file_complete(entry, local)

    def _collection_done(self, entry: CollectionEntry) -> None:
        with self._lock:
            self._collections[entry.name] = entry
            self._writing.pop(entry.name, None)

    # -- assembling one snapshot from collections that other writers wrote (scale-out across workers) --

    def recorded(self, name: str) -> CollectionEntry | None:
        """The manifest entry recorded so far for collection ``name`` (complete or failed), else ``None``."""
        with self._lock:
            return self._collections.get(name)

    def close_unsealed(self) -> None:
        """Let go of a writer that is never sealed, because another writer's manifest lists its collections.

        Waits for every file hand-off in flight and frees their threads; the staging folder is the caller's.
        """
        self._handoff.shutdown()

    def backdate(self, started_at: dt.datetime) -> None:
        """Date the run from ``started_at`` (timezone-aware), when it began before this writer was opened.

        A snapshot assembled from collections that other workers wrote is sealed by a writer opened at
        the end; its manifest's ``started_at`` and ``duration_seconds`` must still describe the whole run.
        """
        if self._started_at is None or self.result is not None:
            raise SnapshotError("backdate an open snapshot writer, before it is sealed")
        if started_at.tzinfo is None:
            raise ValueError("started_at must be timezone-aware")
        started_at = started_at.astimezone(dt.timezone.utc)
        elapsed = max((self._started_at - started_at).total_seconds(), 0.0)
        self._started_at = started_at
        self._started_clock -= elapsed

    def adopt(self, entry: CollectionEntry, *, sliced: bool = False) -> None:
        """List a collection that another writer (e.g. on another worker) wrote into this snapshot's store folder.

        The entry must be one a :class:`CollectionWriter` with this writer's settings produced: its file
        names, compression, encryption and digest algorithm are checked, so the sealed manifest reads
        exactly as if this writer had written every collection itself. Checking that the listed files
        really are in the store is the caller's job. ``sliced``: the entry joins the slices of one
        collection that several writers wrote (see :meth:`collection`).
        """
        if self._started_at is None or self.result is not None:
            raise SnapshotError("adopt collections into an open snapshot writer, before it is sealed")
        name = entry.name
        collection_dir(name)  # refuses unsafe names
        check_adoptable(entry, compression=self.compression, encrypted=self.encryption is not None, sliced=sliced)
        with self._lock:
            if name in self._collections or name in self._writing:
                raise SnapshotError(f"collection {name!r} is already in snapshot {self.snapshot_id}")
        self._collection_done(entry)

    def _fail_unfinished(self, reason: BaseException) -> None:
        with self._lock:
            unfinished = [w for w in self._writing.values() if isinstance(w, CollectionWriter) and not w._closed]
        for writer in unfinished:
            writer.fail(reason)

    def finish(self) -> SnapshotResult:
        """Write the manifest last, then rename: ``<id>/`` if every collection succeeded, else ``<id>.INCOMPLETE/``."""
        self._fail_unfinished(SnapshotError("the snapshot was finished while this collection was still open"))
        failed = any(c.status == COLLECTION_FAILED for c in self._collections.values())
        return self._seal(STATUS_INCOMPLETE if failed else STATUS_COMPLETE)

    def abort(self, reason: BaseException | str) -> SnapshotResult:
        """Seal the snapshot as INCOMPLETE, recording why, with whatever collections were written."""
        self._fail_unfinished(reason if isinstance(reason, BaseException) else SnapshotError(reason))
        return self._seal(STATUS_INCOMPLETE, error=reason if isinstance(reason, str) else f"{type(reason).__name__}: {reason}")

    def _seal(self, status: str, error: str | None = None) -> SnapshotResult:
        if self.result is not None:
            return self.result
        if self._started_at is None:
            raise SnapshotError("the snapshot writer was never opened")
        self._handoff.shutdown()
        shutil.rmtree(self.path / PACKING_DIR, ignore_errors=True)  # deduplicating collections' scratch space
        finished = dt.datetime.now(dt.timezone.utc)
        settings = {"segment_max_bytes": self.segment_max_bytes, "compression": self.compression,
                    "compress_level": self.compress_level, "vector_policy": asdict(self.vector_policy),
                    "envelopes": self.codec.envelope_names}
        if self.dedup is not None:
            settings["dedup"] = self.dedup.settings()
        manifest = Manifest(
            snapshot_id=self.snapshot_id, status=status,
            started_at=self._started_at.isoformat(timespec="milliseconds"),
            finished_at=finished.isoformat(timespec="milliseconds"),
            duration_seconds=round(time.monotonic() - self._started_clock, 3),
            software=software_versions(), source=self.source, settings=settings,
            collections=[self._collections[name] for name in sorted(self._collections)], error=error,
            producer=self.producer,
            encryption=self.encryption.manifest_entry() if self.encryption is not None else None,
            # zstd segments, and other engines' documents, need a reader that knows them
            format_version=(DEDUP_FORMAT_VERSION if self.dedup is not None
                            else format_version_for(FORMAT_VERSION_FOR[self.compression], self.source)),
        )
        self.result = seal_folder(self.path, self.root, manifest, self.signer)
        self.path = self.result.path
        return self.result

    def __enter__(self) -> SnapshotWriter:
        return self.open()

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        if self.result is not None:
            return
        if exc is None:
            self.finish()
        else:
            self.abort(exc)
