"""``BoxApi``: Box storage for backups, with SHA-1 checked end to end on every transfer; no Airflow in it.

Uploads are idempotent (a name that already holds the same bytes counts as done), large
files go through its own parallel chunked upload (:mod:`.upload`), downloads are verified
while they stream, and nothing it logs, raises or returns contains a credential. Built from a
connection's :class:`~airflow_provider_vectorbackup.connection.ConnectionSettings`, by
``BoxHook.get_conn()`` in Airflow and by the CLI outside it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from functools import cached_property, partial
from typing import TYPE_CHECKING, BinaryIO, cast

from box_sdk_gen import (
    BoxAPIError,
    BoxSDKError,
    CreateFolderParent,
    UploadFileAttributes,
    UploadFileAttributesParentField,
    UploadFileVersionAttributes,
)

from airflow_provider_vectorbackup.stores.box.auth import (
    BoxConnectionError,
    BoxRateLimits,
    build_client,
    parse_rate_limits,
)
from airflow_provider_vectorbackup.stores.box.items import (
    BoxIntegrityError,
    BoxItem,
    BoxNameConflictError,
    BoxOperationError,
    conflicting_item,
    describe_api_error,
    secret_free_errors,
)
from airflow_provider_vectorbackup.stores.box.upload import ChunkedUpload, ChunkTooSmall
from airflow_provider_vectorbackup.throttle import once

if TYPE_CHECKING:
    from box_sdk_gen import BoxClient

    from airflow_provider_vectorbackup.connection import ConnectionSettings

__all__ = ["BoxApi", "BoxIntegrityError", "BoxItem", "BoxNameConflictError", "BoxOperationError"]

log = logging.getLogger(__name__)

MIB = 1024 * 1024
ITEM_FIELDS = ["type", "id", "name", "size", "sha1", "parent"]
READ_BLOCK = 1 * MIB
DOWNLOAD_BLOCK = 8 * 1024
"""boxsdk's download stream re-buffers its 1 KiB pieces per read, so large reads cost more, not less."""


def _sha1_of(stream: BinaryIO) -> str:
    """The SHA-1 of the whole file behind ``stream``, wherever its position was."""
    stream.seek(0)
    digest = hashlib.sha1()
    for block in iter(lambda: stream.read(READ_BLOCK), b""):
        digest.update(block)
    return digest.hexdigest()


