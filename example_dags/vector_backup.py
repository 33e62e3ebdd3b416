"""Nightly backup of an Astra keyspace to Box: dump -> verify -> retention, with a vector-loss alert.

Copy it unchanged: it reads only the connections ``astra_default`` and ``box_default`` and this
file's constants. See docs/operators.md.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, task
from airflow.providers.common.compat.sdk import AirflowException

from airflow_provider_vectorbackup.notifications.vector_loss import vector_loss_callback
from airflow_provider_vectorbackup.operators.dump import VectorDumpOperator
from airflow_provider_vectorbackup.operators.retention import RetentionOperator
from airflow_provider_vectorbackup.sensors.manifest import ManifestVerifySensor

BOX_FOLDER = "vector-backups"

with DAG(
    dag_id="vector_backup",
    schedule="@daily",
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    tags=["vector-backup"],
    doc_md=__doc__,
) as dag:
    dump = VectorDumpOperator(
        task_id="dump",
        box_folder=BOX_FOLDER,
        collections=None,  # every collection of the connection's keyspace
        retries=2,  # network trouble is retried; a vector-loss failure never is
        retry_delay=dt.timedelta(minutes=5),
        on_failure_callback=vector_loss_callback(),  # wrap a Slack/SMTP notifier here: vector_loss_callback(SmtpNotifier(...))
    )
    verify = ManifestVerifySensor(
        task_id="verify",
        box_folder=BOX_FOLDER,
        dump_task_id="dump",
        level="files",
        poke_interval=60,
        timeout=3600,
        mode="reschedule",
    )
    retention = RetentionOperator(
        task_id="retention",
        box_folder=BOX_FOLDER,
        dump_task_id="dump",
        verify_task_id="verify",
        keep_last=7,
        keep_daily=14,
        keep_weekly=8,
        keep_monthly=12,
        trigger_rule="all_done",  # records a failed dump's snapshot too; deletes nothing unless this run verified
    )
    dump >> verify >> retention

    @task(trigger_rule="one_failed", retries=0)
    def watcher() -> None:
        """Fails the run when any task failed: retention runs regardless, and would otherwise decide the run's state."""
        raise AirflowException("a backup task failed: see the dump and verify tasks")

    [dump, verify, retention] >> watcher()
