"""Nightly backup of a Qdrant to Box: dump -> verify -> retention, with a vector-loss alert.

Reads the connections ``qdrant_default`` (type ``qdrant``: host/port or the ``url`` extra, the API
key in the password; or the ``path`` extra for a local-mode folder that no other process has
open) and ``box_default``. See docs/sources.md, "Qdrant".
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, task
from airflow.providers.common.compat.sdk import AirflowException

from airflow_provider_vectorbackup.notifications.vector_loss import vector_loss_callback
from airflow_provider_vectorbackup.operators.dump import VectorDumpOperator
from airflow_provider_vectorbackup.operators.retention import RetentionOperator
from airflow_provider_vectorbackup.sensors.manifest import ManifestVerifySensor

BOX_FOLDER = "qdrant-backups"

with DAG(
    dag_id="example_qdrant_backup",
    schedule="@daily",
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    tags=["vector-backup", "qdrant"],
    doc_md=__doc__,
) as dag:
    dump = VectorDumpOperator(
        task_id="dump",
        source_conn_id="qdrant_default",
        box_folder=BOX_FOLDER,
        collections=None,  # every collection of that Qdrant
        retries=2,
        retry_delay=dt.timedelta(minutes=5),
        on_failure_callback=vector_loss_callback(),
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
        trigger_rule="all_done",  # deletes nothing unless this run verified
    )
    dump >> verify >> retention

    @task(trigger_rule="one_failed", retries=0)
    def watcher() -> None:
        """Fails the run when any task failed: retention runs regardless, and would otherwise decide the run's state."""
        raise AirflowException("a backup task failed: see the dump and verify tasks")

    [dump, verify, retention] >> watcher()
