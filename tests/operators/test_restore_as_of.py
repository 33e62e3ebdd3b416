"""RestoreOperator and RestorePlanOperator with ``as_of``: rendered from a template, refused when ambiguous."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from airflow_provider_vectorbackup.operators.restore import RestoreOperator
from airflow_provider_vectorbackup.operators.restore_scale_out import (
    RESTORE_PLAN_KEY, RestoreCommitOperator, RestorePlanOperator, SliceRestoreOperator,
)
from tests.airflow_context import RecordingTI, context_for
from tests.jobs.test_restore_as_of import INCOMPLETE, write
from tests.operators.test_scale_out import MappedTI

BEFORE, TAMPERED, AFTER = "20261129T020000Z", "20261130T010000Z", "20261130T030000Z"
INTERVAL_END = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.timezone.utc)  # renders as Airflow's pendulum one does


@pytest.fixture
def folder(tmp_path: Path) -> str:
    write(tmp_path, BEFORE, 11)
    write(tmp_path, TAMPERED, 12)
    (tmp_path / TAMPERED / "collections/articles/part-00000.jsonl.gz").write_bytes(b"tampered")
    write(tmp_path, INCOMPLETE, 13, fail=True)
    write(tmp_path, AFTER, 16)
    return str(tmp_path)


def rendered(operator: RestoreOperator, ti: RecordingTI | MappedTI) -> dict:
    context = {**context_for(ti), "data_interval_end": INTERVAL_END}
    operator.render_template_fields(context)
    return context


def test_as_of_rendered_from_the_data_interval_restores_the_snapshot_of_that_time(astra_stand_in, astra_connection,
                                                                                   folder: str) -> None:
    operator = RestoreOperator(task_id="restore", local_folder=folder, as_of="{{ data_interval_end }}",
                               target_prefix="asof_", validation_queries=2)
    assert operator.as_of == "{{ data_interval_end }}" and operator.snapshot_id is None
    context = rendered(operator, RecordingTI(task_id="restore"))
    assert operator.as_of == "2026-11-30 02:00:00+00:00"
    report = operator.execute(context)
    assert report["ok"] and report["snapshot_id"] == BEFORE
    assert report["as_of"]["requested"] == "2026-11-30T02:00:00Z"
    assert [s["snapshot_id"] for s in report["as_of"]["skipped"]] == [INCOMPLETE, TAMPERED]
    assert AstraDBHook().get_conn().count_documents("asof_articles").count == 11


def test_the_sliced_restore_plan_takes_as_of_and_its_commit_reports_the_choice(astra_stand_in, astra_connection,
                                                                               folder: str) -> None:
    xcoms: dict = {}
    plan = RestorePlanOperator(task_id="restore_plan", local_folder=folder, as_of="{{ data_interval_end }}",
                               target_prefix="sliced_", validation_queries=2, slices_per_collection=2)
    items = plan.execute(rendered(plan, MappedTI(xcoms, "restore_plan")))
    pushed = xcoms[("restore_plan", RESTORE_PLAN_KEY, -1)]["plan"]
    assert pushed["snapshot_id"] == BEFORE and pushed["as_of"]["chosen"] == BEFORE
    for index, item in enumerate(items):
        SliceRestoreOperator(task_id="restore_slice", collection=item).execute(
            context_for(MappedTI(xcoms, "restore_slice", index)))
    report = RestoreCommitOperator(task_id="restore_commit").execute(context_for(MappedTI(xcoms, "restore_commit")))
    assert report["ok"] and report["as_of"] == pushed["as_of"]
    assert AstraDBHook().get_conn().count_documents("sliced_articles").count == 11


def test_a_naive_time_and_a_time_before_every_snapshot_fail_the_task_without_retries(
        astra_stand_in, astra_connection, folder: str) -> None:
    naive = RestoreOperator(task_id="restore", local_folder=folder, as_of="2026-11-30T02:00")
    with pytest.raises(AirflowFailException, match="no time zone, so the moment it names is ambiguous"):
        naive.execute(context_for(RecordingTI(task_id="restore")))
    early = RestoreOperator(task_id="restore", local_folder=folder, as_of=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
                            target_prefix="early_")
    with pytest.raises(AirflowFailException, match=rf"(?s)2026-01-01T00:00:00Z.*oldest complete snapshot there is "
                                                   rf"{BEFORE}"):
        early.execute(context_for(RecordingTI(task_id="restore")))
    assert AstraDBHook().get_conn().collection_definition("early_articles") is None


@pytest.mark.parametrize("given, named", [({"snapshot_id": "latest"}, "snapshot_id"),
                                          ({"dump_task_id": "dump"}, "dump_task_id")])
def test_as_of_with_a_snapshot_id_or_a_dump_task_is_refused_when_the_dag_is_parsed(given: dict, named: str) -> None:
    with pytest.raises(ValueError, match=f"give as_of or {named}, not both"):
        RestoreOperator(task_id="restore", box_folder="b", as_of="2026-11-30T02:00Z", **given)
    with pytest.raises(ValueError, match=f"give as_of or {named}, not both"):
        RestorePlanOperator(task_id="restore_plan", box_folder="b", as_of="2026-11-30T02:00Z", **given)
    assert RestoreOperator(task_id="restore", box_folder="b").snapshot_id == "latest"  # the default, unchanged
