"""The snapshot format on Box: one Box folder holds snapshot folders, in the format's three states.

Files are uploaded as the writer finishes them, so local disk holds a few segments at a time,
not a collection. ``manifest.json`` goes up last and the folder is renamed from
``.<id>.inprogress`` to ``<id>`` (or ``<id>.INCOMPLETE``) in one Box call: no reader ever sees
a half-written snapshot under a complete name.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from airflow_provider_vectorbackup.check.verify import Problem, StoredFile
from airflow_provider_vectorbackup.snapshot.errors import ManifestError, PackDamagedError, SnapshotStateError
from airflow_provider_vectorbackup.stores.box.client import BoxApi
from airflow_provider_vectorbackup.stores.box.items import (
    BoxIntegrityError, BoxItem, BoxNameConflictError, BoxOperationError,
)
from airflow_provider_vectorbackup.snapshot.layout import (
    COLLECTIONS_DIR, MANIFEST_NAME, SnapshotRef, SnapshotState, check_collection_name, check_relative_path, folder_name,
    parse_folder_name,
)
from airflow_provider_vectorbackup.snapshot.packs import BLOB_DIR, blob_path, check_blob_name, is_blob_name
from airflow_provider_vectorbackup.stores.base import (
    MAX_MANIFEST_BYTES, StoredSnapshot, blob_sha256, copy_packs, damaged_pack, joinable, leftovers,
    manifest_packs, missing_pack, select,
)
from airflow_provider_vectorbackup.stores.locking import LOCK_DIR, check_lock_name, is_lock_name
from airflow_provider_vectorbackup.snapshot.manifest import FileEntry, Manifest
from airflow_provider_vectorbackup.snapshot.signing import SIGNATURE_NAME
from airflow_provider_vectorbackup.snapshot.writer import SnapshotResult

log = logging.getLogger(__name__)

class BoxStore:
    """Snapshots kept in one Box folder (the store root).

    :param api: the Box client to talk through.
    :param root_folder_id: id of the folder that holds the snapshot folders.
    """

    kind = "box"

    def __init__(self, api: BoxApi, root_folder_id: str) -> None:
        self.api = api
        self.root_folder_id = root_folder_id
        self._areas: dict[str, str] = {}
        """Folder ids of ``data`` and ``locks``, once found or made."""
        self._blobs: dict[str, BoxItem] | None = None
        """``data/`` as last listed, kept current by this store's own puts and deletes."""

    def describe(self) -> str:
        return f"Box folder {self.root_folder_id}"

    @classmethod
    def at_path(cls, api: BoxApi, path: str, parent_id: str = "0", *, create: bool = False) -> BoxStore:
        """The store in folder ``path`` below ``parent_id``; created when ``create``, else it must exist."""
        if create:
            return cls(api, api.ensure_folder(path, parent_id))
        folder_id = parent_id
        for name in filter(None, path.split("/")):
            item = api.find_item(folder_id, name)
            if item is None or item.type != "folder":
                raise SnapshotStateError(f"Box has no folder {path!r} (below folder {parent_id}): no snapshots there")
            folder_id = item.id
        return cls(api, folder_id)

    def snapshots(self) -> list[StoredSnapshot]:
        """Every snapshot folder in the root, oldest first, in whatever state; other items are ignored."""
        found = []
        for item in self.api.list_folder(self.root_folder_id):
            ref = parse_folder_name(item.name) if item.type == "folder" else None
            if ref is not None:
                found.append(StoredSnapshot(ref, item.id))
        return sorted(found, key=lambda s: s.ref)

    def get(self, snapshot_id: str) -> StoredSnapshot:
        """The folder of a snapshot id; ``"latest"`` means the newest complete snapshot."""
        return select(self.snapshots(), snapshot_id, self.describe())

    def begin(self, snapshot_id: str) -> SnapshotUpload:
        """Create ``.<id>.inprogress``; leftovers of an earlier, failed attempt at the same id are removed first.

        :raises SnapshotExistsError: a complete snapshot with this id exists.
        """
        for leftover in leftovers(self.snapshots(), snapshot_id, self.describe()):
            log.warning("Removing %s left by an earlier attempt at snapshot %s", leftover.ref.folder_name, snapshot_id)
            self.api.delete_folder(leftover.location, recursive=True)
        name = folder_name(snapshot_id, SnapshotState.IN_PROGRESS)
        folder_id = self.api.ensure_folder(name, self.root_folder_id)
        return SnapshotUpload(self, snapshot_id, folder_id)

    def resume(self, snapshot_id: str) -> SnapshotUpload:
        """Join ``.<id>.inprogress`` from another worker, e.g. one mapped task per collection.

        :raises SnapshotSealedError: the snapshot is already sealed (complete or INCOMPLETE).
        :raises SnapshotStateError: no such snapshot is in progress.
        """
        found = joinable(self.snapshots(), snapshot_id, self.describe())
        return SnapshotUpload(self, snapshot_id, found.location)

    def files(self, snapshot: StoredSnapshot) -> dict[str, StoredFile]:
        """Every file under a snapshot folder with the size and SHA-1 Box recorded, from listings alone."""
        return {path: StoredFile(item.size, item.sha1) for path, item in self._walk(snapshot.location, "")}

    def _items(self, snapshot: StoredSnapshot) -> dict[str, BoxItem]:
        """Every file under a snapshot folder, by path relative to it."""
        return dict(self._walk(snapshot.location, ""))

    def _top(self, snapshot: StoredSnapshot) -> dict[str, BoxItem]:
        """The files directly in a snapshot folder (the manifest and its signature), by name."""
        return {item.name: item for item in self.api.list_folder(snapshot.location) if item.type != "folder"}

    def _walk(self, folder_id: str, prefix: str) -> Iterator[tuple[str, BoxItem]]:
        for item in self.api.list_folder(folder_id):
            path = f"{prefix}{item.name}"
            if item.type == "folder":
                yield from self._walk(item.id, f"{path}/")
            else:
                yield path, item

    def read_manifest(self, snapshot: StoredSnapshot, files: dict[str, BoxItem] | None = None) -> Manifest:
        return Manifest.from_json(self.manifest_bytes(snapshot, files))

    def manifest_bytes(self, snapshot: StoredSnapshot, files: dict[str, BoxItem] | None = None) -> bytes:
        raw = self._small_file(snapshot, self._top(snapshot) if files is None else files, MANIFEST_NAME)
        if raw is None:
            raise ManifestError(f"{snapshot.ref.folder_name} in Box has no {MANIFEST_NAME}: it is not a finished "
                                f"snapshot (or was damaged)")
        return raw

    def signature_bytes(self, snapshot: StoredSnapshot) -> bytes | None:
        return self._small_file(snapshot, self._top(snapshot), SIGNATURE_NAME)

    def _small_file(self, snapshot: StoredSnapshot, files: dict[str, BoxItem], name: str) -> bytes | None:
        """The bytes of the manifest or its signature (SHA-1 checked), or ``None`` if absent."""
        item = files.get(name)
        if item is None:
            return None
        if (item.size or 0) > MAX_MANIFEST_BYTES:
            raise ManifestError(f"{name} of {snapshot.ref.folder_name} is {item.size} bytes: not a manifest file")
        with tempfile.TemporaryDirectory(prefix="vectorbackup-manifest-") as tmp:
            local = Path(tmp) / name
            try:
                self.api.download(item.id, local, expected_sha1=item.sha1)
            except BoxIntegrityError as exc:
                raise ManifestError(f"{name} of {snapshot.ref.folder_name} changed in Box after it was written: its "
                                    f"bytes have SHA-1 {exc.actual_sha1}, Box recorded {exc.expected_sha1}; the "
                                    f"snapshot cannot be trusted") from None
            return local.read_bytes()

    def download(self, snapshot: StoredSnapshot, local_root: str | Path, *,
                 damaged: dict[str, Problem] | None = None) -> Path:
        """Copy a snapshot folder to ``local_root/<folder name>``, checking each file's SHA-1 against the manifest.

        The copy keeps the folder name, so the local readers see the same state. The packs a format-4 snapshot lists
        go to ``local_root/data/``, checked against their SHA-256 (the name's) and SHA-1. A file whose
        bytes do not have the SHA-1 raises :class:`BoxIntegrityError` (a pack: :class:`PackDamagedError`); with
        ``damaged``, it is recorded there under its path instead (and not kept), and the download goes on.
        """
        files = self._items(snapshot)
        manifest = self.read_manifest(snapshot, files)
        target = Path(local_root) / snapshot.ref.folder_name
        target.mkdir(parents=True, exist_ok=False)
        expected = {entry.path: entry for entry in manifest.files}
        for path, item in files.items():
            local = target / path
            local.parent.mkdir(parents=True, exist_ok=True)
            entry = expected.get(path)
            try:
                self.api.download(item.id, local, expected_sha1=(entry.sha1 if entry else None) or item.sha1)
            except BoxIntegrityError as exc:
                if damaged is None:
                    raise
                damaged[path] = Problem(path, "checksum_mismatch", f"the bytes downloaded from Box have SHA-1 "
                                        f"{exc.actual_sha1}, the manifest says {exc.expected_sha1} ({item.size} "
                                        f"bytes in Box, {entry.bytes if entry else 'unknown'} in the manifest): the "
                                        f"file changed after it was written (corruption or tampering)",
                                        exc.expected_sha1, exc.actual_sha1)
        packs = copy_packs(manifest, Path(local_root), self._packs_stored(manifest), self._fetch_pack, damaged=damaged)
        log.info("Downloaded snapshot %s (%d files, %d packs) to %s", snapshot.snapshot_id, len(files), packs, target)
        return target

    def _packs_stored(self, manifest: Manifest) -> dict[str, BoxItem]:
        """``data/``, listed once when the snapshot lists packs."""
        if not manifest_packs(manifest):
            return {}
        self._blobs = self._area_files(BLOB_DIR, is_blob_name)
        return self._blobs

    def _fetch_pack(self, name: str, entry: FileEntry, local: Path) -> Problem | None:
        item = (self._blobs or {}).get(name)
        if item is None:
            raise missing_pack(name, self.describe())
        try:
            self.api.download(item.id, local, expected_sha1=entry.sha1 or item.sha1, expected_sha256=entry.sha256)
        except BoxIntegrityError as exc:
            return self._mismatch(name, exc, item)
        return None

    def delete(self, snapshot: StoredSnapshot) -> None:
        """Rename the folder to ``.<id>.inprogress``, then delete it with everything in it.

        Box deletes a folder and its contents in one call, but does not promise that nobody sees it half emptied: a
        large delete goes on in the background after Box answers 503 (Box's guide, "Delete Folder"), and a listing
        meanwhile may show some files gone. Renamed first (one call, like the seal), a deletion cut short or still
        running leaves a folder that reads as in progress, never a complete-looking snapshot with files missing;
        prune removes it as an abandoned attempt.
        """
        hidden = folder_name(snapshot.snapshot_id, SnapshotState.IN_PROGRESS)
        if snapshot.state is not SnapshotState.IN_PROGRESS:
            try:
                self.api.rename_folder(snapshot.location, hidden)
            except BoxNameConflictError as conflict:  # an abandoned earlier attempt at the same id holds the name
                if conflict.existing is None or conflict.existing.type != "folder":
                    raise
                log.warning("Removing %s, left by an earlier attempt at snapshot %s, to delete the snapshot",
                            hidden, snapshot.snapshot_id)
                self.api.delete_folder(conflict.existing.id, recursive=True)
                self.api.rename_folder(snapshot.location, hidden)
        self.api.delete_folder(snapshot.location, recursive=True)
        log.info("Deleted snapshot folder %s (id %s)", snapshot.ref.folder_name, snapshot.location)

    # -- the shared area (format 4): Box folders data/ and locks/ in the root, made on first use ------------------

    def _area(self, name: str, *, create: bool) -> str | None:
        """The id of folder ``data`` or ``locks`` in the root; ``None`` when it does not exist and ``create`` is off."""
        if name not in self._areas:
            if create:
                self._areas[name] = self.api.ensure_folder(name, self.root_folder_id)
            else:
                item = self.api.find_item(self.root_folder_id, name)
                if item is None or item.type != "folder":
                    return None
                self._areas[name] = item.id
        return self._areas[name]

    def _area_files(self, name: str, is_name: Callable[[object], bool]) -> dict[str, BoxItem]:
        """The files of ``data/`` or ``locks/`` whose names the format allows (nothing else there is this package's)."""
        folder = self._area(name, create=False)
        if folder is None:
            return {}
        return {item.name: item for item in self.api.list_folder(folder) if item.type == "file" and is_name(item.name)}

    def _blob_item(self, name: str) -> BoxItem | None:
        """``data/<name>`` from the listing this store last made, listed again when it is not there (one listing
        serves a whole restore, however many packs it reads)."""
        if self._blobs is None or name not in self._blobs:
            self._blobs = self._area_files(BLOB_DIR, is_blob_name)
        return self._blobs.get(name)

    def blob_files(self) -> dict[str, StoredFile]:
        """Every pack in ``data/`` with the size and SHA-1 Box recorded, from one listing."""
        self._blobs = self._area_files(BLOB_DIR, is_blob_name)
        return {name: StoredFile(item.size, item.sha1) for name, item in self._blobs.items()}

    def retain_blobs(self, names: Iterable[str]) -> None:
        """Box retention policies apply to whole folders, set by an administrator; there is nothing to extend here."""

    def put_blob(self, name: str, local: Path) -> None:
        """Upload ``data/<name>`` (a Box upload appears whole or not at all; big ones go up in parts).

        A name Box holds already with the same size is left as it is: same name, same bytes. One with another size
        (not what the name says) gets the local bytes as a new version.
        """
        check_blob_name(name)
        folder = self._area(BLOB_DIR, create=True)
        try:
            item = self.api.upload(local, folder, name)
        except BoxNameConflictError as conflict:
            existing = conflict.existing
            if existing is None or existing.type != "file":
                raise
            if existing.size is None:
                existing = self.api.file_info(existing.id)
            if existing.size == local.stat().st_size:
                log.warning("Box already holds %s/%s (file id %s) with the same size but SHA-1 %s, not the SHA-1 of "
                            "the bytes to upload: left as it is; verify reports it if it is damaged", BLOB_DIR, name,
                            existing.id, existing.sha1)
                item = existing
            else:
                log.warning("Box holds %s/%s (file id %s) with %s bytes, not the %d its name stands for: uploading "
                            "the bytes as a new version", BLOB_DIR, name, existing.id, existing.size,
                            local.stat().st_size)
                item = self.api.upload(local, folder, name, new_version_if_exists=True)
        if self._blobs is not None:
            self._blobs[name] = item

    def get_blob(self, name: str, scratch: Path) -> Path:
        """Download ``data/<name>`` into ``scratch``, checking the SHA-1 Box recorded and the SHA-256 of the name."""
        check_blob_name(name)
        item = self._blob_item(name)
        if item is None:
            raise missing_pack(name, self.describe())
        scratch.mkdir(parents=True, exist_ok=True)
        local = scratch / name
        try:
            self.api.download(item.id, local, expected_sha1=item.sha1, expected_sha256=blob_sha256(name))
        except BoxIntegrityError as exc:
            raise PackDamagedError(self._mismatch(name, exc, item)) from None
        return local

    def _mismatch(self, name: str, exc: BoxIntegrityError, item: BoxItem) -> Problem:
        """The problem behind a failed check of a downloaded pack: its SHA-256 (the name's) or the SHA-1."""
        if exc.actual_sha256 is not None:
            return damaged_pack(name, self.describe(), exc.actual_sha256, item.size)
        return Problem(blob_path(name), "checksum_mismatch",
                       f"the bytes downloaded from Box have SHA-1 {exc.actual_sha1}, Box or the manifest says "
                       f"{exc.expected_sha1} ({item.size} bytes in Box): the pack changed after it was written "
                       f"(corruption or tampering), and every snapshot that lists it is damaged",
                       exc.expected_sha1, exc.actual_sha1)

    def delete_blob(self, name: str) -> None:
        check_blob_name(name)
        item = self._blob_item(name)
        if item is not None:
            self._delete_file(item)
            log.info("Deleted %s/%s from %s", BLOB_DIR, name, self.describe())
        if self._blobs is not None:
            self._blobs.pop(name, None)

    def _delete_file(self, item: BoxItem) -> None:
        """Delete a file of the shared area; one that another process removed since the listing is fine."""
        try:
            self.api.delete_file(item.id)
        except BoxOperationError as exc:
            if exc.status_code != 404:
                raise

    def lock_files(self) -> dict[str, bytes]:
        """Every lock file's bytes, each download checked against the SHA-1 Box recorded."""
        found = {}
        with tempfile.TemporaryDirectory(prefix="vectorbackup-locks-") as tmp:
            for name, item in self._area_files(LOCK_DIR, is_lock_name).items():
                try:
                    self.api.download(item.id, Path(tmp) / name, expected_sha1=item.sha1)
                except BoxOperationError as exc:
                    if exc.status_code == 404:
                        continue  # removed since the listing: a lock released meanwhile
                    raise
                found[name] = (Path(tmp) / name).read_bytes()
        return found

    def put_lock_file(self, name: str, data: bytes) -> None:
        """Upload ``locks/<name>``, as a new version when it exists (Box swaps versions in one step)."""
        check_lock_name(name)
        folder = self._area(LOCK_DIR, create=True)
        with tempfile.TemporaryDirectory(prefix="vectorbackup-lock-") as tmp:
            local = Path(tmp) / name
            local.write_bytes(data)
            self.api.upload(local, folder, name, new_version_if_exists=True)

    def delete_lock_file(self, name: str) -> None:
        check_lock_name(name)
        item = self._area_files(LOCK_DIR, is_lock_name).get(name)
        if item is not None:
            self._delete_file(item)
            log.info("Deleted %s/%s from %s", LOCK_DIR, name, self.describe())


