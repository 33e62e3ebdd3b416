"""Deduplicated snapshots (format 4) from a real scan: only what changed is stored, every snapshot stands alone,
garbage collection frees only what no snapshot uses, and the store's lock keeps a dump and a sweep apart.

The real astrapy client reads the Astra stand-in over HTTP; the store is a local folder, so the test can count
what each dump added to it.
"""

from __future__ import annotations

import dataclasses
import random
import uuid
from pathlib import Path

import pytest

from airflow_provider_vectorbackup.check import check_stored
from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from airflow_provider_vectorbackup.jobs.dump import DumpOptions, dump_snapshot
from airflow_provider_vectorbackup.jobs.garbage import collect_garbage
from airflow_provider_vectorbackup.jobs.restore import RestoreOptions, restore_snapshot
from airflow_provider_vectorbackup.jobs.retention import RetentionOptions, RetentionPolicy, prune
from airflow_provider_vectorbackup.snapshot.digest import ContentDigest
from airflow_provider_vectorbackup.snapshot.encryption import AgeEncryption
from airflow_provider_vectorbackup.snapshot.packs import BLOB_DIR
from airflow_provider_vectorbackup.snapshot.signing import HmacKey
from airflow_provider_vectorbackup.snapshot.vectors import floats_to_binary
from airflow_provider_vectorbackup.sources.astra.retry import RetryPolicy
from airflow_provider_vectorbackup.stores.local import LocalStore
from airflow_provider_vectorbackup.stores.locking import EXCLUSIVE, SHARED, StoreLock, StoreLockedError
from airflow_provider_vectorbackup.testing.sample_data import KEYSPACE, unit_vector

FAST = RetryPolicy(max_attempts=2, initial_wait=0.001, max_wait=0.01)
DEDUP = DumpOptions(deduplicate=True, lock_wait=0, segment_max_bytes=40_000)
DAYS = ["20261101T020000Z", "20261102T020000Z", "20261103T020000Z", "20261104T020000Z"]


def document(rng: random.Random, n: int) -> dict:
    return {"_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "n": n, "text": f"doc {n} é",
            "$vector": {"$binary": floats_to_binary(unit_vector(rng, 32))}}


def seed(astra_stand_in, count: int) -> random.Random:
    rng = random.Random(5)
    astra_stand_in.create_collection(KEYSPACE, "docs", {"vector": {"dimension": 32, "metric": "cosine"}})
    astra_stand_in.seed(KEYSPACE, "docs", [document(rng, n) for n in range(count)])
    return rng


