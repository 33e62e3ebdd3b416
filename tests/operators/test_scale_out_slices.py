"""One collection over four mapped tasks through the operators and XCom: dump (plan, slices, commit) then restore."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_provider_vectorbackup.check import verify
from airflow_provider_vectorbackup.operators.restore_scale_out import (
    SLICE_REPORT_KEY, RestoreCommitOperator, RestorePlanOperator, SliceRestoreOperator,
)
from airflow_provider_vectorbackup.operators.scale_out import (
    RESULT_KEY, CollectionDumpOperator, SnapshotCommitOperator, SnapshotPlanOperator,
)
from tests.airflow_context import context_for
from tests.jobs.test_scale_out_slices import DEFINITION, KEYSPACE, spread_documents
from tests.operators.test_scale_out import MappedTI

SNAPSHOT = "20260301T120000Z"


def test_one_collection_over_four_mapped_tasks_dumps_and_restores(astra_stand_in, astra_connection,
                                                                  tmp_path: Path) -> None:
    astra_stand_in.create_collection(KEYSPACE, "docs", DEFINITION)
    astra_stand_in.seed(KEYSPACE, "docs", spread_documents(400))
    folder = str(tmp_path / "share")
    xcoms: dict = {}
    items = SnapshotPlanOperator(task_id="plan", local_folder=folder, snapshot_id=SNAPSHOT, collections=["docs"],
                                 segment_max_bytes=20_000, slices_per_collection=4).execute(
        context_for(MappedTI(xcoms, "plan")))
    assert items == ["docs[0/4]", "docs[1/4]", "docs[2/4]", "docs[3/4]"]
    for index, item in enumerate(items):
        summary = CollectionDumpOperator(task_id="dump", collection=item).execute(
            context_for(MappedTI(xcoms, "dump", index)))
        assert summary["collection"] == "docs" and summary["slice"] == index
        assert xcoms[("dump", RESULT_KEY, index)]["slice"] == index
    summary = SnapshotCommitOperator(task_id="commit", local_folder=folder).execute(
        context_for(MappedTI(xcoms, "commit")))
    assert summary["status"] == "complete" and summary["collections"]["docs"]["documents"] == 400
    assert verify(Path(folder) / SNAPSHOT, "records").ok

    slices = RestorePlanOperator(task_id="restore_plan", local_folder=folder, snapshot_id=SNAPSHOT,
                                 target_prefix="back_", slices_per_collection=4, read_streams=3).execute(
        context_for(MappedTI(xcoms, "restore_plan")))
    assert slices == ["docs[0/4]", "docs[1/4]", "docs[2/4]", "docs[3/4]"]
    # Map index 1 "fails" (its report never arrives): the commit names it.
    for index, item in enumerate(slices):
        if index != 1:
            SliceRestoreOperator(task_id="restore_slice", collection=item).execute(
                context_for(MappedTI(xcoms, "restore_slice", index)))
    with pytest.raises(AirflowFailException, match=r"docs\[1/4\] reported nothing"):
        RestoreCommitOperator(task_id="restore_commit").execute(context_for(MappedTI(xcoms, "restore_commit")))
    # Its retry alone completes the restore.
    report = SliceRestoreOperator(task_id="restore_slice", collection="docs[1/4]").execute(
        context_for(MappedTI(xcoms, "restore_slice", 1)))
    assert report["inserted"] == xcoms[("restore_slice", SLICE_REPORT_KEY, 1)]["documents"] > 0
    result = RestoreCommitOperator(task_id="restore_commit").execute(context_for(MappedTI(xcoms, "restore_commit")))
    assert result["ok"] and result["collections"]["docs"]["documents_restored"] == 400
    assert result["collections"]["docs"]["scan"]["streams"] == 3  # the plan's read_streams reach the commit


def test_a_slice_task_without_a_plan_and_a_bad_slice_count_are_refused() -> None:
    with pytest.raises(AirflowFailException, match="'restore_plan' pushed no restore plan"):
        SliceRestoreOperator(task_id="restore_slice", collection="docs[0/2]").execute(
            context_for(MappedTI({}, "restore_slice", 0)))
    for make in (lambda: SnapshotPlanOperator(task_id="plan", box_folder="b", slices_per_collection=0),
                 lambda: RestorePlanOperator(task_id="restore_plan", box_folder="b", slices_per_collection=0)):
        with pytest.raises(ValueError, match="slices_per_collection must be a whole number"):
            make()
    assert issubclass(AirflowFailException, AirflowException)
