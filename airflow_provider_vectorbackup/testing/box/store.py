"""The stand-in's Box account: a folder tree whose file versions keep their bytes on disk.

Backups are large, so file contents never live in RAM: every version is one file under
``storage_dir/blobs``, and uploads are staged under ``storage_dir/staging`` until they are
accepted. All tree changes happen under one lock, so name checks and inserts are atomic,
as they must be for Box's case-insensitive uniqueness rule.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import itertools
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from airflow_provider_vectorbackup.testing.box.errors import BoxError
from airflow_provider_vectorbackup.testing.box.shapes import ROOT_ID, mini

MAX_NAME_LENGTH = 255


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def validate_name(name: Any) -> str:
    """Apply Box's item name rules; raise the error Box answers with."""
    if not isinstance(name, str) or not name:
        raise BoxError(400, "item_name_invalid", "Item name invalid")
    if len(name) > MAX_NAME_LENGTH:
        raise BoxError(400, "item_name_too_long", "Item name too long")
    if (
        name in (".", "..") or "/" in name or "\\" in name or name != name.strip()
        or any(ord(ch) < 32 or ord(ch) == 127 for ch in name)
    ):
        raise BoxError(400, "item_name_invalid", "Item name invalid")
    return name


@dataclasses.dataclass
class FileVersion:
    id: str
    sha1: str
    size: int
    path: Path


@dataclasses.dataclass
class Item:
    id: str
    name: str
    parent_id: str | None
    etag: int = 0
    created_at: str = dataclasses.field(default_factory=now)
    modified_at: str = dataclasses.field(default_factory=now)

    def touch(self) -> None:
        self.etag += 1
        self.modified_at = now()


@dataclasses.dataclass
class Folder(Item):
    type = "folder"
    children: dict[str, Item] = dataclasses.field(default_factory=dict)
    """Keyed by ``name.casefold()``: files and folders share one namespace per folder."""


@dataclasses.dataclass
class File(Item):
    type = "file"
    versions: list[FileVersion] = dataclasses.field(default_factory=list)

    @property
    def current(self) -> FileVersion:
        return self.versions[-1]


