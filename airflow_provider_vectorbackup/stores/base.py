"""What every snapshot store offers: the format's folders and atomic states, wherever they live.

The operators, the sensor and retention work against this interface, so a team can keep
snapshots in Box or in a local or mounted folder (a network share, or a downloaded snapshot
being verified and restored offline) with the same DAG code. A store only lists, reads and
downloads; comparing what it holds with the manifest is the checker's job (:mod:`..check`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from airflow_provider_vectorbackup.snapshot.errors import (
    IntegrityError, PackDamagedError, SnapshotError, SnapshotStateError,
)
from airflow_provider_vectorbackup.snapshot.files import digests_of_file
from airflow_provider_vectorbackup.snapshot.layout import SnapshotRef, SnapshotState
from airflow_provider_vectorbackup.snapshot.manifest import FileEntry, Manifest
from airflow_provider_vectorbackup.snapshot.packs import (
    BLOB_DIR, DEDUP_FORMAT_VERSION, blob_name, blob_path, check_blob_name,
)
from airflow_provider_vectorbackup.check.verify import Problem, StoredFile
from airflow_provider_vectorbackup.snapshot.writer import SnapshotResult


MAX_MANIFEST_BYTES = 64 * 1024 * 1024
"""A larger ``manifest.json`` (or signature) in a store is not read: it is not one this package wrote."""


class SnapshotExistsError(SnapshotError):
    """A complete snapshot with this id is already in the store; it is never overwritten."""


class SnapshotLockedError(SnapshotError):
    """The store refuses to delete a snapshot yet (S3 Object Lock, a legal hold); nothing of it was deleted."""

    def __init__(self, message: str, locked_until: dt.datetime | None) -> None:
        super().__init__(message)
        self.locked_until = locked_until
        """When the last lock on the snapshot expires; ``None`` while a legal hold (no date) remains."""


class SnapshotSealedError(SnapshotStateError):
    """A worker asked to join a snapshot that is already sealed (complete or INCOMPLETE): it is never reopened."""


@dataclass(frozen=True)
class StoredSnapshot:
    """A snapshot folder in a store. ``location`` is the store's handle: a Box folder id, a local path."""

    ref: SnapshotRef
    location: str

    @property
    def snapshot_id(self) -> str:
        return self.ref.snapshot_id

    @property
    def state(self) -> SnapshotState:
        return self.ref.state


class PendingSnapshot(Protocol):
    """A snapshot being written into a store: files arrive as the writer finishes them, the manifest last."""

    location: str

    def put(self, entry: FileEntry, local: Path) -> None: ...

    def seal(self, result: SnapshotResult) -> StoredSnapshot: ...

    def files(self) -> dict[str, StoredFile]:
        """Every file in the folder now, by path relative to it, with its size (and SHA-1 where the store keeps one)."""
        ...

    def discard_collection(self, name: str) -> None:
        """Remove whatever is stored for collection ``name`` (e.g. by an earlier attempt); nothing there is fine."""
        ...

    def discard_files(self, paths: Iterable[str]) -> None:
        """Remove these files (paths relative to the folder, e.g. one slice's segments); a missing one is fine."""
        ...


