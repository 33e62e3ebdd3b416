"""Nightly backup of one large Astra collection to Box over 4 mapped tasks: plan -> dump (4 slices) -> commit -> verify.

The plan splits the collection into 4 slices by ``_id`` range; each slice is dumped by its own
mapped task, so a Celery or Kubernetes executor spreads them over its workers. A failed slice
retries alone, removing only what its earlier attempt stored. The commit joins the slices into
one collection (counts and content digests add up) and seals the snapshot, which every reader,
``verify`` and restore use unchanged.

Copy it unchanged: it reads only the connections ``astra_default`` and ``box_default`` and this
file's constants. See docs/scale-out.md.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG

from airflow_provider_vectorbackup.notifications.vector_loss import vector_loss_callback
from airflow_provider_vectorbackup.operators.scale_out import (
    CollectionDumpOperator, SnapshotCommitOperator, SnapshotPlanOperator,
)
from airflow_provider_vectorbackup.sensors.manifest import ManifestVerifySensor

BOX_FOLDER = "vector-backups"
COLLECTION = "articles"  # the large collection
SLICES = 4  # mapped tasks the collection is split over (fewer if the source offers fewer partitions)

with DAG(
    dag_id="vector_backup_sliced",
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
        collections=[COLLECTION],
        slices_per_collection=SLICES,
        retries=2,
        retry_delay=dt.timedelta(minutes=1),
    )
    dump = CollectionDumpOperator.partial(
        task_id="dump",
        plan_task_id="plan",
        retries=2,  # a retry removes only its own slice's files; a vector-loss failure is never retried
        retry_delay=dt.timedelta(minutes=5),
        max_active_tis_per_dagrun=SLICES,
        map_index_template="{{ task.collection }}",  # the UI lists the tasks as articles[0/4], articles[1/4], ...
        on_failure_callback=vector_loss_callback(),
    ).expand(collection=plan.output)
    commit = SnapshotCommitOperator(
        task_id="commit",
        box_folder=BOX_FOLDER,
        plan_task_id="plan",
        dump_task_id="dump",
        retries=2,  # trigger_rule="all_done": a failed slice makes the collection failed, the snapshot INCOMPLETE
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
    plan >> dump >> commit >> verify
