"""The operators, the sensor and its trigger, and retention on the moto S3 server through object_folder.

The store itself is tested in tests/stores/; here the Airflow layer: the URL reaches the store through
the ``aws`` connection, the lock arguments reach every object, and no secret of the connection leaks.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_vectorbackup.operators.assets import snapshot_asset
from airflow_provider_vectorbackup.operators.dump import VectorDumpOperator
from airflow_provider_vectorbackup.operators.retention import RetentionOperator
from airflow_provider_vectorbackup.sensors.manifest import ManifestVerifySensor
from airflow_provider_vectorbackup.triggers.manifest import ManifestVerifyTrigger
from tests.airflow_context import RecordingTI, context_for
from tests.engines.s3 import LOCKED_BUCKET, S3Server

CANARY = "canary-aws-secret-7d1c"
CONN_ID = "aws_canary"
BUCKET = LOCKED_BUCKET  # versioned, with no default retention: nothing is locked unless the operator asks


@pytest.fixture
def sources(astra_stand_in, astra_connection, s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """Small collections in the Astra stand-in, and an ``aws`` connection to moto whose secret is a canary."""
    from airflow_provider_vectorbackup.testing import sample_data

    sample_data.seed(astra_stand_in, {"articles": 30, "faq": 5})
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(
        {**s3.connection(), "password": CANARY}))  # moto accepts any secret
    return s3


def dump(ti: RecordingTI, folder: str, snapshot_id: str, **lock) -> dict:
    ti.task_id = "dump"
    operator = VectorDumpOperator(task_id="dump", object_folder=folder, snapshot_id=snapshot_id, **lock)
    summary = operator.execute(context_for(ti))
    ti.xcoms[("dump", "return_value")] = summary  # what Airflow does with execute's return value
    return summary


def test_dump_verify_and_prune_through_an_object_folder(sources: S3Server) -> None:
    folder = f"s3://{CONN_ID}@{BUCKET}/nightly"
    ti = RecordingTI()
    dump(ti, folder, "20260301T000000Z")
    ti.task_id = "prune"  # yesterday's run: its ledger learns of the first snapshot (unverified: nothing deleted)
    RetentionOperator(task_id="prune", object_folder=folder, keep_last=1).execute(context_for(ti))
    summary = dump(ti, folder, "20260302T000000Z")
    assert summary["store"] == "object" and summary["path"] == f"{folder}/20260302T000000Z"
    assert VectorDumpOperator(task_id="d", object_folder=folder).outlets == [snapshot_asset(
        VectorDumpOperator(task_id="d", object_folder=folder).store_spec())]
    assert snapshot_asset(VectorDumpOperator(task_id="d", object_folder=folder).store_spec()).uri == \
        f"s3://{BUCKET}/nightly"

    ti.task_id = "verify"
    sensor = ManifestVerifySensor(task_id="verify", object_folder=folder, dump_task_id="dump")
    report = sensor.poke(context_for(ti))
    assert report.is_done and report.xcom_value["ok"] and report.xcom_value["snapshot"] == "20260302T000000Z"
    ti.xcoms[("verify", "return_value")] = report.xcom_value

    ti.task_id = "prune"
    plan = RetentionOperator(task_id="prune", object_folder=folder, keep_last=1).execute(context_for(ti))
    assert [d["snapshot_id"] for d in plan["decisions"] if d["delete"]] == ["20260301T000000Z"]
    keys = {o["Key"] for o in sources.client().list_objects_v2(Bucket=BUCKET).get("Contents", [])}
    assert keys and all(key.startswith("nightly/20260302T000000Z/") for key in keys)
    assert CANARY not in json.dumps(list(ti.xcoms.items()), default=str)


def test_the_lock_arguments_lock_every_object_and_the_deferred_sensor_finds_the_snapshot(sources: S3Server) -> None:
    folder = f"s3://{CONN_ID}@{LOCKED_BUCKET}/nightly"
    ti = RecordingTI(task_id="verify")
    sensor = ManifestVerifySensor(task_id="verify", object_folder=folder, snapshot_id="20260301T000000Z",
                                  deferrable=True, poke_interval=0.01)
    with pytest.raises(TaskDeferred) as deferred:  # nothing there yet: wait in the triggerer
        sensor.execute(context_for(ti))
    _, trigger_kwargs = deferred.value.trigger.serialize()
    assert CANARY not in json.dumps(trigger_kwargs)

    dump(ti, folder, "20260301T000000Z", object_lock_mode="governance", object_lock_days=2)
    event = asyncio.run(anext(ManifestVerifyTrigger(**trigger_kwargs).run()))
    assert event.payload["status"] == "success", event.payload
    assert sensor.execute_complete(context_for(ti), event.payload)["ok"] is True

    client = sources.client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=LOCKED_BUCKET)["Contents"]]
    assert any(key.endswith("/manifest.json") for key in keys)
    soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)
    for key in keys:
        if key.endswith("/.inprogress"):
            continue
        head = client.head_object(Bucket=LOCKED_BUCKET, Key=key)
        assert head["ObjectLockMode"] == "GOVERNANCE", key
        assert abs(head["ObjectLockRetainUntilDate"] - soon) < dt.timedelta(minutes=10), key


def test_no_secret_of_the_connection_reaches_the_spec_messages_or_errors(sources: S3Server) -> None:
    operator = VectorDumpOperator(task_id="dump", object_folder=f"s3://{CONN_ID}@no-such-bucket/x",
                                  snapshot_id="20260301T000000Z")
    spec = operator.store_spec()
    assert CANARY not in json.dumps(spec.to_dict())
    from airflow_provider_vectorbackup.hooks.connections import open_store

    assert CANARY not in open_store(spec).describe()
    with pytest.raises(Exception) as failed:
        operator.execute(context_for(RecordingTI(task_id="dump")))
    chain, error = [], failed.value
    while error is not None:
        chain.append(f"{type(error).__name__}: {error!r} {error}")
        error = error.__cause__ or error.__context__
    assert CANARY not in "\n".join(chain)
