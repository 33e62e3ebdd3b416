"""The same operators and sensor against a local folder store: a network share, or a download verified offline."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from airflow_provider_vectorbackup.operators.dump import VectorDumpOperator
from airflow_provider_vectorbackup.operators.restore import RestoreOperator
from airflow_provider_vectorbackup.operators.retention import LEDGER_KEY, RetentionOperator
from airflow_provider_vectorbackup.sensors.manifest import ManifestVerifySensor
from airflow_provider_vectorbackup.check import verify
from airflow_provider_vectorbackup.snapshot.layout import SnapshotState
from airflow_provider_vectorbackup.stores.base import SnapshotExistsError
from airflow_provider_vectorbackup.stores.local import LocalStore
from airflow_provider_vectorbackup.stores.spec import StoreSpec
from tests.airflow_context import RecordingTI, context_for


def dump(folder: Path, snapshot_id: str) -> dict:
    operator = VectorDumpOperator(task_id="dump", local_folder=str(folder), snapshot_id=snapshot_id,
                                  segment_max_bytes=50_000)
    return operator.execute(context_for(RecordingTI(task_id="dump")))


def test_dump_verify_and_restore_through_a_local_folder(seeded, tmp_path: Path) -> None:
    astra, box = seeded
    summary = dump(tmp_path / "share", "20260301T000000Z")
    assert summary["store"] == "local" and summary["location"] == str(tmp_path / "share" / "20260301T000000Z")
    assert verify(summary["location"], "records").ok
    assert not any("20260301T000000Z" in row["path"] for row in box.tree()), "nothing went to Box"
    sensor = ManifestVerifySensor(task_id="verify", local_folder=str(tmp_path / "share"), snapshot_id="latest",
                                  level="records")
    assert sensor.poke(context_for(RecordingTI())).xcom_value["ok"] is True
    report = RestoreOperator(task_id="restore", local_folder=str(tmp_path / "share"), target_prefix="offline_",
                             validation_queries=3).execute(context_for(RecordingTI(task_id="restore")))
    assert report["ok"] and report["collections"]["articles"]["documents_restored"] == 120


def test_a_damaged_local_snapshot_is_refused_before_anything_is_written(seeded, tmp_path: Path) -> None:
    astra, _ = seeded
    summary = dump(tmp_path / "share", "20260301T000000Z")
    inserts_before = astra.request_counts.get("insertMany", 0)
    segment = Path(summary["location"]) / "collections/products/part-00000.jsonl.gz"
    data = bytearray(segment.read_bytes())
    data[100] ^= 0xFF
    segment.write_bytes(bytes(data))
    sensor = ManifestVerifySensor(task_id="verify", local_folder=str(tmp_path / "share"), snapshot_id="latest")
    with pytest.raises(AirflowFailException, match="products/part-00000.jsonl.gz"):
        sensor.poke(context_for(RecordingTI()))
    with pytest.raises(AirflowFailException, match="fails verification; nothing was written"):
        RestoreOperator(task_id="restore", local_folder=str(tmp_path / "share"), target_prefix="x_").execute(
            context_for(RecordingTI(task_id="restore")))
    assert AstraDBHook().get_conn().collection_definition("x_articles") is None
    assert astra.request_counts.get("insertMany", 0) == inserts_before


def test_retention_on_a_local_folder(seeded, tmp_path: Path) -> None:
    ids = [f"2026030{day}T000000Z" for day in range(1, 5)]
    for snapshot_id in ids:
        dump(tmp_path / "share", snapshot_id)
    ti = RecordingTI(task_id="retention")
    ti.xcoms[("retention", LEDGER_KEY)] = {sid: {} for sid in ids}
    ti.xcoms[("dump", "snapshot_id")] = ids[-1]
    ti.xcoms[("verify", "return_value")] = {"ok": True, "snapshot": ids[-1]}
    RetentionOperator(task_id="retention", local_folder=str(tmp_path / "share"), keep_last=2).execute(context_for(ti))
    assert sorted(p.name for p in (tmp_path / "share").iterdir()) == ids[2:]


def test_the_local_store_keeps_the_atomic_states(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    pending = store.begin("20260301T000000Z")
    assert Path(pending.location).name == ".20260301T000000Z.inprogress"
    assert [s.state for s in store.snapshots()] == [SnapshotState.IN_PROGRESS]
    again = store.begin("20260301T000000Z")  # a retry removes the abandoned attempt
    assert Path(again.location).is_dir() and len(store.snapshots()) == 1
    (tmp_path / "20260302T000000Z").mkdir()
    with pytest.raises(SnapshotExistsError, match="already complete"):
        store.begin("20260302T000000Z")
    assert store.get("latest").snapshot_id == "20260302T000000Z"


def test_two_threads_storing_the_same_pack_at_once_both_succeed(tmp_path: Path, monkeypatch) -> None:
    """Two collections with the same documents make the same pack; a dump stores them from two threads at once."""
    import shutil
    import threading

    from airflow_provider_vectorbackup.stores import local

    both_copied = threading.Barrier(2, timeout=10)
    copy = shutil.copyfile

    def copy_then_wait(source, target):  # both copies are written before either is renamed into place
        copy(source, target)
        both_copied.wait()

    monkeypatch.setattr(local.shutil, "copyfile", copy_then_wait)
    store = LocalStore(tmp_path / "store")
    name = "a" * 64 + ".jsonl.gz"
    sources = []
    for number in range(2):
        sources.append(tmp_path / f"pack-{number}")
        sources[-1].write_bytes(b"the same bytes")
    failures = []

    def put(source: Path) -> None:
        try:
            store.put_blob(name, source)
        except Exception as exc:
            failures.append(exc)

    threads = [threading.Thread(target=put, args=(source,)) for source in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert (tmp_path / "store" / "data" / name).read_bytes() == b"the same bytes"
    assert sorted(p.name for p in (tmp_path / "store" / "data").iterdir()) == [name], "no copy is left behind"


def test_a_partial_copy_is_listed_with_the_packs_so_garbage_collection_frees_it(tmp_path: Path) -> None:
    """A dump killed between a pack's copy and its rename leaves ``.<name>.<random>.tmp``; no snapshot lists it."""
    store = LocalStore(tmp_path)
    pack = tmp_path / "pack"
    pack.write_bytes(b"packed")
    name = "b" * 64 + ".jsonl.gz"
    store.put_blob(name, pack)
    data = tmp_path / "data"
    partial = "." + name + "." + "c" * 32 + ".tmp"
    (data / partial).write_bytes(b"pack")
    (data / ".notes.tmp").write_bytes(b"not ours")  # only names put_blob makes are taken for its copies
    assert sorted(store.blob_files()) == [partial, name]
    store.delete_blob(partial)
    assert sorted(p.name for p in data.iterdir()) == [".notes.tmp", name]


