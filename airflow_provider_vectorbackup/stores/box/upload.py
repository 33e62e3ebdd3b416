"""Box chunked upload built from boxsdk's session primitives, for large backup segments.

boxsdk's own ``upload_big_file`` uploads parts one at a time, buffers each twice, checks
with ``assert`` and never aborts a failed session. Here every byte of the file is read once:
one thread reads the parts in order into a few reused buffers (so memory stays near
``(concurrency + 1) x part_size`` whatever the file size) and, unless the caller already knows
it, feeds the whole-file SHA-1 from them; a bounded pool of threads hashes each part for its
``digest`` header and sends it straight from its buffer. hashlib and the socket release the
GIL on large buffers, so the reader's hashing, the parts' hashing and the sends use every core.
The session is aborted on any failure, a commit answered 202 is polled, and the committed
file's SHA-1 is checked against the local one.

Nothing here paces requests: the client's transport does (``auth.ThrottledAdapter``), so
the session, every part, every re-send and every commit poll take a permit from the
connection's upload budget, whichever thread sends them.
"""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import io
import logging
import math
import os
import queue
import threading
import time
from typing import TYPE_CHECKING

import requests
from box_sdk_gen import BoxAPIError, BoxSDKError, UploadPart

from airflow_provider_vectorbackup.stores.box.items import BoxIntegrityError, BoxItem, describe_api_error

if TYPE_CHECKING:
    from collections.abc import Callable

    from box_sdk_gen import BoxClient, UploadSession

log = logging.getLogger(__name__)

COMMIT_TIMEOUT_SECONDS = 600.0
"""How long to keep polling a commit that Box answers 202 (still assembling the file)."""
COMMIT_POLL_MAX_SECONDS = 30.0
EXTRA_ROUNDS = 3
"""Times a part or the commit is sent again after boxsdk's own retries gave up on a transient error."""


def _transient(error: BoxSDKError) -> bool:
    """Throttling, a server error or a broken connection: worth another try."""
    if isinstance(error, BoxAPIError):
        status = error.response_info.status_code
        return status == 429 or status >= 500
    return isinstance(error.error, requests.RequestException)


def sha_digest(raw_sha1: bytes) -> str:
    """The ``digest`` header value Box expects: ``sha=<base64 SHA-1>``."""
    return "sha=" + base64.b64encode(raw_sha1).decode("ascii")


class ChunkTooSmall(Exception):
    """Box refused an upload session because the file is below its chunked-upload minimum."""


class PartBody:
    """One part's bytes as the seekable, read-only stream boxsdk and ``requests`` send a body from.

    ``read`` hands out views of the part's buffer, never copies, and ``seek`` lets boxsdk
    rewind it for its own retries.
    """

    def __init__(self, view: memoryview) -> None:
        self._view = view
        self._position = 0

    def read(self, size: int | None = -1) -> memoryview:
        start = self._position
        end = len(self._view) if size is None or size < 0 else min(len(self._view), start + size)
        self._position = max(start, end)
        return self._view[start:self._position]

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self._view)}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._position = base + offset
        return self._position


