"""What S3 adds to the plain object access: verified parallel multipart uploads and Object Lock.

Every upload sends the SHA-256 of what it sends (of the whole object, or of each part), S3
refuses bytes that do not match, and the checksum S3 answers with is compared with ours. A
file larger than one part goes up in parts, several at a time; S3 then keeps a checksum of the
parts' checksums (``<base64>-<parts>``), which is compared too.

Requests go through s3fs's own client (the filesystem Airflow's ``ObjectStoragePath`` built from
the ``aws`` connection), so credentials, endpoint and retries are the connection's.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fsspec.asyn import sync

from airflow_provider_vectorbackup.check.verify import StoredFile
from airflow_provider_vectorbackup.stores.base import SnapshotLockedError
from airflow_provider_vectorbackup.stores.object.access import ObjectAccess, ObjectIntegrityError
from airflow_provider_vectorbackup.stores.object.lock import ObjectLock

log = logging.getLogger(__name__)

MIN_PART_SIZE = 5 * 1024 * 1024
"""S3's smallest part (all but the last)."""
MAX_PARTS = 10_000
DEFAULT_PART_SIZE = 16 * 1024 * 1024
DEFAULT_UPLOAD_STREAMS = 4
_DELETE_BATCH = 1000  # DeleteObjects takes at most 1,000 keys
_HEADS_IN_FLIGHT = 16


class ObjectLockUnavailable(ValueError):
    """A lock was asked for, but the bucket cannot hold one (Object Lock was not enabled when it was created)."""


