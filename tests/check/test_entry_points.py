"""Every way to verify a stored snapshot goes through the one checker: the same bad file, the same problem.

The sensor, ``vectorbackup verify``, restore's pre-check and the scale-out commit each meet a
snapshot with one segment missing, and each reports it in the checker's words. Old level names
keep working, with a deprecation warning.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_vectorbackup import cli
from airflow_provider_vectorbackup.check import LEVELS, Problem, check_stored, level_named, verify
from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from airflow_provider_vectorbackup.jobs.dump import DumpOptions
from airflow_provider_vectorbackup.jobs.scale_out import commit_snapshot, dump_collection, plan_snapshot
from airflow_provider_vectorbackup.jobs.restore import SnapshotUnusable, restore_snapshot
from airflow_provider_vectorbackup.sensors.manifest import ManifestVerifySensor
from airflow_provider_vectorbackup.stores.local import LocalStore
from tests.airflow_context import RecordingTI, context_for
from tests.cli.test_cli import run

SID = "20260301T000000Z"
LOST = "collections/articles/part-00001.jsonl.gz"
MISSING = Problem(LOST, "missing_file", "listed in the manifest but not in the snapshot")


def scale_out(root: Path, *, lose_before_commit: bool) -> LocalStore:
    """Snapshot SID written by the scale-out jobs into ``root``, with LOST removed before or after the commit."""
    store = LocalStore(root)
    plan = plan_snapshot(AstraDBHook().get_conn(), store, SID, DumpOptions(segment_max_bytes=20_000))
    results = [dump_collection(AstraDBHook().get_conn(), store, plan, name).result for name in plan.collections]
    if lose_before_commit:
        (root / f".{SID}.inprogress" / LOST).unlink()
    outcome = commit_snapshot(store, plan, results)
    if not lose_before_commit:
        (Path(outcome.snapshot.location) / LOST).unlink()
    return store


def test_one_missing_file_is_reported_identically_by_every_entry_point(seeded, tmp_path: Path) -> None:
    store = scale_out(tmp_path / "sealed", lose_before_commit=False)
    line = str(MISSING)

    for level in LEVELS:  # the sensor
        sensor = ManifestVerifySensor(task_id="verify", local_folder=str(store.root), snapshot_id=SID, level=level)
        with pytest.raises(AirflowFailException) as failed:
            sensor.poke(context_for(RecordingTI()))
        assert f"  - {line}" in str(failed.value).splitlines()

    for level in LEVELS:  # the CLI
        checked = run("verify", "--local-folder", str(store.root), SID, "--level", level, "--json")
        assert checked.returncode == cli.EXIT_INCOMPLETE
        problems = json.loads(checked.stdout)["problems"]
        assert problems[0] == MISSING.to_dict() and (level == "records" or len(problems) == 1), problems

    with pytest.raises(SnapshotUnusable) as refused:  # restore's pre-check
        restore_snapshot(store, SID, AstraDBHook().get_conn())
    assert f"  - {line}" in str(refused.value).splitlines()
    assert AstraDBHook().get_conn().collection_definition("articles") is not None  # the source, untouched; nothing restored

    committed = scale_out(tmp_path / "pending", lose_before_commit=True)  # the commit's reconcile
    manifest = committed.read_manifest(committed.get(SID))
    assert line in manifest.collection("articles").error


def test_the_report_of_one_level_is_the_same_from_check_stored_and_from_the_folder(seeded, tmp_path: Path) -> None:
    store = scale_out(tmp_path / "sealed", lose_before_commit=False)
    snapshot = store.get(SID)
    for level in LEVELS:
        in_store = check_stored(store, snapshot, level).to_dict()
        on_disk = verify(snapshot.location, level).to_dict()
        assert in_store["problems"] == on_disk["problems"] and in_store["problems"][0] == MISSING.to_dict(), level


def test_deep_is_a_deprecated_name_of_records(write_snapshot) -> None:
    result = write_snapshot()
    with pytest.warns(DeprecationWarning, match="'deep' is deprecated: use 'records'"):
        assert level_named("deep") == "records"
    with pytest.warns(DeprecationWarning, match="'deep' is deprecated"):
        report = verify(result.path, "deep")
    assert report.ok and report.level == "records" and report.documents_checked > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert level_named("records") == "records" and level_named("files") == "files"
    with pytest.raises(ValueError, match=r"level must be one of \('files', 'records'\), not 'shallow'"):
        level_named("shallow")


def test_the_sensor_takes_level_records_and_still_deep_with_a_warning(seeded, tmp_path: Path) -> None:
    scale_out(tmp_path / "share", lose_before_commit=False)
    with pytest.warns(DeprecationWarning, match="'deep' is deprecated"):
        sensor = ManifestVerifySensor(task_id="verify", local_folder=str(tmp_path / "share"), level="deep")
    assert sensor.level == "records"
    sensor.level = "deep"  # as a template renders it
    with pytest.warns(DeprecationWarning, match="'deep' is deprecated"), pytest.raises(AirflowFailException) as failed:
        sensor.poke(context_for(RecordingTI()))
    assert "records verification FAILED" in str(failed.value)
    sensor.level = "shallow"
    with pytest.raises(AirflowFailException, match="level must be one of"):
        sensor.poke(context_for(RecordingTI()))


def test_cli_verify_deep_is_level_records_with_a_deprecation_note(seeded, tmp_path: Path) -> None:
    scale_out(tmp_path / "share", lose_before_commit=False)
    store = ["--local-folder", str(tmp_path / "share")]
    records = run("verify", *store, SID, "--level", "records", "--json")
    deep = run("verify", *store, SID, "--deep", "--json")
    assert deep.returncode == records.returncode == cli.EXIT_INCOMPLETE
    assert json.loads(deep.stdout) == json.loads(records.stdout) and json.loads(deep.stdout)["level"] == "records"
    assert "--deep is deprecated: use --level records" in deep.stderr and "deprecated" not in records.stderr
    assert json.loads(run("verify", *store, SID, "--json").stdout)["level"] == "files", "files is the default"
    both = run("verify", *store, SID, "--deep", "--level", "files")
    assert both.returncode == cli.EXIT_USAGE and "--deep means --level records" in both.stderr
    assert cli.LEVELS == LEVELS, "the CLI names the checker's levels"
