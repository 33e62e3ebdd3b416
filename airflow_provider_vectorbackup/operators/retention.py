"""RetentionOperator: prune this DAG's old snapshots in Box, never the last good one, never anyone else's."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_provider_vectorbackup.hooks.box import BoxHook
from airflow_provider_vectorbackup.operators.dump import SNAPSHOT_ID_KEY
from airflow_provider_vectorbackup.snapshot.errors import SnapshotError
from airflow_provider_vectorbackup.snapshot.layout import SnapshotState
from airflow_provider_vectorbackup.jobs.retention import RetentionPolicy, SnapshotRecord, plan_retention
from airflow_provider_vectorbackup.stores.base import SnapshotStore, StoredSnapshot
from airflow_provider_vectorbackup.stores.spec import StoreArguments

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

LEDGER_KEY = "snapshot_ledger"


def merge_ledgers(pulled: Any) -> dict[str, dict[str, bool]]:
    """One ledger from what XCom returns: a single ledger, or (with prior dates) a list of them, in any order.

    A snapshot counts as verified if any run recorded it so; Box decides later which still exist.
    """
    ledgers = pulled if isinstance(pulled, list) else [pulled]
    merged: dict[str, dict[str, bool]] = {}
    for ledger in ledgers:
        for snapshot_id, facts in (ledger or {}).items():
            verified = merged.get(snapshot_id, {}).get("verified", False) or bool(facts.get("verified"))
            merged[snapshot_id] = {"verified": verified}
    return merged


class RetentionOperator(StoreArguments, BaseOperator):
    """Apply a keep-last / daily / weekly / monthly policy to the snapshots this DAG made.

    Run it with ``trigger_rule="all_done"`` so a failed dump's snapshot still enters the ledger.
    Which snapshots are this DAG's comes from a ledger this task keeps in XCom (the ids its
    dumps reported, and which of them verified), checked against what Box actually holds and,
    for sealed snapshots, against the ``producer`` their manifest names. Box is the source of
    truth: a ledger entry whose folder is gone is dropped, and a folder no ledger knows is left
    alone. Nothing is deleted unless this run's snapshot verified.

    :param box_folder: path of the Box folder holding snapshots.
    :param local_folder: instead of Box, the local or mounted folder holding snapshots.
    :param dump_task_id: the ``VectorDumpOperator`` of this DAG (its XCom names this run's snapshot).
    :param verify_task_id: the ``ManifestVerifySensor`` that verified it.
    :param keep_last, keep_daily, keep_weekly, keep_monthly: the policy (see docs/retention.md).
    :param incomplete_grace: ``.INCOMPLETE`` and ``.inprogress`` folders younger than this are kept.
    :param dry_run: plan and log, delete nothing.

    Returns (XCom) the plan: every snapshot with keep or delete and why.
    """

    template_fields: Sequence[str] = ("box_folder", "local_folder")
    ui_color = "#ffe8d6"

    def __init__(
        self, *, box_folder: str | None = None, local_folder: str | None = None, dump_task_id: str = "dump",
        verify_task_id: str = "verify",
        keep_last: int = 7, keep_daily: int = 0, keep_weekly: int = 0, keep_monthly: int = 0,
        incomplete_grace: dt.timedelta = dt.timedelta(days=7), dry_run: bool = False,
        box_conn_id: str = BoxHook.default_conn_name, box_folder_id: str = "0", **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._set_store(box_folder, local_folder, box_conn_id, box_folder_id)  # a wrong combination fails at parse
        self.dump_task_id = dump_task_id
        self.verify_task_id = verify_task_id
        self.policy = RetentionPolicy(keep_last=keep_last, keep_daily=keep_daily, keep_weekly=keep_weekly,
                                      keep_monthly=keep_monthly, incomplete_grace=incomplete_grace)
        self.dry_run = dry_run

    def execute(self, context: Context) -> dict[str, Any]:
        ti = context["ti"]
        current = ti.xcom_pull(task_ids=self.dump_task_id, key=SNAPSHOT_ID_KEY)
        report = ti.xcom_pull(task_ids=self.verify_task_id) or {}
        # Only a passing report about this very snapshot counts (a sensor may have checked "latest" or another id).
        current_verified = bool(current and report.get("ok") and report.get("snapshot") == current)
        # Pull the previous ledger before pushing this run's: XComs of this task are cleared on retry.
        ledger = merge_ledgers(ti.xcom_pull(task_ids=self.task_id, key=LEDGER_KEY, include_prior_dates=True))
        if current:
            ledger[current] = {"verified": current_verified or ledger.get(current, {}).get("verified", False)}
        store = self.store_spec().open()
        stored = store.snapshots()
        present = {s.snapshot_id for s in stored}
        ledger = {sid: facts for sid, facts in ledger.items() if sid in present}
        ti.xcom_push(key=LEDGER_KEY, value=ledger)
        records = [SnapshotRecord(s.ref, ours=self._is_ours(store, s, ledger, context),
                                  verified=ledger.get(s.snapshot_id, {}).get("verified", False)) for s in stored]
        plan = plan_retention(records, self.policy, now=dt.datetime.now(dt.timezone.utc),
                              current_snapshot_id=current, current_run_verified=current_verified)
        self.log.info("Retention plan%s:\n%s", " (dry run)" if self.dry_run else "", plan.summary())
        by_id = {(s.snapshot_id, s.state): s for s in stored}
        for decision in plan.delete:
            if not self.dry_run:
                store.delete(by_id[(decision.record.ref.snapshot_id, decision.record.ref.state)])
        return {**plan.to_dict(), "dry_run": self.dry_run}

    def _is_ours(self, store: SnapshotStore, snapshot: StoredSnapshot, ledger: dict[str, Any],
                 context: Context) -> bool:
        if snapshot.snapshot_id not in ledger:
            return False
        if snapshot.state is SnapshotState.IN_PROGRESS:
            return True  # no manifest yet; the ledger is all there is
        try:
            producer = store.read_manifest(snapshot).producer or {}
        except SnapshotError:
            return True  # a damaged snapshot of ours is still ours to clean up after the grace period
        return producer.get("dag_id") in (None, context["ti"].dag_id)
