"""What every snapshot store offers: the format's folders and atomic states, wherever they live.

The operators, the sensor and retention work against this interface, so a team can keep
snapshots in Box or in a local or mounted folder (a network share, or a downloaded snapshot
being verified and restored offline) with the same DAG code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from airflow_provider_vectorbackup.snapshot.errors import SnapshotError, SnapshotStateError
from airflow_provider_vectorbackup.snapshot.layout import SnapshotRef, SnapshotState
from airflow_provider_vectorbackup.snapshot.manifest import FileEntry, Manifest
from airflow_provider_vectorbackup.snapshot.signing import Verifiers
from airflow_provider_vectorbackup.snapshot.verify import VerifyReport
from airflow_provider_vectorbackup.snapshot.writer import SnapshotResult


class SnapshotExistsError(SnapshotError):
    """A complete snapshot with this id is already in the store; it is never overwritten."""


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


class SnapshotStore(Protocol):
    kind: str
    """``"box"`` or ``"local"``."""

    def describe(self) -> str: ...

    def snapshots(self) -> list[StoredSnapshot]: ...

    def get(self, snapshot_id: str) -> StoredSnapshot: ...

    def begin(self, snapshot_id: str) -> PendingSnapshot: ...

    def read_manifest(self, snapshot: StoredSnapshot) -> Manifest: ...

    def verify_files(self, snapshot: StoredSnapshot, *, allow_incomplete: bool = False,
                     verifier: Verifiers | None = None) -> VerifyReport: ...

    def download(self, snapshot: StoredSnapshot, local_root: str | Path) -> Path: ...

    def delete(self, snapshot: StoredSnapshot) -> None: ...


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


def leftovers(snapshots: Iterable[StoredSnapshot], snapshot_id: str, where: str) -> list[StoredSnapshot]:
    """Folders of an earlier, failed attempt at ``snapshot_id``, to remove before writing it again.

    :raises SnapshotExistsError: the id is already complete.
    """
    same = [s for s in snapshots if s.snapshot_id == snapshot_id]
    for existing in same:
        if existing.state is SnapshotState.COMPLETE:
            raise SnapshotExistsError(f"snapshot {snapshot_id} is already complete in {where} ({existing.location})")
    return same
