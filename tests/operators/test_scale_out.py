"""The scale-out operators' conventions and refusals (their runs are in tests/system/test_example_dag_mapped.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_vectorbackup.operators.assets import snapshot_asset
from airflow_provider_vectorbackup.operators.scale_out import (
    PLAN_KEY, CollectionDumpOperator, SnapshotCommitOperator, SnapshotPlanOperator,
)
from airflow_provider_vectorbackup.stores.spec import StoreSpec
from tests.airflow_context import RecordingTI, context_for

SNAPSHOT = "20260301T120000Z"


def test_operator_conventions() -> None:
    plan = SnapshotPlanOperator(task_id="plan", box_folder="b")
    assert plan.source_conn_id == "astra_default" and plan.box_conn_id == "box_default"
    assert {"snapshot_id", "box_folder", "local_folder", "collections", "keyspace"} <= set(plan.template_fields)
    assert plan.outlets == [], "the plan makes nothing visible"
    dump = CollectionDumpOperator(task_id="dump", collection="articles")
    assert dump.plan_task_id == "plan" and "collection" in dump.template_fields
    commit = SnapshotCommitOperator(task_id="commit", box_folder="b")
    assert commit.trigger_rule == "all_done" and (commit.plan_task_id, commit.dump_task_id) == ("plan", "dump")
    assert commit.outlets == [snapshot_asset(StoreSpec("box", "b"))], "the commit makes the snapshot visible"
    for make in (lambda: SnapshotPlanOperator("plan", "b"), lambda: SnapshotCommitOperator("commit", "b"),
                 lambda: CollectionDumpOperator("dump", "articles")):
        with pytest.raises(TypeError):
            make()  # keyword-only
    with pytest.raises(ValueError, match="exactly one of box_folder"):
        SnapshotCommitOperator(task_id="commit")


def test_the_dump_and_the_commit_refuse_to_run_without_a_plan() -> None:
    ti = RecordingTI(task_id="dump")
    with pytest.raises(AirflowFailException, match="'plan' pushed no snapshot plan"):
        CollectionDumpOperator(task_id="dump", collection="articles").execute(context_for(ti))
    ti = RecordingTI(task_id="commit")
    ti.xcoms[("plan", "snapshot_id")] = SNAPSHOT  # the plan failed after choosing its id
    with pytest.raises(AirflowFailException, match=f"planned no snapshot {SNAPSHOT}: it failed"):
        SnapshotCommitOperator(task_id="commit", box_folder="b").execute(context_for(ti))
    assert ti.xcoms[("commit", "snapshot_id")] == SNAPSHOT, "retention still learns of the snapshot"


def test_the_commit_refuses_another_folder_than_the_plan_began_the_snapshot_in(seeded, tmp_path: Path) -> None:
    ti = RecordingTI(task_id="plan")
    plan = SnapshotPlanOperator(task_id="plan", local_folder=str(tmp_path / "share"), snapshot_id=SNAPSHOT)
    assert plan.execute(context_for(ti)) == ["articles", "faq", "products"]
    assert ti.xcoms[("plan", PLAN_KEY)]["store"] == {"kind": "local", "folder": str(tmp_path / "share"),
                                                     "box_conn_id": "box_default", "box_folder_id": "0",
                                                     "object_lock_mode": None, "object_lock_days": None}
    ti.task_id = "commit"
    with pytest.raises(AirflowFailException, match="give both the same folder"):
        SnapshotCommitOperator(task_id="commit", local_folder=str(tmp_path / "other")).execute(context_for(ti))


class MappedTI(RecordingTI):
    """A RecordingTI that keeps XComs per map index, as Airflow does for a mapped task."""

    def __init__(self, shared: dict, task_id: str, map_index: int = -1) -> None:
        super().__init__(task_id=task_id)
        self.xcoms = shared
        self.map_index = map_index

    def xcom_push(self, key: str, value) -> None:
        self.xcoms[(self.task_id, key, self.map_index)] = value

    def xcom_pull(self, task_ids: str, key: str = "return_value", include_prior_dates: bool = False,
                  map_indexes=None):
        if map_indexes is None:
            return self.xcoms.get((task_ids, key, -1))
        return [self.xcoms.get((task_ids, key, index)) for index in map_indexes]


def test_plan_mapped_dumps_and_commit_through_xcom(seeded, tmp_path: Path) -> None:
    from airflow_provider_vectorbackup.operators.failures import VectorLossTaskFailure
    from airflow_provider_vectorbackup.operators.scale_out import RESULT_KEY

    astra, _ = seeded
    folder = str(tmp_path / "share")
    xcoms: dict = {}
    names = SnapshotPlanOperator(task_id="plan", local_folder=folder, snapshot_id=SNAPSHOT).execute(
        context_for(MappedTI(xcoms, "plan")))
    astra.regression_mode = True
    for index, name in enumerate(names):
        operator = CollectionDumpOperator(task_id="dump", collection=name)
        if name == "faq":
            summary = operator.execute(context_for(MappedTI(xcoms, "dump", index)))
            assert summary["status"] == "complete" and summary["documents"] == 10 and summary["warnings"]
            continue
        with pytest.raises(VectorLossTaskFailure) as failure:
            operator.execute(context_for(MappedTI(xcoms, "dump", index)))
        assert failure.value.facts["sealed_by_commit"] and failure.value.facts["failed_collections"] == [name]
        assert xcoms[("dump", RESULT_KEY, index)]["collection"]["status"] == "failed", "pushed before failing"
    commit = MappedTI(xcoms, "commit")
    with pytest.raises(AirflowFailException) as refused:
        SnapshotCommitOperator(task_id="commit", local_folder=folder).execute(context_for(commit))
    message = str(refused.value)
    assert message.startswith(f"snapshot {SNAPSHOT} was sealed INCOMPLETE at {folder}/{SNAPSHOT}.INCOMPLETE: "
                              f"2 of 3 collection(s) failed")
    assert "articles: VectorLossError: Vector loss" in message and "clear 'plan' with its downstream" in message
    assert xcoms[("commit", "snapshot_id", -1)] == SNAPSHOT
    assert (tmp_path / "share" / f"{SNAPSHOT}.INCOMPLETE" / "manifest.json").exists()