class ChunkedUpload:
    """One upload session: create, upload parts in parallel, commit, verify.

    :param client: the boxsdk client.
    :param fd: an open, readable file descriptor of the local file (read with ``os.preadv``).
    :param size: file size in bytes.
    :param sha1: hex SHA-1 of the whole local file, or ``None`` to compute it from the parts as
        they are read (no extra pass over the file).
    :param name: file name in Box.
    :param concurrency: parts in flight at once.
    :param folder_id: target folder for a new file, or
    :param file_id: the existing file that gets a new version.
    :param poll_interval: first pause (seconds, doubling) before asking again about a commit
        that Box still answers 202, or re-sending after a transient failure boxsdk gave up on.
    :param locate: finds the file this upload creates or versions, to learn whether a commit
        whose response was lost went through.
    """

    def __init__(
        self, client: BoxClient, fd: int, size: int, sha1: str | None, *, name: str, concurrency: int,
        locate: Callable[[], BoxItem | None], folder_id: str | None = None, file_id: str | None = None,
        poll_interval: float = 1.0,
    ) -> None:
        self.client = client
        self.fd = fd
        self.size = size
        self.sha1 = sha1
        self.name = name
        self.concurrency = max(1, concurrency)
        self.folder_id = folder_id
        self.file_id = file_id
        self.poll_interval = poll_interval
        self.locate = locate
        self._failed = threading.Event()

    def run(self) -> BoxItem:
        """Upload and commit; raises :class:`ChunkTooSmall` if Box wants a direct upload instead."""
        started = time.monotonic()
        session = self._create_session()
        try:
            parts, sha1 = self._upload_parts(session)
            file = self._commit(session, parts, sha1)
        except BaseException:
            self._abort(session)
            raise
        actual = file.sha1 or ""
        if actual != sha1:
            raise BoxIntegrityError(
                f"Box committed {self.name!r} (file id {file.id}) with sha1 {actual or 'missing'} but the local file "
                f"has sha1 {sha1}; the stored copy is not trustworthy: delete it and upload again.",
                name=self.name, expected_sha1=sha1, actual_sha1=actual or None)
        elapsed = max(time.monotonic() - started, 1e-6)
        log.info("Committed %r as Box file %s: %d bytes in %d parts, %.1f s (%.1f MiB/s), sha1 %s verified",
                 self.name, file.id, self.size, len(parts), elapsed, self.size / elapsed / 2**20, sha1)
        return file

    def _create_session(self) -> UploadSession:
        uploads = self.client.chunked_uploads
        try:
            if self.file_id is not None:
                session = uploads.create_file_upload_session_for_existing_file(
                    self.file_id, self.size, file_name=self.name)
            else:
                session = uploads.create_file_upload_session(self.folder_id or "0", self.size, self.name)
        except BoxAPIError as error:
            if error.response_info.status_code == 400 and error.response_info.code == "file_size_too_small":
                raise ChunkTooSmall(describe_api_error(error)) from None
            raise
        log.info("Uploading %r (%d bytes) to Box through upload session %s: %d parts of %d bytes, %d in parallel",
                 self.name, self.size, session.id, session.total_parts, session.part_size, self.concurrency)
        return session

    def _upload_parts(self, session: UploadSession) -> tuple[list[UploadPart], str]:
        """Read the parts in order, each into a free buffer, and hand them to the pool; returns the parts and
        the file's SHA-1 (the caller's, or the one fed from the parts as they were read)."""
        part_size = session.part_size or 0
        total = session.total_parts or 0
        if part_size <= 0 or part_size * total < self.size:
            raise ValueError(f"Box returned an unusable upload session (part_size {part_size}, "
                             f"total_parts {total}) for {self.size} bytes")
        whole = hashlib.sha1() if self.sha1 is None else None
        # One buffer per part in flight and one for the part being read: a buffer goes back
        # to ``free`` once its part is in Box (or has failed), never while it is being sent.
        free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        for _ in range(min(self.concurrency + 1, math.ceil(self.size / part_size))):
            free.put(bytearray(part_size))
        futures: list[concurrent.futures.Future[UploadPart | None]] = []
        with concurrent.futures.ThreadPoolExecutor(self.concurrency, thread_name_prefix="box-part") as pool:
            try:
                for offset in range(0, self.size, part_size):
                    buffer = free.get()
                    if self._failed.is_set():
                        break
                    part = self._read(memoryview(buffer), offset, min(part_size, self.size - offset))
                    if whole is not None:
                        whole.update(part)
                    future = pool.submit(self._upload_part, session, offset, part)
                    future.add_done_callback(self._note_failure)
                    future.add_done_callback(lambda _, buffer=buffer: free.put(buffer))
                    futures.append(future)
                done, _ = concurrent.futures.wait(futures, return_when=concurrent.futures.FIRST_EXCEPTION)
                failure = next((future.exception() for future in done if future.exception()), None)
                if failure is not None:
                    raise failure
            except BaseException:
                self._failed.set()  # parts not started yet return at once
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        parts = [part for future in futures if (part := future.result()) is not None]  # all of them: none failed
        return parts, self.sha1 or whole.hexdigest()  # type: ignore[union-attr]

    def _note_failure(self, future: concurrent.futures.Future[UploadPart | None]) -> None:
        """Stop reading further parts as soon as one part has failed."""
        if not future.cancelled() and future.exception() is not None:
            self._failed.set()

    def _read(self, buffer: memoryview, offset: int, length: int) -> memoryview:
        """The part at ``offset``, read into ``buffer`` (short reads of large parts are continued)."""
        part, filled = buffer[:length], 0
        while filled < length:
            count = os.preadv(self.fd, [part[filled:]], offset + filled)
            if count == 0:
                raise BoxIntegrityError(
                    f"{self.name!r} shrank while being uploaded (read {filled} of {length} bytes at offset {offset}); "
                    "upload a file that is no longer being written.", name=self.name, expected_sha1=self.sha1,
                    actual_sha1=None)
            filled += count
        return part

    def _upload_part(self, session: UploadSession, offset: int, data: memoryview) -> UploadPart | None:
        """Send one part; ``None`` (nothing sent) once another part has failed, so that failure is the one raised."""
        if self._failed.is_set():
            return None
        length = len(data)
        raw_sha1 = hashlib.sha1(data).digest()
        content_range = f"bytes {offset}-{offset + length - 1}/{self.size}"
        for attempt in range(1, EXTRA_ROUNDS + 2):
            try:
                part = self.client.chunked_uploads.upload_file_part_by_url(
                    session.session_endpoints.upload_part,
                    PartBody(data),  # type: ignore[arg-type]  # boxsdk only reads, seeks and tells it
                    sha_digest(raw_sha1), content_range).part
                break
            except BoxAPIError as error:
                # Box keeps the first copy of a part; a re-sent part whose first response was
                # lost is refused with 409, and the stored copy is what counts.
                if error.response_info.status_code == 409 and (stored := self._stored_part(session, offset)):
                    part = stored
                    break
                self._pause_or_raise(error, attempt, f"part at offset {offset}")
            except BoxSDKError as error:
                self._pause_or_raise(error, attempt, f"part at offset {offset}")
        if (part.sha_1 or "").lower() != raw_sha1.hex() or part.offset != offset or part.size != length:
            raise BoxIntegrityError(
                f"Box stored part at offset {offset} of {self.name!r} as {part.size} bytes with sha1 {part.sha_1}, "
                f"but {length} bytes with sha1 {raw_sha1.hex()} were sent; retry the upload.",
                name=self.name, expected_sha1=raw_sha1.hex(), actual_sha1=part.sha_1)
        return UploadPart(part_id=part.part_id, offset=offset, size=length, sha_1=part.sha_1)

    def _pause_or_raise(self, error: BoxSDKError, attempt: int, what: str) -> None:
        """After boxsdk gave up on a transient failure, wait and try again a few more times."""
        if attempt > EXTRA_ROUNDS or not _transient(error):
            raise error
        pause = max(self.poll_interval, 0.001) * 2 ** attempt
        log.warning("Box upload of %s of %r failed (%s); trying again in %.1f s",
                    what, self.name, describe_api_error(error), pause)
        time.sleep(pause)

    def _stored_part(self, session: UploadSession, offset: int) -> UploadPart | None:
        url, page, start = session.session_endpoints.list_parts, 1000, 0
        while True:
            listing = self.client.chunked_uploads.get_file_upload_session_parts_by_url(url, offset=start, limit=page)
            entries = listing.entries or []
            for part in entries:
                if part.offset == offset:
                    return part
            start += len(entries)
            if not entries or start >= (listing.total_count or 0):
                return None

    def _commit(self, session: UploadSession, parts: list[UploadPart], sha1: str) -> BoxItem:
        # boxsdk retries a 202 (with Retry-After) a few times itself and then returns None;
        # big files can take longer than that to assemble, so keep asking until the deadline.
        log.info("All %d parts of %r are in upload session %s; committing", len(parts), self.name, session.id)
        deadline, pause = time.monotonic() + COMMIT_TIMEOUT_SECONDS, max(self.poll_interval, 0.001)
        digest, failures = sha_digest(bytes.fromhex(sha1)), 0
        while True:
            try:
                files = self.client.chunked_uploads.create_file_upload_session_commit_by_url(
                    session.session_endpoints.commit, parts, digest)
            except BoxAPIError as error:
                if error.response_info.status_code == 404 and (committed := self._committed_earlier(sha1)):
                    return committed
                failures += 1
                self._pause_or_raise(error, failures, "the commit")
                continue
            except BoxSDKError as error:
                failures += 1
                self._pause_or_raise(error, failures, "the commit")
                continue
            if files is not None and files.entries:
                return BoxItem.from_sdk(files.entries[0])
            if time.monotonic() + pause > deadline:
                raise TimeoutError(f"Box did not finish committing {self.name!r} (upload session {session.id}) "
                                   f"within {COMMIT_TIMEOUT_SECONDS:.0f} s; the session was aborted, retry the upload.")
            log.info("Box is still assembling %r (upload session %s); asking again in %.1f s",
                     self.name, session.id, pause)
            time.sleep(pause)
            pause = min(pause * 2, COMMIT_POLL_MAX_SECONDS)

    def _committed_earlier(self, sha1: str) -> BoxItem | None:
        """After a commit answered 404 (session gone): did an earlier attempt, whose response was lost, succeed?"""
        item = self.locate()
        if item is not None and item.sha1 == sha1:
            log.info("Upload session for %r was already committed (an earlier response was lost); found file %s "
                     "with the expected sha1", self.name, item.id)
            return item
        return None

    def _abort(self, session: UploadSession) -> None:
        try:
            self.client.chunked_uploads.delete_file_upload_session_by_url(session.session_endpoints.abort)
        except Exception as error:  # the original failure matters more than a failed clean-up
            log.warning("Could not abort Box upload session %s for %r (%s); Box discards it after 7 days",
                        session.id, self.name, describe_api_error(error))
        else:
            log.info("Aborted Box upload session %s for %r", session.id, self.name)
