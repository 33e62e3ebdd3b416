"""kill -9 at every step of a deduplicating dump and of a prune never leaves a complete-looking snapshot that
fails to verify, never loses a file that a kept snapshot needs, and leaves nothing that the next prune does not
free, but for one known gap: a lock file's temporary copy (the xfail test).

The dump or prune runs in a child process (:mod:`tests.jobs.dedup_crash_child`), the dump reading the Astra
stand-in over HTTP through the real astrapy client. The child kills itself with SIGKILL at a step named by
:mod:`airflow_provider_vectorbackup.testing.kill_points`: chosen by counting calls, not by timers, so each
run stops at the same step. A first run that is not killed counts the steps there are.

After each kill: every sealed snapshot verifies at records level and holds the documents the source held when
it was taken; once the killed holder's lock has expired (the test moves the clock past its lease), a prune
leaves in ``data/`` exactly what the kept snapshots use and nothing else in the store; a new dump succeeds and
verifies (the last one of each test is also restored into the stand-in). Before the lock expires, garbage
collection refuses to sweep.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_vectorbackup.check import check_stored
from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from airflow_provider_vectorbackup.jobs.dump import DumpOptions, dump_snapshot
from airflow_provider_vectorbackup.jobs.garbage import collect_garbage
from airflow_provider_vectorbackup.jobs.restore import RestoreOptions, restore_snapshot
from airflow_provider_vectorbackup.jobs.retention import RetentionOptions, RetentionPolicy, prune
from airflow_provider_vectorbackup.snapshot.layout import SnapshotState
from airflow_provider_vectorbackup.snapshot.packs import BLOB_DIR, blob_name, is_blob_name
from airflow_provider_vectorbackup.sources.astra.retry import RetryPolicy
from airflow_provider_vectorbackup.stores.local import LocalStore
from airflow_provider_vectorbackup.stores.locking import LOCK_DIR, remove_expired_locks
from airflow_provider_vectorbackup.testing.kill_points import KILL_AT
from tests.jobs.churn import COLLECTION, churn, create, source_digest
from tests.jobs.dedup_crash_child import DUMP_OPTIONS

REPO = Path(__file__).resolve().parents[2]
FAST = RetryPolicy(max_attempts=2, initial_wait=0.001, max_wait=0.01)
DEDUP = DumpOptions(**DUMP_OPTIONS)
DAYS = ["20261101T020000Z", "20261102T020000Z", "20261103T020000Z", "20261104T020000Z"]
LATER = dt.timedelta(hours=2)
"""Past the lease of a dump's lock (1 hour) and of garbage collection's (10 minutes): a dead holder's has expired."""


def run_child(astra_stand_in, root: Path, command: str, argument: str, kill_at: str | None) -> dict[str, int]:
    """Run the child; with ``kill_at`` it must die by SIGKILL, without it succeed and report its step counts."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "ASTRA_URL": astra_stand_in.url, "ASTRA_TOKEN": astra_stand_in.token}
    env.pop(KILL_AT, None)
    if kill_at is not None:
        env[KILL_AT] = kill_at
    child = subprocess.run([sys.executable, "-m", "tests.jobs.dedup_crash_child", str(root), command, argument],
                           cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    if kill_at is not None:
        assert child.returncode == -signal.SIGKILL, f"{kill_at}: the child was not killed there:\n{child.stderr}"
        return {}
    assert child.returncode == 0, child.stderr
    return json.loads(child.stdout.rsplit("CALLS ", 1)[1])


def used_by_sealed(store: LocalStore) -> set[str]:
    return {blob_name(entry.path) for snapshot in store.snapshots() if snapshot.state is not SnapshotState.IN_PROGRESS
            for collection in store.read_manifest(snapshot).collections for entry in collection.shared}


def assert_sealed_snapshots_are_whole(store: LocalStore, digests: dict[str, str], point: str) -> list[str]:
    """Every sealed snapshot is complete, verifies, and holds the documents it was taken of; returns their ids."""
    sealed = []
    for snapshot in store.snapshots():
        if snapshot.state is SnapshotState.IN_PROGRESS:
            continue
        assert snapshot.state is SnapshotState.COMPLETE, f"{point}: {snapshot.ref.folder_name} was sealed INCOMPLETE"
        report = check_stored(store, snapshot, "records")
        assert report.ok, f"{point}: {snapshot.snapshot_id}: {report.summary()}"
        assert store.read_manifest(snapshot).collection(COLLECTION).content_digest == digests[snapshot.snapshot_id]
        sealed.append(snapshot.snapshot_id)
    return sealed


LOCK_COPY = re.compile(rf"{LOCK_DIR}/.+\.json\.tmp")
"""A lock file under its temporary name: a kill before its rename leaves it, and nothing frees it yet (docs/format.md
12.7, the known gap that the xfail test below shows)."""


def leftovers(store: LocalStore) -> list[str]:
    """What is in the store besides sealed snapshots, the files of data/ they use, and the two areas' folders."""
    sealed = {s.ref.folder_name for s in store.snapshots() if s.state is not SnapshotState.IN_PROGRESS}
    used = used_by_sealed(store)
    found = [p.name for p in store.root.iterdir() if p.name not in sealed | {BLOB_DIR, LOCK_DIR}]
    data = store.root / BLOB_DIR
    if data.is_dir():
        found += [f"{BLOB_DIR}/{p.name}" for p in data.iterdir() if p.name not in used or not is_blob_name(p.name)]
    locks = store.root / LOCK_DIR
    if locks.is_dir():
        found += [f"{LOCK_DIR}/{p.name}" for p in locks.iterdir()]
    return sorted(found)


