"""The sliced example DAGs (one collection over 4 mapped tasks, dump and restore) run with dag.test() on the stand-ins."""

from __future__ import annotations

import pytest

from airflow_provider_vectorbackup.check.snapshot import VERIFIED, check_snapshot
from airflow_provider_vectorbackup.hooks.connections import open_store
from tests.jobs.test_scale_out_slices import spread_documents
from tests.system.test_example_dag_mapped import box_store, states
from tests.system.test_example_dags import BOX, KS, run, semantically_equal


@pytest.fixture
def stores(airflow_db, astra_stand_in, astra_connection, box_stand_in, box_connection):
    astra_stand_in.create_collection(KS, "articles", {"vector": {"dimension": 16, "metric": "cosine"}})
    astra_stand_in.seed(KS, "articles", spread_documents(300))  # ids over every _id range
    return astra_stand_in, box_stand_in


def test_one_collection_dumped_and_restored_over_four_mapped_tasks(stores) -> None:
    astra, _ = stores
    dag_run, ok = run("vector_backup_sliced")
    task_states = states(dag_run)
    assert ok, task_states
    assert task_states == {"plan": "success", "dump[articles[0/4]]": "success", "dump[articles[1/4]]": "success",
                           "dump[articles[2/4]]": "success", "dump[articles[3/4]]": "success",
                           "commit": "success", "verify": "success"}
    summary = dag_run.get_task_instance("commit").xcom_pull(task_ids="commit")
    assert summary["status"] == "complete" and summary["collections"]["articles"]["documents"] == 300
    (stored,) = box_store().snapshots()
    assert check_snapshot(BOX, stored.snapshot_id, "records", open_store=open_store).outcome == VERIFIED

    dag_run, ok = run("vector_restore_sliced", snapshot_id=stored.snapshot_id, collection="articles",
                      target_prefix="restored_", if_exists="fail")
    assert ok, states(dag_run)
    report = dag_run.get_task_instance("restore_commit").xcom_pull(task_ids="restore_commit")
    assert report["ok"] and report["collections"]["articles"]["documents_restored"] == 300
    semantically_equal(astra.dump_collection(KS, "articles"), astra.dump_collection(KS, "restored_articles"),
                       vectorize=False)
