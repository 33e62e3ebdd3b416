"""The scale-out example DAG (one mapped task per collection) run with dag.test() against the stand-ins."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_vectorbackup.check import check_stored
from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from airflow_provider_vectorbackup.hooks.box import BoxHook
from airflow_provider_vectorbackup.hooks.connections import open_store
from airflow_provider_vectorbackup.jobs.dump import dump_snapshot
from airflow_provider_vectorbackup.snapshot.layout import SnapshotState
from airflow_provider_vectorbackup.snapshot.manifest import Manifest
from airflow_provider_vectorbackup.check.snapshot import VERIFIED, check_snapshot
from airflow_provider_vectorbackup.stores.box.store import BoxStore
from airflow_provider_vectorbackup.stores.local import LocalStore
from airflow_provider_vectorbackup.testing import sample_data
from tests.conftest import requires_airflow
from tests.system.conftest import DAG_TEST_CALLBACK_EXCEPTION, load_dag
from tests.system.test_example_dags import BOX, KS, SIZES, run, semantically_equal

DAG_NAME = "vector_backup_mapped"


@pytest.fixture
def stores(airflow_db, astra_stand_in, astra_connection, box_stand_in, box_connection):
    sample_data.seed(astra_stand_in, SIZES)
    return astra_stand_in, box_stand_in


def states(dag_run) -> dict[str, str]:
    """Task states, mapped tasks by the collection their map index names (read afresh: the task set it)."""
    from airflow.utils.session import create_session

    out = {}
    with create_session() as session:
        instances = dag_run.get_task_instances(session=session)
    for ti in instances:
        out[f"{ti.task_id}[{ti.rendered_map_index}]" if ti.map_index >= 0 else ti.task_id] = ti.state
    return out


def box_store() -> BoxStore:
    return BoxStore.at_path(BoxHook().get_conn(), BOX.folder)


def promised(manifest: Manifest) -> dict[str, dict]:
    """Per collection, what a reader is promised: definition, counts, vectors, digest, warnings, status."""
    keep = ("status", "definition", "document_count", "vectors", "content_digest", "digest_algorithm", "embedding",
            "warnings", "error")
    return {c.name: {k: v for k, v in c.to_dict().items() if k in keep} for c in manifest.collections}


def test_the_mapped_backup_seals_one_verified_snapshot_equal_to_a_single_task_dump(stores, tmp_path: Path) -> None:
    astra, box = stores
    dag_run, ok = run(DAG_NAME)
    task_states = states(dag_run)
    assert ok, task_states
    assert task_states == {"plan": "success", "dump[articles]": "success", "dump[faq]": "success",
                           "dump[products]": "success", "commit": "success", "verify": "success",
                           "retention": "success", "watcher": "skipped"}
    summary = dag_run.get_task_instance("commit").xcom_pull(task_ids="commit")
    assert summary["status"] == "complete" and summary["store"] == "box"
    assert {name: c["documents"] for name, c in summary["collections"].items()} == SIZES
    report = dag_run.get_task_instance("verify").xcom_pull(task_ids="verify")
    assert report["ok"] and report["snapshot"] == summary["snapshot_id"]

    (stored,) = box_store().snapshots()
    assert stored.state is SnapshotState.COMPLETE and stored.snapshot_id == summary["snapshot_id"]
    assert check_snapshot(BOX, stored.snapshot_id, "records", open_store=open_store).outcome == VERIFIED
    manifest = box_store().read_manifest(stored)
    assert manifest.producer["dag_id"] == DAG_NAME and manifest.producer["task_id"] == "commit"
    single = dump_snapshot(AstraDBHook().get_conn(), LocalStore(tmp_path / "single"), "20260301T000000Z-single").manifest
    assert promised(manifest) == promised(single), "the same counts and content digests as a single-task dump"
    assert manifest.settings == single.settings and manifest.format_version == single.format_version == 1

    dag_run, ok = run("vector_restore", snapshot_id=stored.snapshot_id, collections=[], target_prefix="restored_",
                      if_exists="fail")
    assert ok, states(dag_run)
    for name in SIZES:
        semantically_equal(astra.dump_collection(KS, name), astra.dump_collection(KS, f"restored_{name}"),
                           vectorize=name == "faq")


@requires_airflow("3.2", DAG_TEST_CALLBACK_EXCEPTION)
def test_a_failed_collection_task_seals_the_snapshot_incomplete_and_alerts(stores) -> None:
    from airflow_provider_vectorbackup.notifications.vector_loss import vector_loss_callback

    astra, box = stores
    astra.regression_mode = True  # the server stops returning $vector: the guard fails both explicit-vector collections
    alerts: list[str] = []
    dag = load_dag(DAG_NAME)
    dag.get_task("dump").on_failure_callback = [vector_loss_callback(lambda text, context: alerts.append(text))]
    dag_run = dag.test()
    task_states = states(dag_run)
    assert task_states == {"plan": "success", "dump[articles]": "failed", "dump[faq]": "success",
                           "dump[products]": "failed", "commit": "failed", "verify": "upstream_failed",
                           "retention": "success", "watcher": "failed"}
    assert dag_run.state == "failed"
    assert sorted(a.splitlines()[0].split(" (")[0] for a in alerts) == [
        "VECTOR LOSS in collection 'articles'", "VECTOR LOSS in collection 'products'"], "one alert each, not retried"
    assert all("will be sealed INCOMPLETE by its commit task" in a for a in alerts)

    (stored,) = box_store().snapshots()
    assert stored.state is SnapshotState.INCOMPLETE, "never visible as complete, never left .inprogress"
    manifest = box_store().read_manifest(stored)
    by_name = {c.name: c for c in manifest.collections}
    assert manifest.status == "incomplete" and set(by_name) == set(SIZES)
    for name in ("articles", "products"):
        assert by_name[name].status == "failed" and by_name[name].error.startswith("VectorLossError: Vector loss")
        assert by_name[name].document_count == SIZES[name], "its finished segments stay listed"
    assert by_name["faq"].status == "complete" and by_name["faq"].document_count == SIZES["faq"]
    assert by_name["faq"].warnings, "$vectorize without vectors is a warning"
    report = check_stored(box_store(), stored, allow_incomplete=True)
    assert report.ok, report.problems
    plan = dag_run.get_task_instance("retention").xcom_pull(task_ids="retention")
    assert plan["current_run_verified"] is False and [d["delete"] for d in plan["decisions"]] == [False]
