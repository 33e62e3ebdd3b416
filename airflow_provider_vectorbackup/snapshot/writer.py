"""Streaming, atomic snapshot writer.

A snapshot is built in ``.<id>.inprogress/`` and becomes visible under its final name only
once ``manifest.json`` is durable: ``<id>/`` when every collection succeeded, ``<id>.INCOMPLETE/``
when any failed. A hard kill leaves the ``.inprogress`` folder, which readers ignore. Memory
stays flat: documents go to disk one line at a time and segments roll over at a set size.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import io
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import msgspec

from airflow_provider_vectorbackup.snapshot.codec import DEFAULT_CODEC, Codec
from airflow_provider_vectorbackup.snapshot.compression import (
    FORMAT_VERSION_FOR, check_compression, compressing, finish,
)
from airflow_provider_vectorbackup.snapshot.digest import DIGEST_ALGORITHM
from airflow_provider_vectorbackup.snapshot.encryption import ENCRYPTED_SUFFIX, AgeEncryption
from airflow_provider_vectorbackup.snapshot.errors import SnapshotError
from airflow_provider_vectorbackup.snapshot.files import HashingWriter, fsync_dir, write_file_durably
from airflow_provider_vectorbackup.snapshot.handoff import FileHandoff
from airflow_provider_vectorbackup.snapshot.guard import VectorLossPolicy, check_vector_loss
from airflow_provider_vectorbackup.snapshot.layout import (
    MANIFEST_NAME, SnapshotState, collection_dir, definition_path, folder_name, new_snapshot_id, segment_path,
)
from airflow_provider_vectorbackup.snapshot.manifest import (
    COLLECTION_FAILED, STATUS_COMPLETE, STATUS_INCOMPLETE, CollectionEntry, FileEntry, Manifest,
)
from airflow_provider_vectorbackup.snapshot.provenance import embedding_metadata, software_versions
from airflow_provider_vectorbackup.snapshot.signing import SIGNATURE_NAME, ManifestSigner, signature_document
from airflow_provider_vectorbackup.snapshot.tally import Tally

DEFAULT_SEGMENT_MAX_BYTES = 256 * 1024 * 1024
DEFAULT_COMPRESS_LEVEL = 1  # measured: 5x faster than 6 on vector JSON for ~6% more bytes (docs/format.md)
_WRITE_BUFFER = 1 << 20
_LINE_ENCODER = msgspec.json.Encoder()

FileCallback = Callable[[FileEntry, Path], None]
"""Called with each finished data or definition file, e.g. to upload it while the next one is written."""


@dataclass(frozen=True)
class SnapshotResult:
    snapshot_id: str
    status: str
    path: Path
    manifest: Manifest
    manifest_sha256: str
    manifest_sha1: str
    signature_key_id: str | None = None
    """The ``key_id`` that signed ``manifest.json`` (the snapshot then holds ``manifest.json.sig``), else ``None``."""


class _Segment:
    """One data file being written: JSON lines, compressed (gzip or zstd) or not, hashed as they reach disk."""

    def __init__(self, path: Path, relative_path: str, compression: str, compress_level: int) -> None:
        self.path = path
        self.relative_path = relative_path
        self._raw = HashingWriter(path)
        self._stream: Any = compressing(self._raw, compression, compress_level)
        self._buffer: list[bytes] = []
        self._buffered = 0
        self.documents = 0
        self.uncompressed_bytes = 0

    def write_line(self, line: bytes) -> None:
        self._buffer.append(line)
        self._buffered += len(line)
        self.documents += 1
        self.uncompressed_bytes += len(line)
        if self._buffered >= _WRITE_BUFFER:
            self._flush_buffer()

    def _flush_buffer(self) -> None:
        if self._buffer:
            self._stream.write(b"".join(self._buffer))
            self._buffer.clear()
            self._buffered = 0

    def close(self) -> FileEntry:
        self._flush_buffer()
        finish(self._stream, self._raw)  # the compression trailer; the underlying file stays open
        digests = self._raw.close()
        return FileEntry(self.relative_path, self._raw.size, digests.sha256, self.documents, self.uncompressed_bytes,
                         sha1=digests.sha1)

    def discard(self) -> None:
        self._raw.discard()


_SEGMENT_INDEX = re.compile(r"/part-(\d{5})\.")


class _Starting:
    """Holds a collection's name while its writer is being created, so a second start is refused."""

    _closed = False

    def __init__(self, name: str) -> None:
        self.name = name


