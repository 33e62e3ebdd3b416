"""The snapshot format in a local or mounted folder: the writer's own layout, made durable and atomic."""

from __future__ import annotations

import logging
import os
import re
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from airflow_provider_vectorbackup.check.verify import Problem, StoredFile
from airflow_provider_vectorbackup.deprecation import moved
from airflow_provider_vectorbackup.snapshot.errors import IntegrityError
from airflow_provider_vectorbackup.snapshot.files import digests_of_file, fsync_dir, write_file_durably
from airflow_provider_vectorbackup.snapshot.packs import BLOB_DIR, blob_path, is_blob_name
from airflow_provider_vectorbackup.snapshot.layout import (
    MANIFEST_NAME, SnapshotRef, SnapshotState, check_relative_path, collection_dir, folder_name,
)
from airflow_provider_vectorbackup.snapshot.manifest import FileEntry, Manifest
from airflow_provider_vectorbackup.snapshot.reader import list_snapshots, read_manifest, read_manifest_bytes
from airflow_provider_vectorbackup.snapshot.signing import SIGNATURE_NAME, read_signature
from airflow_provider_vectorbackup.snapshot.writer import SnapshotResult
from airflow_provider_vectorbackup.stores.base import StoredSnapshot, joinable, leftovers, select
from airflow_provider_vectorbackup.stores.locking import LOCK_DIR, check_lock_name, is_lock_name

log = logging.getLogger(__name__)

_PARTIAL_COPY = re.compile(r"\.([0-9a-f]{64}\.[a-z.]+)\.[0-9a-f]{32}\.tmp")
"""``.<name>.<random>.tmp`` in ``data/``: a file being stored, before its rename; one a killed dump left is garbage."""
_DELETING = ".deleting"
"""A snapshot folder being deleted is first renamed to ``.<folder>.deleting``, a name no reader takes for a snapshot."""


class LocalStore:
    """Snapshots kept side by side in one folder, e.g. a network share or a download of a Box snapshot.

    :param root: the folder; created when a snapshot is first written into it.
    """

    kind = "local"

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).absolute()

    def describe(self) -> str:
        return str(self.root)

    def snapshots(self) -> list[StoredSnapshot]:
        return [StoredSnapshot(ref, str(self.root / ref.folder_name)) for ref in list_snapshots(self.root)]

    def get(self, snapshot_id: str) -> StoredSnapshot:
        return select(self.snapshots(), snapshot_id, f"folder {self.root}")

    def begin(self, snapshot_id: str) -> LocalPendingSnapshot:
        for leftover in leftovers(self.snapshots(), snapshot_id, f"folder {self.root}"):
            log.warning("Removing %s left by an earlier attempt at snapshot %s", leftover.location, snapshot_id)
            shutil.rmtree(leftover.location)
        path = self.root / folder_name(snapshot_id, SnapshotState.IN_PROGRESS)
        path.mkdir(parents=True)
        fsync_dir(self.root)
        return LocalPendingSnapshot(self, snapshot_id, path)

    def resume(self, snapshot_id: str) -> LocalPendingSnapshot:
        """Join ``.<id>.inprogress`` from another process or worker (the folder must be shared between them)."""
        found = joinable(self.snapshots(), snapshot_id, f"folder {self.root}")
        return LocalPendingSnapshot(self, snapshot_id, Path(found.location))

    def read_manifest(self, snapshot: StoredSnapshot) -> Manifest:
        return read_manifest(Path(snapshot.location))

    def manifest_bytes(self, snapshot: StoredSnapshot) -> bytes:
        return read_manifest_bytes(Path(snapshot.location))

    def signature_bytes(self, snapshot: StoredSnapshot) -> bytes | None:
        return read_signature(Path(snapshot.location))

    def files(self, snapshot: StoredSnapshot) -> dict[str, StoredFile]:
        """Every file's size, SHA-256 and SHA-1, read from disk: a folder records no checksums, and reading the bytes
        is stronger than trusting a recorded checksum."""
        folder = Path(snapshot.location)
        listing = {}
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                digests, size = digests_of_file(path)
                listing[path.relative_to(folder).as_posix()] = StoredFile(size, digests.sha1, digests.sha256)
        return listing

    def download(self, snapshot: StoredSnapshot, local_root: str | Path, *,
                 damaged: dict[str, Problem] | None = None) -> Path:
        """Already local: the snapshot's own folder, read in place (readers never write to it; the verifier finds
        every damaged file, so ``damaged`` stays empty)."""
        return Path(snapshot.location)

    def delete(self, snapshot: StoredSnapshot) -> None:
        """Rename the folder out of the snapshot names first, so a crash mid-delete leaves nothing that looks sealed."""
        doomed = self.root / f".{snapshot.ref.folder_name}{_DELETING}"
        os.rename(snapshot.location, doomed)
        fsync_dir(self.root)
        shutil.rmtree(doomed)
        for leftover in self.root.glob(f".*{_DELETING}"):  # any a crash left half deleted (another prune may be at it)
            shutil.rmtree(leftover, ignore_errors=True)
        fsync_dir(self.root)
        log.info("Deleted snapshot folder %s", snapshot.location)

    # -- the shared data area of deduplicated snapshots, and lock files (docs/format.md, 12) --

    def blob_files(self) -> dict[str, StoredFile]:
        """Sizes only: hashing every pack would read the whole store; the checker reads what it checks.

        Partial copies are listed too: no snapshot lists them, so garbage collection, which runs only when no
        dump does, frees those that a killed dump left.
        """
        folder = self.root / BLOB_DIR
        if not folder.is_dir():
            return {}
        return {path.name: StoredFile(path.stat().st_size, None) for path in sorted(folder.iterdir())
                if path.is_file() and (is_blob_name(path.name) or _is_partial_copy(path.name))}

    def retain_blobs(self, names: Iterable[str]) -> None:
        """A folder has no retention to extend."""

    def put_blob(self, name: str, local: Path) -> None:
        target = self.root / blob_path(name)
        if target.is_file() and target.stat().st_size == Path(local).stat().st_size:
            return  # content-addressed: the same name holds the same bytes
        target.parent.mkdir(parents=True, exist_ok=True)
        # Unique per call: two collections with the same documents store the same pack from two threads at once.
        # The name matches _PARTIAL_COPY, so garbage collection frees it when a kill leaves it.
        temporary = target.with_name(f".{name}.{uuid.uuid4().hex}.tmp")
        shutil.copyfile(local, temporary)
        _fsync_file(temporary)
        os.replace(temporary, target)
        fsync_dir(target.parent)

    def get_blob(self, name: str, scratch: Path) -> Path:
        """The file itself: a local store is read in place."""
        path = self.root / blob_path(name)
        if not path.is_file():
            raise IntegrityError(blob_path(name), f"not in the store's data area {path.parent}")
        return path

    def delete_blob(self, name: str) -> None:
        path = self.root / BLOB_DIR / name if _is_partial_copy(name) else self.root / blob_path(name)
        path.unlink(missing_ok=True)

    def lock_files(self) -> dict[str, bytes]:
        folder = self.root / LOCK_DIR
        if not folder.is_dir():
            return {}
        return {path.name: path.read_bytes() for path in sorted(folder.iterdir())
                if path.is_file() and is_lock_name(path.name)}

    def put_lock_file(self, name: str, data: bytes) -> None:
        folder = self.root / LOCK_DIR
        folder.mkdir(parents=True, exist_ok=True)
        write_file_durably(folder / check_lock_name(name), data)

    def delete_lock_file(self, name: str) -> None:
        (self.root / LOCK_DIR / check_lock_name(name)).unlink(missing_ok=True)


