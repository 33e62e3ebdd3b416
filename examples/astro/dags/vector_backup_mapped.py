"""Nightly backup of an Astra keyspace to Box, one task per collection: plan -> dump (mapped) -> commit -> verify -> retention.

The same snapshot as ``vector_backup`` makes, but each collection is dumped by its own mapped
task, so a Celery or Kubernetes executor spreads the collections over its workers. The commit
task writes the manifest and makes the snapshot visible, or seals it INCOMPLETE naming the
collections whose task failed.

Copy it unchanged: it reads only the connections ``astra_default`` and ``box_default`` and this
file's constants. See docs/scale-out.md.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, task
from airflow.providers.common.compat.sdk import AirflowException

from airflow_provider_vectorbackup.notifications.vector_loss import vector_loss_callback
from airflow_provider_vectorbackup.operators.scale_out import (
    CollectionDumpOperator, SnapshotCommitOperator, SnapshotPlanOperator,
)
from airflow_provider_vectorbackup.operators.retention import RetentionOperator
from airflow_provider_vectorbackup.sensors.manifest import ManifestVerifySensor

BOX_FOLDER = "vector-backups"
PARALLEL_COLLECTIONS = 4  # collection tasks of one run that may run at once (mind Box's upload rate limit)

with DAG(
    dag_id="vector_backup_mapped",
    schedule="@daily",
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    tags=["vector-backup"],
    doc_md=__doc__,
) as dag:
    plan = SnapshotPlanOperator(
        task_id="plan",
        box_folder=BOX_FOLDER,
        collections=None,  # every collection of the connection's keyspace
        retries=2,
        retry_delay=dt.timedelta(minutes=1),
    )
    dump = CollectionDumpOperator.partial(
        task_id="dump",
        plan_task_id="plan",
        retries=2,  # a retry first removes what the failed attempt uploaded; a vector-loss failure is never retried
        retry_delay=dt.timedelta(minutes=5),
        max_active_tis_per_dagrun=PARALLEL_COLLECTIONS,
        map_index_template="{{ task.collection }}",  # the UI lists the tasks by collection name
        on_failure_callback=vector_loss_callback(),  # wrap a Slack/SMTP notifier here: vector_loss_callback(SmtpNotifier(...))
    ).expand(collection=plan.output)
    commit = SnapshotCommitOperator(
        task_id="commit",
        box_folder=BOX_FOLDER,
        plan_task_id="plan",
        dump_task_id="dump",
        retries=2,  # trigger_rule="all_done" by default: it seals the snapshot whatever the collection tasks did
    )
    verify = ManifestVerifySensor(
        task_id="verify",
        box_folder=BOX_FOLDER,
        dump_task_id="commit",
        level="files",
        poke_interval=60,
        timeout=3600,
        mode="reschedule",
    )
    retention = RetentionOperator(
        task_id="retention",
        box_folder=BOX_FOLDER,
        dump_task_id="commit",
        verify_task_id="verify",
        keep_last=7,
        keep_daily=14,
        keep_weekly=8,
        keep_monthly=12,
        trigger_rule="all_done",  # records a failed run's snapshot too; deletes nothing unless this run verified
    )
    plan >> dump >> commit >> verify >> retention

    @task(trigger_rule="one_failed", retries=0)
    def watcher() -> None:
        """Fails the run when any task failed: retention runs regardless, and would otherwise decide the run's state."""
        raise AirflowException("a backup task failed: see the plan, dump, commit and verify tasks")

    [plan, dump, commit, verify, retention] >> watcher()
