"""The example DAGs, run with dag.test() against the stand-ins: backup, verify, retention, restore, drill."""

from __future__ import annotations

import pytest

from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from airflow_provider_vectorbackup.snapshot.similarity import vector_of
from airflow_provider_vectorbackup.testing import sample_data
from tests.system.conftest import load_dag

KS = sample_data.KEYSPACE
SIZES = {"articles": 400, "products": 120, "faq": 40}


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


def semantically_equal(source: list[dict], restored: list[dict], vectorize: bool) -> None:
    """Same ids, same fields and values, $vector equal as float32 whatever its encoding, EJSON equal."""
    assert sorted(d["_id"] for d in source) == sorted(d["_id"] for d in restored)
    restored_by_id = {repr(d["_id"]): d for d in restored}
    for original in source:
        copy = restored_by_id[repr(original["_id"])]
        assert vector_of(copy) == pytest.approx(vector_of(original), rel=1e-6) if "$vector" in original else True
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
    assert AstraDBHook().collection_definition("restored_articles") == astra.collection_options(KS, "articles")
