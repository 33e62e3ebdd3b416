"""The example DAGs, run with dag.test() against the stand-ins: backup, verify, retention, restore, drill."""

from __future__ import annotations

import struct

import pytest

from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from airflow_provider_vectorbackup.jobs.recall import vector_of
from airflow_provider_vectorbackup.stores.spec import StoreSpec
from airflow_provider_vectorbackup.testing import sample_data
from tests.conftest import requires_airflow
from tests.system.conftest import DAG_TEST_CALLBACK_EXCEPTION, load_dag

KS = sample_data.KEYSPACE
SIZES = {"articles": 400, "products": 120, "faq": 40}
BOX = StoreSpec("box", "vector-backups")


@pytest.fixture
def stores(airflow_db, astra_stand_in, astra_connection, box_stand_in, box_connection):
    sample_data.seed(astra_stand_in, SIZES)
    return astra_stand_in, box_stand_in


def run(dag_name: str, **conf):
    from airflow.utils.state import DagRunState

    dag_run = load_dag(dag_name).test(run_conf=conf or None)
    return dag_run, dag_run.state == DagRunState.SUCCESS


def task_states(dag_run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def as_float32(document: dict) -> bytes | None:
    vector = vector_of(document)
    return None if vector is None else struct.pack(f">{len(vector)}f", *vector)


def semantically_equal(source: list[dict], restored: list[dict], vectorize: bool) -> None:
    """Same ids, same fields and values, $vector equal as float32 whatever its encoding, EJSON equal."""
    assert sorted(map(repr, (d["_id"] for d in source))) == sorted(map(repr, (d["_id"] for d in restored)))
    restored_by_id = {repr(d["_id"]): d for d in restored}
    for original in source:
        copy = restored_by_id[repr(original["_id"])]
        assert as_float32(copy) == as_float32(original)
        ignore = {"$vector"} | ({"$vectorize"} if vectorize else set())
        assert {k: v for k, v in copy.items() if k not in ignore} == {k: v for k, v in original.items() if k not in ignore}


def test_backup_then_restore_into_new_names_is_semantically_identical(stores) -> None:
    astra, box = stores
    dag_run, ok = run("vector_backup")
    assert ok, task_states(dag_run)
    snapshots = [row["path"] for row in box.tree() if row["type"] == "folder" and row["path"].count("/") == 2]
    assert len(snapshots) == 1 and not snapshots[0].endswith((".INCOMPLETE", ".inprogress"))

    dag_run, ok = run("vector_restore", snapshot_id="latest", collections=[], target_prefix="restored_",
                      if_exists="fail")
    assert ok, task_states(dag_run)
    for name in SIZES:
        semantically_equal(astra.dump_collection(KS, name), astra.dump_collection(KS, f"restored_{name}"),
                           vectorize=name == "faq")
    assert AstraDBHook().get_conn().collection_definition("restored_articles") == astra.collection_options(KS, "articles")


@requires_airflow("3.2", DAG_TEST_CALLBACK_EXCEPTION)
def test_vector_loss_fails_the_dump_alerts_and_leaves_nothing_complete(stores) -> None:
    from airflow_provider_vectorbackup.notifications.vector_loss import vector_loss_callback

    astra, box = stores
    astra.regression_mode = True  # the server "forgets" to return $vector, as after a client regression
    alerts: list[str] = []
    dag = load_dag("vector_backup")
    dag.get_task("dump").on_failure_callback = [vector_loss_callback(lambda text, context: alerts.append(text))]
    dag_run = dag.test()
    states = task_states(dag_run)
    assert states["dump"] == "failed" and states["verify"] == "upstream_failed" and states["retention"] == "success"
    assert states["watcher"] == "failed" and dag_run.state == "failed", "a failed backup must fail the DAG run"
    assert len(alerts) == 1 and "VECTOR LOSS in collection 'articles'" in alerts[0] and "384" in alerts[0]
    folders = [row["path"] for row in box.tree() if row["type"] == "folder" and row["path"].count("/") == 2]
    assert len(folders) == 1 and folders[0].endswith(".INCOMPLETE"), folders
    plan = dag_run.get_task_instance("retention").xcom_pull(task_ids="retention")
    assert plan["current_run_verified"] is False and plan["hold"]
    assert [d["delete"] for d in plan["decisions"]] == [False], "retention deletes nothing after a failed run"


def test_silent_corruption_fails_deep_verification_and_restore(stores) -> None:
    from airflow_provider_vectorbackup.check.snapshot import FAILED, VERIFIED, check_snapshot
    from airflow_provider_vectorbackup.hooks.connections import open_store

    astra, box = stores
    dag_run, ok = run("vector_backup")
    assert ok, task_states(dag_run)
    segment = next(row["path"] for row in box.tree() if row["path"].endswith("articles/part-00000.jsonl.gz"))
    box.corrupt_file(segment)  # bytes rot at rest; Box's recorded SHA-1 stays the same
    assert check_snapshot(BOX, "latest", "files", open_store=open_store).outcome == VERIFIED
    deep = check_snapshot(BOX, "latest", "records", open_store=open_store)
    assert deep.outcome == FAILED and "part-00000.jsonl.gz" in deep.message

    dag_run, ok = run("vector_restore", snapshot_id="latest", collections=[], target_prefix="restored_",
                      if_exists="fail")
    assert not ok and task_states(dag_run)["restore"] == "failed"
    assert AstraDBHook().get_conn().collection_definition("restored_articles") is None, "nothing may be written"


def test_the_restore_drill_restores_validates_and_cleans_up(stores) -> None:
    astra, _ = stores
    dag_run, ok = run("vector_backup")
    assert ok, task_states(dag_run)
    dag_run, ok = run("vector_restore_drill")
    assert ok, task_states(dag_run)
    report = dag_run.get_task_instance("restore").xcom_pull(task_ids="restore")
    assert report["ok"] and {c["target"] for c in report["collections"].values()} == {f"drill_{n}" for n in SIZES}
    assert all(c["recall_at_10"] == 1.0 for c in report["collections"].values())
    assert not any(AstraDBHook().get_conn().collection_definition(f"drill_{name}") for name in SIZES), "scratch dropped"