class CollectionWriter:
    """Writes one collection's documents into size-rolled segments, then runs the vector-loss guard.

    Use it as a context manager: leaving it with an exception records the collection as
    failed (the snapshot will be INCOMPLETE) and lets the exception propagate.
    """

    def __init__(self, snapshot: SnapshotWriter, name: str, definition: dict[str, Any]) -> None:
        self._snapshot = snapshot
        self.name = name
        self.definition = definition
        self._stored = Tally()  # documents in finished segments
        self._pending = Tally()  # documents in the open segment
        self._segments: list[FileEntry] = []
        self._in_flight: list[tuple[concurrent.futures.Future[FileEntry], Tally]] = []  # handed off, in index order
        self._next_index = 0
        self._open: _Segment | None = None
        self._closed = False
        self._definition_file: FileEntry | None = None
        self.scan: dict[str, Any] | None = None
        """Set by the reader of the source: how it read the collection, recorded in the manifest."""
        encryption = snapshot.encryption
        relative = definition_path(name) + (ENCRYPTED_SUFFIX if encryption is not None else "")
        local = snapshot.path / relative
        try:
            local.parent.mkdir(parents=True, exist_ok=False)
            raw = (json.dumps(definition, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
            if encryption is None:
                digests = write_file_durably(local, raw)
                size = len(raw)
            else:  # encrypted straight from memory: the plaintext definition never reaches disk
                digests, size = encryption.encrypt_stream(io.BytesIO(raw), local)
                fsync_dir(local.parent)
            entry = FileEntry(relative, size, digests.sha256, sha1=digests.sha1)
            snapshot._file_complete(entry, local)
            self._definition_file = entry
        except BaseException as exc:
            # Recorded as failed before it is raised: a collection that could not even start must never be
            # missing from the manifest of a snapshot that then looks complete.
            local.unlink(missing_ok=True)
            self.fail(exc, reraise=True)

    def write(self, document: dict[str, Any]) -> None:
        """Append one document exactly as the source returned it (non-JSON values in envelopes)."""
        if self._closed:
            raise SnapshotError(f"collection {self.name!r} is already closed")
        if type(document) is not dict or "_id" not in document:
            raise SnapshotError(
                f"collection {self.name!r}: every document must be a JSON object with an _id, got "
                f"{type(document).__name__}{'' if type(document) is not dict else ' without _id'}; "
                f"a document without its _id cannot be restored faithfully")
        encoded = self._snapshot.codec.encode(document)
        try:
            # The codec leaves only JSON types and finite floats, which msgspec prints as compact JSON.
            line = _LINE_ENCODER.encode(encoded) + b"\n"
        except UnicodeEncodeError:
            raise SnapshotError(
                f"collection {self.name!r}: document {document['_id']!r} holds a string with a lone surrogate, "
                f"which is not valid Unicode and cannot be stored as UTF-8; fix the value at the source") from None
        segment = self._open
        limit = self._snapshot.segment_max_bytes
        if segment is not None and segment.uncompressed_bytes + len(line) > limit and segment.documents:
            self._close_segment()
            segment = None
        if segment is None:
            segment = self._open = self._snapshot._new_segment(self.name, self._next_index)
            self._next_index += 1
        segment.write_line(line)
        self._pending.add(encoded)

    def write_many(self, documents: Iterable[dict[str, Any]]) -> None:
        for document in documents:
            self.write(document)

    def _close_segment(self) -> None:
        """Finish the open segment and hand it on; it is listed only once the hand-off succeeded."""
        if self._open is None:
            return
        segment, self._open = self._open, None
        tally, self._pending = self._pending, Tally()
        snapshot = self._snapshot

        def hand_off() -> FileEntry:
            stored = segment.path
            try:
                entry = segment.close()
                if snapshot.encryption is not None:
                    entry, stored = snapshot._encrypt_segment(entry, segment.path)
                snapshot._file_complete(entry, stored)
            except BaseException:
                segment.path.unlink(missing_ok=True)
                stored.unlink(missing_ok=True)
                raise
            return entry

        self._in_flight.append((snapshot._handoff.submit(hand_off), tally))
        self._collect(wait=False)

    def _collect(self, wait: bool) -> None:
        """List the handed-off segments that are done, in index order; raise the first hand-off failure.

        With ``wait`` it first waits for every one in flight, so a failed collection still lists
        each segment that did reach the store and nothing is left uploading behind the manifest.
        """
        if wait:
            concurrent.futures.wait([future for future, _ in self._in_flight])
        failure: BaseException | None = None
        while self._in_flight and self._in_flight[0][0].done():
            future, tally = self._in_flight.pop(0)
            error = future.exception()
            if error is not None:
                failure = failure or error
                continue
            self._stored.merge(tally)
            self._segments.append(future.result())
        if failure is not None:
            raise failure

    def close(self) -> CollectionEntry:
        """Finish the last segment and run the vector-loss guard; a guard failure fails the collection."""
        try:
            self._close_segment()
            self._collect(wait=True)
            warnings = check_vector_loss(self.name, self.definition, self._stored.documents,
                                         self._stored.vectors, self._snapshot.vector_policy)
        except BaseException as exc:
            return self.fail(exc, reraise=True)
        return self._finish("complete", warnings=warnings)

    def fail(self, exc: BaseException, reraise: bool = False) -> CollectionEntry:
        """Record the collection as failed: stored segments stay listed, a half-written one is removed."""
        if self._open is not None:
            self._open.discard()
            self._open = None
            self._pending = Tally()
        try:
            self._collect(wait=True)
        except BaseException:  # the collection is failing for ``exc`` already; that cause is the one recorded
            pass
        entry = self._finish(COLLECTION_FAILED, error=f"{type(exc).__name__}: {exc}")
        if reraise:
            raise exc
        return entry

    def _finish(self, status: str, warnings: list[str] | None = None, error: str | None = None) -> CollectionEntry:
        self._closed = True
        encrypted = self._snapshot.encryption is not None  # the definition is then only in definition.json.age
        entry = CollectionEntry(
            name=self.name, status=status, definition={} if encrypted else self.definition,
            definition_file=self._definition_file,
            document_count=self._stored.documents, vectors=self._stored.vectors,
            content_digest=self._stored.digest.hexdigest(),
            digest_algorithm=DIGEST_ALGORITHM, segments=list(self._segments),
            embedding={} if encrypted else embedding_metadata(self.definition), warnings=warnings or [], error=error,
            scan=self.scan,
        )
        self._snapshot._collection_done(entry)
        return entry

    def __enter__(self) -> CollectionWriter:
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        if self._closed:
            return
        if exc is None:
            self.close()
        else:
            self.fail(exc)


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
        encryption: AgeEncryption | None = None, handoff_concurrency: int = 0,
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

    def collection(self, name: str, definition: dict[str, Any]) -> CollectionWriter:
        """Start writing a collection. Starting a failed collection again rewrites it from scratch.

        Several collections may be written at once, each from its own thread.
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
            writer = CollectionWriter(self, name, definition)
        except BaseException:  # a failed start has recorded itself as failed; free the name
            with self._lock:
                if self._writing.get(name) is placeholder:
                    del self._writing[name]
            raise
        with self._lock:
            self._writing[name] = writer
        return writer

    def _new_segment(self, collection: str, index: int) -> _Segment:
        relative = segment_path(collection, index, self.compression)
        return _Segment(self.path / relative, relative, self.compression, self.compress_level)

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

    def adopt(self, entry: CollectionEntry) -> None:
        """List a collection that another writer (e.g. on another worker) wrote into this snapshot's store folder.

        The entry must be one a :class:`CollectionWriter` with this writer's settings produced: its file
        names, compression, encryption and digest algorithm are checked, so the sealed manifest reads
        exactly as if this writer had written every collection itself. Checking that the listed files
        really are in the store is the caller's job.
        """
        if self._started_at is None or self.result is not None:
            raise SnapshotError("adopt collections into an open snapshot writer, before it is sealed")
        name = entry.name
        collection_dir(name)  # refuses unsafe names
        if entry.status not in (STATUS_COMPLETE, COLLECTION_FAILED):
            raise SnapshotError(f"collection {name!r} has status {entry.status!r}, not complete or failed")
        if entry.digest_algorithm != DIGEST_ALGORITHM:
            raise SnapshotError(f"collection {name!r} was digested with {entry.digest_algorithm!r}, "
                                f"not {DIGEST_ALGORITHM!r}")
        suffix = ENCRYPTED_SUFFIX if self.encryption is not None else ""
        expected = [definition_path(name) + suffix] if entry.definition_file is not None else []
        indices: list[int] = list(range(len(entry.segments)))
        if entry.status == COLLECTION_FAILED:  # it may skip the index of a segment whose upload failed
            found = [int(m.group(1)) if (m := _SEGMENT_INDEX.search(s.path)) else -1 for s in entry.segments]
            if -1 not in found and found == sorted(set(found)):
                indices = found  # still checked name by name below
        expected += [segment_path(name, index, self.compression) + suffix for index in indices]
        listed = [f.path for f in entry.files]
        if listed != expected:
            raise SnapshotError(
                f"collection {name!r} lists files {listed}, but a writer with this snapshot's settings "
                f"(compression {self.compression!r}, {'encrypted' if suffix else 'not encrypted'}) writes {expected}")
        if entry.status == STATUS_COMPLETE and entry.definition_file is None:
            raise SnapshotError(f"collection {name!r} is complete but lists no definition file")
        in_segments = sum(s.documents or 0 for s in entry.segments)
        if in_segments != entry.document_count:
            raise SnapshotError(f"collection {name!r}: its segments hold {in_segments} documents, its "
                                f"document_count says {entry.document_count}")
        if suffix and (entry.definition or entry.embedding):
            raise SnapshotError(f"collection {name!r} carries its definition in the manifest of an encrypted snapshot")
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
        finished = dt.datetime.now(dt.timezone.utc)
        settings = {"segment_max_bytes": self.segment_max_bytes, "compression": self.compression,
                    "compress_level": self.compress_level, "vector_policy": asdict(self.vector_policy),
                    "envelopes": self.codec.envelope_names}
        manifest = Manifest(
            snapshot_id=self.snapshot_id, status=status,
            started_at=self._started_at.isoformat(timespec="milliseconds"),
            finished_at=finished.isoformat(timespec="milliseconds"),
            duration_seconds=round(time.monotonic() - self._started_clock, 3),
            software=software_versions(), source=self.source, settings=settings,
            collections=[self._collections[name] for name in sorted(self._collections)], error=error,
            producer=self.producer,
            encryption=self.encryption.manifest_entry() if self.encryption is not None else None,
            format_version=FORMAT_VERSION_FOR[self.compression],  # zstd segments need a reader that knows them
        )
        raw = manifest.to_json()
        # Signed before anything is written, so a failing signer leaves only the .inprogress folder.
        signature = signature_document(raw, self.signer) if self.signer is not None else None
        manifest_digests = write_file_durably(self.path / MANIFEST_NAME, raw)
        if signature is not None:
            write_file_durably(self.path / SIGNATURE_NAME, signature)
        state = SnapshotState.COMPLETE if status == STATUS_COMPLETE else SnapshotState.INCOMPLETE
        final = self.root / folder_name(self.snapshot_id, state)
        os.rename(self.path, final)
        fsync_dir(self.root)
        self.path = final
        self.result = SnapshotResult(self.snapshot_id, status, final, manifest, manifest_digests.sha256,
                                     manifest_digests.sha1,
                                     self.signer.key_id if self.signer is not None else None)
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