class S3Access(ObjectAccess):
    """Objects in an S3-compatible bucket through an ``s3fs.S3FileSystem``.

    :param lock: retain every locked object (all but the in-progress marker) under S3 Object Lock.
    :param part_size: files above this size go up in parts of this size (at least 5 MiB).
    :param upload_streams: parts of one file in flight at once.
    """

    def __init__(self, fs: Any, *, lock: ObjectLock | None = None, part_size: int = DEFAULT_PART_SIZE,
                 upload_streams: int = DEFAULT_UPLOAD_STREAMS) -> None:
        super().__init__(fs)
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"S3 parts are at least {MIN_PART_SIZE} bytes, not {part_size}")
        if upload_streams < 1:
            raise ValueError(f"upload_streams must be >= 1, not {upload_streams}")
        self.lock = lock
        self.part_size = part_size
        self.upload_streams = upload_streams

    def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        return sync(self.fs.loop, self.fs._call_s3, method, **kwargs)

    # -- writing ------------------------------------------------------------------------------

    def check_lock(self, key: str) -> None:
        """Refuse before anything is written when a lock is asked of a bucket that has no Object Lock."""
        if self.lock is None:
            return
        bucket = self.fs.split_path(key)[0]
        try:
            config = self._call("get_object_lock_configuration", Bucket=bucket)
        except OSError as exc:
            if _error_code(exc) not in ("ObjectLockConfigurationNotFoundError", "InvalidRequest"):
                raise
            config = {}
        if config.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") != "Enabled":
            raise ObjectLockUnavailable(
                f"bucket {bucket} has no Object Lock, so snapshots cannot be locked ({self.lock.describe()} was "
                f"asked): Object Lock can only be enabled when a bucket is created; write to a bucket created with "
                f"it, or leave object_lock_mode unset")

    def upload(self, local: Path, key: str, *, sha256: str | None, size: int, locked: bool) -> None:
        bucket, name, _ = self.fs.split_path(key)
        extra = self._lock_arguments() if locked else {}
        if size <= self.part_size:
            data = local.read_bytes()
            self._put(bucket, name, data, extra, expected=sha256)
        else:
            sync(self.fs.loop, self._multipart, bucket, name, local, size, sha256, extra)
        self.fs.invalidate_cache(key)

    def write_small(self, key: str, data: bytes, *, locked: bool) -> None:
        bucket, name, _ = self.fs.split_path(key)
        self._put(bucket, name, data, self._lock_arguments() if locked else {}, expected=None)
        self.fs.invalidate_cache(key)

    def retain(self, key: str) -> None:
        """Extend the object's retention (its current version's) to the lock's days from now; S3 allows extending
        in both modes, never shortening."""
        if self.lock is None:
            return
        bucket, name, _ = self.fs.split_path(key)
        self._call("put_object_retention", Bucket=bucket, Key=name,
                   Retention={"Mode": self.lock.mode.upper(), "RetainUntilDate": self.lock.retain_until()})

    def _lock_arguments(self) -> dict[str, Any]:
        if self.lock is None:
            return {}
        return {"ObjectLockMode": self.lock.mode.upper(), "ObjectLockRetainUntilDate": self.lock.retain_until()}

    def _put(self, bucket: str, name: str, data: bytes, extra: dict[str, Any], *, expected: str | None) -> None:
        digest = hashlib.sha256(data).digest()
        if expected is not None and digest.hex() != expected:
            raise ObjectIntegrityError(f"{name} changed on local disk before its upload: its SHA-256 is "
                                       f"{digest.hex()}, the writer recorded {expected}")
        sent = _b64(digest)
        answer = self._call("put_object", Bucket=bucket, Key=name, Body=data, ChecksumAlgorithm="SHA256",
                            ChecksumSHA256=sent, **extra)
        _check_answer(name, answer, sent)

    async def _multipart(self, bucket: str, name: str, local: Path, size: int, sha256: str | None,
                         extra: dict[str, Any]) -> None:
        part_size = max(self.part_size, -(-size // MAX_PARTS))
        started = await self.fs._call_s3("create_multipart_upload", Bucket=bucket, Key=name,
                                         ChecksumAlgorithm="SHA256", **extra)
        upload_id = started["UploadId"]
        slots = asyncio.Semaphore(self.upload_streams)

        async def send(number: int, offset: int) -> tuple[dict[str, Any], bytes]:
            async with slots:  # at most upload_streams parts in memory at once
                data = await asyncio.to_thread(_read_range, local, offset, part_size)
                digest = hashlib.sha256(data).digest()
                answer = await self.fs._call_s3("upload_part", Bucket=bucket, Key=name, UploadId=upload_id,
                                                PartNumber=number, Body=data, ChecksumAlgorithm="SHA256",
                                                ChecksumSHA256=_b64(digest))
                _check_answer(f"{name} part {number}", answer, _b64(digest))
                return {"PartNumber": number, "ETag": answer["ETag"], "ChecksumSHA256": _b64(digest)}, digest

        try:
            sent = await asyncio.gather(*(send(number, offset) for number, offset
                                          in enumerate(range(0, size, part_size), start=1)))
            answer = await self.fs._call_s3("complete_multipart_upload", Bucket=bucket, Key=name,
                                            UploadId=upload_id, MultipartUpload={"Parts": [part for part, _ in sent]})
        except BaseException:
            await self.fs._call_s3("abort_multipart_upload", Bucket=bucket, Key=name, UploadId=upload_id)
            raise
        composite = f"{_b64(hashlib.sha256(b''.join(digest for _, digest in sent)).digest())}-{len(sent)}"
        head = await self.fs._call_s3("head_object", Bucket=bucket, Key=name, ChecksumMode="ENABLED",
                                      **_version_argument(answer.get("VersionId")))
        stored = answer.get("ChecksumSHA256") or head.get("ChecksumSHA256")
        # S3 keeps the checksum of the parts' checksums; some S3-compatible servers that of the whole object.
        # (moto leaves out the "-<parts>" suffix).
        accepted = {composite, composite.rsplit("-", 1)[0]} | ({_b64(bytes.fromhex(sha256))} if sha256 else set())
        if stored not in accepted or head.get("ContentLength") != size:
            raise ObjectIntegrityError(
                f"S3 holds {name} as {head.get('ContentLength')} bytes with SHA-256 checksum {stored!r}, not the "
                f"{size} bytes with {composite!r} sent in {len(sent)} parts: the snapshot was not sealed")
        if extra and head.get("ObjectLockRetainUntilDate") is None:
            # S3 locks a multipart upload when it is created; a server that does not gets the retention set here.
            await self.fs._call_s3("put_object_retention", Bucket=bucket, Key=name, VersionId=head.get("VersionId"),
                                   Retention={"Mode": extra["ObjectLockMode"],
                                              "RetainUntilDate": extra["ObjectLockRetainUntilDate"]})

    # -- reading ------------------------------------------------------------------------------

    def recorded(self, prefix: str) -> dict[str, StoredFile]:
        """Sizes from the listing, and the SHA-256 S3 keeps of each single-part object (``None`` for a multipart one),
        from HEAD requests sent a few at a time."""
        sizes = self.sizes(prefix)
        bucket, name, _ = self.fs.split_path(prefix)
        slots = asyncio.Semaphore(_HEADS_IN_FLIGHT)

        async def head(relative: str) -> tuple[str, StoredFile]:
            async with slots:
                answer = await self.fs._call_s3("head_object", Bucket=bucket, Key=f"{name.rstrip('/')}/{relative}",
                                                ChecksumMode="ENABLED")
            return relative, StoredFile(answer.get("ContentLength"), None, _whole_object_sha256(answer))

        async def heads() -> list[tuple[str, StoredFile]]:
            return await asyncio.gather(*(head(relative) for relative in sizes))

        return dict(sync(self.fs.loop, heads)) if sizes else {}

    def _stored_file(self, key: str) -> StoredFile:
        """Size and SHA-256 from S3's own record, which it verified when the object was written; an object S3 keeps
        no whole-object SHA-256 for (a multipart object's record is a checksum of its parts' checksums, and an object
        rewritten by another client may carry none) is read instead, as a folder on disk is."""
        bucket, name, _ = self.fs.split_path(key)
        head = self._call("head_object", Bucket=bucket, Key=name, ChecksumMode="ENABLED")
        sha256 = _whole_object_sha256(head)
        if sha256 is None:
            return super()._stored_file(key)
        return StoredFile(head.get("ContentLength"), None, sha256)

    # -- deleting -----------------------------------------------------------------------------

    def remove(self, prefix: str, *, first: str | None = None) -> None:
        """Delete every version below ``prefix`` (so the bytes are freed in a versioned bucket), or nothing;
        the versions of ``first`` (the manifest) go in a request of their own, before any other: S3 deletes the keys
        of one request in no promised order, and a snapshot must never be left sealed with files missing.

        :raises SnapshotLockedError: some version is retained by Object Lock or a legal hold; nothing is deleted.
        """
        bucket, name, _ = self.fs.split_path(prefix)
        name = name.rstrip("/") + "/"
        first_key = self.fs.split_path(first)[1] if first else None
        versions = list(self._versions(bucket, name))
        self._refuse_if_locked(bucket, name, [v for v in versions if not v["marker"]])
        self._delete_versions(bucket, [v for v in versions if v["Key"] == first_key], f"{bucket}/{first_key}")
        self._delete_versions(bucket, [v for v in versions if v["Key"] != first_key], f"{bucket}/{name}")
        self.fs.invalidate_cache(prefix)

    def remove_object(self, key: str) -> None:
        """Delete every version of one object, or none.

        :raises SnapshotLockedError: some version is retained by Object Lock or a legal hold; nothing is deleted.
        """
        bucket, name, _ = self.fs.split_path(key)
        versions = [v for v in self._versions(bucket, name) if v["Key"] == name]  # the prefix matches longer keys too
        self._refuse_if_locked(bucket, name, [v for v in versions if not v["marker"]])
        self._delete_versions(bucket, versions, f"{bucket}/{name}")
        self.fs.invalidate_cache(key)

    def _delete_versions(self, bucket: str, versions: list[dict[str, Any]], what: str) -> None:
        for start in range(0, len(versions), _DELETE_BATCH):
            batch = [{"Key": v["Key"], **_version_argument(v["VersionId"])} for v in versions[start:start + _DELETE_BATCH]]
            answer = self._call("delete_objects", Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            if answer.get("Errors"):
                failed = answer["Errors"]
                raise OSError(f"S3 refused to delete {len(failed)} object versions of {what} (first: "
                              f"{failed[0].get('Key')}: {failed[0].get('Code')}): run prune again; a snapshot "
                              f"partly deleted is listed as in progress until then")

    def _versions(self, bucket: str, name: str) -> Iterator[dict[str, Any]]:
        marker: dict[str, str] = {}
        while True:
            page = self._call("list_object_versions", Bucket=bucket, Prefix=name, **marker)
            for version in page.get("Versions", []):
                yield {"Key": version["Key"], "VersionId": version["VersionId"], "marker": False}
            for deletion in page.get("DeleteMarkers", []):
                yield {"Key": deletion["Key"], "VersionId": deletion["VersionId"], "marker": True}
            if not page.get("IsTruncated"):
                return
            marker = {"KeyMarker": page["NextKeyMarker"], "VersionIdMarker": page["NextVersionIdMarker"]}

    def _refuse_if_locked(self, bucket: str, name: str, versions: list[dict[str, Any]]) -> None:
        now = dt.datetime.now(dt.timezone.utc)
        until: list[dt.datetime] = []
        held = 0
        for version in versions:
            head = self._call("head_object", Bucket=bucket, Key=version["Key"], **_version_argument(version["VersionId"]))
            if head.get("ObjectLockLegalHoldStatus") == "ON":
                held += 1
            retain = head.get("ObjectLockRetainUntilDate")
            if retain is not None and retain > now:
                until.append(retain)
        if not until and not held:
            return
        last = max(until) if until else None
        reasons = []
        if until:
            reasons.append(f"{len(until)} retained by Object Lock until {last.isoformat()} at the latest")
        if held:
            reasons.append(f"{held} under a legal hold")
        raise SnapshotLockedError(
            f"{bucket}/{name} cannot be deleted yet: of its {len(versions)} object versions, {' and '.join(reasons)}; "
            f"nothing was deleted, and prune deletes it on a run after the lock expires"
            + (" (a legal hold must be lifted first)" if held else ""), None if held else last)


def _whole_object_sha256(head: dict[str, Any]) -> str | None:
    """The SHA-256 (hex) S3 keeps of an object written in one part; ``None`` for a multipart object (S3 keeps a
    checksum of its parts' checksums) or one written without a checksum."""
    checksum = head.get("ChecksumSHA256")
    multipart = "-" in head.get("ETag", "")  # a multipart object's ETag ends in -<parts>
    if not checksum or multipart or "-" in checksum:
        return None
    return base64.b64decode(checksum).hex()


def _version_argument(version_id: str | None) -> dict[str, str]:
    """``VersionId`` for a request, left out for the ``"null"`` version of a bucket without versioning (moto
    refuses it there; S3 takes either)."""
    return {"VersionId": version_id} if version_id not in (None, "null") else {}


def _read_range(path: Path, offset: int, length: int) -> bytes:
    with open(path, "rb") as file:
        file.seek(offset)
        return file.read(length)


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def _check_answer(what: str, answer: dict[str, Any], sent: str) -> None:
    """S3 verified our checksum on receipt; the checksum it answers with must be ours too (a proxy or an
    S3-compatible server that ignores checksums would answer with none, or another)."""
    received = answer.get("ChecksumSHA256")
    if received != sent:
        raise ObjectIntegrityError(f"S3 acknowledged {what} with SHA-256 checksum {received!r}, not the {sent!r} "
                                   f"sent: the store does not hold what was uploaded (or does not verify SHA-256 "
                                   f"checksums); the snapshot was not sealed")


def _error_code(exc: BaseException) -> str | None:
    """The S3 error code behind an s3fs error (s3fs raises ``OSError`` subclasses from botocore's ``ClientError``)."""
    seen: BaseException | None = exc
    while seen is not None:
        response = getattr(seen, "response", None)
        if isinstance(response, dict):
            return response.get("Error", {}).get("Code")
        seen = seen.__cause__ or seen.__context__
    return None