class LocalPendingSnapshot:
    """Files move from the writer's staging folder into ``.<id>.inprogress``; sealing renames it."""

    def __init__(self, store: LocalStore, snapshot_id: str, path: Path) -> None:
        self.store = store
        self.snapshot_id = snapshot_id
        self.path = path
        self.location = str(path)

    def put(self, entry: FileEntry, local: Path) -> None:
        target = self.path / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(local, target)  # a rename on the same file system; a copy across mounts
        _fsync_file(target)
        fsync_dir(target.parent)

    def files(self) -> dict[str, StoredFile]:
        """Sizes only: hashing every file here would re-read the whole snapshot (the verifier does that)."""
        return {path.relative_to(self.path).as_posix(): StoredFile(path.stat().st_size, None)
                for path in sorted(self.path.rglob("*")) if path.is_file()}

    def discard_collection(self, name: str) -> None:
        folder = self.path / collection_dir(name)
        if folder.exists():
            log.warning("Removing collection %s from snapshot %s: files of an earlier or unreported attempt",
                        name, self.snapshot_id)
            shutil.rmtree(folder)
            fsync_dir(folder.parent)

    def discard_files(self, paths: Iterable[str]) -> None:
        folders = set()
        for path in paths:
            target = self.path / check_relative_path(path)
            if target.is_file():
                log.warning("Removing %s from snapshot %s: a file of an earlier attempt", path, self.snapshot_id)
                target.unlink()
                folders.add(target.parent)
        for folder in folders:
            fsync_dir(folder)

    def seal(self, result: SnapshotResult) -> StoredSnapshot:
        self.put(FileEntry(MANIFEST_NAME, 0, ""), result.path / MANIFEST_NAME)
        if (result.path / SIGNATURE_NAME).exists():
            self.put(FileEntry(SIGNATURE_NAME, 0, ""), result.path / SIGNATURE_NAME)
        state = SnapshotState.COMPLETE if result.status == "complete" else SnapshotState.INCOMPLETE
        final = self.store.root / folder_name(self.snapshot_id, state)
        os.rename(self.path, final)
        fsync_dir(self.store.root)
        log.info("Snapshot %s is now visible as %s", self.snapshot_id, final)
        return StoredSnapshot(SnapshotRef(self.snapshot_id, state, final.name), str(final))


def _is_partial_copy(name: str) -> bool:
    match = _PARTIAL_COPY.fullmatch(name)
    return match is not None and is_blob_name(match.group(1))


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as file:
        os.fsync(file.fileno())


def __getattr__(name: str) -> Any:
    """The store's old name, still found with a DeprecationWarning."""
    return moved(__name__, name, {"LocalSnapshotStore": "airflow_provider_vectorbackup.stores.local:LocalStore"})
