"""RetentionOperator: prune this DAG's old snapshots in Box, never the last good one, never anyone else's."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_provider_vectorbackup.hooks.box import BoxHook
from airflow_provider_vectorbackup.hooks.connections import open_store
from airflow_provider_vectorbackup.jobs.retention import RetentionOptions, RetentionPolicy, prune
from airflow_provider_vectorbackup.operators.snapshot_ids import SNAPSHOT_ID_KEY
from airflow_provider_vectorbackup.stores.spec import StoreArguments

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

LEDGER_KEY = "snapshot_ledger"


def merge_ledgers(pulled: Any) -> dict[str, dict[str, Any]]:
    """One ledger from what XCom returns: a single ledger, or (with prior dates) a list of them, in any order.

    A ledger maps the ids of snapshots this DAG's dumps reported to ``{}``: which of them exist is
    the store's to say, and which verify is the checker's (ledgers of earlier versions also carry a
    ``verified`` flag, which is no longer read).
    """
    ledgers = pulled if isinstance(pulled, list) else [pulled]
    return {snapshot_id: {} for ledger in ledgers for snapshot_id in (ledger or {})}


class RetentionOperator(StoreArguments, BaseOperator):
    """Apply a keep-last / daily / weekly / monthly policy to the snapshots this DAG made.

    Run it with ``trigger_rule="all_done"`` so a failed dump's snapshot still enters the ledger.
    Which snapshots are this DAG's follows the one ownership rule of :func:`.jobs.retention.prune`
    (also ``vectorbackup prune``'s): the ids this task's ledger in XCom holds (the ids its dumps
    reported) and, for sealed snapshots, a manifest whose ``producer`` names this DAG. The store is
    the source of truth: a ledger entry whose folder is gone is dropped, and a folder no ledger
    knows is left alone. Nothing is deleted unless this run's snapshot passes the checker's
    files-level verification, and nothing if the verify task found it bad.

    :param box_folder: path of the Box folder holding snapshots.
    :param local_folder: instead of Box, the local or mounted folder holding snapshots.
    :param object_folder: instead, an object store URL, ``s3://<conn_id>@bucket/prefix`` (also ``gs://``,
        ``abfs://``; docs/stores.md).
    :param dump_task_id: the ``VectorDumpOperator`` of this DAG (its XCom names this run's snapshot).
    :param verify_task_id: the ``ManifestVerifySensor`` that verified it: if its report finds this run's
        snapshot bad, nothing is deleted.
    :param keep_last, keep_daily, keep_weekly, keep_monthly: the policy (see docs/retention.md).
    :param incomplete_grace: ``.INCOMPLETE`` and ``.inprogress`` folders younger than this are kept.
    :param dry_run: plan and log, delete nothing; the XCom's ``garbage`` says what garbage collection would free.
    :param collect_garbage: after deleting, free the packs of deduplicated snapshots that no remaining snapshot
        uses (default True; skipped, and said so, while a deduplicating dump holds the store's lock).

    Returns (XCom) the plan: every snapshot with keep or delete and why.
    """

    template_fields: Sequence[str] = ("box_folder", "local_folder", "object_folder")
    ui_color = "#ffe8d6"

    def __init__(
        self, *, box_folder: str | None = None, local_folder: str | None = None, object_folder: str | None = None,
        dump_task_id: str = "dump",
        verify_task_id: str = "verify",
        keep_last: int = 7, keep_daily: int = 0, keep_weekly: int = 0, keep_monthly: int = 0,
        incomplete_grace: dt.timedelta = dt.timedelta(days=7), dry_run: bool = False, collect_garbage: bool = True,
        box_conn_id: str = BoxHook.default_conn_name, box_folder_id: str = "0", **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._set_store(box_folder, local_folder, box_conn_id, box_folder_id,
                        object_folder)  # a wrong combination fails at parse
        self.dump_task_id = dump_task_id
        self.verify_task_id = verify_task_id
        # Kept exactly as given, so `airflow tasks render` shows what was written.
        self.keep_last, self.keep_daily = keep_last, keep_daily
        self.keep_weekly, self.keep_monthly = keep_weekly, keep_monthly
        self.incomplete_grace = incomplete_grace
        self.dry_run = dry_run
        self.collect_garbage = collect_garbage
        self.retention_policy()  # a bad policy fails when the DAG is parsed

    def retention_policy(self) -> RetentionPolicy:
        """The policy from this task's arguments."""
        return RetentionPolicy(keep_last=self.keep_last, keep_daily=self.keep_daily, keep_weekly=self.keep_weekly,
                               keep_monthly=self.keep_monthly, incomplete_grace=self.incomplete_grace)

    def execute(self, context: Context) -> dict[str, Any]:
        ti = context["ti"]
        current = ti.xcom_pull(task_ids=self.dump_task_id, key=SNAPSHOT_ID_KEY)
        report = ti.xcom_pull(task_ids=self.verify_task_id) or {}
        # This run's snapshot counts only if the verify task passed on it: the sensor raises instead of pushing a
        # failing report, so a missing report (failed, timed out, skipped) or one about another snapshot withholds
        # every deletion. A pass is checked again by prune's own files-level check, never taken instead of it.
        passed = bool(current and report.get("ok") and report.get("snapshot") == current)
        failed = frozenset() if passed or not current else frozenset({current})
        # Pull the previous ledger before pushing this run's: XComs of this task are cleared on retry.
        ledger = merge_ledgers(ti.xcom_pull(task_ids=self.task_id, key=LEDGER_KEY, include_prior_dates=True))
        if current:
            ledger[current] = {}
        store = open_store(self.store_spec())
        present = {s.snapshot_id for s in store.snapshots()}
        ledger = {sid: facts for sid, facts in ledger.items() if sid in present}
        ti.xcom_push(key=LEDGER_KEY, value=ledger)
        plan = prune(store, RetentionOptions(policy=self.retention_policy(), owner=ti.dag_id, made=frozenset(ledger),
                                             current_snapshot_id=current, failed_checks=failed, dry_run=self.dry_run,
                                             collect_garbage=self.collect_garbage))
        return {**plan.to_dict(), "dry_run": self.dry_run}
