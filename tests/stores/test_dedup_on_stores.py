"""Deduplicated snapshots (format 4) on Box and the object stores, end to end: the dump's packs go to the store's
shared area, an unchanged dump adds nothing, every snapshot verifies and restores alone, and garbage collection after
a deletion leaves what the kept snapshot needs. The local store has its own, fuller tests in tests/jobs/test_dedup.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_vectorbackup.check import check_stored
from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from airflow_provider_vectorbackup.jobs.dump import dump_snapshot
from airflow_provider_vectorbackup.jobs.garbage import collect_garbage
from airflow_provider_vectorbackup.jobs.restore import RestoreOptions, restore_snapshot
from airflow_provider_vectorbackup.stores.base import Store
from tests.jobs.test_dedup import DAYS, DEDUP, FAST, churn, seed, source_digest
from tests.stores.test_store_conformance import STORES


@pytest.fixture(params=["box", "s3", "gcs", "object-memory"])
def remote_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return STORES[request.param](request, tmp_path)


def test_a_deduplicated_dump_stores_once_and_every_snapshot_verifies_and_restores_alone(
        remote_store: Store, astra_stand_in, astra_connection, tmp_path: Path) -> None:
    rng = seed(astra_stand_in, 300)
    source = AstraDBHook(retry_policy=FAST).get_conn()
    digests = {}

    first = dump_snapshot(source, remote_store, DAYS[0], DEDUP)
    digests[DAYS[0]] = source_digest(astra_stand_in)
    stored = remote_store.blob_files()
    assert {p.path.split("/")[1] for p in first.manifest.collection("docs").shared} == set(stored)
    dump_snapshot(source, remote_store, DAYS[1], DEDUP)
    assert remote_store.blob_files() == stored, "an unchanged collection adds nothing to the shared area"
    digests[DAYS[1]] = digests[DAYS[0]]
    churn(astra_stand_in, rng, 9)
    dump_snapshot(source, remote_store, DAYS[2], DEDUP)
    digests[DAYS[2]] = source_digest(astra_stand_in)
    assert set(remote_store.blob_files()) > set(stored)
    assert remote_store.lock_files() == {}, "each dump releases its lock"

    for day, digest in digests.items():
        for level in ("files", "records"):
            report = check_stored(remote_store, remote_store.get(day), level, scratch_dir=tmp_path)
            assert report.ok, report.summary()
        restored = restore_snapshot(remote_store, day, source, RestoreOptions(target_prefix=f"r{day[6:8]}_"))
        assert restored["ok"] and restored["collections"]["docs"]["digest_restored"] == digest

    for day in (DAYS[0], DAYS[1]):
        remote_store.delete(remote_store.get(day))
    swept = collect_garbage(remote_store)
    assert swept.swept and swept.unreferenced, "the packs only the deleted snapshots used are freed"
    assert not set(swept.unreferenced) & set(remote_store.blob_files())
    assert check_stored(remote_store, remote_store.get(DAYS[2]), "records", scratch_dir=tmp_path).ok
