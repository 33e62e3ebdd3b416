"""Weekly restore drill: restore the latest snapshot into scratch collections, validate, then drop them.

A backup that has never been restored is a hope. This DAG proves the latest snapshot restores
(counts, content digests, vector search recall) and cleans up after itself. See docs/restore.md.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, task

from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from airflow_provider_vectorbackup.operators.restore import RestoreOperator

BOX_FOLDER = "vector-backups"
SCRATCH_PREFIX = "drill_"  # every collection with this prefix belongs to the drill and is dropped after it

with DAG(
    dag_id="vector_restore_drill",
    schedule="@weekly",
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    tags=["vector-backup"],
    doc_md=__doc__,
) as dag:
    restore = RestoreOperator(
        task_id="restore",
        box_folder=BOX_FOLDER,
        snapshot_id="latest",
        target_prefix=SCRATCH_PREFIX,
        if_exists="replace",  # a leftover of an earlier drill is scratch data, never live data
        validation_queries=10,
    )

    @task(trigger_rule="all_done")
    def drop_scratch_collections() -> list[str]:
        """Drop what the drill restored, whether or not the restore or its validation passed."""
        hook = AstraDBHook().get_conn()
        targets = [c.name for c in hook.list_collections() if c.name.startswith(SCRATCH_PREFIX)]
        for target in targets:
            hook.drop_collection(target)
        return targets

    restore >> drop_scratch_collections()
