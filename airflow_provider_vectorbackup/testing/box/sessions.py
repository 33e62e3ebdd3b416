"""Chunked upload sessions: parts checked as strictly as Box checks them, assembled on disk.

Each session owns one sparse staging file of ``file_size`` bytes; a part is written at its
offset, so committing needs no copy. Parts are immutable once accepted.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime
import itertools
import math
import os
import re
import threading
from pathlib import Path
from typing import Any

from airflow_provider_vectorbackup.testing.box.errors import BoxError
from airflow_provider_vectorbackup.testing.box.store import BoxStore, File, sha1_of, validate_name

_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
SESSION_LIFETIME = datetime.timedelta(days=7)


@dataclasses.dataclass
class Part:
    part_id: str
    offset: int
    size: int
    sha1: str

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class UploadSession:
    id: str
    file_name: str
    file_size: int
    part_size: int
    folder_id: str | None
    file_id: str | None
    staged: Path
    expires_at: str
    parts: dict[int, Part] = dataclasses.field(default_factory=dict)
    """Accepted parts by offset."""
    writing: set[int] = dataclasses.field(default_factory=set)
    """Offsets whose bytes are being received right now."""

    @property
    def total_parts(self) -> int:
        return math.ceil(self.file_size / self.part_size)

    def to_json(self, upload_url: str) -> dict[str, Any]:
        base = f"{upload_url}/2.0/files/upload_sessions/{self.id}"
        return {
            "type": "upload_session", "id": self.id, "session_expires_at": self.expires_at,
            "part_size": self.part_size, "total_parts": self.total_parts, "num_parts_processed": len(self.parts),
            "session_endpoints": {
                "upload_part": base, "commit": f"{base}/commit", "abort": base, "list_parts": f"{base}/parts",
                "status": base, "log_event": f"{base}/log", "plan": f"{base}/plan",
            },
        }


def decode_sha_digest(header: str | None) -> str:
    """``sha=<base64 SHA-1>`` to hex; 400 when missing or malformed."""
    if not header or not header.startswith("sha="):
        raise BoxError(400, "bad_request", "Missing or invalid digest header; expected sha=<base64 SHA-1>")
    try:
        raw = base64.b64decode(header[4:], validate=True)
    except binascii.Error:
        raw = b""
    if len(raw) != 20:
        raise BoxError(400, "bad_request", "Missing or invalid digest header; expected sha=<base64 SHA-1>")
    return raw.hex()


class UploadSessions:
    """Open sessions by id, plus the settings Box would choose for new ones."""

    def __init__(self, store: BoxStore, *, chunk_minimum: int, part_size: int) -> None:
        self.store = store
        self.chunk_minimum = chunk_minimum
        self.part_size = part_size
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.sessions: dict[str, UploadSession] = {}
            self._ids = itertools.count(1)
            self._part_ids = itertools.count(1)
            self.pending_commit_delays = 0
            self.commit_retry_after = 0.0

    def get(self, session_id: str) -> UploadSession:
        session = self.sessions.get(session_id)
        if session is None:
            raise BoxError(404, "not_found", "Not Found")
        return session

    def create(self, *, file_name: Any, file_size: Any, folder_id: str | None = None,
               file_id: str | None = None) -> UploadSession:
        if not isinstance(file_size, int) or isinstance(file_size, bool) or file_size < 0:
            raise BoxError(400, "bad_request", "file_size must be a non-negative integer")
        with self.store.lock:
            if file_id is not None:
                file = self.store.file(file_id)
                name = file.name if file_name is None else validate_name(file_name)
                if name != file.name:
                    self.store.check_free(self.store.folder(file.parent_id or "0"), name,
                                          conflicts_as_list=False, moving=file)
                folder_id = None
            else:
                name = validate_name(file_name)
                self.store.check_free(self.store.folder(folder_id or ""), name, conflicts_as_list=False)
            if file_size < self.chunk_minimum:
                raise BoxError(400, "file_size_too_small",
                               f"File size {file_size} less than minimum allowed for this API: {self.chunk_minimum}")
            staged = self.store.staging_file()
        os.truncate(staged, file_size)
        expires = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + SESSION_LIFETIME
        with self.lock:
            session = UploadSession(
                id=f"{next(self._ids):032X}", file_name=name, file_size=file_size, part_size=self.part_size,
                folder_id=folder_id, file_id=file_id, staged=staged, expires_at=expires.isoformat(),
            )
            self.sessions[session.id] = session
        return session

    def begin_part(self, session_id: str, content_range: str | None) -> tuple[UploadSession, int, int]:
        """Check a part's ``content-range`` and reserve its offset; returns ``(session, offset, size)``."""
        match = _CONTENT_RANGE.match(content_range or "")
        if match is None:
            raise BoxError(400, "bad_request", "Missing or invalid content-range header")
        first, last, total = (int(group) for group in match.groups())
        with self.lock:
            session = self.get(session_id)
            size = last - first + 1
            expected = min(session.part_size, session.file_size - first)
            if total != session.file_size or last < first or first % session.part_size or size != expected:
                raise BoxError(416, "requested_range_not_satisfiable",
                               "The content range does not match a part of this upload session")
            if first in session.writing or first in session.parts:
                # Box keeps the first copy of a part; re-sending it is a conflict, not an overwrite.
                raise BoxError(409, "range_overlaps_existing_part",
                               "Part overlaps with previously uploaded part")
            session.writing.add(first)
            return session, first, size

    def release(self, session: UploadSession, offset: int) -> None:
        """Give up a reserved offset whose body never arrived completely."""
        with self.lock:
            session.writing.discard(offset)

    def finish_part(self, session: UploadSession, offset: int, sha1: str | None, expected_sha1: str) -> Part:
        """Accept (or, with ``sha1=None`` for a short body, refuse) a part whose bytes are written."""
        with self.lock:
            session.writing.discard(offset)
            if sha1 is None:
                raise BoxError(400, "bad_request", "Body length does not match the content-range header")
            if sha1 != expected_sha1:
                raise BoxError(400, "bad_digest", "The digest specified doesn't match the uploaded data")
            size = min(session.part_size, session.file_size - offset)
            part = Part(part_id=f"{next(self._part_ids):08X}", offset=offset, size=size, sha1=sha1)
            session.parts[offset] = part
            return part

    def commit(self, session_id: str, parts: Any, digest_sha1: str) -> tuple[UploadSession, File] | None:
        """Turn a complete session into a file or version; ``None`` means "answer 202, retry later"."""
        with self.lock:
            session = self.get(session_id)
            if self.pending_commit_delays:
                self.pending_commit_delays -= 1
                return None
            self._check_parts(session, parts)
        if sha1_of(session.staged) != digest_sha1:
            raise BoxError(400, "bad_digest", "The digest specified doesn't match the uploaded data")
        if session.file_id is not None:
            file = self.store.add_version(session.file_id, session.staged, digest_sha1, session.file_size,
                                          name=session.file_name)
        else:
            file = self.store.add_file(session.file_name, session.folder_id or "", session.staged, digest_sha1,
                                       session.file_size)
        with self.lock:
            self.sessions.pop(session.id, None)
        return session, file

    @staticmethod
    def _check_parts(session: UploadSession, parts: Any) -> None:
        uploaded = sorted(session.parts.values(), key=lambda part: part.offset)
        if len(uploaded) != session.total_parts:
            raise BoxError(400, "bad_request", "Not all parts of the file have been uploaded")
        if not isinstance(parts, list) or len(parts) != len(uploaded):
            raise BoxError(400, "bad_request", "The parts list does not match the uploaded parts")
        for given, part in zip(sorted(parts, key=lambda p: p.get("offset", -1) if isinstance(p, dict) else -1),
                               uploaded):
            if not isinstance(given, dict) or (
                given.get("part_id"), given.get("offset"), given.get("size")
            ) != (part.part_id, part.offset, part.size) or given.get("sha1", part.sha1) != part.sha1:
                raise BoxError(400, "bad_request", "The parts list does not match the uploaded parts")

    def abort(self, session_id: str) -> None:
        with self.lock:
            session = self.get(session_id)
            del self.sessions[session_id]
        session.staged.unlink(missing_ok=True)

    def plan(self, session_id: str, parts: Any) -> dict[str, Any]:
        """``upload_big_file_version``'s dedup check; this stand-in stores nothing to reuse, so all miss."""
        session = self.get(session_id)
        if not isinstance(parts, list):
            raise BoxError(400, "bad_request", "parts must be a list")
        return {"upload_session_id": session.id, "hits": [], "misses": parts}

