"""Streaming, atomic snapshot writer.

A snapshot is built in ``.<id>.inprogress/`` and becomes visible under its final name only
once ``manifest.json`` is durable: ``<id>/`` when every collection succeeded, ``<id>.INCOMPLETE/``
when any failed. A hard kill leaves the ``.inprogress`` folder, which readers ignore. Memory
stays flat: documents go to disk one line at a time and segments roll over at a set size.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from airflow_provider_vectorbackup.snapshot.codec import DEFAULT_CODEC, Codec
from airflow_provider_vectorbackup.snapshot.digest import DIGEST_ALGORITHM
from airflow_provider_vectorbackup.snapshot.encryption import ENCRYPTED_SUFFIX, AgeEncryption
from airflow_provider_vectorbackup.snapshot.errors import SnapshotError
from airflow_provider_vectorbackup.snapshot.files import HashingWriter, fsync_dir, write_file_durably
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
COMPRESSIONS = ("gzip", "none")
_WRITE_BUFFER = 1 << 20

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
    """One data file being written: JSON lines, optionally gzip-compressed, hashed as they reach disk."""

    def __init__(self, path: Path, relative_path: str, compression: str, compress_level: int) -> None:
        self.path = path
        self.relative_path = relative_path
        self._raw = HashingWriter(path)
        self._stream: Any = self._raw
        if compression == "gzip":
            # mtime=0 keeps the bytes a pure function of the content.
            self._stream = gzip.GzipFile(filename="", mode="wb", compresslevel=compress_level, fileobj=self._raw, mtime=0)
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
        if self._stream is not self._raw:
            self._stream.close()  # writes the gzip trailer; leaves the underlying file open
        digests = self._raw.close()
        return FileEntry(self.relative_path, self._raw.size, digests.sha256, self.documents, self.uncompressed_bytes,
                         sha1=digests.sha1)

    def discard(self) -> None:
        self._raw.discard()


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
        self._open: _Segment | None = None
        self._closed = False
        self._definition_file: FileEntry | None = None
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
        text = json.dumps(encoded, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        try:
            line = text.encode("utf-8") + b"\n"
        except UnicodeEncodeError as exc:
            raise SnapshotError(
                f"collection {self.name!r}: document {document['_id']!r} holds a string with a lone surrogate "
                f"({text[exc.start:exc.end]!r}), which is not valid Unicode and cannot be stored as UTF-8; "
                f"fix the value at the source") from None
        segment = self._open
        limit = self._snapshot.segment_max_bytes
        if segment is not None and segment.uncompressed_bytes + len(line) > limit and segment.documents:
            self._close_segment()
            segment = None
        if segment is None:
            segment = self._open = self._snapshot._new_segment(self.name, len(self._segments))
        segment.write_line(line)
        self._pending.add(encoded)

    def write_many(self, documents: Iterable[dict[str, Any]]) -> None:
        for document in documents:
            self.write(document)

    def _close_segment(self) -> None:
        """Finish the open segment and hand it on; it is listed only once the hand-off succeeded."""
        if self._open is not None:
            segment, self._open = self._open, None
            stored = segment.path
            try:
                entry = segment.close()
                if self._snapshot.encryption is not None:
                    entry, stored = self._snapshot._encrypt_segment(entry, segment.path)
                self._snapshot._file_complete(entry, stored)
            except BaseException:
                segment.path.unlink(missing_ok=True)
                stored.unlink(missing_ok=True)
                self._pending = Tally()
                raise
            self._stored.merge(self._pending)
            self._pending = Tally()
            self._segments.append(entry)

    def close(self) -> CollectionEntry:
        """Finish the last segment and run the vector-loss guard; a guard failure fails the collection."""
        try:
            self._close_segment()
            warnings = check_vector_loss(self.name, self.definition, self._stored.documents,
                                         self._stored.vectors, self._snapshot.vector_policy)
        except BaseException as exc:
            return self.fail(exc, reraise=True)
        return self._finish("complete", warnings=warnings)

    def fail(self, exc: BaseException, reraise: bool = False) -> CollectionEntry:
        """Record the collection as failed: finished segments stay listed, a half-written one is removed."""
        if self._open is not None:
            self._open.discard()
            self._open = None
            self._pending = Tally()
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
    """

    def __init__(
        self, root: str | os.PathLike[str], *, source: dict[str, Any], snapshot_id: str | None = None,
        segment_max_bytes: int = DEFAULT_SEGMENT_MAX_BYTES, compression: str = "gzip",
        compress_level: int = DEFAULT_COMPRESS_LEVEL, codec: Codec = DEFAULT_CODEC,
        vector_policy: VectorLossPolicy = VectorLossPolicy(), on_file_complete: FileCallback | None = None,
        producer: dict[str, str] | None = None, signer: ManifestSigner | None = None,
        encryption: AgeEncryption | None = None,
    ) -> None:
        if compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {COMPRESSIONS}, not {compression!r}")
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
        self._active: CollectionWriter | None = None
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
        """Start writing a collection. Starting a failed collection again rewrites it from scratch."""
        if self._started_at is None:
            raise SnapshotError("open the snapshot writer before adding collections")
        if self._active is not None and not self._active._closed:
            raise SnapshotError(f"collection {self._active.name!r} is still being written")
        previous = self._collections.pop(name, None)
        if previous is not None:
            if previous.status != COLLECTION_FAILED:
                raise SnapshotError(f"collection {name!r} is already in snapshot {self.snapshot_id}")
            shutil.rmtree(self.path / collection_dir(name))
        self._active = CollectionWriter(self, name, definition)
        return self._active

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
        self._collections[entry.name] = entry

    def finish(self) -> SnapshotResult:
        """Write the manifest last, then rename: ``<id>/`` if every collection succeeded, else ``<id>.INCOMPLETE/``."""
        if self._active is not None and not self._active._closed:
            self._active.fail(SnapshotError("the snapshot was finished while this collection was still open"))
        failed = any(c.status == COLLECTION_FAILED for c in self._collections.values())
        return self._seal(STATUS_INCOMPLETE if failed else STATUS_COMPLETE)

    def abort(self, reason: BaseException | str) -> SnapshotResult:
        """Seal the snapshot as INCOMPLETE, recording why, with whatever collections were written."""
        if self._active is not None and not self._active._closed:
            self._active.fail(reason if isinstance(reason, BaseException) else SnapshotError(reason))
        return self._seal(STATUS_INCOMPLETE, error=reason if isinstance(reason, str) else f"{type(reason).__name__}: {reason}")

    def _seal(self, status: str, error: str | None = None) -> SnapshotResult:
        if self.result is not None:
            return self.result
        if self._started_at is None:
            raise SnapshotError("the snapshot writer was never opened")
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
            collections=list(self._collections.values()), error=error, producer=self.producer,
            encryption=self.encryption.manifest_entry() if self.encryption is not None else None,
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
