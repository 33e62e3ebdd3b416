"""Which snapshot a task works on: the id a dump makes and pushes, a fixed id, ``"latest"``, or an upstream dump's."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_vectorbackup.snapshot.layout import new_snapshot_id

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

SNAPSHOT_ID_KEY = "snapshot_id"
"""XCom key under which a dump (or the scale-out plan and commit) pushes its snapshot id before any work."""


def default_snapshot_id(context: Context) -> str:
    """``<run_after>-<dag_id>``: ``run_after`` exists for every run (``logical_date`` is missing for manual and
    asset-triggered runs), and the DAG label keeps two DAGs sharing a store folder from colliding."""
    label = re.sub(r"[^A-Za-z0-9_-]", "-", context["dag_run"].dag_id)[:64]
    return new_snapshot_id(context["dag_run"].run_after, label=label)


def resolve_snapshot_id(context: Context, snapshot_id: str, dump_task_id: str | None) -> str:
    """``snapshot_id`` unless ``dump_task_id`` names a dump, whose XCom summary then decides."""
    if dump_task_id is None:
        return snapshot_id
    summary = context["ti"].xcom_pull(task_ids=dump_task_id)
    if not summary or "snapshot_id" not in summary:
        raise AirflowFailException(f"task {dump_task_id!r} pushed no snapshot summary to XCom; did it succeed?")
    return summary["snapshot_id"]
