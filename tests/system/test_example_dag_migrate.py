"""The migration example DAG with dag.test(): Data API collections (the stand-in) into a real local Qdrant, the
plan checked before anything is written."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from tests.system.test_example_dags import run, task_states


@pytest.fixture
def qdrant_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "qdrant"
    monkeypatch.setenv("AIRFLOW_CONN_QDRANT_DEFAULT", json.dumps({"conn_type": "qdrant", "extra": {"path": str(path)}}))
    return path


def qdrant_collections(path: Path) -> list[str]:
    """The collections of a local-mode Qdrant folder, read from its layout: the DAG's own client still holds it."""
    folder = path / "collection"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_collection_migrates_into_qdrant_after_its_plan_is_checked(
        airflow_db, astra_stand_in, astra_connection, box_stand_in, box_connection, qdrant_path) -> None:
    source = AstraDBHook().get_conn()
    source.create_collection("articles", {"vector": {"dimension": 8, "metric": "cosine"}})
    rng = random.Random(9)  # vectors of float32 values, as the Data API stores them
    assert source.insert_documents("articles", [
        {"_id": f"a-{i}", "title": f"article {i}", "$vector": [rng.randint(-32, 32) / 16 for _ in range(8)]}
        for i in range(40)]).ok
    # Qdrant keeps cosine vectors at unit length, and these are not: their lengths are lost, with consent
    dag_run, ok = run("vector_migrate", collections=["articles"], target_prefix="migrated_", allow_lossy=["normalize"])
    assert ok, task_states(dag_run)
    report = dag_run.get_task_instance("migrate").xcom_pull(task_ids="migrate")
    result = report["collections"]["articles"]
    assert report["ok"] and result["documents_restored"] == 40 and result["translation"]["target_engine"] == "qdrant"
    assert result["translation"]["lossy_documents"] == {"normalize": 40}
    changes = dag_run.get_task_instance("check_plan").xcom_pull(task_ids="check_plan")
    assert any("reversible: id _id" in line for line in changes["articles"]), changes
    assert qdrant_collections(qdrant_path) == ["migrated_articles"]


def test_a_plan_with_a_lossy_step_stops_the_migration_before_anything_is_written(
        airflow_db, astra_stand_in, astra_connection, box_stand_in, box_connection, qdrant_path) -> None:
    source = AstraDBHook().get_conn()
    source.create_collection("faq", {"vector": {"dimension": 4, "metric": "cosine"}})
    assert source.insert_documents("faq", [{"_id": f"q-{i}", "$vector": [1.0, 2.0, float(i), 0.5]}
                                           for i in range(12)]).ok  # not of unit length: Qdrant would lose it
    dag_run, ok = run("vector_migrate", collections=["faq"], target_prefix="migrated_", allow_lossy=[])
    states = task_states(dag_run)
    assert not ok and states["check_plan"] == "failed" and states["migrate"] != "success", states
    plan = dag_run.get_task_instance("plan").xcom_pull(task_ids="plan")
    assert plan["written"] is False and "--allow-lossy normalize" in str(plan["collections"]["faq"]["translation"])
    assert qdrant_collections(qdrant_path) == []
