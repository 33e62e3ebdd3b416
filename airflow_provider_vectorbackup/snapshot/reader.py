"""Reading snapshots back: finding them, refusing unsafe states, and streaming documents with checks."""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from airflow_provider_vectorbackup.snapshot.codec import DEFAULT_CODEC, Codec
from airflow_provider_vectorbackup.snapshot.compression import DECOMPRESSION_ERRORS, BoundExceeded, compression_of
from airflow_provider_vectorbackup.snapshot.compression import lines as plaintext_lines
from airflow_provider_vectorbackup.snapshot.encryption import (
    AgeIdentities, DecryptionError, identity_required, is_encrypted_path, plaintext_name,
)
from airflow_provider_vectorbackup.snapshot.errors import (
    DecompressionBoundError, IntegrityError, ManifestError, SnapshotStateError,
)
from airflow_provider_vectorbackup.snapshot.files import READ_CHUNK, Digests, HashingReader
from airflow_provider_vectorbackup.snapshot.layout import MANIFEST_NAME, SnapshotRef, SnapshotState, parse_folder_name
from airflow_provider_vectorbackup.snapshot.manifest import (
    COLLECTION_FAILED, STATUS_COMPLETE, CollectionEntry, FileEntry, Manifest,
)
from airflow_provider_vectorbackup.snapshot.packed_reader import packed_plan, uses_line
from airflow_provider_vectorbackup.snapshot.signing import Verifiers, read_signature, verify_signature



decode_line: Callable[[bytes], Any] = msgspec.json.Decoder().decode
"""One JSON Lines record, parsed by msgspec: three times the standard library's speed, and stricter
(``NaN``, out-of-range numbers and lone surrogates, which no writer of this format produces, are
errors). Raises ``ValueError`` for anything that is not one JSON value."""


class SegmentScan:
    """Iterates one segment's lines while hashing the file, then checks it against its manifest entry.

    Iterating :meth:`lines` raises :class:`IntegrityError` for a truncated or corrupt compressed stream,
    and :class:`DecompressionBoundError` at the first byte past the plaintext its entry allows;
    :meth:`mismatches` lists size, checksum and count problems once the lines are exhausted.

    An encrypted segment (``….age``) is first decrypted whole into a temporary file (in
    ``scratch_dir``, else the system's temporary folder), hashing the ciphertext on the way, so
    age's authentication and the ciphertext's size and hashes are known before the first line;
    the temporary file is deleted when iteration ends or is abandoned. Without ``identities``, or
    when decryption fails, :class:`encryption.DecryptionError` is raised.
    """

    def __init__(self, path: Path, entry: FileEntry, identities: AgeIdentities | None = None,
                 scratch_dir: str | os.PathLike[str] | None = None, encryption: dict[str, Any] | None = None) -> None:
        self.path = path
        self.entry = entry
        self.identities = identities
        self.scratch_dir = scratch_dir
        self.encryption = encryption
        self.lines_read = 0
        self._reader: HashingReader | None = None
        self._stored: tuple[Digests, int] | None = None  # digests and size of the stored (encrypted) file

    @property
    def encrypted(self) -> bool:
        return is_encrypted_path(self.entry.path)

    def lines(self) -> Iterator[bytes]:
        if self.encrypted:
            yield from self._decrypted_lines()
            return
        with open(self.path, "rb") as file:
            self._reader = HashingReader(file)
            yield from self._lines_of(self._reader, compression_of(self.entry.path))

    def _decrypted_lines(self) -> Iterator[bytes]:
        if self.identities is None:
            raise identity_required(self.entry.path, self.encryption)
        fd, temporary = tempfile.mkstemp(prefix=".vectorbackup-decrypted-", suffix=".part", dir=self.scratch_dir)
        try:
            with os.fdopen(fd, "wb") as plain:
                try:
                    self._stored = self.identities.decrypt_file(self.path, plain, self.entry.path)
                except DecryptionError as exc:
                    self._stored = (exc.cipher_digests, exc.cipher_size)  # type: ignore[attr-defined]
                    raise
            with open(temporary, "rb") as file:
                yield from self._lines_of(file, compression_of(plaintext_name(self.entry.path)))
        finally:
            os.unlink(temporary)

    def stored_mismatches(self) -> list[Mismatch]:
        """Size and checksum problems of an encrypted segment, known as soon as it was decrypted (none before)."""
        if self._stored is None:
            return []
        digests, size = self._stored
        return size_mismatches(size, self.entry) + checksum_mismatches(digests, self.entry)

    def _lines_of(self, raw: Any, compression: str) -> Iterator[bytes]:
        try:
            for line in plaintext_lines(raw, compression, _recorded(self.entry.uncompressed_bytes)):
                self.lines_read += 1
                yield line
        except BoundExceeded as exc:
            _drain(raw)
            raise DecompressionBoundError(self.entry.path, f"reading stopped after {self.lines_read} line(s): {exc}; "
                                          f"the file is hostile or damaged", bound=exc.bound) from None
        except DECOMPRESSION_ERRORS as exc:
            _drain(raw)
            raise IntegrityError(self.entry.path, f"truncated or corrupt {compression} data after {self.lines_read} "
                                 f"line(s) ({exc}); the file was damaged after it was written") from None
        _drain(raw)

    def mismatches(self) -> list[Mismatch]:
        """Size, SHA-256 and document-count differences from the manifest."""
        if self._stored is not None:
            found = self.stored_mismatches()
        elif self._reader is None:
            raise RuntimeError("read the lines first")
        else:
            found = size_mismatches(self._reader.size, self.entry) + checksum_mismatches(self._reader.digests(),
                                                                                         self.entry)
        if self.entry.documents is not None and self.lines_read != self.entry.documents:
            found.append(Mismatch("count_mismatch", f"holds {self.lines_read} document line(s), the manifest says "
                                  f"{self.entry.documents}", self.entry.documents, self.lines_read))
        return found


