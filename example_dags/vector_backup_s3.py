"""Nightly backup of an Astra keyspace to S3 under Object Lock: dump -> verify -> retention.

Reads the connections ``astra_default`` and ``aws_default`` (the amazon provider's ``aws`` type: the
access key id and secret as login and password, ``region_name`` and, for an S3-compatible store such
as MinIO, ``endpoint_url`` in the extra). The bucket must have been created with Object Lock enabled.
Each object is locked for ``POLICY.lock_days()`` days, the span for which the finest keep rule keeps a
snapshot, so a compromised worker cannot delete a backup retention still counts on; retention deletes
it once the lock has run out. Needs ``pip install "airflow-provider-vectorbackup[s3]"``. See
docs/stores.md and docs/connections.md.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, task
from airflow.providers.common.compat.sdk import AirflowException

from airflow_provider_vectorbackup.jobs.retention import RetentionPolicy
from airflow_provider_vectorbackup.notifications.vector_loss import vector_loss_callback
from airflow_provider_vectorbackup.operators.dump import VectorDumpOperator
from airflow_provider_vectorbackup.operators.retention import RetentionOperator
from airflow_provider_vectorbackup.sensors.manifest import ManifestVerifySensor

OBJECT_FOLDER = "s3://aws_default@vector-backups/nightly"  # s3://<connection id>@<bucket>/<prefix>
POLICY = RetentionPolicy(keep_last=7, keep_daily=14, keep_weekly=8, keep_monthly=12)

with DAG(
    dag_id="vector_backup_s3",
    schedule="@daily",  # one snapshot a day: each is locked exactly while the daily rule may keep it
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    tags=["vector-backup", "s3"],
    doc_md=__doc__,
) as dag:
    dump = VectorDumpOperator(
        task_id="dump",
        object_folder=OBJECT_FOLDER,
        object_lock_mode="governance",  # "compliance": not even the account's root user can delete early
        object_lock_days=POLICY.lock_days(),
        collections=None,  # every collection of the connection's keyspace
        retries=2,  # network trouble is retried; a vector-loss failure never is
        retry_delay=dt.timedelta(minutes=5),
        on_failure_callback=vector_loss_callback(),  # wrap a Slack/SMTP notifier here: vector_loss_callback(SmtpNotifier(...))
    )
    verify = ManifestVerifySensor(
        task_id="verify",
        object_folder=OBJECT_FOLDER,
        dump_task_id="dump",
        level="files",  # every file's size and the SHA-256 S3 verified on upload
        poke_interval=60,
        timeout=3600,
        mode="reschedule",
    )
    retention = RetentionOperator(
        task_id="retention",
        object_folder=OBJECT_FOLDER,
        dump_task_id="dump",
        verify_task_id="verify",
        keep_last=POLICY.keep_last,
        keep_daily=POLICY.keep_daily,
        keep_weekly=POLICY.keep_weekly,
        keep_monthly=POLICY.keep_monthly,
        trigger_rule="all_done",  # records a failed dump's snapshot too; a still-locked one is reported, kept
    )
    dump >> verify >> retention

    @task(trigger_rule="one_failed", retries=0)
    def watcher() -> None:
        """Fails the run when any task failed: retention runs regardless, and would otherwise decide the run's state."""
        raise AirflowException("a backup task failed: see the dump and verify tasks")

    [dump, verify, retention] >> watcher()
