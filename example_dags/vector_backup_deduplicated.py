"""Nightly deduplicated backup of an Astra keyspace to Box: each night uploads only what changed.

dump (deduplicate=True) -> verify (files, plus a seventh of the packs read in full, a different seventh each
weekday) -> retention (which then frees the packs no remaining snapshot uses), with a vector-loss alert.
Every snapshot still restores alone with the vector_restore DAG. Copy it unchanged: it reads only the
connections ``astra_default`` and ``box_default`` and this file's constants. See docs/format.md, section 12.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, task
from airflow.providers.common.compat.sdk import AirflowException

from airflow_provider_vectorbackup.notifications.vector_loss import vector_loss_callback
from airflow_provider_vectorbackup.operators.dump import VectorDumpOperator
from airflow_provider_vectorbackup.operators.retention import RetentionOperator
from airflow_provider_vectorbackup.sensors.manifest import ManifestVerifySensor

BOX_FOLDER = "vector-backups-deduplicated"

with DAG(
    dag_id="vector_backup_deduplicated",
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
        deduplicate=True,  # documents stored once per store: tonight's upload is what changed since last night
        retries=2,  # network trouble is retried; a vector-loss failure never is
        retry_delay=dt.timedelta(minutes=5),
        on_failure_callback=vector_loss_callback(),  # wrap a Slack/SMTP notifier here: vector_loss_callback(SmtpNotifier(...))
    )
    verify = ManifestVerifySensor(
        task_id="verify",
        box_folder=BOX_FOLDER,
        dump_task_id="dump",
        level="files",
        read_data_subset="{{ logical_date.isoweekday() }}/7",  # every pack is read in full once a week
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
        collect_garbage=True,  # after deleting, free the packs no remaining snapshot uses
        trigger_rule="all_done",  # records a failed dump's snapshot too; deletes nothing unless this run verified
    )
    dump >> verify >> retention

    @task(trigger_rule="one_failed", retries=0)
    def watcher() -> None:
        """Fails the run when any task failed: retention runs regardless, and would otherwise decide the run's state."""
        raise AirflowException("a backup task failed: see the dump and verify tasks")

    [dump, verify, retention] >> watcher()