class BoxStore:
    """Folders, files and their versions. Every method is atomic."""

    def __init__(self, storage_dir: Path | None = None) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="box-stand-in-") if storage_dir is None else None
        self.storage_dir: Path = Path(self._tmp.name) if storage_dir is None else storage_dir  # type: ignore[union-attr]
        self.blobs = self.storage_dir / "blobs"
        self.staging = self.storage_dir / "staging"
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            for directory in (self.blobs, self.staging):
                shutil.rmtree(directory, ignore_errors=True)
                directory.mkdir(parents=True)
            self._ids = itertools.count(1001)
            self._version_ids = itertools.count(1)
            self.items: dict[str, Item] = {ROOT_ID: Folder(id=ROOT_ID, name="All Files", parent_id=None)}

    def close(self) -> None:
        """Delete the storage directory if the store created it."""
        if self._tmp is not None:
            self._tmp.cleanup()

    # -- lookups ---------------------------------------------------------------------------

    def folder(self, folder_id: str) -> Folder:
        item = self.items.get(folder_id)
        if not isinstance(item, Folder):
            raise BoxError(404, "not_found", "Not Found")
        return item

    def file(self, file_id: str) -> File:
        item = self.items.get(file_id)
        if not isinstance(item, File):
            raise BoxError(404, "not_found", "Not Found")
        return item

    def path_of(self, item: Item) -> list[Folder]:
        """The ancestors of ``item``, root first."""
        chain: list[Folder] = []
        parent_id = item.parent_id
        while parent_id is not None:
            parent = self.folder(parent_id)
            chain.insert(0, parent)
            parent_id = parent.parent_id
        return chain

    def walk(self, folder: Folder | None = None, prefix: str = "") -> Iterator[tuple[str, Item]]:
        """Every item below ``folder`` (default: root) as ``(path, item)``, depth first, by name."""
        with self.lock:
            folder = folder or self.folder(ROOT_ID)
            for child in sorted(folder.children.values(), key=lambda c: c.name.casefold()):
                path = f"{prefix}/{child.name}"
                yield path, child
                if isinstance(child, Folder):
                    yield from self.walk(child, path)

    def resolve(self, path: str) -> Item:
        """The item at a ``/``-separated path from the root (names compared like Box does)."""
        with self.lock:
            item: Item = self.folder(ROOT_ID)
            for name in filter(None, path.split("/")):
                if not isinstance(item, Folder) or name.casefold() not in item.children:
                    raise KeyError(path)
                item = item.children[name.casefold()]
            return item

    # -- name rules ------------------------------------------------------------------------

    def check_free(self, parent: Folder, name: str, *, conflicts_as_list: bool, moving: Item | None = None) -> None:
        """Raise 409 ``item_name_in_use`` when ``name`` is taken in ``parent`` by another item."""
        taken = parent.children.get(name.casefold())
        if taken is not None and taken is not moving:
            conflict = mini(taken)
            raise BoxError(
                409, "item_name_in_use", "Item with the same name already exists",
                context_info={"conflicts": [conflict] if conflicts_as_list else conflict},
            )

    # -- folders ---------------------------------------------------------------------------

    def create_folder(self, name: Any, parent_id: str) -> Folder:
        with self.lock:
            name = validate_name(name)
            parent = self.folder(parent_id)
            self.check_free(parent, name, conflicts_as_list=True)
            folder = Folder(id=str(next(self._ids)), name=name, parent_id=parent.id)
            self.items[folder.id] = parent.children[name.casefold()] = folder
            return folder

    def move(self, item: Item, *, name: Any = None, parent_id: str | None = None, conflicts_as_list: bool) -> Item:
        """Rename and/or move ``item``, keeping the tree acyclic and names unique."""
        with self.lock:
            if item.id == ROOT_ID:
                raise BoxError(403, "access_denied_insufficient_permissions", "Access denied - insufficient permission")
            new_name = validate_name(name) if name is not None else item.name
            old_parent = self.folder(item.parent_id or ROOT_ID)
            new_parent = self.folder(parent_id) if parent_id is not None else old_parent
            if isinstance(item, Folder) and any(f.id == item.id for f in [*self.path_of(new_parent), new_parent]):
                raise BoxError(400, "bad_request", "Cannot move a folder into itself or one of its subfolders")
            self.check_free(new_parent, new_name, conflicts_as_list=conflicts_as_list, moving=item)
            del old_parent.children[item.name.casefold()]
            item.name, item.parent_id = new_name, new_parent.id
            new_parent.children[new_name.casefold()] = item
            item.touch()
            return item

    def delete_folder(self, folder_id: str, *, recursive: bool, if_match: str | None) -> None:
        with self.lock:
            folder = self.folder(folder_id)
            if folder.id == ROOT_ID:
                raise BoxError(403, "access_denied_insufficient_permissions", "Access denied - insufficient permission")
            check_etag(folder, if_match)
            if folder.children and not recursive:
                raise BoxError(400, "folder_not_empty", f"Cannot delete - folder not empty: {folder.name}")
            self._remove(folder)

    def _remove(self, item: Item) -> None:
        if isinstance(item, Folder):
            for child in list(item.children.values()):
                self._remove(child)
        else:
            assert isinstance(item, File)
            for version in item.versions:
                version.path.unlink(missing_ok=True)
        del self.items[item.id]
        del self.folder(item.parent_id or ROOT_ID).children[item.name.casefold()]

    # -- files -----------------------------------------------------------------------------

    def staging_file(self) -> Path:
        """A new empty file to stream an upload into before it is accepted."""
        handle, path = tempfile.mkstemp(dir=self.staging)
        os.close(handle)
        return Path(path)

    def _new_version(self, staged: Path, sha1: str, size: int) -> FileVersion:
        version_id = str(next(self._version_ids))
        path = self.blobs / version_id
        os.replace(staged, path)
        return FileVersion(id=version_id, sha1=sha1, size=size, path=path)

    def add_file(self, name: Any, parent_id: str, staged: Path, sha1: str, size: int) -> File:
        """Accept a staged upload as a new file (409 with a conflict object if the name is taken)."""
        with self.lock:
            name = validate_name(name)
            parent = self.folder(parent_id)
            self.check_free(parent, name, conflicts_as_list=False)
            file = File(id=str(next(self._ids)), name=name, parent_id=parent.id)
            file.versions.append(self._new_version(staged, sha1, size))
            self.items[file.id] = parent.children[name.casefold()] = file
            return file

    def add_version(self, file_id: str, staged: Path, sha1: str, size: int, *, name: Any = None,
                    if_match: str | None = None) -> File:
        """Accept a staged upload as the new current version of ``file_id``, optionally renaming it."""
        with self.lock:
            file = self.file(file_id)
            check_etag(file, if_match)
            if name is not None and name != file.name:
                self.move(file, name=name, conflicts_as_list=False)
            file.versions.append(self._new_version(staged, sha1, size))
            file.touch()
            return file

    def delete_file(self, file_id: str, *, if_match: str | None) -> None:
        with self.lock:
            file = self.file(file_id)
            check_etag(file, if_match)
            self._remove(file)

    def version(self, version_id: str) -> FileVersion:
        with self.lock:
            for item in self.items.values():
                if isinstance(item, File):
                    for version in item.versions:
                        if version.id == version_id:
                            return version
        raise BoxError(404, "not_found", "Not Found")


def check_etag(item: Item, if_match: str | None) -> None:
    if if_match is not None and if_match != str(item.etag):
        raise BoxError(412, "precondition_failed", "The resource has been modified. Please retrieve the resource again and retry")


def sha1_of(path: Path) -> str:
    digest = hashlib.sha1()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
