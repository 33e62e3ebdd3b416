"""The store lock on its own, with a clock and a sleep the test drives: a dump waits out a garbage collection, a
holder extends its lease only once a quarter of it has passed, and an unreadable lock file blocks rather than being
guessed at."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from airflow_provider_vectorbackup.stores.local import LocalStore
from airflow_provider_vectorbackup.stores.locking import (
    EXCLUSIVE, SHARED, StoreLock, StoreLockedError, remove_expired_locks,
)

T0 = dt.datetime(2026, 12, 1, 2, tzinfo=dt.timezone.utc)


def test_a_shared_lock_waits_while_an_exclusive_one_is_held_and_takes_the_store_once_it_is_released(tmp_path) -> None:
    store = LocalStore(tmp_path)
    sweep = StoreLock(store, EXCLUSIVE, "garbage collection").acquire()
    slept: list[float] = []

    def sleep(seconds: float) -> None:  # the sweep ends while the dump waits
        slept.append(seconds)
        sweep.release()

    dump = StoreLock(store, SHARED, "dump 20261201T020000Z").acquire(wait=60, sleep=sleep)
    assert slept and 0 < slept[0] <= 30, "it waited, in steps of at most 30 s"
    assert list(store.lock_files()) == [dump.name]
    with pytest.raises(StoreLockedError, match="dump 20261201T020000Z") as refused:
        StoreLock(store, EXCLUSIVE, "another garbage collection").acquire()
    assert "did not start" in str(refused.value) and list(store.lock_files()) == [dump.name], "its own file removed"
    StoreLock(store, SHARED, "a second dump").acquire()  # dumps share the store


def test_a_holder_refreshes_its_lease_after_a_quarter_of_it_and_an_expired_lock_blocks_nothing(tmp_path) -> None:
    store = LocalStore(tmp_path)
    now = [T0]
    lock = StoreLock(store, SHARED, "dump", lease=dt.timedelta(hours=1), clock=lambda: now[0]).acquire()

    def expires() -> str:
        return json.loads(store.lock_files()[lock.name])["expires_at"]

    first = expires()
    now[0] = T0 + dt.timedelta(minutes=14)
    lock.refresh()
    assert expires() == first, "not rewritten before a quarter of the lease"
    now[0] = T0 + dt.timedelta(minutes=15)
    lock.refresh()
    assert expires() == (T0 + dt.timedelta(minutes=75)).isoformat(timespec="seconds")

    assert remove_expired_locks(store, now=T0 + dt.timedelta(minutes=74)) == []
    StoreLock(store, EXCLUSIVE, "gc", clock=lambda: T0 + dt.timedelta(minutes=76)).acquire()  # the dump died
    assert remove_expired_locks(store, now=T0 + dt.timedelta(minutes=76)) == [lock.name]


def test_an_unreadable_lock_file_blocks_and_is_named(tmp_path) -> None:
    store = LocalStore(tmp_path)
    store.put_lock_file("shared-garbled.json", b"{not json")
    with pytest.raises(StoreLockedError, match="unreadable lock file locks/shared-garbled.json"):
        StoreLock(store, EXCLUSIVE, "gc").acquire()
    for bad in ("../x.json", "x.txt", ".json"):
        with pytest.raises(ValueError, match="not a lock file name"):
            store.put_lock_file(bad, b"{}")
