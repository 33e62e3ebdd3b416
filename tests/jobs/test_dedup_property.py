"""Property: deleting deduplicated snapshots in any order, with garbage collection after each deletion, never
breaks one that is kept, and leaves in ``data/`` exactly what the kept ones use.

Each case makes snapshots with random churn (none, a little, a lot; updates, deletes and inserts in random
proportions) from the Astra stand-in through the real astrapy client, then deletes them in a random order:
the oldest through ``prune`` with a keep-last policy, any other through ``store.delete`` and
``collect_garbage``. After every step each kept snapshot must verify at records level and restore the
documents the source held when it was taken. Cases are seeded (``pytest.mark.parametrize``) rather than
drawn by hypothesis: one case costs seconds, too much for shrinking to be worth it.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest

from airflow_provider_vectorbackup.check import check_stored
from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from airflow_provider_vectorbackup.jobs.dump import DumpOptions, dump_snapshot
from airflow_provider_vectorbackup.jobs.garbage import collect_garbage
from airflow_provider_vectorbackup.jobs.restore import RestoreOptions, restore_snapshot
from airflow_provider_vectorbackup.jobs.retention import RetentionOptions, RetentionPolicy, prune
from airflow_provider_vectorbackup.snapshot.packs import BLOB_DIR, blob_name
from airflow_provider_vectorbackup.sources.astra.retry import RetryPolicy
from airflow_provider_vectorbackup.stores.local import LocalStore
from tests.jobs.churn import COLLECTION, churn, create, source_digest

FAST = RetryPolicy(max_attempts=2, initial_wait=0.001, max_wait=0.01)
DEDUP = DumpOptions(deduplicate=True, lock_wait=0, segment_max_bytes=8_000)
SNAPSHOTS = 7
CHURN_SIZES = (0, 0, 2, 10, 40, 150)
"""How many documents one step changes, drawn per step; 0 twice, so unchanged steps are common."""


def snapshot_id(day: int) -> str:
    return f"202611{day:02d}T020000Z"


def used_by_kept(store: LocalStore) -> set[str]:
    return {blob_name(entry.path) for snapshot in store.snapshots()
            for collection in store.read_manifest(snapshot).collections for entry in collection.shared}


def stored_blobs(store: LocalStore) -> set[str]:
    folder = store.root / BLOB_DIR
    return {path.name for path in folder.iterdir()} if folder.is_dir() else set()


def assert_every_kept_snapshot_is_whole(store: LocalStore, source, digests: dict[str, str], step: str) -> None:
    kept = [s.snapshot_id for s in store.snapshots()]
    assert stored_blobs(store) == used_by_kept(store), f"{step}: data/ holds exactly what the kept snapshots use"
    for snapshot in kept:
        report = check_stored(store, store.get(snapshot), "records")
        assert report.ok, f"{step}: {snapshot}: {report.summary()}"
        restored = restore_snapshot(store, snapshot, source,
                                    RestoreOptions(target_prefix=f"r{len(kept)}_{snapshot[6:8]}_"))
        assert restored["ok"], f"{step}: {snapshot}: {restored}"
        assert restored["collections"][COLLECTION]["digest_restored"] == digests[snapshot], (
            f"{step}: {snapshot} restored other documents than the source held when it was taken")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_deleting_in_random_order_with_garbage_collection_keeps_every_other_snapshot_whole(
        seed, astra_stand_in, astra_connection, tmp_path) -> None:
    rng = random.Random(seed)
    create(astra_stand_in, rng, 300)
    store = LocalStore(tmp_path / "store")
    source = AstraDBHook(retry_policy=FAST).get_conn()
    digests: dict[str, str] = {}
    for day in range(1, SNAPSHOTS + 1):
        if day > 1:
            changes = rng.choice(CHURN_SIZES)
            updates = rng.randint(0, changes)
            deletes = rng.randint(0, changes - updates)
            churn(astra_stand_in, rng, updates, deletes, changes - updates - deletes)
        outcome = dump_snapshot(source, store, snapshot_id(day), DEDUP)
        assert outcome.manifest.status == "complete" and outcome.manifest.format_version == 4
        digests[snapshot_id(day)] = source_digest(astra_stand_in)
    assert_every_kept_snapshot_is_whole(store, source, digests, "after the dumps")

    order = list(digests)
    rng.shuffle(order)
    now = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
    for position, victim in enumerate(order):
        kept = [s.snapshot_id for s in store.snapshots()]
        if victim == kept[0] and len(kept) > 1:  # prune deletes the oldest; it never deletes the newest
            plan = prune(store, RetentionOptions(policy=RetentionPolicy(keep_last=len(kept) - 1)), now=now)
            assert [d.record.ref.snapshot_id for d in plan.delete] == [victim]
            garbage = plan.garbage
        else:
            store.delete(store.get(victim))
            garbage = collect_garbage(store)
        assert garbage is not None and garbage.swept, garbage
        assert victim not in [s.snapshot_id for s in store.snapshots()]
        assert_every_kept_snapshot_is_whole(store, source, digests, f"after deleting {order[:position + 1]}")
    assert stored_blobs(store) == set(), "with every snapshot deleted, nothing is left in data/"
