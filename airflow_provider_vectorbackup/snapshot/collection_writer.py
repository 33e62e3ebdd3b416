"""One collection of a snapshot being written: size-rolled segments, its definition, and the vector-loss guard.

A :class:`CollectionWriter` is made by :meth:`SnapshotWriter.collection
<airflow_provider_vectorbackup.snapshot.writer.SnapshotWriter.collection>` and hands every finished
file back to its snapshot writer; :func:`check_adoptable` checks that a collection entry is one
a collection writer with given settings produced.
"""

from __future__ import annotations

import concurrent.futures
import io
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import msgspec

from airflow_provider_vectorbackup.snapshot.dedup_writer import PackedCollection
from airflow_provider_vectorbackup.snapshot.digest import DIGEST_ALGORITHM
from airflow_provider_vectorbackup.snapshot.encryption import ENCRYPTED_SUFFIX
from airflow_provider_vectorbackup.snapshot.errors import SnapshotError
from airflow_provider_vectorbackup.snapshot.files import fsync_dir, write_file_durably
from airflow_provider_vectorbackup.snapshot.guard import check_vector_loss
from airflow_provider_vectorbackup.snapshot.layout import collection_dir, definition_path, segment_index, segment_path
from airflow_provider_vectorbackup.snapshot.manifest import (
    COLLECTION_FAILED, STATUS_COMPLETE, CollectionEntry, FileEntry,
)
from airflow_provider_vectorbackup.snapshot.provenance import embedding_metadata
from airflow_provider_vectorbackup.snapshot.tally import Tally

if TYPE_CHECKING:
    from airflow_provider_vectorbackup.snapshot.segment import SegmentFile
    from airflow_provider_vectorbackup.snapshot.writer import SnapshotWriter

_LINE_ENCODER = msgspec.json.Encoder()


class CollectionWriter:
    """Writes one collection's documents into size-rolled segments, then runs the vector-loss guard.

    Use it as a context manager: leaving it with an exception records the collection as
    failed (the snapshot will be INCOMPLETE) and lets the exception propagate.

    ``segments`` are the indices its segments may take (default: from 0, unbounded; a slice of a
    collection that several workers write owns a block of them); ``with_definition`` False leaves
    ``definition.json`` to the slice that writes it.
    """

    def __init__(self, snapshot: SnapshotWriter, name: str, definition: dict[str, Any], *,
                 segments: range | None = None, with_definition: bool = True) -> None:
        self._snapshot = snapshot
        self.name = name
        self.definition = definition
        self._stored = Tally()  # documents in finished segments
        self._pending = Tally()  # documents in the open segment
        self._segments: list[FileEntry] = []
        self._in_flight: list[tuple[concurrent.futures.Future[FileEntry], Tally]] = []  # handed off, in index order
        self._indices = segments
        self._next_index = segments.start if segments is not None else 0
        self._open: SegmentFile | None = None
        self._closed = False
        self._definition_file: FileEntry | None = None
        dedup = snapshot.dedup
        self._packed = PackedCollection(snapshot, name, dedup) if dedup is not None else None
        self.scan: dict[str, Any] | None = None
        """Set by the reader of the source: how it read the collection, recorded in the manifest."""
        self.embedding_models: dict[str, dict[str, Any]] = {}
        """Set by the dump: what it knows of each vector field's embedding model, recorded in the manifest."""
        if with_definition:
            self._write_definition()
        else:
            try:
                (snapshot.path / collection_dir(name)).mkdir(parents=True, exist_ok=False)
            except BaseException as exc:
                self.fail(exc, reraise=True)

    def _write_definition(self) -> None:
        snapshot, name, definition = self._snapshot, self.name, self.definition
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
        if self._packed is not None:  # stored at close, once it is known which documents the store lacks
            self._packed.add(line)
            self._pending.add(encoded)
            return
        segment = self._open
        limit = self._snapshot.segment_max_bytes
        if segment is not None and segment.uncompressed_bytes + len(line) > limit and segment.documents:
            self._close_segment()
            segment = None
        if segment is None:
            if self._indices is not None and self._next_index >= self._indices.stop:
                raise SnapshotError(
                    f"collection {self.name!r}: this slice has used all {len(self._indices)} segment names it "
                    f"owns; raise segment_max_bytes or split the collection into more slices")
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
            if self._packed is not None:
                self._packed.close()
                self._stored.merge(self._pending)
                self._pending = Tally()
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
        if self._packed is not None:  # nothing of it is listed: the documents were never all stored
            self._packed.discard()
            self._packed.packs.clear()
            self._packed.index = None
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
            embedding={} if encrypted else embedding_metadata(self.definition),
            embedding_models=dict(self.embedding_models), warnings=warnings or [], error=error,
            scan=self.scan,
            index=self._packed.index if self._packed is not None else None,
            packs=sorted(self._packed.packs.values(), key=lambda p: p.path) if self._packed is not None else [],
            deduplication=self._packed.record() if self._packed is not None and status != COLLECTION_FAILED else None,
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


def check_adoptable(entry: CollectionEntry, *, compression: str, encrypted: bool, sliced: bool = False) -> None:
    """Refuse an entry that a :class:`CollectionWriter` with these settings could not have produced.

    Its status, digest algorithm, file names (compression, encryption) and document count are
    checked, so a manifest listing it reads exactly as if one writer had written every collection.
    A ``sliced`` entry (the slices of one collection, written by several writers) may skip
    indices between the slices' blocks; its segments must still be in increasing index order.

    :raises SnapshotError: naming what does not fit.
    """
    name = entry.name
    if entry.status not in (STATUS_COMPLETE, COLLECTION_FAILED):
        raise SnapshotError(f"collection {name!r} has status {entry.status!r}, not complete or failed")
    if entry.digest_algorithm != DIGEST_ALGORITHM:
        raise SnapshotError(f"collection {name!r} was digested with {entry.digest_algorithm!r}, "
                            f"not {DIGEST_ALGORITHM!r}")
    suffix = ENCRYPTED_SUFFIX if encrypted else ""
    expected = [definition_path(name) + suffix] if entry.definition_file is not None else []
    indices: list[int] = list(range(len(entry.segments)))
    if sliced or entry.status == COLLECTION_FAILED:  # it may skip the index of a segment whose upload failed
        found = [-1 if (index := segment_index(s.path)) is None else index for s in entry.segments]
        if -1 not in found and found == sorted(set(found)):
            indices = found  # still checked name by name below
    expected += [segment_path(name, index, compression) + suffix for index in indices]
    listed = [f.path for f in entry.files]
    if listed != expected:
        raise SnapshotError(
            f"collection {name!r} lists files {listed}, but a writer with this snapshot's settings "
            f"(compression {compression!r}, {'encrypted' if suffix else 'not encrypted'}) writes {expected}")
    if entry.status == STATUS_COMPLETE and entry.definition_file is None:
        raise SnapshotError(f"collection {name!r} is complete but lists no definition file")
    in_segments = sum(s.documents or 0 for s in entry.segments)
    if in_segments != entry.document_count:
        raise SnapshotError(f"collection {name!r}: its segments hold {in_segments} documents, its "
                            f"document_count says {entry.document_count}")
    if suffix and (entry.definition or entry.embedding):
        raise SnapshotError(f"collection {name!r} carries its definition in the manifest of an encrypted snapshot")
