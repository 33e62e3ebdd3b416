"""Migrate collections from one engine to another through a verified snapshot, with the plan checked first.

Takes a snapshot of the collections in the source engine (``SOURCE_CONN_ID``), computes how they
translate into the target engine (``TARGET_CONN_ID``) without writing anything, stops if the plan
needs a lossy step that the ``allow_lossy`` param does not allow, then restores into the target
under new names and proves the result (counts, digest of what was sent, recall@10). The snapshot
stays in Box: the way back, and the proof of what was migrated. Trigger it by hand. Edit the two
connection ids to your engines; any pair works (docs/restore.md, "Restoring into another engine").
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from airflow.sdk import DAG, Param, task
from airflow.providers.common.compat.sdk import AirflowException

from airflow_provider_vectorbackup.operators.dump import VectorDumpOperator
from airflow_provider_vectorbackup.operators.restore import RestoreOperator

SOURCE_CONN_ID = "astra_default"
TARGET_CONN_ID = "qdrant_default"
BOX_FOLDER = "vector-migrations"

log = logging.getLogger(__name__)

with DAG(
    dag_id="vector_migrate",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,
    tags=["vector-backup", "migration"],
    doc_md=__doc__,
    params={
        "collections": Param([], type="array", description="Collections to migrate; empty means all"),
        "target_prefix": Param("migrated_", type="string", description="Prefix of the names in the target"),
        "allow_lossy": Param([], type="array", description="Lossy steps allowed, e.g. drop-sparse (docs/restore.md)"),
    },
) as dag:
    snapshot = VectorDumpOperator(
        task_id="snapshot",
        source_conn_id=SOURCE_CONN_ID,
        box_folder=BOX_FOLDER,
        collections="{{ params.collections or None }}",
    )
    plan = RestoreOperator(
        task_id="plan",
        source_conn_id=TARGET_CONN_ID,
        box_folder=BOX_FOLDER,
        dump_task_id="snapshot",
        target_prefix="{{ params.target_prefix }}",
        allow_lossy="{{ params.allow_lossy }}",
        plan_only=True,  # downloads and verifies the snapshot, plans, writes nothing
    )

    @task
    def check_plan(report: dict[str, Any]) -> dict[str, list[str]]:
        """Fail before writing if a collection's plan is refused; log and return what each one changes."""
        refused = {name: r["translation"]["refused"] for name, r in report["collections"].items()
                   if r["translation"]["refused"]}
        if refused:
            raise AirflowException(f"the migration plan is refused, nothing was written: {refused}. Allow a lossy "
                                   "step with the allow_lossy param only if you accept what it loses")
        changes = {name: [f"{s['class']}: {s['part']} {s['name']}: {s['change']}"
                          for s in r["translation"]["steps"] if s["class"] != "exact"]
                   for name, r in report["collections"].items()}
        for name, lines in changes.items():
            log.info("%s: %s", name, "; ".join(lines) if lines else "every step exact")
        return changes

    migrate = RestoreOperator(
        task_id="migrate",
        source_conn_id=TARGET_CONN_ID,
        box_folder=BOX_FOLDER,
        dump_task_id="snapshot",
        target_prefix="{{ params.target_prefix }}",
        allow_lossy="{{ params.allow_lossy }}",
        if_exists="resume",  # a failed run retried continues where it stopped; the targets are new names
        min_recall=0.99,
    )

    checked = check_plan(plan.output)
    snapshot >> plan
    checked >> migrate