def test_a_deletion_cut_short_by_a_crash_is_finished_by_the_next_one(tmp_path: Path) -> None:
    """A crash between the rename and the removal leaves a folder no listing shows: the next deletion removes it."""
    store = LocalStore(tmp_path)
    for snapshot_id in ("20260301T000000Z", "20260302T000000Z"):
        (tmp_path / snapshot_id / "collections").mkdir(parents=True)
    (tmp_path / "20260301T000000Z").rename(tmp_path / ".20260301T000000Z.deleting")  # what the crash left
    assert [s.snapshot_id for s in store.snapshots()] == ["20260302T000000Z"]
    store.delete(store.get("20260302T000000Z"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("arguments", [{}, {"box_folder": "a", "local_folder": "/b"}])
def test_exactly_one_store_must_be_named(arguments: dict) -> None:
    with pytest.raises(ValueError, match="exactly one of box_folder"):
        VectorDumpOperator(task_id="dump", **arguments)
    with pytest.raises(ValueError, match="exactly one of box_folder"):
        StoreSpec.from_arguments(box_conn_id="b", box_folder_id="0", **{"box_folder": None, "local_folder": None,
                                                                         **arguments})


def test_operators_take_their_keys_from_connections(seeded, tmp_path: Path, monkeypatch) -> None:
    import json

    import pyrage
    from airflow.providers.common.compat.sdk import AirflowFailException

    from airflow_provider_vectorbackup.snapshot.signing import Ed25519Signer

    identity, signer = pyrage.x25519.Identity.generate(), Ed25519Signer.generate()
    private_pem, public_pem = signer.private_key_pem().decode(), signer.public_key_pem().decode()
    # Backup workers hold the recipient and the signing key; restores hold the identity and only the public key.
    monkeypatch.setenv("AIRFLOW_CONN_BACKUP_ENCRYPTION", json.dumps(
        {"conn_type": "generic", "extra": {"recipients": [str(identity.to_public())]}}))
    monkeypatch.setenv("AIRFLOW_CONN_RESTORE_ENCRYPTION", json.dumps({"conn_type": "generic", "password": str(identity)}))
    monkeypatch.setenv("AIRFLOW_CONN_BACKUP_SIGNING", json.dumps(
        {"conn_type": "generic", "password": private_pem, "extra": {"algorithm": "ed25519"}}))
    monkeypatch.setenv("AIRFLOW_CONN_RESTORE_SIGNING", json.dumps(
        {"conn_type": "generic", "extra": {"algorithm": "ed25519", "public_key": public_pem}}))
    share = str(tmp_path / "share")
    VectorDumpOperator(task_id="dump", local_folder=share, snapshot_id="20260301T000000Z",
                       encryption_conn_id="backup_encryption", signing_conn_id="backup_signing").execute(
        context_for(RecordingTI(task_id="dump")))
    folder = tmp_path / "share" / "20260301T000000Z"
    assert (folder / "manifest.json.sig").is_file()
    assert sorted(p.name for p in (folder / "collections/articles").iterdir())[0] == "definition.json.age"

    deep = ManifestVerifySensor(task_id="verify", local_folder=share, snapshot_id="latest", level="records",
                                encryption_conn_id="restore_encryption", signing_conn_id="restore_signing")
    assert deep.poke(context_for(RecordingTI())).xcom_value["ok"] is True
    without_identity = ManifestVerifySensor(task_id="verify", local_folder=share, level="records")
    with pytest.raises(AirflowFailException, match="identity_required"):
        without_identity.poke(context_for(RecordingTI()))
    report = RestoreOperator(task_id="restore", local_folder=share, target_prefix="keyed_", validation_queries=2,
                             encryption_conn_id="restore_encryption", signing_conn_id="restore_signing").execute(
        context_for(RecordingTI(task_id="restore")))
    assert report["ok"] and report["collections"]["products"]["documents_restored"] == 40
