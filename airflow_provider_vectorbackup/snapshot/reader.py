"""Reading snapshots back: finding them, refusing unsafe states, and streaming documents with checks."""

from __future__ import annotations

import gzip
import json
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_vectorbackup.snapshot.codec import DEFAULT_CODEC, Codec
from airflow_provider_vectorbackup.snapshot.errors import IntegrityError, ManifestError, SnapshotStateError
from airflow_provider_vectorbackup.snapshot.files import Digests, HashingReader
from airflow_provider_vectorbackup.snapshot.layout import MANIFEST_NAME, SnapshotRef, SnapshotState, parse_folder_name
from airflow_provider_vectorbackup.snapshot.manifest import (
    COLLECTION_FAILED, STATUS_COMPLETE, CollectionEntry, FileEntry, Manifest,
)
from airflow_provider_vectorbackup.snapshot.signing import Verifiers, read_signature, verify_signature

_DECOMPRESSION_ERRORS = (EOFError, OSError, zlib.error)


class SegmentScan:
    """Iterates one segment's lines while hashing the file, then checks it against its manifest entry.

    Iterating :meth:`lines` raises :class:`IntegrityError` for a truncated or corrupt gzip stream;
    :meth:`mismatches` lists size, checksum and count problems once the lines are exhausted.
    """

    def __init__(self, path: Path, entry: FileEntry) -> None:
        self.path = path
        self.entry = entry
        self.lines_read = 0
        self._reader: HashingReader | None = None

    def lines(self) -> Iterator[bytes]:
        with open(self.path, "rb") as file:
            self._reader = HashingReader(file)
            stream: Any = self._reader
            if self.entry.path.endswith(".gz"):
                stream = gzip.GzipFile(filename="", mode="rb", fileobj=self._reader)
            try:
                for line in stream:
                    self.lines_read += 1
                    yield line
            except _DECOMPRESSION_ERRORS as exc:
                self._reader.drain()
                raise IntegrityError(self.entry.path, f"truncated or corrupt gzip data after {self.lines_read} "
                                     f"line(s) ({exc}); the file was damaged after it was written") from None
            self._reader.drain()

    def mismatches(self) -> list[tuple[str, str]]:
        """``(code, message)`` pairs for size, SHA-256 and document-count differences from the manifest."""
        if self._reader is None:
            raise RuntimeError("read the lines first")
        found: list[tuple[str, str]] = []
        if self._reader.size != self.entry.bytes:
            found.append(("size_mismatch", f"file has {self._reader.size} bytes, the manifest says {self.entry.bytes}"))
        found.extend(checksum_mismatches(self._reader.digests(), self.entry))
        if self.entry.documents is not None and self.lines_read != self.entry.documents:
            found.append(("count_mismatch", f"holds {self.lines_read} document line(s), the manifest says {self.entry.documents}"))
        return found


def checksum_mismatches(digests: Digests, entry: FileEntry) -> list[tuple[str, str]]:
    """``(code, message)`` for each digest of a file that differs from its manifest entry."""
    found = []
    for name, actual, expected in (("SHA-256", digests.sha256, entry.sha256), ("SHA-1", digests.sha1, entry.sha1)):
        if expected is not None and actual != expected:
            found.append(("checksum_mismatch", f"{name} is {actual}, the manifest says {expected}: the file changed "
                          f"after it was written (corruption or tampering)"))
    return found[:1] if len(found) == 2 else found  # one problem per file, not one per algorithm


