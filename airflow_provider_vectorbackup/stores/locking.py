"""Locks that keep garbage collection from deleting a pack that a dump running at the same time reuses.

A deduplicated dump reuses packs of an earlier snapshot; garbage collection deletes packs no
sealed snapshot lists. A dump holds a *shared* lock from before it reads its parent until its
manifest is sealed; garbage collection holds an *exclusive* one while it marks and sweeps. Each
writes its lock file first and then lists the others, so of two that start together at least
one sees the other and backs off (docs/format.md, 12.7). A lock names its host, process and
operation, and expires unless its holder refreshes it, so a crashed holder blocks nothing for
longer than a lease.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from airflow_provider_vectorbackup.snapshot.errors import SnapshotError

log = logging.getLogger(__name__)

LOCK_DIR = "locks"
SHARED = "shared"
EXCLUSIVE = "exclusive"
DEFAULT_LEASE = dt.timedelta(hours=1)
_LOCK_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}\.json")
LOCK_NAME_RULE = "1-128 letters, digits, '_', '.' or '-' followed by '.json'"


def is_lock_name(name: object) -> bool:
    return isinstance(name, str) and _LOCK_NAME.fullmatch(name) is not None and ".." not in name


def check_lock_name(name: str) -> str:
    if not is_lock_name(name):
        raise ValueError(f"{name!r} is not a lock file name: it must be {LOCK_NAME_RULE}")
    return name


class LockFiles(Protocol):
    """What a store offers for locks: small whole files in ``locks/``."""

    def lock_files(self) -> dict[str, bytes]: ...

    def put_lock_file(self, name: str, data: bytes) -> None: ...

    def delete_lock_file(self, name: str) -> None: ...


@dataclass(frozen=True)
class LockInfo:
    name: str
    kind: str
    operation: str
    host: str
    pid: int
    created_at: str
    expires_at: str

    def expired(self, now: dt.datetime) -> bool:
        return dt.datetime.fromisoformat(self.expires_at) <= now

    def describe(self) -> str:
        return (f"{self.kind} lock {self.name} held by {self.operation} on {self.host} (pid {self.pid}) since "
                f"{self.created_at}, until {self.expires_at} unless refreshed")

    @classmethod
    def parse(cls, name: str, raw: bytes) -> LockInfo | None:
        try:
            data = json.loads(raw)
            info = cls(name=name, **{k: data[k] for k in ("kind", "operation", "host", "pid", "created_at",
                                                           "expires_at")})
            dt.datetime.fromisoformat(info.expires_at)
        except (ValueError, TypeError, KeyError):
            return None
        return info if info.kind in (SHARED, EXCLUSIVE) else None


class StoreLockedError(SnapshotError):
    """Another operation holds a lock that conflicts with this one; nothing was changed."""

    def __init__(self, message: str, holders: list[str]) -> None:
        super().__init__(message)
        self.holders = holders


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class StoreLock:
    """One lock file in a store's ``locks/``: acquire, refresh while working, release.

    :param kind: :data:`SHARED` (dumps: many at once) or :data:`EXCLUSIVE` (garbage collection: alone).
    :param operation: what holds it, for the message another operation shows (e.g. ``"dump 20261130T020000Z"``).
    """

    def __init__(self, store: LockFiles, kind: str, operation: str, *, lease: dt.timedelta = DEFAULT_LEASE,
                 clock: Callable[[], dt.datetime] = _now) -> None:
        if kind not in (SHARED, EXCLUSIVE):
            raise ValueError(f"kind must be {SHARED!r} or {EXCLUSIVE!r}, not {kind!r}")
        self.store = store
        self.kind = kind
        self.operation = operation
        self.lease = lease
        self._clock = clock
        self.name = f"{kind}-{clock().strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:12]}.json"
        self._written: dt.datetime | None = None
        self._created: dt.datetime | None = None

    def _write(self) -> None:
        now = self._clock()
        self._created = self._created or now
        body = {"kind": self.kind, "operation": self.operation, "host": socket.gethostname(), "pid": os.getpid(),
                "created_at": self._created.isoformat(timespec="seconds"),
                "expires_at": (now + self.lease).isoformat(timespec="seconds")}
        self.store.put_lock_file(self.name, json.dumps(body).encode())
        self._written = now

    def conflicts(self) -> list[str]:
        """The other, unexpired locks this one cannot be held beside, described; an unreadable lock file counts."""
        now = self._clock()
        found = []
        for name, raw in sorted(self.store.lock_files().items()):
            if name == self.name:
                continue
            info = LockInfo.parse(name, raw)
            if info is None:
                found.append(f"unreadable lock file {LOCK_DIR}/{name}")
            elif not info.expired(now) and EXCLUSIVE in (self.kind, info.kind):
                found.append(info.describe())
        return found

    def acquire(self, wait: float = 0.0, sleep: Callable[[float], None] = time.sleep) -> StoreLock:
        """Write the lock file, then check the others; while one conflicts, retry for up to ``wait`` seconds.

        :raises StoreLockedError: a conflicting lock remained; this lock's file was removed again.
        """
        deadline = time.monotonic() + wait
        while True:
            self._write()
            holders = self.conflicts()
            if not holders:
                return self
            self.store.delete_lock_file(self.name)
            self._written = None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StoreLockedError(
                    f"the store is locked by {'; '.join(holders)}. The {self.operation} did not start. Run it again "
                    f"once that ends; a lock whose holder died expires by itself at the time it names, and "
                    f"'vectorbackup unlock' removes expired ones", holders)
            log.info("Waiting for the store's lock: %s", "; ".join(holders))
            sleep(min(30.0, remaining))

    def refresh(self) -> None:
        """Extend the lease once a quarter of it has passed: call it often, it writes rarely."""
        if self._written is not None and self._clock() - self._written >= self.lease / 4:
            self._write()

    def release(self) -> None:
        if self._written is not None:
            self.store.delete_lock_file(self.name)
            self._written = None

    def __enter__(self) -> StoreLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def remove_expired_locks(store: LockFiles, now: dt.datetime | None = None) -> list[str]:
    """Delete lock files whose lease has run out (their holders died); return their names."""
    now = now or _now()
    removed = []
    for name, raw in store.lock_files().items():
        info = LockInfo.parse(name, raw)
        if info is not None and info.expired(now):
            store.delete_lock_file(name)
            removed.append(name)
    return removed
