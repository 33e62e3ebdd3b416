"""Restore collections from a Box snapshot into Astra, verified first and validated after. Trigger it by hand.

Params: which snapshot (an id or "latest"), which collections (empty: all), the prefix for the
restored collection names, and what to do when a target exists. Restoring in place over live
data needs an empty prefix and ``if_exists="replace"``. See docs/restore.md.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, Param

from airflow_provider_vectorbackup.operators.restore import RestoreOperator

BOX_FOLDER = "vector-backups"

with DAG(
    dag_id="vector_restore",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    render_template_as_native_obj=True,
    tags=["vector-backup"],
    doc_md=__doc__,
    params={
        "snapshot_id": Param("latest", type="string", description="Snapshot id, or latest"),
        "collections": Param([], type="array", description="Collections to restore; empty means all"),
        "target_prefix": Param("restored_", type=["string", "null"], description="Prefix of the restored names"),
        "if_exists": Param("fail", enum=["fail", "resume", "replace"], description="When a target exists"),
    },
) as dag:
    RestoreOperator(
        task_id="restore",
        box_folder=BOX_FOLDER,
        snapshot_id="{{ params.snapshot_id }}",
        collections="{{ params.collections or None }}",
        target_prefix="{{ params.target_prefix }}",
        if_exists="{{ params.if_exists }}",
        validation_queries=10,
    )