def recover_and_dump_again(store: LocalStore, astra_stand_in, source, digests: dict[str, str], point: str,
                           keep_last: int, restore: bool = False, allowed: list[str] | None = None) -> None:
    """What an operator's next runs do once the dead holder's lock expired: prune, then dump; both must work.

    The records-level check reads every document back against the digest the source had; ``restore`` also
    restores the new snapshot into the stand-in (once per test: each restore costs a second or so).
    """
    allowed = allowed or []
    remove_expired_locks(store, now=dt.datetime.now(dt.timezone.utc) + LATER)
    plan = prune(store, RetentionOptions(policy=RetentionPolicy(keep_last=keep_last)))
    assert plan.garbage is not None and plan.garbage.swept, f"{point}: {plan.garbage}"
    assert_sealed_snapshots_are_whole(store, digests, point)
    assert [p for p in leftovers(store) if p not in allowed] == [], f"{point}: the prune after the crash left these"
    outcome = dump_snapshot(source, store, DAYS[3], DEDUP)
    assert outcome.manifest.status == "complete", f"{point}: {outcome.failures}"
    assert_sealed_snapshots_are_whole(store, digests, f"{point}, dumped again")
    if not restore:
        return
    restored = restore_snapshot(store, DAYS[3], source, RestoreOptions(target_prefix="again_"))
    assert restored["ok"] and restored["collections"][COLLECTION]["digest_restored"] == source_digest(astra_stand_in)


def make_store(astra_stand_in, root: Path, days: list[str]) -> tuple[LocalStore, dict[str, str]]:
    """Deduplicated snapshots of ``days``, churning the source before each but the first; the digests they hold."""
    rng = random.Random(19)
    create(astra_stand_in, rng, 300)
    store = LocalStore(root)
    source = AstraDBHook(retry_policy=FAST).get_conn()
    digests = {}
    for position, day in enumerate(days):
        if position:
            churn(astra_stand_in, rng, updates=20, deletes=20, inserts=60)
        dump_snapshot(source, store, day, DEDUP)
        digests[day] = source_digest(astra_stand_in)
    return store, digests


def dump_template(astra_stand_in, tmp_path: Path) -> tuple[LocalStore, dict[str, str], dict[str, int]]:
    """Two snapshots, then churn for the child's dump; the digests, and the steps of a dump that is not killed."""
    template, digests = make_store(astra_stand_in, tmp_path / "template", DAYS[:2])
    churn(astra_stand_in, random.Random(3), updates=20, deletes=20, inserts=60)
    digests[DAYS[2]] = digests[DAYS[3]] = source_digest(astra_stand_in)  # the child's dump, and the later one
    whole = tmp_path / "not-killed"
    shutil.copytree(template.root, whole)
    calls = run_child(astra_stand_in, whole, "dump", DAYS[2], kill_at=None)
    assert assert_sealed_snapshots_are_whole(LocalStore(whole), digests, "not killed") == DAYS[:3]
    assert leftovers(LocalStore(whole)) == []
    assert calls["LocalStore.put_blob"] >= 3, f"too few stored files for kill points to matter: {calls}"
    return template, digests, calls


def kill_dump(astra_stand_in, template: LocalStore, root: Path, digests: dict[str, str], point: str) -> LocalStore:
    shutil.copytree(template.root, root)
    run_child(astra_stand_in, root, "dump", DAYS[2], kill_at=point)
    store = LocalStore(root)
    assert set(DAYS[:2]) <= set(assert_sealed_snapshots_are_whole(store, digests, point)), f"{point}: one is gone"
    return store