class BoxApi:
    """Box through boxsdk 10 (``box_sdk_gen``), configured by one ``box`` connection's settings.

    The connection may hold CCG, JWT or developer-token credentials; see ``docs/connections.md``.
    Constructing it does no I/O; the boxsdk client is built on first use and then reused.
    Every request the client sends is paced by :attr:`rate_limits` (connection extras
    ``max_uploads_per_minute`` and ``max_requests_per_minute``), shared by all threads.

    :param settings: the connection (its ``conn_id`` names it in every refusal of its credentials).
    :param chunk_threshold: files of at least this many bytes use a chunked upload session
        (Box accepts sessions from 20 MB; below that Box's refusal makes it upload directly).
    :param upload_concurrency: parts of one chunked upload in flight at once; memory use is
        about ``upload_concurrency + 1`` x the part size Box chooses (8 MiB typically).
    """

    def __init__(self, settings: ConnectionSettings, *, chunk_threshold: int = 50 * MIB,
                 upload_concurrency: int = 4) -> None:
        if chunk_threshold < 0:
            raise ValueError(f"chunk_threshold must be >= 0, got {chunk_threshold}")
        if upload_concurrency < 1:
            raise ValueError(f"upload_concurrency must be >= 1, got {upload_concurrency}")
        self._settings = settings
        self.conn_id = settings.conn_id
        self.chunk_threshold = chunk_threshold
        self.upload_concurrency = upload_concurrency
        self.auth_description = "not connected yet"
        """Which auth the connection uses, e.g. ``"CCG (enterprise 1000)"``; never a credential."""
        self._rate_limits: BoxRateLimits | None = None

    @classmethod
    def from_connection(cls, settings: ConnectionSettings, *, chunk_threshold: int = 50 * MIB,
                        upload_concurrency: int = 4) -> BoxApi:
        """The client for connection ``settings``; no request is sent until it is used."""
        return cls(settings, chunk_threshold=chunk_threshold, upload_concurrency=upload_concurrency)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(conn_id={self.conn_id!r}, chunk_threshold={self.chunk_threshold}, "
                f"upload_concurrency={self.upload_concurrency})")

    @cached_property
    def client(self) -> BoxClient:
        """The boxsdk client, built from the connection on first use, for calls this class does not wrap."""
        parsed = parse_rate_limits(self._settings)
        limits = once(self, "_rate_limits", lambda: parsed)  # threads racing to build a client share one budget
        client, self.auth_description = build_client(self._settings, limits=limits)
        log.info("Box connection %r uses %s auth", self.conn_id, self.auth_description)
        return client

    @property
    def rate_limits(self) -> BoxRateLimits:
        """The limiters (uploads, all requests) this client is paced against, with their counters."""
        if self._rate_limits is None:
            self.client  # noqa: B018 - the limiters are made with the client
        return cast("BoxRateLimits", self._rate_limits)

    def test_connection(self) -> tuple[bool, str]:
        """Check the credentials with the cheapest authenticated call: reading the root folder.

        :return: ``(True, message)`` on success, otherwise ``(False, reason)``; never a secret.
        """
        try:
            self.client.folders.get_folder_by_id("0", fields=["id", "name"])
        except BoxConnectionError as error:
            return False, str(error)
        except (BoxSDKError, ValueError, TypeError, OSError) as error:
            reason = describe_api_error(error)
            return False, f"Box connection {self.conn_id!r} ({self.auth_description}) failed: {reason}"
        return True, f"Connected to Box with {self.auth_description} auth; the root folder is readable."

    # -- folders ---------------------------------------------------------------------------

    @secret_free_errors
    def ensure_folder(self, path: str, parent_id: str = "0") -> str:
        """Return the id of folder ``path`` below ``parent_id``, creating what is missing.

        Safe to repeat and to race: a folder that exists already, or that a concurrent creator
        made first, is used as it is.

        :param path: ``/``-separated folder names, e.g. ``"backups/articles/2026-11-22"``.
        :param parent_id: id of the folder the path starts from (``"0"`` is the root).
        :return: the id of the last folder in ``path`` (``parent_id`` for an empty path).
        """
        folder_id = parent_id
        for name in filter(None, path.split("/")):
            folder_id = self._ensure_child_folder(folder_id, name)
        return folder_id

    def _ensure_child_folder(self, parent_id: str, name: str) -> str:
        # Create first and treat "name in use" as found: one call per level, however large the
        # parent, and no window between a lookup and a create for another writer to slip into.
        try:
            folder = self.client.folders.create_folder(name, CreateFolderParent(id=parent_id), fields=["id", "name"])
        except BoxAPIError as error:
            existing = conflicting_item(error)
            if existing is None:
                raise
            if existing.type != "folder":
                raise BoxNameConflictError(
                    f"Cannot use folder {name!r} in Box folder {parent_id}: a {existing.type} named "
                    f"{existing.name!r} (id {existing.id}) holds that name; rename or move it.", existing=existing,
                ) from None
            return existing.id
        log.info("Created Box folder %r (id %s) in folder %s", name, folder.id, parent_id)
        return folder.id

    @secret_free_errors
    def list_folder(self, folder_id: str, *, page_size: int = 1000) -> Iterator[BoxItem]:
        """Yield every item of a folder, following Box's marker paging to the end.

        :param folder_id: the folder to list.
        :param page_size: items per request (Box allows at most 1000).
        """
        marker: str | None = None
        while True:
            page = self.client.folders.get_folder_items(
                folder_id, fields=ITEM_FIELDS, usemarker=True, marker=marker, limit=page_size)
            for entry in page.entries or []:
                yield BoxItem.from_sdk(entry, parent_id=folder_id)
            marker = page.next_marker
            if not marker:
                return

    @secret_free_errors
    def find_item(self, folder_id: str, name: str) -> BoxItem | None:
        """The item called ``name`` in a folder, compared case-insensitively as Box does, or ``None``.

        :param folder_id: the folder to look in.
        :param name: the item name.
        """
        wanted = name.casefold()
        return next((item for item in self.list_folder(folder_id) if item.name.casefold() == wanted), None)

    @secret_free_errors
    def rename_folder(self, folder_id: str, new_name: str) -> BoxItem:
        """Rename a folder in place; a single call, which is how a finished snapshot becomes visible.

        :param folder_id: the folder to rename.
        :param new_name: its new name.
        :raises BoxNameConflictError: another item in the same parent already has ``new_name``.
        """
        try:
            folder = self.client.folders.update_folder_by_id(folder_id, name=new_name, fields=ITEM_FIELDS)
        except BoxAPIError as error:
            existing = conflicting_item(error)
            if existing is None:
                raise
            current = self.client.folders.get_folder_by_id(folder_id, fields=["id", "name"]).name
            raise BoxNameConflictError(
                f"Cannot rename Box folder {current!r} (id {folder_id}) to {new_name!r}: its parent already holds a "
                f"{existing.type} named {existing.name!r} (id {existing.id}). Delete or rename that item first, "
                "or choose another name.", existing=existing) from None
        log.info("Renamed Box folder %s to %r", folder_id, new_name)
        return BoxItem.from_sdk(folder)

    @secret_free_errors
    def delete_folder(self, folder_id: str, *, recursive: bool = True) -> None:
        """Delete a folder (to the trash or permanently, per the enterprise's settings).

        :param folder_id: the folder to delete.
        :param recursive: also delete its contents; without it Box refuses a non-empty folder.
        """
        self.client.folders.delete_folder_by_id(folder_id, recursive=recursive)
        log.info("Deleted Box folder %s%s", folder_id, " and its contents" if recursive else "")

    # -- files -----------------------------------------------------------------------------

    @secret_free_errors
    def file_info(self, file_id: str) -> BoxItem:
        """Name, size, SHA-1 and parent of a file.

        :param file_id: the file.
        """
        return BoxItem.from_sdk(self.client.files.get_file_by_id(file_id, fields=ITEM_FIELDS))

    @secret_free_errors
    def delete_file(self, file_id: str) -> None:
        """Delete a file (to the trash or permanently, per the enterprise's settings).

        :param file_id: the file to delete.
        """
        self.client.files.delete_file_by_id(file_id)
        log.info("Deleted Box file %s", file_id)

    @secret_free_errors
    def upload(
        self, local_path: str | os.PathLike[str], folder_id: str, name: str | None = None, *,
        new_version_if_exists: bool = False, sha1: str | None = None,
    ) -> BoxItem:
        """Upload a local file and check that Box stored exactly its bytes (SHA-1).

        Idempotent: if ``name`` already holds a file with the same SHA-1 (for example after a
        retry whose first response was lost), that file is returned and nothing is sent.

        :param local_path: the file to upload.
        :param folder_id: the Box folder to upload into.
        :param name: name in Box; defaults to the local file name.
        :param new_version_if_exists: when ``name`` holds different bytes, upload a new version
            of that file instead of raising.
        :param sha1: the file's SHA-1 in hex, when the caller already has it (the snapshot writer
            hashes every file as it writes it); saves reading the file once more. Box checks it
            against the bytes it receives, so a wrong value fails the upload, never passes it.
        :return: the stored file.
        :raises BoxNameConflictError: ``name`` holds a folder, or a file with different bytes
            and ``new_version_if_exists`` is false.
        :raises BoxIntegrityError: Box stored bytes with another SHA-1.
        """
        path = os.fspath(local_path)
        name = name or os.path.basename(path)
        started = time.monotonic()
        with open(path, "rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            try:
                item = self._send(stream, size, sha1, name, folder_id=folder_id)
            except BoxAPIError as error:
                existing = conflicting_item(error)
                if existing is None:
                    raise
                sha1 = sha1 or _sha1_of(stream)
                item = self._reconcile(stream, size, sha1, name, folder_id, existing, new_version_if_exists)
            else:
                log.info("Uploaded %s (%d bytes, sha1 %s) to Box folder %s as %r, file id %s, in %.1f s",
                              path, size, item.sha1, folder_id, name, item.id, time.monotonic() - started)
        return item

    def _reconcile(
        self, stream: BinaryIO, size: int, sha1: str, name: str, folder_id: str, existing: BoxItem, new_version: bool,
    ) -> BoxItem:
        """Decide what a name already in use means for this upload."""
        if existing.type != "file":
            raise BoxNameConflictError(
                f"Cannot upload {name!r} to Box folder {folder_id}: a {existing.type} named {existing.name!r} "
                f"(id {existing.id}) holds that name; rename or move it, or upload under another name.",
                existing=existing)
        if existing.sha1 is None:
            existing = self.file_info(existing.id)
        if existing.sha1 == sha1:
            log.info("Box folder %s already holds %r (file id %s) with sha1 %s; nothing to upload",
                          folder_id, existing.name, existing.id, sha1)
            return self.file_info(existing.id)
        if not new_version:
            raise BoxNameConflictError(
                f"Box folder {folder_id} already holds a file {existing.name!r} (id {existing.id}) with sha1 "
                f"{existing.sha1}, but the file to upload as {name!r} has sha1 {sha1}. Pass "
                "new_version_if_exists=True to store it as a new version, or upload under another name.",
                existing=existing)
        item = self._send(stream, size, sha1, name, file_id=existing.id)
        log.info("Uploaded %r (%d bytes, sha1 %s) as a new version of Box file %s (previous sha1 %s)",
                      name, size, sha1, existing.id, existing.sha1)
        return item

    def _send(
        self, stream: BinaryIO, size: int, sha1: str | None, name: str, *, folder_id: str | None = None,
        file_id: str | None = None,
    ) -> BoxItem:
        """Upload as a new file (``folder_id``) or a new version (``file_id``), chunked when large.

        ``sha1`` may be ``None``: a chunked upload then computes it from the parts it reads, and a
        direct upload reads the file for it first (Box wants it before the bytes).
        """
        if size >= self.chunk_threshold:
            # The connection's back-off base also paces the uploader's own waits (commit polls, re-sends).
            pause = getattr(self.client.network_session.retry_strategy, "retry_base_interval", 1.0)
            try:
                return ChunkedUpload(
                    self.client, stream.fileno(), size, sha1, name=name, folder_id=folder_id, file_id=file_id,
                    concurrency=self.upload_concurrency, locate=partial(self._locate, name, folder_id, file_id),
                    poll_interval=pause).run()
            except ChunkTooSmall as refusal:
                log.info("Box refused a chunked upload of %r (%s); uploading it directly", name, refusal)
        sha1 = sha1 or _sha1_of(stream)
        stream.seek(0)
        uploads = self.client.uploads
        if file_id is not None:
            files = uploads.upload_file_version(file_id, UploadFileVersionAttributes(name=name), stream,
                                                content_md_5=sha1)
        else:
            files = uploads.upload_file(
                UploadFileAttributes(name=name, parent=UploadFileAttributesParentField(id=folder_id or "0")),
                stream, content_md_5=sha1)
        item = BoxItem.from_sdk(files.entries[0])
        if item.sha1 != sha1:
            raise BoxIntegrityError(
                f"Box stored {name!r} (file id {item.id}) with sha1 {item.sha1} but the local file has sha1 {sha1}; "
                "the stored copy is not trustworthy: delete it and upload again.",
                name=name, expected_sha1=sha1, actual_sha1=item.sha1)
        return item

    def _locate(self, name: str, folder_id: str | None, file_id: str | None) -> BoxItem | None:
        """The file an upload creates (by name) or versions (by id), if it exists."""
        return self.file_info(file_id) if file_id is not None else self.find_item(folder_id or "0", name)

    @secret_free_errors
    def download(self, file_id: str, local_path: str | os.PathLike[str], *, expected_sha1: str | None = None,
                 expected_sha256: str | None = None) -> str:
        """Stream a file to ``local_path``, verifying its SHA-1 (and SHA-256, when given) as it is written.

        The bytes go to a temporary file beside ``local_path`` that replaces it only once the
        SHA-1 matches, so a failed or corrupt download never leaves a partial file behind.

        :param file_id: the Box file.
        :param local_path: where to write it.
        :param expected_sha1: the SHA-1 the bytes must have (e.g. from a backup manifest);
            defaults to the SHA-1 Box recorded at upload.
        :param expected_sha256: a SHA-256 the bytes must have too (a content-addressed name's): Box records none, and
            a new version uploaded over the file changes the SHA-1 Box records but not the name.
        :return: the hex SHA-1 of the downloaded bytes.
        :raises BoxIntegrityError: the bytes do not have the expected SHA-1 or SHA-256.
        """
        path = os.fspath(local_path)
        expected = (expected_sha1 or self.file_info(file_id).sha1 or "").lower()
        started = time.monotonic()
        handle, partial = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".part",
                                           dir=os.path.dirname(os.path.abspath(path)))
        try:
            digest, size = hashlib.sha1(), 0
            sha256 = hashlib.sha256() if expected_sha256 is not None else None
            with os.fdopen(handle, "wb") as out:
                stream = self.client.downloads.download_file(file_id)
                if stream is None:
                    raise BoxSDKError(f"Box file {file_id} is not ready for download yet; retry later")
                try:
                    for block in iter(lambda: stream.read(DOWNLOAD_BLOCK), b""):
                        digest.update(block)
                        if sha256 is not None:
                            sha256.update(block)
                        out.write(block)
                        size += len(block)
                finally:
                    close = getattr(stream, "close", None)
                    if close is not None:
                        close()  # releases the HTTP connection even when writing failed
            actual = digest.hexdigest()
            if actual != expected:
                raise BoxIntegrityError(
                    f"Box file {file_id} downloaded to {path} has sha1 {actual}, expected {expected or 'unknown'}; "
                    "the stored copy is damaged or not the file you meant. The download was discarded; restore from "
                    "another backup copy or re-upload the source.", name=file_id, expected_sha1=expected or None,
                    actual_sha1=actual)
            if sha256 is not None and sha256.hexdigest() != expected_sha256:
                raise BoxIntegrityError(
                    f"Box file {file_id} downloaded to {path} has sha256 {sha256.hexdigest()}, expected "
                    f"{expected_sha256}; the stored copy is not the file you meant (it was replaced or damaged). The "
                    "download was discarded.", name=file_id, expected_sha1=expected or None, actual_sha1=actual,
                    expected_sha256=expected_sha256, actual_sha256=sha256.hexdigest())
            os.replace(partial, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
            raise
        log.info("Downloaded Box file %s to %s (%d bytes, sha1 %s verified) in %.1f s",
                      file_id, path, size, actual, time.monotonic() - started)
        return actual
