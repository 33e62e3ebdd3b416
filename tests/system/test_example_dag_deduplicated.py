"""The deduplicated nightly example DAG with dag.test() against the stand-ins: a second night uploads only what
changed, both nights verify (with a pack subset read), retention collects garbage, and the older night restores."""

from __future__ import annotations

import pytest

from airflow_provider_vectorbackup.hooks.box import BoxHook
from airflow_provider_vectorbackup.jobs.restore import RestoreOptions, restore_snapshot
from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from airflow_provider_vectorbackup.stores.box.store import BoxStore
from airflow_provider_vectorbackup.testing import sample_data
from tests.system.conftest import load_dag

KS = sample_data.KEYSPACE


@pytest.fixture
def stores(airflow_db, astra_stand_in, astra_connection, box_stand_in, box_connection):
    sample_data.seed(astra_stand_in, {"articles": 300, "products": 60})
    return astra_stand_in, box_stand_in


def test_two_nights_store_only_what_changed_verify_and_each_restores(stores) -> None:
    import datetime as dt

    from airflow.utils.state import DagRunState

    astra, _ = stores
    dag = load_dag("vector_backup_deduplicated")
    first = dag.test(logical_date=dt.datetime(2026, 11, 30, 2, tzinfo=dt.timezone.utc))
    assert first.state == DagRunState.SUCCESS, {ti.task_id: ti.state for ti in first.get_task_instances()}
    store = BoxStore.at_path(BoxHook().get_conn(), "vector-backups-deduplicated")
    full = {name: stored.size for name, stored in store.blob_files().items()}
    assert full and sum(full.values()) > 0

    with astra.store.lock:  # one document changed overnight
        entry = next(iter(astra.store.collection(KS, "articles").scan()))
        astra.store.collection(KS, "articles").replace(entry, {**entry.body, "title": "changed overnight"})
    second = dag.test(logical_date=dt.datetime(2026, 12, 1, 2, tzinfo=dt.timezone.utc))
    assert second.state == DagRunState.SUCCESS, {ti.task_id: ti.state for ti in second.get_task_instances()}
    added = {name: size for name, size in ((n, s.size) for n, s in store.blob_files().items()) if name not in full}
    assert 0 < sum(added.values()) < 0.2 * sum(full.values()), (added, sum(full.values()))

    verified = second.get_task_instance("verify").xcom_pull(task_ids="verify")
    assert verified["ok"] and verified["level"] == "files"
    retention = second.get_task_instance("retention").xcom_pull(task_ids="retention")
    assert retention["garbage"]["swept"], retention["garbage"]

    snapshots = sorted(s.snapshot_id for s in store.snapshots())
    assert len(snapshots) == 2
    report = restore_snapshot(store, snapshots[0], AstraDBHook().get_conn(), RestoreOptions(target_prefix="night1_"))
    assert report["ok"] and report["collections"]["articles"]["documents_restored"] == 300