@dataclass
class Snapshot:
    """An opened snapshot folder whose manifest has been read and whose state allows reading."""

    path: Path
    state: SnapshotState
    manifest: Manifest
    codec: Codec = DEFAULT_CODEC
    signature_key_id: str | None = None
    """The key whose signature on ``manifest.json`` was checked when opening, if a verifier was given."""

    @property
    def snapshot_id(self) -> str:
        return self.manifest.snapshot_id

    def documents(self, collection: str, *, allow_failed: bool = False) -> Iterator[dict[str, Any]]:
        """Yield a collection's documents decoded to Python values, checking each segment as it is read.

        A segment's SHA-256 is known only once it has been read to the end, so a damaged
        segment raises :class:`IntegrityError` after its documents were yielded. A caller that
        must not act on unverified data (a restore) runs :func:`verify.verify` first.
        """
        for raw in self.records(collection, allow_failed=allow_failed):
            yield self.codec.decode(raw)

    def records(self, collection: str, *, allow_failed: bool = False) -> Iterator[dict[str, Any]]:
        """Yield documents in their stored JSON form (envelopes not decoded): what a restore sends back."""
        entry = self.manifest.collection(collection)
        if entry.status == COLLECTION_FAILED and not allow_failed:
            raise SnapshotStateError(
                f"collection {collection!r} failed during snapshot {self.snapshot_id} ({entry.error}); "
                f"its data may be partial. Pass allow_failed=True only if you accept that")
        for segment in entry.segments:
            scan = SegmentScan(self.path / segment.path, segment)
            for number, line in enumerate(scan.lines(), start=1):
                try:
                    yield json.loads(line)
                except ValueError:
                    raise IntegrityError(segment.path, f"line {number} is not valid JSON; the file is damaged") from None
            problems = scan.mismatches()
            if problems:
                raise IntegrityError(segment.path, "; ".join(message for _, message in problems))

    def collections(self) -> list[CollectionEntry]:
        return list(self.manifest.collections)


def list_snapshots(root: str | os.PathLike[str]) -> list[SnapshotRef]:
    """Every snapshot folder under ``root`` in id order (oldest first), in whatever state it is."""
    root = Path(root)
    if not root.is_dir():
        return []
    refs = (parse_folder_name(child.name) for child in root.iterdir() if child.is_dir())
    return sorted(ref for ref in refs if ref is not None)


def latest_snapshot(root: str | os.PathLike[str]) -> SnapshotRef:
    complete = [ref for ref in list_snapshots(root) if ref.state is SnapshotState.COMPLETE]
    if not complete:
        raise SnapshotStateError(f"no complete snapshot under {root}")
    return complete[-1]


def open_snapshot(path: str | os.PathLike[str], *, allow_incomplete: bool = False, codec: Codec = DEFAULT_CODEC,
                  verifier: Verifiers | None = None) -> Snapshot:
    """Open a snapshot folder for reading.

    ``.inprogress`` folders are always refused: they are being written or were abandoned by a
    crash. ``.INCOMPLETE`` ones (or any whose manifest says incomplete) need ``allow_incomplete``.
    With a ``verifier`` (one key or several, see :mod:`signing`), ``manifest.json`` must carry a
    valid signature by one of them, else :class:`signing.SignatureError` is raised.
    """
    path = Path(path)
    state = folder_state(path)
    if state is SnapshotState.IN_PROGRESS:
        raise SnapshotStateError(
            f"{path.name} is still in progress or was abandoned by a crash; it is never restorable. "
            f"Use a complete snapshot")
    raw = read_manifest_bytes(path)
    key_id = verify_signature(raw, read_signature(path), verifier) if verifier is not None else None
    manifest = Manifest.from_json(raw)
    if state is SnapshotState.COMPLETE and manifest.status != STATUS_COMPLETE:
        state = SnapshotState.INCOMPLETE
    if state is SnapshotState.INCOMPLETE and not allow_incomplete:
        failed = [f"{c.name} ({c.error})" for c in manifest.collections if c.status == COLLECTION_FAILED]
        why = "; failed: " + ", ".join(failed) if failed else (f"; {manifest.error}" if manifest.error else "")
        raise SnapshotStateError(
            f"snapshot {manifest.snapshot_id} is INCOMPLETE{why}. Pick a complete snapshot, or pass "
            f"allow_incomplete=True to read what it holds")
    return Snapshot(path, state, manifest, codec, key_id)


def folder_state(path: Path) -> SnapshotState:
    """State from the folder name; a renamed download counts as complete and its manifest decides."""
    ref = parse_folder_name(path.name)
    return ref.state if ref else SnapshotState.COMPLETE


def read_manifest(path: Path) -> Manifest:
    return Manifest.from_json(read_manifest_bytes(path))


def read_manifest_bytes(path: Path) -> bytes:
    """The exact bytes of ``manifest.json``: what a signature covers, read once and then parsed."""
    try:
        return (path / MANIFEST_NAME).read_bytes()
    except FileNotFoundError:
        raise ManifestError(f"{path} has no {MANIFEST_NAME}: it is not a finished snapshot (or was damaged)") from None
