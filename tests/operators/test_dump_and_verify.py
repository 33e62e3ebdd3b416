"""VectorDumpOperator and ManifestVerifySensor against the stand-ins (real hooks, real SDKs)."""

from __future__ import annotations

import asyncio

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

from airflow_provider_vectorbackup.operators.dump import DEFAULT_SNAPSHOT_ID, VectorDumpOperator, snapshot_asset
from airflow_provider_vectorbackup.sensors.manifest import ManifestVerifySensor
from airflow_provider_vectorbackup.stores.spec import StoreSpec
from airflow_provider_vectorbackup.triggers.manifest import ManifestVerifyTrigger
from tests.airflow_context import RecordingTI, context_for

SNAPSHOT = "20260301T120000Z"


def dump(**kwargs) -> tuple[dict, RecordingTI, dict]:
    ti = RecordingTI(task_id="dump")
    context = context_for(ti)
    operator = VectorDumpOperator(task_id="dump", box_folder="backups/vectors", snapshot_id=SNAPSHOT, **kwargs)
    return operator.execute(context), ti, context


def test_operator_conventions() -> None:
    operator = VectorDumpOperator(task_id="dump", box_folder="b")
    assert operator.astra_conn_id == "astra_default" and operator.box_conn_id == "box_default"
    assert {"snapshot_id", "box_folder", "collections", "keyspace"} <= set(operator.template_fields)
    assert operator.snapshot_id == DEFAULT_SNAPSHOT_ID and "logical_date" not in DEFAULT_SNAPSHOT_ID
    assert operator.outlets == [snapshot_asset(StoreSpec("box", "b"))]
    with pytest.raises(TypeError):
        VectorDumpOperator("dump", "b")  # keyword-only


def test_dump_returns_a_small_summary_and_emits_link_and_asset(seeded) -> None:
    astra, box = seeded
    summary, ti, context = dump()
    assert summary["snapshot_id"] == SNAPSHOT and summary["status"] == "complete"
    assert summary["path"] == f"backups/vectors/{SNAPSHOT}" and summary["store"] == "box"
    assert summary["collections"]["articles"]["documents"] == 120
    assert summary["collections"]["articles"]["documents_with_vector"] == 120
    assert len(summary["manifest_sha256"]) == 64 and len(summary["manifest_sha1"]) == 40
    manifest_row = next(r for r in box.tree() if r["path"].endswith(f"{SNAPSHOT}/manifest.json"))
    assert manifest_row["sha1"] == summary["manifest_sha1"]
    assert ti.xcoms[("dump", "snapshot_id")] == SNAPSHOT
    assert ti.xcoms[("dump", "box_folder_link")] == f"https://app.box.com/folder/{summary['location']}"
    assert context["outlet_events"][snapshot_asset(StoreSpec("box", "backups/vectors"))].extra["snapshot_id"] == SNAPSHOT
    assert len(str(summary)) < 2_000, "XCom stays small"


def test_a_repeated_run_reports_the_sealed_snapshot_instead_of_redoing_it(seeded) -> None:
    first, _, _ = dump()
    again, _, _ = dump()
    assert again["location"] == first["location"] and again["status"] == "complete"


def test_unknown_collections_are_named(seeded) -> None:
    with pytest.raises(Exception, match=r"not found.*\['nope'\]"):
        dump(collections=["nope"])


def test_verify_sensor_passes_a_good_snapshot_and_names_bad_files(seeded) -> None:
    astra, box = seeded
    summary, ti, _ = dump()
    ti.xcoms[("dump", "return_value")] = summary  # what Airflow does with execute's return value
    sensor = ManifestVerifySensor(task_id="verify", box_folder="backups/vectors", dump_task_id="dump")
    ti.task_id = "verify"
    result = sensor.poke(context_for(ti))
    assert result.is_done and result.xcom_value["ok"] is True
    path = next(r["path"] for r in box.tree() if r["path"].endswith("products/part-00000.jsonl.gz"))
    box.corrupt_file(path)
    deep = ManifestVerifySensor(task_id="verify", box_folder="backups/vectors", snapshot_id=SNAPSHOT, level="deep")
    with pytest.raises(AirflowFailException, match="products/part-00000.jsonl.gz"):
        deep.poke(context_for(ti))


def test_verify_sensor_defers_and_its_trigger_verifies(seeded) -> None:
    sensor = ManifestVerifySensor(task_id="verify", box_folder="backups/vectors", snapshot_id=SNAPSHOT,
                                  deferrable=True, poke_interval=0.01)
    ti = RecordingTI(task_id="verify")
    with pytest.raises(TaskDeferred) as deferred:  # nothing there yet: wait in the triggerer
        sensor.execute(context_for(ti))
    trigger = deferred.value.trigger
    assert isinstance(trigger, ManifestVerifyTrigger)
    classpath, kwargs = trigger.serialize()
    assert classpath.endswith("ManifestVerifyTrigger") and kwargs["snapshot_id"] == SNAPSHOT
    dump()
    event = asyncio.run(anext(ManifestVerifyTrigger(**kwargs).run()))
    assert event.payload["status"] == "success" and event.payload["report"]["ok"] is True
    assert sensor.execute_complete(context_for(ti), event.payload)["ok"] is True
    with pytest.raises(AirflowFailException, match="bad file"):
        sensor.execute_complete(context_for(ti), {"status": "error", "message": "bad file"})


def test_an_incomplete_snapshot_fails_verification_unless_allowed(seeded) -> None:
    astra, _ = seeded
    astra.regression_mode = True
    with pytest.raises(Exception, match="Vector loss"):
        dump()
    sensor = ManifestVerifySensor(task_id="verify", box_folder="backups/vectors", snapshot_id=SNAPSHOT)
    with pytest.raises(AirflowFailException, match="INCOMPLETE"):
        sensor.poke(context_for(RecordingTI()))