class Store(Protocol):
    """A place that holds snapshot folders. Each store passes ``tests/stores/test_store_conformance.py``."""

    kind: str
    """``"box"``, ``"local"`` or ``"object"``."""

    def describe(self) -> str: ...

    def snapshots(self) -> list[StoredSnapshot]: ...

    def get(self, snapshot_id: str) -> StoredSnapshot: ...

    def begin(self, snapshot_id: str) -> PendingSnapshot: ...

    def resume(self, snapshot_id: str) -> PendingSnapshot:
        """Join snapshot ``snapshot_id`` while it is ``.inprogress``, e.g. from another worker.

        :raises SnapshotSealedError: it is already sealed (complete or INCOMPLETE).
        :raises SnapshotStateError: the store holds no such snapshot in progress.
        """
        ...

    def read_manifest(self, snapshot: StoredSnapshot) -> Manifest: ...

    def manifest_bytes(self, snapshot: StoredSnapshot) -> bytes:
        """The exact bytes of ``manifest.json`` (what a signature covers).

        :raises ManifestError: it is absent, too large, or was damaged in the store.
        """
        ...

    def signature_bytes(self, snapshot: StoredSnapshot) -> bytes | None:
        """The bytes of ``manifest.json.sig``, or ``None`` when the snapshot is unsigned."""
        ...

    def files(self, snapshot: StoredSnapshot) -> dict[str, StoredFile]:
        """Every file under the snapshot folder, by path relative to it, with its size and the checksums the store
        knows (Box: its recorded SHA-1; a folder on disk: SHA-256 and SHA-1, read from each file)."""
        ...

    def download(self, snapshot: StoredSnapshot, local_root: str | Path, *,
                 damaged: dict[str, Problem] | None = None) -> Path:
        """A local copy of the snapshot (or the snapshot itself, when it is local) under ``local_root``.

        A file found damaged while copying raises; with ``damaged``, its problem is recorded there
        under its path instead, the file is left out, and the copy goes on.
        """
        ...

    def delete(self, snapshot: StoredSnapshot) -> None:
        """Remove the snapshot entirely; a deletion cut short leaves it reading as in progress, never as sealed.

        :raises SnapshotLockedError: the store holds it under a lock; nothing was deleted.
        """
        ...

    # The shared area (format 4, docs/format.md 12): packs named by the SHA-256 of their bytes, kept once per store,
    # and lock files. Every name is checked (snapshot.packs.check_blob_name, stores.locking.check_lock_name) before
    # the store is touched.

    def blob_files(self) -> dict[str, StoredFile]:
        """Every file in ``data/`` by name, with its size and the checksums the store records (Box SHA-1, S3 SHA-256 of
        a single-part object; ``None`` where the store keeps none). Missing ``data/`` is an empty dict.

        A local store also lists the partial copies that a killed :meth:`put_blob` left (``.<name>.<random>.tmp``):
        no snapshot lists them, so garbage collection frees them, and :meth:`delete_blob` takes their names."""
        ...

    def retain_blobs(self, names: Iterable[str]) -> None:
        """Keep these files of ``data/``, which a snapshot being written reuses, at least as long as that snapshot.

        Under S3 Object Lock a reused pack's retention is extended to the lock's days from now, so a newer
        snapshot never relies on a pack whose lock runs out before its own; stores without retention do nothing.
        """
        ...

    def put_blob(self, name: str, local: Path) -> None:
        """Store the local file as ``data/<name>``, never half-visible under that name; when ``data/<name>`` exists
        already with the same size it is left as it is (content-addressed: same name, same bytes). The local file is
        left in place."""
        ...

    def get_blob(self, name: str, scratch: Path) -> Path:
        """A local path holding ``data/<name>``, downloaded into the folder ``scratch`` and checked while downloading
        against the SHA-256 in its name (a local store hands out its own file instead, which its readers check).

        :raises PackDamagedError: the bytes do not have that SHA-256; nothing is left in scratch.
        :raises IntegrityError: the store holds no ``data/<name>``.
        """
        ...

    def delete_blob(self, name: str) -> None:
        """Remove ``data/<name>``; a missing one is fine."""
        ...

    def lock_files(self) -> dict[str, bytes]:
        """Every lock file's name and bytes (``locks/``); none is an empty dict."""
        ...

    def put_lock_file(self, name: str, data: bytes) -> None:
        """Write ``locks/<name>`` whole (replacing it: a lock is refreshed by rewriting it)."""
        ...

    def delete_lock_file(self, name: str) -> None:
        """Remove ``locks/<name>``; a missing one is fine."""
        ...


def blob_sha256(name: str) -> str:
    """The SHA-256 (hex) the bytes stored as ``data/<name>`` must have: the 64 hex digits that begin the name."""
    return check_blob_name(name)[:64]


def manifest_packs(manifest: Manifest) -> dict[str, FileEntry]:
    """The files of ``data/`` a snapshot's collections use (indexes and packs), each once, by name; none before
    format 4.

    :raises ValueError: an entry's path is not ``data/<name>`` (a download never writes outside its folder).
    """
    if manifest.format_version < DEDUP_FORMAT_VERSION:
        return {}
    return {blob_name(entry.path): entry for collection in manifest.collections for entry in collection.shared}


PackFetch = Callable[[str, FileEntry, Path], Problem | None]
"""Downloads pack ``name`` (its manifest entry given) to a local path, checked while it streams; returns the problem
when the bytes are not the entry's (nothing is kept then)."""


