"""The object store on a real S3 API server (moto), through Airflow's ObjectStoragePath and the real s3fs/boto3.

What S3 adds to the conformance suite: verified parallel multipart uploads, Object Lock that refuses
deletes (and prune that reports instead of failing), the markers that make a seal atomic, tampering
found at the files level, and a dump → verify → restore → prune round trip.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
from pathlib import Path

import pytest
from fsspec.asyn import sync

from airflow_provider_vectorbackup.check.stored import check_stored
from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from airflow_provider_vectorbackup.hooks.object_storage import object_filesystem
from airflow_provider_vectorbackup.jobs.dump import DumpOptions, dump_snapshot
from airflow_provider_vectorbackup.jobs.restore import RestoreOptions, restore_snapshot
from airflow_provider_vectorbackup.jobs.retention import RetentionOptions, RetentionPolicy, prune
from airflow_provider_vectorbackup.snapshot.layout import SnapshotState
from airflow_provider_vectorbackup.snapshot.manifest import FileEntry
from airflow_provider_vectorbackup.stores.base import SnapshotLockedError
from airflow_provider_vectorbackup.stores.object.access import ObjectIntegrityError
from airflow_provider_vectorbackup.stores.object.lock import ObjectLock
from airflow_provider_vectorbackup.stores.object.s3 import MIN_PART_SIZE, ObjectLockUnavailable, S3Access
from airflow_provider_vectorbackup.stores.object.store import IN_PROGRESS_MARKER, INCOMPLETE_MARKER, ObjectStore
from tests.engines.s3 import LOCKED_BUCKET, PLAIN_BUCKET, S3_CONN_ID, S3Server
from tests.stores.test_store_conformance import write

A, B, C = "20260301T000000Z", "20260302T000000Z", "20260303T000000Z"


def open_store(bucket: str, prefix: str = "backups", conn_id: str = S3_CONN_ID, **access: object) -> ObjectStore:
    """The store as the Airflow layer opens it (through ObjectStoragePath), with S3Access settings in ``access``."""
    url = f"s3://{conn_id}@{bucket}/{prefix}"
    fs, path = object_filesystem(url)
    lock = access.pop("lock", None)
    return ObjectStore(fs, path, url=url, lock=lock, access=S3Access(fs, lock=lock, **access) if access else None)


def keys(s3: S3Server, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3.client().list_objects_v2(Bucket=bucket).get("Contents", []))


def versions(s3: S3Server, bucket: str) -> list[dict]:
    return s3.client().list_object_versions(Bucket=bucket).get("Versions", [])


def big_file(tmp_path: Path, size: int) -> tuple[Path, FileEntry]:
    local = tmp_path / "part-00000.jsonl.gz"
    local.write_bytes(os.urandom(size))
    data = local.read_bytes()
    return local, FileEntry("collections/articles/part-00000.jsonl.gz", size, hashlib.sha256(data).hexdigest(),
                            hashlib.sha1(data).hexdigest())


def test_a_large_file_goes_up_in_parallel_parts_each_checked_and_s3_holds_its_bytes(s3: S3Server,
                                                                                   tmp_path: Path) -> None:
    store = open_store(PLAIN_BUCKET, part_size=MIN_PART_SIZE, upload_streams=3)
    in_flight, most = 0, 0
    call = store.access.fs._call_s3

    async def counting(method: str, **kwargs: object) -> dict:
        nonlocal in_flight, most
        if method != "upload_part":
            return await call(method, **kwargs)
        assert kwargs["ChecksumAlgorithm"] == "SHA256" and kwargs["ChecksumSHA256"]
        in_flight += 1
        most = max(most, in_flight)
        try:
            return await call(method, **kwargs)
        finally:
            in_flight -= 1

    store.access.fs._call_s3 = counting
    try:
        local, entry = big_file(tmp_path, 3 * MIN_PART_SIZE + 1234)
        expected = local.read_bytes()
        pending = store.begin(A)
        pending.put(entry, local)
    finally:
        del store.access.fs._call_s3
    assert most >= 2, "parts went up one at a time"
    stored = s3.client().get_object(Bucket=PLAIN_BUCKET, Key=f"backups/{A}/{entry.path}")["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(expected).hexdigest()
    assert not local.exists(), "the local copy is freed once stored"
    listed = store.access.listing(f"{PLAIN_BUCKET}/backups/{A}")[entry.path]
    assert (listed.size, listed.sha256) == (entry.bytes, entry.sha256)


def test_a_file_that_changed_on_disk_before_its_upload_is_refused(s3: S3Server, tmp_path: Path) -> None:
    store = open_store(PLAIN_BUCKET)
    local, entry = big_file(tmp_path, 1000)
    local.write_bytes(b"x" * 1000)  # same size, other bytes than the writer hashed
    pending = store.begin(A)
    with pytest.raises(ObjectIntegrityError, match="changed on local disk"):
        pending.put(entry, local)
    assert keys(s3, PLAIN_BUCKET) == [f"backups/{A}/{IN_PROGRESS_MARKER}"]


def test_the_manifest_is_the_commit_point_of_a_store_that_cannot_rename(s3: S3Server, tmp_path: Path) -> None:
    store = open_store(PLAIN_BUCKET)
    sealed = write(store, A, tmp_path)
    assert sealed.state is SnapshotState.COMPLETE
    assert f"backups/{A}/{IN_PROGRESS_MARKER}" not in keys(s3, PLAIN_BUCKET)
    client = s3.client()
    # A seal that died after the manifest but before the marker was removed: the manifest wins.
    client.put_object(Bucket=PLAIN_BUCKET, Key=f"backups/{A}/{IN_PROGRESS_MARKER}", Body=b"{}")
    assert store.get(A).state is SnapshotState.COMPLETE
    # A seal that died before the manifest: whatever data is there, the snapshot is in progress.
    client.delete_object(Bucket=PLAIN_BUCKET, Key=f"backups/{A}/manifest.json")
    assert store.get(A).state is SnapshotState.IN_PROGRESS
    with pytest.raises(Exception, match="holds no complete snapshot"):
        store.get("latest")
    failed = write(store, B, tmp_path, fail=True)
    assert failed.state is SnapshotState.INCOMPLETE
    assert f"backups/{B}/{INCOMPLETE_MARKER}" in keys(s3, PLAIN_BUCKET)


def test_tampering_is_found_at_the_files_level_and_a_download_names_the_file(s3: S3Server, tmp_path: Path) -> None:
    store = open_store(PLAIN_BUCKET)
    write(store, A, tmp_path)
    snapshot = store.get(A)
    assert check_stored(store, snapshot, "files").ok
    segment = next(k for k in keys(s3, PLAIN_BUCKET) if "/part-" in k)
    client = s3.client()
    original = client.get_object(Bucket=PLAIN_BUCKET, Key=segment)["Body"].read()
    client.put_object(Bucket=PLAIN_BUCKET, Key=segment, Body=bytes(reversed(original)))  # same size, no SHA-256
    report = check_stored(store, snapshot, "files")
    path = segment.split(f"{A}/", 1)[1]
    assert [(p.path, p.code) for p in report.problems] == [(path, "checksum_mismatch")]
    damaged: dict = {}
    store.download(snapshot, tmp_path / "copy", damaged=damaged)
    assert list(damaged) == [path] and "tampering" in damaged[path].message


def test_object_lock_refuses_deletes_and_prune_reports_what_it_cannot_delete_yet(s3: S3Server,
                                                                               tmp_path: Path) -> None:
    lock = ObjectLock("governance", 2)
    store = open_store(LOCKED_BUCKET, lock=lock, part_size=MIN_PART_SIZE)
    write(store, A, tmp_path)
    pending = store.begin(B)  # a multipart object is locked too
    pending.put(*reversed(big_file(tmp_path, MIN_PART_SIZE + 10)))
    write(store, C, tmp_path)
    client = s3.client()
    retained = [client.head_object(Bucket=LOCKED_BUCKET, Key=v["Key"], VersionId=v["VersionId"])
                for v in versions(s3, LOCKED_BUCKET) if not v["Key"].endswith(IN_PROGRESS_MARKER)]
    soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)
    assert retained and all(h["ObjectLockMode"] == "GOVERNANCE" for h in retained)
    assert all(abs(h["ObjectLockRetainUntilDate"] - soon) < dt.timedelta(minutes=5) for h in retained)

    locked_version = next(v for v in versions(s3, LOCKED_BUCKET) if v["Key"].endswith("manifest.json"))
    with pytest.raises(client.exceptions.ClientError, match="AccessDenied"):  # the store itself refuses
        client.delete_object(Bucket=LOCKED_BUCKET, Key=locked_version["Key"], VersionId=locked_version["VersionId"])
    before = versions(s3, LOCKED_BUCKET)
    with pytest.raises(SnapshotLockedError, match="Object Lock until") as refused:
        store.delete(store.get(A))
    assert abs(refused.value.locked_until - soon) < dt.timedelta(minutes=5)
    assert versions(s3, LOCKED_BUCKET) == before, "nothing of a locked snapshot is deleted"

    plan = prune(store, RetentionOptions(policy=RetentionPolicy(keep_last=1), current_snapshot_id=C))
    assert sorted(d.record.ref.snapshot_id for d in plan.delete) == [A, B]
    assert sorted(locked.snapshot_id for locked in plan.locked) == [A, B]
    assert "refused by the store's lock" in plan.summary()
    assert json.loads(json.dumps(plan.to_dict()))["locked"][0]["locked_until"]
    assert [s.snapshot_id for s in store.snapshots()] == [A, B, C], "all kept until their locks expire"

    for version in versions(s3, LOCKED_BUCKET):  # the locks expire (an administrator shortens them here)
        client.put_object_retention(Bucket=LOCKED_BUCKET, Key=version["Key"], VersionId=version["VersionId"],
                                    BypassGovernanceRetention=True,
                                    Retention={"Mode": "GOVERNANCE", "RetainUntilDate": dt.datetime(2026, 1, 1)})
    plan = prune(store, RetentionOptions(policy=RetentionPolicy(keep_last=1), current_snapshot_id=C))
    assert plan.locked == () and [s.snapshot_id for s in store.snapshots()] == [C]
    assert all(f"/{C}/" in v["Key"] for v in versions(s3, LOCKED_BUCKET)), "every version of A and B is gone"


def test_a_lock_on_a_bucket_without_object_lock_is_refused_before_anything_is_written(s3: S3Server) -> None:
    store = open_store(PLAIN_BUCKET, lock=ObjectLock("compliance", 30))
    with pytest.raises(ObjectLockUnavailable, match=f"bucket {PLAIN_BUCKET} has no Object Lock.*created"):
        store.begin(A)
    assert keys(s3, PLAIN_BUCKET) == []


def test_dump_verify_restore_and_prune_round_trip_on_s3(seeded, s3: S3Server, tmp_path: Path) -> None:
    store = open_store(LOCKED_BUCKET, prefix="nightly")
    hook = AstraDBHook().get_conn()
    for snapshot_id in (A, B):
        outcome = dump_snapshot(hook, store, snapshot_id, DumpOptions(collections=["faq", "products"]))
        assert outcome.manifest.status == "complete"
    snapshot = store.get("latest")
    assert snapshot.snapshot_id == B
    assert check_stored(store, snapshot, "records", scratch_dir=tmp_path).ok
    report = restore_snapshot(store, B, hook, RestoreOptions(target_prefix="back_"))
    assert report["ok"] and {name: r["documents_restored"] for name, r in report["collections"].items()} == {
        "faq": 10, "products": 40}
    plan = prune(store, RetentionOptions(policy=RetentionPolicy(keep_last=1)))
    assert [d.record.ref.snapshot_id for d in plan.delete] == [A] and plan.locked == ()
    assert [s.snapshot_id for s in store.snapshots()] == [B]


def test_the_connection_secret_never_reaches_logs_errors_or_the_store(s3: S3Server, monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    canary = "canary-s3-secret-7f3a9c"
    connection = s3.connection()
    connection["password"] = canary  # moto takes any credentials
    conn_id = "aws_canary_store"  # its own id: Airflow keeps one filesystem per connection id for the whole process
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))
    caplog.set_level(logging.DEBUG)
    store = open_store(PLAIN_BUCKET, conn_id=conn_id)
    credentials = sync(store.access.fs.loop, store.access.fs.session.get_credentials)
    assert credentials.secret_key == canary, "the store really signs with the canary"
    texts = [store.describe()]
    write(store, A, tmp_path)
    texts.append(store.manifest_bytes(store.get(A)).decode())
    with pytest.raises(ObjectLockUnavailable) as refused:
        open_store(PLAIN_BUCKET, conn_id=conn_id, lock=ObjectLock("governance", 1)).begin(B)
    texts += [str(refused.value), repr(refused.value), caplog.text]
    assert all(canary not in text for text in texts)


def test_collections_dumped_by_separate_workers_seal_one_snapshot_on_s3(seeded, s3: S3Server, tmp_path: Path) -> None:
    from airflow_provider_vectorbackup.jobs.scale_out import SnapshotPlan, commit_snapshot, dump_collection, plan_snapshot

    options = DumpOptions(collections=["faq", "products"], segment_max_bytes=4_000)
    planned = plan_snapshot(AstraDBHook().get_conn(), open_store(LOCKED_BUCKET), A, options)
    results = [dump_collection(AstraDBHook().get_conn(), open_store(LOCKED_BUCKET),  # each worker its own store
                               SnapshotPlan.from_dict(planned.to_dict()), name, options).result
               for name in reversed(planned.collections)]
    store = open_store(LOCKED_BUCKET)
    assert [s.state for s in store.snapshots()] == [SnapshotState.IN_PROGRESS], "nothing sealed before the commit"
    outcome = commit_snapshot(store, planned, results, options)
    assert outcome.failures == {} and outcome.manifest.status == "complete"
    assert check_stored(store, store.get(A), "records", scratch_dir=tmp_path).ok
    assert {c.name: c.document_count for c in outcome.manifest.collections} == {"faq": 10, "products": 40}


def test_a_signed_encrypted_snapshot_on_s3_verifies_with_its_keys_and_restores(seeded, s3: S3Server,
                                                                             tmp_path: Path) -> None:
    from pyrage import x25519

    from airflow_provider_vectorbackup.snapshot import AgeEncryption, AgeIdentities, HmacKey

    identity = x25519.Identity.generate()
    key = HmacKey("a shared secret of sufficient length")
    store = open_store(LOCKED_BUCKET, lock=ObjectLock("governance", 1))
    hook = AstraDBHook().get_conn()
    options = DumpOptions(collections=["faq"], signer=key,
                          encryption=AgeEncryption.from_recipients([str(identity.to_public())]))
    assert dump_snapshot(hook, store, A, options).manifest.status == "complete"
    snapshot = store.get(A)
    assert store.signature_bytes(snapshot) is not None
    identities = AgeIdentities.from_text(f"{identity}\n")
    assert check_stored(store, snapshot, "records", verifier=key, identities=identities, scratch_dir=tmp_path).ok
    wrong = check_stored(store, snapshot, "files", verifier=HmacKey("another secret, also long enough"))
    assert {p.code for p in wrong.problems} == {"signature_key_mismatch"}
    report = restore_snapshot(store, A, hook, RestoreOptions(target_prefix="back_", identities=identities,
                                                             verifier=key))
    assert report["ok"] and report["collections"]["faq"]["documents_restored"] == 10


def test_a_deletion_cut_short_leaves_a_snapshot_that_reads_as_in_progress(s3: S3Server, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_vectorbackup.stores.object import s3 as s3_access

    store = open_store(LOCKED_BUCKET)
    write(store, A, tmp_path)
    monkeypatch.setattr(s3_access, "_DELETE_BATCH", 2)  # several DeleteObjects requests for one snapshot
    call = store.access.fs._call_s3
    deletes = 0

    async def failing_second_delete(method: str, **kwargs: object) -> dict:
        nonlocal deletes
        if method == "delete_objects":
            deletes += 1
            if deletes == 2:
                raise OSError("the connection dropped")
        return await call(method, **kwargs)

    store.access.fs._call_s3 = failing_second_delete
    try:
        with pytest.raises(OSError, match="connection dropped"):
            store.delete(store.get(A))
    finally:
        del store.access.fs._call_s3
    assert store.get(A).state is SnapshotState.IN_PROGRESS, "the manifest went in the first request"
    assert any(f"/{A}/collections/" in key for key in keys(s3, LOCKED_BUCKET)), "the rest is still there"
    store.delete(store.get(A))  # a later prune finishes the job
    assert versions(s3, LOCKED_BUCKET) == []


def test_packs_go_up_checked_whole_or_in_parts_and_a_locked_one_is_kept(s3: S3Server, tmp_path: Path) -> None:
    store = open_store(LOCKED_BUCKET, lock=ObjectLock("governance", 2), part_size=MIN_PART_SIZE)
    small = tmp_path / "small"
    small.write_bytes(b"documents")
    small_name = hashlib.sha256(b"documents").hexdigest() + ".jsonl.gz"
    big, entry = big_file(tmp_path, MIN_PART_SIZE + 10)
    big_name = f"{entry.sha256}.jsonl.gz"
    store.put_blob(small_name, small)
    store.put_blob(big_name, big)  # in two verified parts
    with pytest.raises(ObjectIntegrityError, match="SHA-256"):  # S3 is sent the SHA-256 of the name
        store.put_blob("0" * 64 + ".index", small)

    listed = store.blob_files()
    assert listed[small_name].sha256 == hashlib.sha256(b"documents").hexdigest()
    assert listed[big_name].sha256 is None, "S3 keeps a checksum of the parts' checksums of a multipart object"
    assert store.get_blob(big_name, tmp_path / "scratch").read_bytes() == big.read_bytes()

    with pytest.raises(SnapshotLockedError, match="Object Lock until"):
        store.delete_blob(small_name)
    assert set(store.blob_files()) == {small_name, big_name}
    for version in versions(s3, LOCKED_BUCKET):  # the locks expire (an administrator shortens them here)
        s3.client().put_object_retention(
            Bucket=LOCKED_BUCKET, Key=version["Key"], VersionId=version["VersionId"], BypassGovernanceRetention=True,
            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": dt.datetime(2026, 1, 1)})
    store.delete_blob(small_name)
    assert [v["Key"].rsplit("/", 1)[-1] for v in versions(s3, LOCKED_BUCKET)] == [big_name], "every version freed"


def test_a_deduplicated_dump_extends_the_object_lock_of_every_pack_it_reuses(
        s3: S3Server, astra_stand_in, astra_connection, monkeypatch) -> None:
    from airflow_provider_vectorbackup.testing import sample_data

    sample_data.seed(astra_stand_in, {"articles": 40})
    store = open_store(LOCKED_BUCKET, prefix="dedup-locked", lock=ObjectLock("governance", 2))
    options = DumpOptions(collections=["articles"], deduplicate=True, lock_wait=0, segment_max_bytes=4_000)
    first_until = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    monkeypatch.setattr(ObjectLock, "retain_until", lambda self, now=None: first_until)
    source = AstraDBHook().get_conn()
    dump_snapshot(source, store, A, options)
    later_until = first_until + dt.timedelta(days=30)
    monkeypatch.setattr(ObjectLock, "retain_until", lambda self, now=None: later_until)
    second = dump_snapshot(source, store, B, options).manifest.collection("articles")
    assert second.deduplication["new_documents"] == 0

    client = s3.client()
    for entry in second.shared:  # every pack and the index the second snapshot reuses now outlives it too
        head = client.head_object(Bucket=LOCKED_BUCKET, Key=f"dedup-locked/{entry.path}")
        assert head["ObjectLockRetainUntilDate"] == later_until, entry.path


def test_garbage_collection_keeps_an_unreferenced_pack_the_object_lock_retains_and_says_so(
        s3: S3Server, tmp_path: Path) -> None:
    from airflow_provider_vectorbackup.jobs.garbage import collect_garbage

    store = open_store(LOCKED_BUCKET, prefix="gc-locked", lock=ObjectLock("governance", 2))
    orphan = tmp_path / "orphan"
    orphan.write_bytes(b"documents no snapshot lists")
    name = hashlib.sha256(orphan.read_bytes()).hexdigest() + ".jsonl.gz"
    store.put_blob(name, orphan)
    report = collect_garbage(store)  # raised SnapshotLockedError before: prune failed after its deletions
    assert report.swept and report.retained == [name] and report.unreferenced == [] and report.bytes_freed == 0
    assert "under the store's lock" in report.summary() and name in store.blob_files()
    assert store.lock_files() == {}, "its own lock was released"
