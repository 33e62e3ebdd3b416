"""What every snapshot store offers: the format's folders and atomic states, wherever they live.

The operators, the sensor and retention work against this interface, so a team can keep
snapshots in Box or in a local or mounted folder (a network share, or a downloaded snapshot
being verified and restored offline) with the same DAG code. A store only lists, reads and
downloads; comparing what it holds with the manifest is the checker's job (:mod:`..check`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from airflow_provider_vectorbackup.snapshot.errors import SnapshotError, SnapshotStateError
from airflow_provider_vectorbackup.snapshot.layout import SnapshotRef, SnapshotState
from airflow_provider_vectorbackup.snapshot.manifest import FileEntry, Manifest
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
        """Remove the snapshot entirely.

        :raises SnapshotLockedError: the store holds it under a lock; nothing was deleted.
        """
        ...


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