def _recorded(size: Any) -> int | None:
    """A recorded size to bound decompression by; anything but an integer counts as not recorded."""
    return size if isinstance(size, int) and not isinstance(size, bool) else None


def _drain(raw: Any) -> None:
    while raw.read(READ_CHUNK):
        pass


class Mismatch(NamedTuple):
    """One way a stored file differs from its manifest entry, with both values."""

    code: str
    message: str
    expected: Any
    found: Any


def size_mismatches(size: int, entry: FileEntry) -> list[Mismatch]:
    if size == entry.bytes:
        return []
    return [Mismatch("size_mismatch", f"file has {size} bytes, the manifest says {entry.bytes}", entry.bytes, size)]


def checksum_mismatches(digests: Digests, entry: FileEntry) -> list[Mismatch]:
    """Each digest of a file that differs from its manifest entry (one at most: SHA-256 before SHA-1)."""
    found = []
    for name, actual, expected in (("SHA-256", digests.sha256, entry.sha256), ("SHA-1", digests.sha1, entry.sha1)):
        if expected is not None and actual != expected:
            found.append(Mismatch("checksum_mismatch", f"{name} is {actual}, the manifest says {expected}: the file "
                                  f"changed after it was written (corruption or tampering)", expected, actual))
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
    identities: AgeIdentities | None = field(default=None, repr=False)
    """Private age identities that decrypt an encrypted snapshot; ``None`` for unencrypted ones (or manifest-only use)."""
    scratch_dir: str | os.PathLike[str] | None = None
    """Where an encrypted segment is decrypted to while it is read (default: the system's temporary folder)."""
    _definitions: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    @property
    def snapshot_id(self) -> str:
        return self.manifest.snapshot_id

    @property
    def encrypted(self) -> bool:
        """Whether data and definitions are age-encrypted (the manifest has an ``encryption`` object)."""
        return self.manifest.encrypted

    def definition(self, name: str) -> dict[str, Any]:
        """The collection's definition: the decrypted ``definition.json`` when encrypted, else the manifest's.

        :raises encryption.DecryptionError: encrypted, and no identity given or none that decrypts it.
        :raises IntegrityError: the stored definition file is missing, altered or not a JSON object.
        """
        entry = self.manifest.collection(name)
        if entry.definition_file is None or not is_encrypted_path(entry.definition_file.path):
            if self.encrypted:
                raise IntegrityError(f"collections/{name}", "the snapshot is encrypted but this collection has no "
                                     "encrypted definition file; its definition is not stored")
            return entry.definition
        if name not in self._definitions:
            self._definitions[name] = read_encrypted_definition(self.path, entry.definition_file, self.identities,
                                                                self.manifest.encryption)
        return self._definitions[name]

    def documents(self, collection: str, *, allow_failed: bool = False) -> Iterator[dict[str, Any]]:
        """Yield a collection's documents decoded to Python values, checking each segment as it is read.

        A segment's SHA-256 is known only once it has been read to the end, so a damaged
        segment raises :class:`IntegrityError` after its documents were yielded. A caller that
        must not act on unverified data (a restore) runs :func:`verify.verify` first. (An
        encrypted segment is decrypted and authenticated whole before its first document.)
        """
        for raw in self.records(collection, allow_failed=allow_failed):
            yield self.codec.decode(raw)

    def records(self, collection: str, *, allow_failed: bool = False) -> Iterator[dict[str, Any]]:
        """Yield documents in their stored JSON form (envelopes not decoded): what a restore sends back.

        :raises encryption.DecryptionError: the snapshot is encrypted and no identity, or no matching
            one, was given, or a segment's ciphertext is truncated or altered.
        """
        entry = self.manifest.collection(collection)
        if entry.status == COLLECTION_FAILED and not allow_failed:
            raise SnapshotStateError(
                f"collection {collection!r} failed during snapshot {self.snapshot_id} ({entry.error}); "
                f"its data may be partial. Pass allow_failed=True only if you accept that")
        if entry.index is not None:
            for local, pack, wanted in packed_plan(self.path, entry):
                yield from self._segment_records(local, pack, wanted)
            return
        for segment in entry.segments:
            yield from self._segment_records(self.path / segment.path, segment, None)

    def _segment_records(self, local: Path, segment: FileEntry, wanted: bytearray | None) -> Iterator[dict[str, Any]]:
        """One segment's (or pack's) documents, checked as it is read; with ``wanted``, only the lines whose bit is set."""
        scan = SegmentScan(local, segment, self.identities, self.scratch_dir, self.manifest.encryption)
        lines = scan.lines()
        try:
            for number, line in enumerate(lines, start=1):
                if number == 1 and scan.encrypted:
                    problems = scan.stored_mismatches()  # known before anything of the segment is used
                    if problems:
                        raise IntegrityError(segment.path, "; ".join(problem.message for problem in problems))
                if wanted is not None and not uses_line(wanted, number - 1):
                    continue
                try:
                    document = decode_line(line)
                except ValueError:
                    raise IntegrityError(segment.path, f"line {number} is not valid JSON; the file is damaged") from None
                yield document
        finally:
            lines.close()  # deletes a decrypted temporary file at once, even when the caller stops early
        problems = scan.mismatches()
        if problems:
            raise IntegrityError(segment.path, "; ".join(problem.message for problem in problems))

    def collections(self) -> list[CollectionEntry]:
        return list(self.manifest.collections)


