"""VectorDumpOperator and ManifestVerifySensor against the stand-ins (real hooks, real SDKs)."""

from __future__ import annotations

import asyncio

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException, TaskDeferred

import datetime as dt
from types import SimpleNamespace

from airflow_provider_vectorbackup.operators.assets import snapshot_asset
from airflow_provider_vectorbackup.operators.dump import VectorDumpOperator
from airflow_provider_vectorbackup.operators.snapshot_ids import default_snapshot_id
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
    assert operator.source_conn_id == "astra_default" and operator.box_conn_id == "box_default"
    assert {"snapshot_id", "box_folder", "collections", "keyspace"} <= set(operator.template_fields)
    run = SimpleNamespace(dag_id="team.vector_backup", run_after=dt.datetime(2026, 3, 1, 12, tzinfo=dt.timezone.utc))
    assert default_snapshot_id({"dag_run": run}) == "20260301T120000Z-team-vector_backup"
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
    assert set(again["collections"]) == {"articles", "products", "faq"}


def test_another_producers_snapshot_under_the_same_id_is_never_taken_for_ours(seeded) -> None:
    dump(collections=["articles"])
    ti = RecordingTI(dag_id="someone_elses_dag", task_id="dump")
    operator = VectorDumpOperator(task_id="dump", box_folder="backups/vectors", snapshot_id=SNAPSHOT)
    with pytest.raises(Exception, match="was made by vector_backup, not someone_elses_dag"):
        operator.execute(context_for(ti))


def test_a_failure_before_any_collection_still_seals_an_explained_incomplete_snapshot(seeded) -> None:
    _, box = seeded
    with pytest.raises(Exception, match=r"not found.*\['nope'\]"):
        dump(collections=["nope"])
    folders = [row["path"] for row in box.tree() if row["type"] == "folder" and "2026" in row["path"]]
    assert folders == [f"/backups/vectors/{SNAPSHOT}.INCOMPLETE"]
    manifest = box.read_file_bytes(f"/backups/vectors/{SNAPSHOT}.INCOMPLETE/manifest.json").decode()
    assert "UnknownCollectionsError" in manifest and "nope" in manifest


def test_verify_sensor_passes_a_good_snapshot_and_names_bad_files(seeded) -> None:
    astra, box = seeded
    summary, ti, _ = dump()
    ti.xcoms[("dump", "return_value")] = summary  # what Airflow does with execute's return value
    sensor = ManifestVerifySensor(task_id="verify", box_folder="backups/vectors", dump_task_id="dump")
    ti.task_id = "verify"
    result = sensor.poke(context_for(ti))
    assert result.is_done and result.xcom_value["ok"] is True
    for name in ("products/part-00000.jsonl.gz", "faq/part-00000.jsonl.gz"):
        box.corrupt_file(next(r["path"] for r in box.tree() if r["path"].endswith(name)))
    deep = ManifestVerifySensor(task_id="verify", box_folder="backups/vectors", snapshot_id=SNAPSHOT, level="records")
    with pytest.raises(AirflowFailException) as failed:
        deep.poke(context_for(ti))
    lines = str(failed.value).splitlines()
    assert [line for line in lines if line.endswith("[checksum_mismatch]")] == [
        next(line for line in lines if f"collections/{name}:" in line)
        for name in ("faq/part-00000.jsonl.gz", "products/part-00000.jsonl.gz")], "every bad file, a line each"


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
    assert event.payload["status"] == "success" and "sealed (complete)" in event.payload["message"]
    assert sensor.execute_complete(context_for(ti), event.payload)["ok"] is True  # verified on the worker
    with pytest.raises(AirflowFailException, match="Box unreachable"):
        sensor.execute_complete(context_for(ti), {"status": "error", "message": "Box unreachable"})


def test_a_templated_level_is_checked_when_the_task_runs() -> None:
    sensor = ManifestVerifySensor(task_id="verify", box_folder="b", level="{{ params.level }}")
    sensor.level = "thorough"  # what rendering produced
    with pytest.raises(AirflowFailException, match="level must be one of"):
        sensor.poke(context_for(RecordingTI()))


def test_an_incomplete_snapshot_fails_verification_unless_allowed(seeded) -> None:
    astra, _ = seeded
    astra.regression_mode = True
    with pytest.raises(Exception, match="Vector loss"):
        dump()
    sensor = ManifestVerifySensor(task_id="verify", box_folder="backups/vectors", snapshot_id=SNAPSHOT)
    with pytest.raises(AirflowFailException, match="INCOMPLETE"):
        sensor.poke(context_for(RecordingTI()))


def test_unknown_speed_and_compression_settings_fail_when_the_dag_is_parsed() -> None:
    with pytest.raises(ValueError, match="compression must be one of"):
        VectorDumpOperator(task_id="dump", box_folder="b", compression="brotli")
    with pytest.raises(ValueError, match="scan_mode must be one of"):
        VectorDumpOperator(task_id="dump", box_folder="b", scan_mode="fast")
    with pytest.raises(ValueError, match="scan_streams must be at least 1"):
        VectorDumpOperator(task_id="dump", box_folder="b", scan_streams=0)
    operator = VectorDumpOperator(task_id="dump", box_folder="b", compression="zstd", scan_mode="ranges")
    assert operator.compression == "zstd" and operator.scan_mode == "ranges"