def churn(astra_stand_in, rng: random.Random, changes: int) -> None:
    """About a third each: updated in place, deleted, inserted."""
    with astra_stand_in.store.lock:
        collection = astra_stand_in.store.collection(KEYSPACE, "docs")
        entries = rng.sample(list(collection.scan()), 2 * (changes // 3))
        for entry in entries[: changes // 3]:
            collection.replace(entry, {**entry.body, "n": -1, "text": "changed"})
        for entry in entries[changes // 3:]:
            collection.delete(entry)
    astra_stand_in.seed(KEYSPACE, "docs", [document(rng, 10_000 + n) for n in range(changes - 2 * (changes // 3))])


def source_digest(astra_stand_in) -> str:
    digest = ContentDigest()
    for body in astra_stand_in.dump_collection(KEYSPACE, "docs"):
        digest.add(body)
    return digest.hexdigest()


def data_bytes(root: Path) -> dict[str, int]:
    folder = root / BLOB_DIR
    return {p.name: p.stat().st_size for p in folder.iterdir()} if folder.is_dir() else {}


def test_unchanged_and_churned_dumps_store_only_what_changed_and_each_snapshot_restores_alone(
        astra_stand_in, astra_connection, tmp_path) -> None:
    rng = seed(astra_stand_in, 1500)
    store = LocalStore(tmp_path / "store")
    source = AstraDBHook(retry_policy=FAST).get_conn()
    digests = []

    first = dump_snapshot(source, store, DAYS[0], DEDUP)
    assert first.manifest.format_version == 4 and first.manifest.status == "complete"
    digests.append(source_digest(astra_stand_in))
    assert first.manifest.collection("docs").content_digest == digests[0]
    full = sum(data_bytes(store.root).values())
    assert not first.manifest.collection("docs").segments and len(first.manifest.collection("docs").packs) > 3

    before = data_bytes(store.root)
    same = dump_snapshot(source, store, DAYS[1], DEDUP)
    assert data_bytes(store.root) == before, "an unchanged collection adds nothing to the shared area"
    assert same.manifest.collection("docs").index == first.manifest.collection("docs").index
    assert same.manifest.collection("docs").deduplication == {
        "parent": DAYS[0], "reused_documents": 1500, "new_documents": 0, "bytes_stored": 0}
    assert first.manifest.collection("docs").deduplication["bytes_stored"] == full
    digests.append(digests[0])

    churn(astra_stand_in, rng, 15)  # 1 %
    changed = dump_snapshot(source, store, DAYS[2], DEDUP)
    digests.append(source_digest(astra_stand_in))
    added = sum(size for name, size in data_bytes(store.root).items() if name not in before)
    assert changed.manifest.collection("docs").content_digest == digests[2] != digests[0]
    assert 0 < added < 0.2 * full, f"1% churn stored {added} bytes against {full} for the full dump"
    assert changed.manifest.collection("docs").deduplication["bytes_stored"] == added

    for day, digest in zip(DAYS, digests):
        report = check_stored(store, store.get(day), "records")
        assert report.ok, report.summary()
        restored = restore_snapshot(store, day, source, RestoreOptions(target_prefix=f"r{day[6:8]}_"))
        assert restored["ok"] and restored["collections"]["docs"]["digest_restored"] == digest


def test_deleting_snapshots_in_any_order_with_garbage_collection_never_breaks_another(
        astra_stand_in, astra_connection, tmp_path) -> None:
    rng = seed(astra_stand_in, 600)
    store = LocalStore(tmp_path / "store")
    source = AstraDBHook(retry_policy=FAST).get_conn()
    for day in DAYS[:3]:
        dump_snapshot(source, store, day, DEDUP)
        churn(astra_stand_in, rng, 30)
    dry = collect_garbage(store, dry_run=True, deleting=[DAYS[0]])
    assert dry.swept and dry.unreferenced and dry.bytes_freed > 0
    assert all((store.root / BLOB_DIR / name).exists() for name in dry.unreferenced), "a dry run deletes nothing"

    for day in (DAYS[1], DAYS[0]):  # the middle one first, then the oldest: neither breaks the newest
        store.delete(store.get(day))
        report = collect_garbage(store)
        assert report.swept and not report.dry_run
        assert not any((store.root / BLOB_DIR / name).exists() for name in report.unreferenced)
        assert check_stored(store, store.get(DAYS[2]), "records").ok
    kept = store.read_manifest(store.get(DAYS[2])).collection("docs")
    assert set(data_bytes(store.root)) == {p.path.split("/")[1] for p in kept.shared}, "only what it uses is left"


def test_prune_collects_garbage_and_a_dry_run_reports_the_bytes_it_would_free(
        astra_stand_in, astra_connection, tmp_path) -> None:
    rng = seed(astra_stand_in, 400)
    store = LocalStore(tmp_path / "store")
    source = AstraDBHook(retry_policy=FAST).get_conn()
    for day in DAYS[:3]:
        dump_snapshot(source, store, day, DEDUP)
        churn(astra_stand_in, rng, 60)
    policy = RetentionPolicy(keep_last=1)
    dry = prune(store, RetentionOptions(policy=policy, dry_run=True))
    assert dry.garbage is not None and dry.garbage.dry_run and dry.garbage.bytes_freed > 0
    assert len(store.snapshots()) == 3
    done = prune(store, RetentionOptions(policy=policy))
    assert [s.snapshot_id for s in store.snapshots()] == [DAYS[2]]
    assert done.garbage.bytes_freed == dry.garbage.bytes_freed and "freed" in done.summary()
    assert check_stored(store, store.get(DAYS[2]), "records").ok


def test_a_running_dump_keeps_garbage_collection_away_and_a_sweep_keeps_a_dump_from_starting(
        astra_stand_in, astra_connection, tmp_path) -> None:
    seed(astra_stand_in, 100)
    store = LocalStore(tmp_path / "store")
    source = AstraDBHook(retry_policy=FAST).get_conn()
    dump_snapshot(source, store, DAYS[0], DEDUP)
    store.delete(store.get(DAYS[0]))  # its packs are now garbage

    with StoreLock(store, SHARED, "dump elsewhere"):
        report = collect_garbage(store)
    assert not report.swept and "dump elsewhere" in report.reason
    assert data_bytes(store.root), "nothing was swept while a dump held its lock"

    with StoreLock(store, EXCLUSIVE, "garbage collection elsewhere"):
        with pytest.raises(StoreLockedError, match="garbage collection elsewhere") as refused:
            dump_snapshot(source, store, DAYS[1], DEDUP)
    assert "did not start" in str(refused.value)
    assert not any(s.snapshot_id == DAYS[1] for s in store.snapshots()), "nothing of the refused dump was written"
    assert store.lock_files() == {}, "every lock was released"
    assert collect_garbage(store).swept and not data_bytes(store.root)


def test_an_expired_lock_of_a_crashed_holder_blocks_nothing(astra_stand_in, astra_connection, tmp_path) -> None:
    import datetime as dt

    seed(astra_stand_in, 50)
    store = LocalStore(tmp_path / "store")
    long_ago = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    StoreLock(store, EXCLUSIVE, "a prune that was killed", clock=lambda: long_ago).acquire()
    outcome = dump_snapshot(AstraDBHook(retry_policy=FAST).get_conn(), store, DAYS[0], DEDUP)
    assert outcome.manifest.status == "complete"
    assert collect_garbage(store).expired_locks_removed and store.lock_files() == {}


def test_encrypted_deduplication_needs_a_signer_and_then_names_documents_by_a_keyed_hash(
        astra_stand_in, astra_connection, tmp_path) -> None:
    import pyrage

    from airflow_provider_vectorbackup.snapshot.encryption import AgeIdentities

    seed(astra_stand_in, 200)
    identity = pyrage.x25519.Identity.generate()
    encryption = AgeEncryption.from_recipients([str(identity.to_public())])
    with pytest.raises(ValueError, match="needs a signing key"):
        DumpOptions(deduplicate=True, encryption=encryption)
    options = DumpOptions(deduplicate=True, encryption=encryption, signer=HmacKey("canary-secret-0123456789"),
                          lock_wait=0)
    store = LocalStore(tmp_path / "store")
    source = AstraDBHook(retry_policy=FAST).get_conn()
    first = dump_snapshot(source, store, DAYS[0], options)
    settings = first.manifest.settings["dedup"]
    assert settings["key"] == "hmac-sha256" and len(settings["key_id"]) == 16
    assert "canary-secret" not in (store.root / DAYS[0] / "manifest.json").read_text()
    entry = first.manifest.collection("docs")
    assert all(p.path.endswith(".age") for p in entry.packs if not p.path.endswith(".index"))
    before = data_bytes(store.root)
    dump_snapshot(source, store, DAYS[1], options)
    assert data_bytes(store.root) == before, "the keyed names still deduplicate"
    identities = AgeIdentities.from_text(str(identity))  # noqa: the identity of this test only
    assert check_stored(store, store.get(DAYS[1]), "records", identities=identities).ok

    rotated = dataclasses.replace(options, signer=HmacKey("another-secret-0123456789"))
    third = dump_snapshot(source, store, DAYS[2], rotated).manifest.collection("docs").deduplication
    assert third["parent"] is None and third["new_documents"] == 200, "a new signing key names documents anew"


def test_a_tampered_shared_pack_is_reported_for_every_snapshot_that_uses_it(
        astra_stand_in, astra_connection, tmp_path) -> None:
    seed(astra_stand_in, 300)
    store = LocalStore(tmp_path / "store")
    source = AstraDBHook(retry_policy=FAST).get_conn()
    for day in DAYS[:3]:
        dump_snapshot(source, store, day, DEDUP)
    shared = store.read_manifest(store.get(DAYS[0])).collection("docs").packs
    victim = next(p for p in shared if p.path.endswith(".jsonl.gz"))
    path = store.root / victim.path
    damaged = bytearray(path.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    path.write_bytes(bytes(damaged))
    for day in DAYS[:3]:
        for level in ("files", "records"):
            report = check_stored(store, store.get(day), level)
            assert any(p.path == victim.path and p.code == "checksum_mismatch" for p in report.problems), (
                day, level, report.summary())


def test_a_data_subset_reads_the_packs_it_selects_and_every_pack_over_its_runs(
        astra_stand_in, astra_connection, tmp_path) -> None:
    from airflow_provider_vectorbackup.check.verify import DataSubset, verify

    seed(astra_stand_in, 600)
    store = LocalStore(tmp_path / "store")
    dump_snapshot(AstraDBHook(retry_policy=FAST).get_conn(), store, DAYS[0], DEDUP)
    packs = [p for p in store.read_manifest(store.get(DAYS[0])).collection("docs").packs if p.path.endswith(".gz")]
    reads = {n: verify(store.root / DAYS[0], "files", read_data_subset=DataSubset(n, 3)).documents_checked
             for n in (1, 2, 3)}
    assert sum(reads.values()) == sum(p.documents for p in packs) == 600
    assert reads == {n: verify(store.root / DAYS[0], "files", read_data_subset=DataSubset(n, 3)).documents_checked
                     for n in (1, 2, 3)}, "the same packs every time"
    for text in ("0/3", "4/3", "a/b", "1"):
        with pytest.raises(ValueError, match="n/t"):
            DataSubset.parse(text)


def test_the_sliced_restore_refuses_a_deduplicated_snapshot_before_writing(
        astra_stand_in, astra_connection, tmp_path) -> None:
    from airflow_provider_vectorbackup.jobs.restore import TargetConflict
    from airflow_provider_vectorbackup.jobs.restore_scale_out import plan_restore

    seed(astra_stand_in, 50)
    store = LocalStore(tmp_path / "store")
    source = AstraDBHook(retry_policy=FAST).get_conn()
    dump_snapshot(source, store, DAYS[0], DEDUP)
    with pytest.raises(TargetConflict, match="deduplicated .* one task"):
        plan_restore(store, DAYS[0], source, RestoreOptions(target_prefix="sliced_"))
    assert "sliced_docs" not in [info.name for info in source.list_collections()]


def test_a_deduplicated_snapshot_cannot_be_written_in_slices(tmp_path) -> None:
    from airflow_provider_vectorbackup.snapshot.dedup_writer import Deduplication
    from airflow_provider_vectorbackup.snapshot.errors import SnapshotError
    from airflow_provider_vectorbackup.snapshot.packs import DocumentKeys
    from airflow_provider_vectorbackup.snapshot.writer import SnapshotWriter

    writer = SnapshotWriter(tmp_path, source={"kind": "astra"}, snapshot_id=DAYS[0],
                            dedup=Deduplication(DocumentKeys(), lambda name, local: None)).open()
    with pytest.raises(SnapshotError, match="cannot be written in slices"):
        writer.collection("docs", {}, slice_index=1)