def read_encrypted_definition(folder: Path, entry: FileEntry, identities: AgeIdentities | None,
                              encryption: dict[str, Any] | None) -> dict[str, Any]:
    """Decrypt and parse ``definition.json.age``, checking its size and hashes against the manifest entry."""
    if identities is None:
        raise identity_required(entry.path, encryption)
    buffer = io.BytesIO()
    try:
        digests, size = identities.decrypt_file(folder / entry.path, buffer, entry.path)
    except FileNotFoundError:
        raise IntegrityError(entry.path, "listed in the manifest but not in the snapshot") from None
    problems = size_mismatches(size, entry) + checksum_mismatches(digests, entry)
    if problems:
        raise IntegrityError(entry.path, "; ".join(problem.message for problem in problems))
    try:
        definition = json.loads(buffer.getvalue())
    except ValueError:
        definition = None
    if not isinstance(definition, dict):
        raise IntegrityError(entry.path, "the decrypted collection definition is not a JSON object")
    return definition


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
                  verifier: Verifiers | None = None, identities: AgeIdentities | None = None,
                  scratch_dir: str | os.PathLike[str] | None = None) -> Snapshot:
    """Open a snapshot folder for reading.

    ``.inprogress`` folders are always refused: they are being written or were abandoned by a
    crash. ``.INCOMPLETE`` ones (or any whose manifest says incomplete) need ``allow_incomplete``.
    With a ``verifier`` (one key or several, see :mod:`signing`), ``manifest.json`` must carry a
    valid signature by one of them, else :class:`signing.SignatureError` is raised.

    An encrypted snapshot opens without ``identities`` (its manifest is readable), but its
    definitions and documents then raise :class:`encryption.DecryptionError`. With ``identities``,
    every collection's definition is decrypted at once, so a wrong identity fails here, before
    anything is read or written.
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
    snapshot = Snapshot(path, state, manifest, codec, key_id, identities, scratch_dir)
    if identities is not None and snapshot.encrypted:
        for collection in manifest.collections:
            if collection.definition_file is not None:
                snapshot.definition(collection.name)
    return snapshot


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