def test_a_dump_killed_at_any_step_leaves_no_broken_snapshot_and_nothing_the_next_prune_keeps(
        astra_stand_in, astra_connection, tmp_path) -> None:
    template, digests, calls = dump_template(astra_stand_in, tmp_path)
    source = AstraDBHook(retry_policy=FAST).get_conn()
    stored = calls["LocalStore.put_blob"]
    points = ["LocalStore.put_lock_file:1:after"]  # holding the lock, nothing stored
    points += [f"LocalStore.put_blob:{k}" for k in range(1, stored + 1)]  # as the k-th file of data/ is stored
    copies = calls["shutil.copyfile"]
    copied = [f"shutil.copyfile:{k}:after" for k in (1, copies)]  # the first and last file: copied, not renamed
    points += copied + [f"LocalStore.put_blob:{stored}:after"]  # then between the packs and the manifest
    sealing = f"os.rename:{calls['os.rename']}"  # the last rename seals; earlier ones move files into the folder
    points += ["LocalPendingSnapshot.seal:1", sealing, "LocalPendingSnapshot.seal:1:after"]
    sealed = {}
    for number, point in enumerate(points):
        store = kill_dump(astra_stand_in, template, tmp_path / f"kill-{number}", digests, point)
        sealed[point] = [s.snapshot_id for s in store.snapshots() if s.state is SnapshotState.COMPLETE]
        if point in copied:
            assert any(p.name.endswith(".tmp") for p in (store.root / BLOB_DIR).iterdir()), "the point missed the copy"
        if point == sealing:
            assert (store.root / f".{DAYS[2]}.inprogress" / "manifest.json").is_file(), "the point missed the seal"
        assert not collect_garbage(store).swept, f"{point}: swept while the dead dump's lock had not expired"
        recover_and_dump_again(store, astra_stand_in, source, digests, point, keep_last=10,
                               restore=number == len(points) - 1)
    assert sealed["LocalPendingSnapshot.seal:1"] == DAYS[:2], "killed before its seal, the dump is not a snapshot"
    assert sealed[sealing] == DAYS[:2], "killed with its manifest written but not renamed, neither"
    assert sealed["LocalPendingSnapshot.seal:1:after"] == DAYS[:3], "killed after its seal, it is one"


def test_a_dump_killed_while_writing_its_lock_leaves_a_temporary_copy_that_nothing_frees(
        astra_stand_in, astra_connection, tmp_path) -> None:
    """Known gap, reported to the lead: ``locks/<lock>.json.tmp`` (a few hundred bytes) stays for ever.

    Lock expiry and ``vectorbackup unlock`` list only lock names. Everything else holds at this point and is
    asserted; the copy makes the test xfail until something frees it, and nothing else may be left.
    """
    template, digests, _ = dump_template(astra_stand_in, tmp_path)
    point = "os.replace:1"  # the dump's first durable write is its lock, under the temporary name
    store = kill_dump(astra_stand_in, template, tmp_path / "kill", digests, point)
    copy = [p for p in leftovers(store) if LOCK_COPY.fullmatch(p)]
    assert copy, f"{point}: the point missed the lock's copy: {leftovers(store)}"
    recover_and_dump_again(store, astra_stand_in, AstraDBHook(retry_policy=FAST).get_conn(), digests, point,
                           keep_last=10, allowed=copy)
    if (store.root / copy[0]).exists():
        pytest.xfail(f"a lock's temporary copy that nothing frees: {copy[0]}")


def test_a_prune_killed_at_any_step_keeps_every_kept_snapshot_whole_and_the_next_prune_frees_the_rest(
        astra_stand_in, astra_connection, tmp_path) -> None:
    template, digests = make_store(astra_stand_in, tmp_path / "template", DAYS[:3])
    digests[DAYS[3]] = digests[DAYS[2]]  # the later dump, of an unchanged source
    source = AstraDBHook(retry_policy=FAST).get_conn()

    whole = tmp_path / "not-killed"
    shutil.copytree(template.root, whole)
    calls = run_child(astra_stand_in, whole, "prune", "1", kill_at=None)
    assert assert_sealed_snapshots_are_whole(LocalStore(whole), digests, "not killed") == DAYS[2:3]
    assert leftovers(LocalStore(whole)) == []
    swept = calls["LocalStore.delete_blob"]
    assert calls["LocalStore.delete"] == 2 and swept >= 3, calls

    points = ["LocalStore.delete:1", "os.rename:1:after", "LocalStore.delete:1:after"]  # while deleting snapshots
    points += ["LocalStore.delete:2:after"]  # between the deletions and garbage collection
    points += ["LocalStore.put_lock_file:1", "LocalStore.put_lock_file:1:after"]  # taking the exclusive lock
    points += [f"LocalStore.delete_blob:{k}" for k in range(1, swept + 1)]  # mid-sweep
    points += [f"LocalStore.delete_blob:{swept}:after"]  # swept, the lock not yet released
    for number, point in enumerate(points):
        root = tmp_path / f"kill-{number}"
        shutil.copytree(template.root, root)
        run_child(astra_stand_in, root, "prune", "1", kill_at=point)
        store = LocalStore(root)
        assert DAYS[2] in assert_sealed_snapshots_are_whole(store, digests, point), f"{point}: the kept one is gone"
        if point == "os.rename:1:after":
            assert leftovers(store)[0] == f".{DAYS[0]}.deleting", "the kill point missed the deletion's rename"
        recover_and_dump_again(store, astra_stand_in, source, digests, point, keep_last=1,
                               restore=number == len(points) - 1)
