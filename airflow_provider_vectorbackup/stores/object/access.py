"""Reading and writing objects through any fsspec filesystem: what every object store offers.

:class:`ObjectAccess` is the plain version (GCS, Azure, a local or in-memory filesystem): whole-file
puts, listings with sizes, deletes by prefix. :mod:`.s3` adds what S3 alone offers: parallel
multipart uploads with SHA-256 checksums the server verifies, and Object Lock.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from airflow_provider_vectorbackup.check.verify import StoredFile
from airflow_provider_vectorbackup.snapshot.files import Digests, HashingWriter, digests_of_file

log = logging.getLogger(__name__)

_STREAM_BLOCK = 8 * 1024 * 1024
"""Bytes read from an object at a time when streaming it through a check (s3fs would read ahead 50 MiB)."""


class ObjectIntegrityError(OSError):
    """An object's bytes in the store are not the ones written: the upload or the store damaged them."""


class ObjectChecksumMismatch(ObjectIntegrityError):
    """The bytes read from an object do not have the SHA-256 they must have."""

    def __init__(self, key: str, *, expected: str, found: str, size: int) -> None:
        super().__init__(f"{key}: the {size} bytes read have SHA-256 {found}, not {expected}")
        self.expected = expected
        self.found = found
        self.size = size


class ObjectAccess:
    """Objects under slash-separated keys of one fsspec filesystem. Listings always go to the store (no cache)."""

    def __init__(self, fs: Any) -> None:
        self.fs = fs

    def upload(self, local: Path, key: str, *, sha256: str | None, size: int, locked: bool) -> None:
        """Store ``local`` as ``key`` and check that the store holds ``size`` bytes afterwards.

        :param sha256: the file's SHA-256 as the writer computed it (hex), checked where the store can.
        :param locked: retain the object under the store's lock (only S3 has one; see :mod:`.s3`).
        """
        self.fs.put_file(str(local), key)
        self.fs.invalidate_cache(key)
        self._check_stored(key, self.fs.info(key), local, size)

    def _check_stored(self, key: str, info: dict[str, Any], local: Path, size: int) -> None:
        """Compare what the store says it holds under ``key`` with ``local``: here the size, which every store
        reports; a store that keeps a checksum of what it received compares that too."""
        stored = info.get("size")
        if stored != size:
            raise ObjectIntegrityError(f"{key} holds {stored} bytes after its upload, not the {size} written")

    def check_lock(self, key: str) -> None:
        """Refuse, before anything is written, a lock the bucket below ``key`` cannot hold: nothing to refuse
        here, as only S3 takes a lock (the store refuses one for any other filesystem when it is made)."""

    def retain(self, key: str) -> None:
        """Extend an object's retention to the lock's days from now: nothing to extend without S3 Object Lock."""

    def write_small(self, key: str, data: bytes, *, locked: bool) -> None:
        """A marker or a manifest: one request, so the object is either absent or whole."""
        self.fs.pipe_file(key, data)

    def read(self, key: str) -> bytes:
        return self.fs.cat_file(key)

    def size(self, key: str) -> int | None:
        """The object's size, or ``None`` when there is no such object."""
        self.fs.invalidate_cache(key)
        try:
            return self.fs.info(key)["size"]
        except FileNotFoundError:
            return None

    def download(self, key: str, local: Path) -> None:
        self.fs.get_file(key, str(local))

    def download_verified(self, key: str, local: Path, *, sha256: str) -> None:
        """Stream ``key`` into ``local``, hashing as it arrives: ``local`` appears only when the bytes have
        ``sha256``; otherwise the partial file is removed and :class:`ObjectChecksumMismatch` raised.

        :raises FileNotFoundError: there is no such object.
        """
        partial = local.with_name(f".{local.name}.part")
        try:
            with self.fs.open(key, "rb", block_size=_STREAM_BLOCK) as source:
                writer = HashingWriter(partial)
                try:
                    while block := source.read(_STREAM_BLOCK):
                        writer.write(block)
                finally:
                    digests = writer.close()
            if digests.sha256 != sha256:
                raise ObjectChecksumMismatch(key, expected=sha256, found=digests.sha256, size=writer.size)
            os.replace(partial, local)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise

    def names(self, prefix: str) -> list[str]:
        """The names directly below ``prefix`` (objects and sub-prefixes alike)."""
        self.fs.invalidate_cache(prefix)
        try:
            return sorted(entry.rstrip("/").rsplit("/", 1)[-1] for entry in self.fs.ls(prefix, detail=False))
        except FileNotFoundError:
            return []

    def listing(self, prefix: str) -> dict[str, StoredFile]:
        """Every object below ``prefix``, by key relative to it, with its size and the checksums the store keeps.

        The plain version reads each object's bytes for its digests (as a folder on disk does): a store that
        records no SHA-256 is checked by reading, never on trust.
        """
        found = {}
        for key in sorted(self._find(prefix)):
            relative = key[len(prefix):].lstrip("/")
            found[relative] = self._stored_file(key)
        return found

    def recorded(self, prefix: str) -> dict[str, StoredFile]:
        """Every object below ``prefix`` with its size and the checksums the store records, without reading any bytes:
        here none (S3 adds the SHA-256 it keeps)."""
        return self.sizes(prefix)

    def sizes(self, prefix: str) -> dict[str, StoredFile]:
        """Every object below ``prefix`` with its size only: a cheap listing for a snapshot still being written."""
        self.fs.invalidate_cache(prefix)
        return {key[len(prefix):].lstrip("/"): StoredFile(info.get("size"), None)
                for key, info in self._find(prefix).items()}

    def _find(self, prefix: str) -> dict[str, dict[str, Any]]:
        self.fs.invalidate_cache(prefix)
        try:
            return {key: info for key, info in self.fs.find(prefix, detail=True).items()
                    if info.get("type") != "directory"}
        except FileNotFoundError:
            return {}

    def _stored_file(self, key: str) -> StoredFile:
        digests, size = self._digests(key)
        return StoredFile(size, digests.sha1, digests.sha256)

    def _digests(self, key: str) -> tuple[Digests, int]:
        with tempfile.TemporaryDirectory(prefix="vectorbackup-object-") as tmp:
            local = Path(tmp) / "object"
            self.fs.get_file(key, str(local))
            return digests_of_file(local)

    def hide(self, prefix: str) -> None:
        """Remove what is below ``prefix`` from listings: the leftovers of an earlier attempt."""
        self.remove(prefix)

    def discard(self, key: str) -> None:
        """Delete one object (a marker), if it is there."""
        try:
            self.fs.rm_file(key)
        except FileNotFoundError:
            pass
        self.fs.invalidate_cache(key)

    def remove_object(self, key: str) -> None:
        """Delete one object for good (every version, where the store keeps versions); a missing one is fine."""
        self.discard(key)

    def remove(self, prefix: str, *, first: str | None = None) -> None:
        """Delete everything below ``prefix`` for good, ``first`` (the manifest) before the rest, so that a
        deletion cut short leaves a snapshot that reads as in progress, never one that reads as sealed."""
        if first is not None:
            self.discard(first)
        if self._find(prefix):
            self.fs.rm(prefix, recursive=True)
        self.fs.invalidate_cache(prefix)