class SnapshotUpload:
    """The Box side of one snapshot being written: files go up as they finish, the manifest last."""

    def __init__(self, store: BoxStore, snapshot_id: str, folder_id: str) -> None:
        self.store = store
        self.snapshot_id = snapshot_id
        self.folder_id = folder_id
        self.location = folder_id
        self._folders: dict[str, str] = {"": folder_id}

    def put(self, entry: FileEntry, local: Path) -> None:
        """Upload one finished file (a :data:`~snapshot.writer.FileCallback`), then free its local disk."""
        directory, _, name = entry.path.rpartition("/")
        folder_id = self._folder(directory)
        self.store.api.upload(local, folder_id, name, sha1=entry.sha1)  # Box's SHA-1 must equal the writer's
        local.unlink()

    def _folder(self, directory: str) -> str:
        if directory not in self._folders:
            self._folders[directory] = self.store.api.ensure_folder(directory, self.folder_id)
        return self._folders[directory]

    def files(self) -> dict[str, StoredFile]:
        """Every file in the folder with the size and SHA-1 Box recorded, from listings alone."""
        return {path: StoredFile(item.size, item.sha1) for path, item in self.store._walk(self.folder_id, "")}

    def discard_collection(self, name: str) -> None:
        """Delete ``collections/<name>`` with whatever an earlier attempt uploaded into it."""
        directory = f"{COLLECTIONS_DIR}/{check_collection_name(name)}"
        api = self.store.api
        parent = self._folders.get(COLLECTIONS_DIR)
        if parent is None:
            found = api.find_item(self.folder_id, COLLECTIONS_DIR)
            if found is None or found.type != "folder":
                return
            parent = found.id
        for item in api.list_folder(parent):
            if item.type == "folder" and item.name == name:  # exact: Box compares names case-insensitively
                log.warning("Removing collection %s from snapshot %s in Box: files of an earlier or unreported "
                            "attempt", name, self.snapshot_id)
                api.delete_folder(item.id, recursive=True)
        self._folders.pop(directory, None)

    def discard_files(self, paths: Iterable[str]) -> None:
        """Delete these files, found by listing their folders (one listing per folder)."""
        by_folder: dict[str, set[str]] = {}
        for path in paths:
            directory, _, name = check_relative_path(path).rpartition("/")
            by_folder.setdefault(directory, set()).add(name)
        api = self.store.api
        for directory, names in by_folder.items():
            folder_id = self._existing_folder(directory)
            if folder_id is None:
                continue
            for item in api.list_folder(folder_id):
                if item.type == "file" and item.name in names:  # exact: Box compares names case-insensitively
                    log.warning("Removing %s/%s from snapshot %s in Box: a file of an earlier attempt", directory,
                                item.name, self.snapshot_id)
                    api.delete_file(item.id)

    def _existing_folder(self, directory: str) -> str | None:
        """The id of folder ``directory`` (relative to the snapshot) if it exists, without creating it."""
        if directory in self._folders:
            return self._folders[directory]
        folder_id = self.folder_id
        for name in filter(None, directory.split("/")):
            found = next((item for item in self.store.api.list_folder(folder_id)
                          if item.type == "folder" and item.name == name), None)
            if found is None:
                return None
            folder_id = found.id
        return folder_id

    def seal(self, result: SnapshotResult) -> StoredSnapshot:
        """Upload ``manifest.json`` and rename the folder to its final state, the same as the local writer's.

        A manifest left by an attempt that died before the rename (a retried commit) is replaced by a new version.
        """
        self.store.api.upload(result.path / MANIFEST_NAME, self.folder_id, MANIFEST_NAME, new_version_if_exists=True)
        if (result.path / SIGNATURE_NAME).exists():
            self.store.api.upload(result.path / SIGNATURE_NAME, self.folder_id, SIGNATURE_NAME,
                                   new_version_if_exists=True)
        state = SnapshotState.COMPLETE if result.status == "complete" else SnapshotState.INCOMPLETE
        name = folder_name(self.snapshot_id, state)
        self.store.api.rename_folder(self.folder_id, name)
        log.info("Snapshot %s is now visible in Box as %s (folder id %s)", self.snapshot_id, name, self.folder_id)
        return StoredSnapshot(SnapshotRef(self.snapshot_id, state, name), self.folder_id)
