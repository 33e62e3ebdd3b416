"""Which snapshot a task works on: a fixed id, ``"latest"``, or the one an upstream dump reported in XCom."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.providers.common.compat.sdk import AirflowFailException

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


def resolve_snapshot_id(context: Context, snapshot_id: str, dump_task_id: str | None) -> str:
    """``snapshot_id`` unless ``dump_task_id`` names a dump, whose XCom summary then decides."""
    if dump_task_id is None:
        return snapshot_id
    summary = context["ti"].xcom_pull(task_ids=dump_task_id)
    if not summary or "snapshot_id" not in summary:
        raise AirflowFailException(f"task {dump_task_id!r} pushed no snapshot summary to XCom; did it succeed?")
    return summary["snapshot_id"]
