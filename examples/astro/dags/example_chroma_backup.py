"""Nightly backup of a Chroma database to Box: dump -> verify -> retention, with a vector-loss alert.

Reads the connections ``chroma_default`` (type ``chroma``: the ``path`` extra for a local
``PersistentClient`` folder on the worker, or host/port, the ``ssl`` extra and the token in Password
for a server) and ``box_default``. ``source_conn_id`` picks the engine by the connection's type, not
its id. Needs ``pip install "airflow-provider-vectorbackup[chroma]"``. See docs/connections.md and
docs/sources.md, "Chroma".
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, task
from airflow.providers.common.compat.sdk import AirflowException

from airflow_provider_vectorbackup.notifications.vector_loss import vector_loss_callback
from airflow_provider_vectorbackup.operators.dump import VectorDumpOperator
from airflow_provider_vectorbackup.operators.retention import RetentionOperator
from airflow_provider_vectorbackup.sensors.manifest import ManifestVerifySensor

SOURCE_CONN_ID = "chroma_default"
BOX_FOLDER = "chroma-backups"  # one folder per source, so a restore's "latest" is this source's latest

with DAG(
    dag_id="example_chroma_backup",
    schedule="@daily",
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,  # one dump at a time on a local folder (the path extra), which Chroma does not lock
    tags=["vector-backup", "chroma"],
    doc_md=__doc__,
) as dag:
    dump = VectorDumpOperator(
        task_id="dump",
        source_conn_id=SOURCE_CONN_ID,
        box_folder=BOX_FOLDER,
        collections=None,  # every collection of the connection's tenant and database
        retries=2,  # a dropped connection is retried; a vector-loss failure never is
        retry_delay=dt.timedelta(minutes=5),
        # Alerts only on vector loss (a declared vector field missing, converted or of another
        # dimension in the dumped documents), logged at ERROR; pass a Slack/SMTP notifier to send it:
        # vector_loss_callback(SmtpNotifier(...)). Other failures need your usual alerting, or
        # vector_loss_callback(alert_on_other_failures=True).
        on_failure_callback=vector_loss_callback(),
    )
    verify = ManifestVerifySensor(
        task_id="verify",
        box_folder=BOX_FOLDER,
        dump_task_id="dump",
        level="files",  # every file's size and SHA-256; "records" also reads every document back
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
