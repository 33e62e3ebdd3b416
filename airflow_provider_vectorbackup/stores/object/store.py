"""The snapshot format in an object store, which cannot rename: states are markers, the manifest is the commit.

A snapshot lives under ``<root>/<snapshot id>/`` from its first byte (docs/format.md, 3.1):

1. ``.inprogress`` is written first, so a listing shows the snapshot as being written;
2. data files, each verified on upload;
3. at the seal, ``INCOMPLETE`` when the dump failed, then the signature, then ``manifest.json``: one
   atomic PUT that makes the snapshot sealed;
4. ``.inprogress`` is removed (a crash before that leaves it beside the manifest, and the manifest wins).

A folder without ``manifest.json`` is in progress (or abandoned), whatever else it holds, so no
reader ever takes a half-written snapshot for a sealed one.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from airflow_provider_vectorbackup.check.verify import Problem, StoredFile
from airflow_provider_vectorbackup.snapshot.errors import ManifestError, PackDamagedError, SnapshotStateError
from airflow_provider_vectorbackup.snapshot.files import digests_of_file
from airflow_provider_vectorbackup.snapshot.layout import (
    MANIFEST_NAME, SnapshotRef, SnapshotState, check_relative_path, check_snapshot_id, collection_dir, folder_name,
    is_snapshot_id,
)
from airflow_provider_vectorbackup.snapshot.manifest import FileEntry, Manifest
from airflow_provider_vectorbackup.snapshot.signing import SIGNATURE_NAME
from airflow_provider_vectorbackup.snapshot.writer import SnapshotResult
from airflow_provider_vectorbackup.snapshot.packs import BLOB_DIR, check_blob_name, is_blob_name
from airflow_provider_vectorbackup.stores.base import (
    MAX_MANIFEST_BYTES, StoredSnapshot, blob_sha256, copy_packs, damaged_pack, joinable, leftovers,
    manifest_packs, missing_pack, select,
)
from airflow_provider_vectorbackup.stores.locking import LOCK_DIR, check_lock_name, is_lock_name
from airflow_provider_vectorbackup.stores.object.access import ObjectAccess, ObjectChecksumMismatch
from airflow_provider_vectorbackup.stores.object.lock import ObjectLock

log = logging.getLogger(__name__)

IN_PROGRESS_MARKER = ".inprogress"
INCOMPLETE_MARKER = "INCOMPLETE"
_MARKERS = (IN_PROGRESS_MARKER, INCOMPLETE_MARKER)


class ObjectStore:
    """Snapshots below one prefix of a bucket or container.

    :param fs: the fsspec filesystem (``ObjectStoragePath(url).fs`` in Airflow).
    :param root: the prefix in it that holds the snapshots, ``bucket/prefix``.
    :param url: what logs and messages call the store (``s3://aws_default@bucket/prefix``: no secret in it).
    :param lock: S3 Object Lock for every object written (S3 only).
    """

    kind = "object"

    def __init__(self, fs: Any, root: str, *, url: str, lock: ObjectLock | None = None,
                 access: ObjectAccess | None = None) -> None:
        self.root = root.rstrip("/")
        self.url = url
        self.lock = lock
        self.access = access or _access_for(fs, lock)

    def describe(self) -> str:
        return self.url

    def _key(self, *parts: str) -> str:
        return "/".join((self.root, *parts))

    def snapshots(self) -> list[StoredSnapshot]:
        """Every snapshot below the root, in whatever state; other names are ignored."""
        found = []
        for name in self.access.names(self.root):
            if is_snapshot_id(name):
                found.append(self._snapshot(name))
        return sorted(found, key=lambda s: s.ref)

    def _snapshot(self, snapshot_id: str) -> StoredSnapshot:
        names = set(self.access.names(self._key(snapshot_id)))
        if MANIFEST_NAME not in names:
            state = SnapshotState.IN_PROGRESS
        elif INCOMPLETE_MARKER in names:
            state = SnapshotState.INCOMPLETE
        else:
            state = SnapshotState.COMPLETE
        return StoredSnapshot(SnapshotRef(snapshot_id, state, folder_name(snapshot_id, state)),
                              self._key(snapshot_id))

    def get(self, snapshot_id: str) -> StoredSnapshot:
        return select(self.snapshots(), snapshot_id, self.describe())

    def begin(self, snapshot_id: str) -> ObjectPendingSnapshot:
        """Start ``<id>/`` with its in-progress marker; files of an earlier failed attempt are removed first.

        :raises SnapshotExistsError: a sealed snapshot with this id exists (it is never overwritten).
        :raises ObjectLockUnavailable: a lock is asked of a bucket without Object Lock.
        """
        check_snapshot_id(snapshot_id)
        self.access.check_lock(self.root)
        for leftover in leftovers(self.snapshots(), snapshot_id, self.describe()):
            if leftover.state is not SnapshotState.IN_PROGRESS:  # an INCOMPLETE seal of an earlier attempt
                raise SnapshotStateError(
                    f"snapshot {snapshot_id} is already sealed INCOMPLETE in {self.describe()}: a sealed snapshot is "
                    f"never rewritten; prune removes it after its grace period, or dump under another id")
            log.warning("Removing the files of an earlier attempt at snapshot %s in %s", snapshot_id, self.describe())
            self.access.hide(leftover.location)
        marker = json.dumps({"snapshot_id": snapshot_id,
                             "started_at": dt.datetime.now(dt.timezone.utc).isoformat()}).encode()
        self.access.write_small(self._key(snapshot_id, IN_PROGRESS_MARKER), marker, locked=False)
        return ObjectPendingSnapshot(self, snapshot_id)

    def resume(self, snapshot_id: str) -> ObjectPendingSnapshot:
        joinable(self.snapshots(), snapshot_id, self.describe())
        return ObjectPendingSnapshot(self, snapshot_id)

    def read_manifest(self, snapshot: StoredSnapshot) -> Manifest:
        return Manifest.from_json(self.manifest_bytes(snapshot))

    def manifest_bytes(self, snapshot: StoredSnapshot) -> bytes:
        raw = self._small(snapshot, MANIFEST_NAME)
        if raw is None:
            raise ManifestError(f"{snapshot.location} has no {MANIFEST_NAME}: it is not a finished snapshot "
                                f"(or was damaged)")
        return raw

    def signature_bytes(self, snapshot: StoredSnapshot) -> bytes | None:
        return self._small(snapshot, SIGNATURE_NAME)

    def _small(self, snapshot: StoredSnapshot, name: str) -> bytes | None:
        key = f"{snapshot.location}/{name}"
        size = self.access.size(key)
        if size is None:
            return None
        if size > MAX_MANIFEST_BYTES:
            raise ManifestError(f"{name} of {snapshot.location} is {size} bytes: not a manifest file")
        return self.access.read(key)

    def files(self, snapshot: StoredSnapshot) -> dict[str, StoredFile]:
        """Every file of the snapshot (its markers are the store's, not the format's), with the checksums the
        store keeps (S3: the SHA-256 it verified on upload; other stores: read from the bytes)."""
        return {path: stored for path, stored in self.access.listing(snapshot.location).items()
                if path not in _MARKERS}

    def download(self, snapshot: StoredSnapshot, local_root: str | Path, *,
                 damaged: dict[str, Problem] | None = None) -> Path:
        """Copy the snapshot to ``local_root/<folder name>`` (the name gives local readers its state), checking
        each file's SHA-256 against the manifest; a mismatch raises, or with ``damaged`` is recorded there. The packs
        a format-4 snapshot lists go to ``local_root/data/``, checked the same way."""
        manifest = self.read_manifest(snapshot)
        expected = {entry.path: entry for entry in manifest.files}
        target = Path(local_root) / snapshot.ref.folder_name
        target.mkdir(parents=True, exist_ok=False)
        paths = [path for path in self.access.sizes(snapshot.location) if path not in _MARKERS]
        for path in paths:
            local = target / path
            local.parent.mkdir(parents=True, exist_ok=True)
            self.access.download(f"{snapshot.location}/{path}", local)
            entry = expected.get(path)
            if entry is None or not entry.sha256:
                continue
            digests, size = digests_of_file(local)
            if digests.sha256 != entry.sha256:
                local.unlink()
                problem = Problem(path, "checksum_mismatch",
                                  f"the bytes read from {self.describe()} have SHA-256 {digests.sha256}, the manifest "
                                  f"says {entry.sha256} ({size} bytes read, {entry.bytes} in the manifest): the object "
                                  f"changed after it was written (corruption or tampering)",
                                  entry.sha256, digests.sha256)
                if damaged is None:
                    raise ManifestError(problem.message)
                damaged[path] = problem
        stored = self.blob_files() if manifest_packs(manifest) else {}
        packs = copy_packs(manifest, Path(local_root), stored, lambda name, entry, local: self._fetch(name, local),
                           damaged=damaged)
        log.info("Downloaded snapshot %s (%d files, %d packs) to %s", snapshot.snapshot_id, len(paths), packs, target)
        return target

    def delete(self, snapshot: StoredSnapshot) -> None:
        """Delete every object (every version, in a versioned bucket) of the snapshot, or none.

        ``manifest.json`` goes first, on its own: a deletion cut short leaves a folder without a manifest, which reads
        as in progress (and prune removes it as an abandoned attempt), never a sealed snapshot with files missing.

        :raises SnapshotLockedError: Object Lock or a legal hold retains some of it.
        """
        self.access.remove(snapshot.location, first=f"{snapshot.location}/{MANIFEST_NAME}")
        log.info("Deleted snapshot %s from %s", snapshot.snapshot_id, self.describe())

    # -- the shared area (format 4): <root>/data/ and <root>/locks/; objects are PUT whole, so no temporary names --

    def blob_files(self) -> dict[str, StoredFile]:
        """Every pack in ``data/`` from a listing (S3 adds the SHA-256 it keeps of a single-part object); other names
        there are not this package's and are left out."""
        return {name: stored for name, stored in self.access.recorded(self._key(BLOB_DIR)).items()
                if is_blob_name(name)}

    def retain_blobs(self, names: Iterable[str]) -> None:
        """Under S3 Object Lock, extend each reused pack's retention to the lock's days from now."""
        for name in names:
            self.access.retain(self._key(BLOB_DIR, check_blob_name(name)))

    def put_blob(self, name: str, local: Path) -> None:
        """Upload ``data/<name>`` as the snapshot's files go up (S3: checked against the SHA-256 of its name), unless
        an object of the same size holds the name already.

        Under S3 Object Lock a pack is retained for the lock's days from when it is first written; each later
        snapshot that reuses it extends that (:meth:`retain_blobs`).
        """
        key = self._key(BLOB_DIR, check_blob_name(name))
        size = local.stat().st_size
        if self.access.size(key) == size:
            log.info("%s already holds %s/%s (%d bytes); nothing to upload", self.describe(), BLOB_DIR, name, size)
            return
        self.access.upload(local, key, sha256=blob_sha256(name), size=size, locked=True)

    def get_blob(self, name: str, scratch: Path) -> Path:
        """Stream ``data/<name>`` into ``scratch``, checking the SHA-256 of its name as it arrives."""
        check_blob_name(name)
        scratch.mkdir(parents=True, exist_ok=True)
        problem = self._fetch(name, scratch / name)
        if problem is not None:
            raise PackDamagedError(problem)
        return scratch / name

    def _fetch(self, name: str, local: Path) -> Problem | None:
        key = self._key(BLOB_DIR, name)
        try:
            self.access.download_verified(key, local, sha256=blob_sha256(name))
        except FileNotFoundError:
            raise missing_pack(name, self.describe()) from None
        except ObjectChecksumMismatch as exc:
            return damaged_pack(name, self.describe(), exc.found, exc.size)
        return None

    def delete_blob(self, name: str) -> None:
        """Delete ``data/<name>`` (every version, in a versioned bucket, so the bytes are freed).

        :raises SnapshotLockedError: S3 Object Lock or a legal hold retains it; it stays.
        """
        self.access.remove_object(self._key(BLOB_DIR, check_blob_name(name)))
        log.info("Deleted %s/%s from %s", BLOB_DIR, name, self.describe())

    def lock_files(self) -> dict[str, bytes]:
        found = {}
        for name in self.access.sizes(self._key(LOCK_DIR)):
            if is_lock_name(name):
                try:
                    found[name] = self.access.read(self._key(LOCK_DIR, name))
                except FileNotFoundError:
                    continue  # removed since the listing: a lock released meanwhile
        return found

    def put_lock_file(self, name: str, data: bytes) -> None:
        """One PUT: the lock is absent or whole, and a refresh replaces it whole. Never under Object Lock (it must be
        deletable); a versioned bucket keeps each replaced one as a small old version."""
        self.access.write_small(self._key(LOCK_DIR, check_lock_name(name)), data, locked=False)

    def delete_lock_file(self, name: str) -> None:
        self.access.discard(self._key(LOCK_DIR, check_lock_name(name)))


class ObjectPendingSnapshot:
    """A snapshot being written: files go up as the writer finishes them, the manifest last."""

    def __init__(self, store: ObjectStore, snapshot_id: str) -> None:
        self.store = store
        self.snapshot_id = snapshot_id
        self.location = store._key(snapshot_id)

    def put(self, entry: FileEntry, local: Path) -> None:
        """Upload one finished file, verified, then free its local disk."""
        self.store.access.upload(local, f"{self.location}/{entry.path}", sha256=entry.sha256 or None,
                                 size=local.stat().st_size, locked=True)
        local.unlink()

    def files(self) -> dict[str, StoredFile]:
        return {path: stored for path, stored in self.store.access.sizes(self.location).items()
                if path not in _MARKERS}

    def discard_collection(self, name: str) -> None:
        folder = f"{self.location}/{collection_dir(name)}"
        if self.store.access.sizes(folder):
            log.warning("Removing collection %s from snapshot %s: files of an earlier or unreported attempt",
                        name, self.snapshot_id)
            self.store.access.hide(folder)

    def discard_files(self, paths: Iterable[str]) -> None:
        for path in paths:
            key = f"{self.location}/{check_relative_path(path)}"
            log.warning("Removing %s from snapshot %s: a file of an earlier attempt", path, self.snapshot_id)
            self.store.access.discard(key)

    def seal(self, result: SnapshotResult) -> StoredSnapshot:
        """Write the markers and the manifest in the order that makes the seal atomic (see the module docstring)."""
        access = self.store.access
        state = SnapshotState.COMPLETE if result.status == "complete" else SnapshotState.INCOMPLETE
        if state is SnapshotState.INCOMPLETE:
            access.write_small(f"{self.location}/{INCOMPLETE_MARKER}", b"incomplete\n", locked=True)
        if (result.path / SIGNATURE_NAME).exists():
            access.write_small(f"{self.location}/{SIGNATURE_NAME}", (result.path / SIGNATURE_NAME).read_bytes(),
                               locked=True)
        access.write_small(f"{self.location}/{MANIFEST_NAME}", (result.path / MANIFEST_NAME).read_bytes(),
                           locked=True)
        access.discard(f"{self.location}/{IN_PROGRESS_MARKER}")
        log.info("Snapshot %s is now sealed %s in %s", self.snapshot_id, state.value, self.store.describe())
        return StoredSnapshot(SnapshotRef(self.snapshot_id, state, folder_name(self.snapshot_id, state)),
                              self.location)


def _access_for(fs: Any, lock: ObjectLock | None) -> ObjectAccess:
    protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    if "s3" in protocols:
        from airflow_provider_vectorbackup.stores.object.s3 import S3Access

        return S3Access(fs, lock=lock)
    if lock is not None:
        raise ValueError(f"object lock is S3 Object Lock; a {protocols[0]}:// store cannot hold one: leave "
                         f"object_lock_mode unset (docs/stores.md says what each store offers instead)")
    if "gs" in protocols:
        from airflow_provider_vectorbackup.stores.object.gcs import GcsAccess

        return GcsAccess(fs)
    return ObjectAccess(fs)