def copy_packs(manifest: Manifest, local_root: Path, stored: Container[str], fetch: PackFetch, *,
               damaged: dict[str, Problem] | None) -> int:
    """Copy the packs a format-4 snapshot needs into ``local_root/data/``, beside its downloaded folder; shared by the
    stores whose ``download`` copies. Returns how many were copied.

    A pack the store lacks is left out (the verifier reports it missing, as it does a missing segment). One already
    in ``local_root/data/`` with the right SHA-256 (downloaded with another snapshot) is kept. A damaged one raises
    :class:`PackDamagedError`, or with ``damaged`` is recorded there under ``data/<name>`` and left out.
    """
    packs = manifest_packs(manifest)
    if not packs:
        return 0
    folder = local_root / BLOB_DIR
    folder.mkdir(parents=True, exist_ok=True)
    copied = 0
    for name, entry in packs.items():
        local = folder / name
        problem = _pack_entry_problem(name, entry)
        if problem is None:
            if name not in stored:
                continue
            if local.is_file() and digests_of_file(local)[0].sha256 == entry.sha256:
                continue
            problem = fetch(name, entry, local)
        if problem is None:
            copied += 1
        elif damaged is None:
            raise PackDamagedError(problem)
        else:
            damaged[entry.path] = problem
    return copied


def _pack_entry_problem(name: str, entry: FileEntry) -> Problem | None:
    """A manifest entry whose SHA-256 is not the one its name gives cannot be checked against either: refused."""
    if entry.sha256 == blob_sha256(name):
        return None
    return Problem(entry.path, "checksum_mismatch", f"the manifest lists it with SHA-256 {entry.sha256}, but its name "
                   f"says {blob_sha256(name)}: the manifest is inconsistent (damaged or tampered with)",
                   blob_sha256(name), entry.sha256)


def missing_pack(name: str, where: str) -> IntegrityError:
    return IntegrityError(blob_path(name), f"not in the data area of {where}: a snapshot that lists it is damaged "
                                           f"(the pack was deleted)")


def damaged_pack(name: str, where: str, found_sha256: str, size: int | None) -> Problem:
    """The problem of a pack whose bytes in store ``where`` do not have the SHA-256 its name gives."""
    return Problem(blob_path(name), "checksum_mismatch",
                   f"the bytes read from {where} have SHA-256 {found_sha256}, but the name says {blob_sha256(name)} "
                   f"({size if size is not None else 'unknown'} bytes read): the pack changed after it was written "
                   f"(corruption or tampering), and every snapshot that lists it is damaged",
                   blob_sha256(name), found_sha256)


def select(snapshots: Iterable[StoredSnapshot], snapshot_id: str, where: str) -> StoredSnapshot:
    """The snapshot an id names; ``"latest"`` is the newest complete one. Shared by every store's ``get``."""
    snapshots = sorted(snapshots, key=lambda s: s.ref)
    if snapshot_id == "latest":
        complete = [s for s in snapshots if s.state is SnapshotState.COMPLETE]
        if not complete:
            raise SnapshotStateError(f"{where} holds no complete snapshot")
        return complete[-1]
    matching = [s for s in snapshots if s.snapshot_id == snapshot_id]
    if not matching:
        raise SnapshotStateError(f"{where} holds no snapshot {snapshot_id!r}")
    # If a crash left both, the sealed folder is the one that counts.
    return sorted(matching, key=lambda s: s.state is SnapshotState.IN_PROGRESS)[0]


def joinable(snapshots: Iterable[StoredSnapshot], snapshot_id: str, where: str) -> StoredSnapshot:
    """The ``.inprogress`` folder a worker may join. Shared by every store's ``resume``.

    :raises SnapshotSealedError: the id is sealed (a sealed folder wins even beside a stale ``.inprogress`` one).
    :raises SnapshotStateError: there is no such snapshot in progress.
    """
    same = [s for s in snapshots if s.snapshot_id == snapshot_id]
    sealed = [s for s in same if s.state is not SnapshotState.IN_PROGRESS]
    if sealed:
        raise SnapshotSealedError(
            f"snapshot {snapshot_id} is already sealed in {where} as {sealed[0].ref.folder_name}; a sealed snapshot "
            f"is never reopened: make it again from the start (a new plan) or under another id")
    if not same:
        raise SnapshotStateError(f"{where} holds no snapshot {snapshot_id} in progress: the task that begins it "
                                 f"(the plan) has not run, or an earlier attempt at it was removed")
    return same[0]


def leftovers(snapshots: Iterable[StoredSnapshot], snapshot_id: str, where: str) -> list[StoredSnapshot]:
    """Folders of an earlier, failed attempt at ``snapshot_id``, to remove before writing it again.

    :raises SnapshotExistsError: the id is already complete.
    """
    same = [s for s in snapshots if s.snapshot_id == snapshot_id]
    for existing in same:
        if existing.state is SnapshotState.COMPLETE:
            raise SnapshotExistsError(f"snapshot {snapshot_id} is already complete in {where} ({existing.location})")
    return same
