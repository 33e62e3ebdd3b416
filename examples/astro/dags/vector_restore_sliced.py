"""Restore one large collection from a Box snapshot into Astra over 4 mapped tasks. Trigger it by hand.

The plan verifies the snapshot once, record by record, checks the target and creates it; each of
4 mapped tasks inserts a slice of the collection's segments (a failed one retries alone:
inserting is idempotent); the commit checks that the slices' counts and digests add up to the
manifest's and validates the target (read-back count, content digest, vector-search recall).
See docs/scale-out.md and docs/restore.md.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, Param

from airflow_provider_vectorbackup.operators.restore_scale_out import (
    RestoreCommitOperator, RestorePlanOperator, SliceRestoreOperator,
)

BOX_FOLDER = "vector-backups"
SLICES = 4

with DAG(
    dag_id="vector_restore_sliced",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    render_template_as_native_obj=True,
    tags=["vector-backup"],
    doc_md=__doc__,
    params={
        "snapshot_id": Param("latest", type="string", description="Snapshot id, or latest"),
        "collection": Param("articles", type="string", description="The collection to restore"),
        "target_prefix": Param("restored_", type=["string", "null"], description="Prefix of the restored name"),
        "if_exists": Param("fail", enum=["fail", "resume", "replace"], description="When the target exists"),
    },
) as dag:
    plan = RestorePlanOperator(
        task_id="restore_plan",
        box_folder=BOX_FOLDER,
        snapshot_id="{{ params.snapshot_id }}",
        collections=["{{ params.collection }}"],
        target_prefix="{{ params.target_prefix }}",
        if_exists="{{ params.if_exists }}",
        slices_per_collection=SLICES,
    )
    slices = SliceRestoreOperator.partial(
        task_id="restore_slice",
        plan_task_id="restore_plan",
        retries=2,  # a retry re-inserts its slice; documents already there count as present
        retry_delay=dt.timedelta(minutes=2),
        max_active_tis_per_dagrun=SLICES,
        map_index_template="{{ task.collection }}",
    ).expand(collection=plan.output)
    commit = RestoreCommitOperator(
        task_id="restore_commit",
        plan_task_id="restore_plan",
        slice_task_id="restore_slice",
    )
    plan >> slices >> commit
