"""The scale-out restore on Airflow: a plan task, one mapped task per slice of a collection, and one commit task.

.. code-block:: python

    plan = RestorePlanOperator(task_id="restore_plan", box_folder="vector-backups", slices_per_collection=4)
    slices = SliceRestoreOperator.partial(task_id="restore_slice").expand(collection=plan.output)
    commit = RestoreCommitOperator(task_id="restore_commit")
    slices >> commit

The plan verifies the snapshot once and creates the targets; each mapped task inserts its slice's
segments (a retry re-inserts safely); the commit reconciles the slices with the manifest and
validates every target. See docs/scale-out.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, BaseOperator

from airflow_provider_vectorbackup.hooks.connections import keys_from, open_store
from airflow_provider_vectorbackup.hooks.source import UNUSABLE_SOURCE, VectorSourceHook
from airflow_provider_vectorbackup.jobs.as_of import NoSnapshotAsOf
from airflow_provider_vectorbackup.jobs.models import ModelMismatch, embedding_models_argument
from airflow_provider_vectorbackup.jobs.restore import RestoreNotValidated, RestoreOptions, RestoreRefused
from airflow_provider_vectorbackup.jobs.restore_scale_out import (
    RestorePlan, commit_restore, plan_restore, restore_slice,
)
from airflow_provider_vectorbackup.keys import (
    KeyConfigurationError, identities_from_connection, verifier_from_connection,
)
from airflow_provider_vectorbackup.operators.restore import RestoreOperator
from airflow_provider_vectorbackup.stores.spec import StoreSpec

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

RESTORE_PLAN_KEY = "restore_plan"
"""XCom key of the restore plan task: the plan and the configuration every slice task and the commit use."""

SLICE_REPORT_KEY = "slice_report"
"""XCom key of each slice task: what it read and inserted, pushed even when an insert failed."""

_OPTIONS = ("allow_incomplete", "chunk_size", "concurrency", "read_streams", "validation_queries", "min_recall",
            "scan_mode")


class RestorePlanOperator(RestoreOperator):
    """Begin a restore that mapped tasks carry out, one per slice of a collection; returns the work items.

    Takes every argument of :class:`~airflow_provider_vectorbackup.operators.restore.RestoreOperator`
    and refuses what it refuses, before anything is written: the snapshot is downloaded and
    verified record by record once, here, and every target is checked and then created.

    :param slices_per_collection: split each collection's segments into up to this many slices, one
        mapped task each (default 4; a collection with fewer segments gets fewer).

    Returns (XCom) the work items ``<collection>[<slice>/<slices>]``, for
    ``SliceRestoreOperator.partial(...).expand(collection=plan.output)``.

    .. seealso:: docs/scale-out.md
    """

    def __init__(self, *, slices_per_collection: int = 4, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(slices_per_collection, int) or slices_per_collection < 1:
            raise ValueError(f"slices_per_collection must be a whole number of tasks, 1 or more, not "
                             f"{slices_per_collection!r}")
        self.slices_per_collection = slices_per_collection

    def execute(self, context: Context) -> list[str]:
        spec = self.store_spec()
        snapshot_id, as_of = self._which_snapshot(context)
        try:
            values = {k: getattr(self, k) for k in (*_OPTIONS, "staging_dir")}
            options = _options(values, self.encryption_conn_id, self.signing_conn_id,
                               collections=self.collections, target_prefix=self.target_prefix,
                               name_mapping=self.name_mapping, if_exists=self.if_exists, as_of=as_of,
                               embedding_models=embedding_models_argument(self.embedding_models),
                               allow_model_change=self.allow_model_change)
            plan = plan_restore(open_store(spec), snapshot_id, self.source_hook.get_conn(), options,
                                slices_per_collection=self.slices_per_collection)
        except (RestoreRefused, NoSnapshotAsOf, KeyConfigurationError, ModelMismatch, *UNUSABLE_SOURCE) as exc:
            raise AirflowFailException(str(exc)) from None
        context["ti"].xcom_push(key=RESTORE_PLAN_KEY, value={
            "plan": plan.to_dict(), "store": spec.to_dict(), "source_conn_id": self.source_conn_id,
            "target_keyspace": self.target_keyspace, "signing_conn_id": self.signing_conn_id,
            "encryption_conn_id": self.encryption_conn_id, "options": {k: getattr(self, k) for k in _OPTIONS},
            "staging_dir": self.staging_dir})
        return plan.work_items


def _options(values: dict[str, Any], encryption_conn_id: str | None, signing_conn_id: str | None,
             **more: Any) -> RestoreOptions:
    return RestoreOptions(**{k: values[k] for k in _OPTIONS}, staging_dir=values.get("staging_dir"),
                          identities=keys_from(identities_from_connection, encryption_conn_id),
                          verifier=keys_from(verifier_from_connection, signing_conn_id), **more)


class _FromPlan(BaseOperator):
    """Reads the restore plan and the configuration its plan task pushed."""

    def _planned(self, context: Context, plan_task_id: str) -> tuple[dict[str, Any], RestorePlan, RestoreOptions]:
        config = context["ti"].xcom_pull(task_ids=plan_task_id, key=RESTORE_PLAN_KEY)
        if not config:
            raise AirflowFailException(f"task {plan_task_id!r} pushed no restore plan to XCom; did it succeed? "
                                       f"Nothing of this restore was written before it did")
        values = dict(config["options"], staging_dir=getattr(self, "staging_dir", None) or config["staging_dir"])
        try:
            options = _options(values, config["encryption_conn_id"], config["signing_conn_id"])
        except KeyConfigurationError as exc:
            raise AirflowFailException(str(exc)) from None
        return config, RestorePlan.from_dict(config["plan"]), options

    @staticmethod
    def _source(config: dict[str, Any]) -> Any:
        try:
            return VectorSourceHook(config["source_conn_id"], keyspace=config["target_keyspace"] or None).get_conn()
        except UNUSABLE_SOURCE as exc:
            raise AirflowFailException(str(exc)) from None


class SliceRestoreOperator(_FromPlan):
    """Insert one slice of a collection's segments into its target; meant to be mapped over the restore plan.

    Inserting is idempotent: a retry re-inserts the slice, counting what an earlier attempt wrote as
    ``already_present``. Its report (segments read, count, content digest, sample queries) is pushed
    to XCom (key ``slice_report``) for the commit, also when an insert failed; then the task fails.

    :param collection: the work item, normally mapped: ``.expand(collection=plan.output)``.
    :param plan_task_id: the :class:`RestorePlanOperator`.
    :param staging_dir: local folder for the downloaded snapshot (a local store is read in place).
    """

    template_fields: Sequence[str] = ("collection", "staging_dir")
    ui_color = "#b7e4c7"

    def __init__(self, *, collection: str, plan_task_id: str = "restore_plan", staging_dir: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.collection = collection
        self.plan_task_id = plan_task_id
        self.staging_dir = staging_dir

    def execute(self, context: Context) -> dict[str, Any]:
        config, plan, options = self._planned(context, self.plan_task_id)
        try:
            report = restore_slice(open_store(StoreSpec(**config["store"])), plan, self.collection,
                                   self._source(config), options)
        except (RestoreRefused, ValueError) as exc:  # not a planned slice, or the snapshot no longer fits the plan
            raise AirflowFailException(str(exc)) from None
        context["ti"].xcom_push(key=SLICE_REPORT_KEY, value=report)
        if not report["ok"]:
            raise AirflowException(f"slice {self.collection!r} could not insert every document "
                                   f"({len(report['failures'])} shown): {report['failures'][:3]}")
        return {k: report[k] for k in ("collection", "slice", "target", "documents", "inserted", "already_present")}


class RestoreCommitOperator(_FromPlan):
    """Reconcile every slice's report with the manifest, then validate each target (count, digest, recall).

    Runs once every slice task finished, whatever its state (``trigger_rule="all_done"``), so a
    missing or failed slice is reported by name. Returns (XCom) the same validation report as
    :class:`~airflow_provider_vectorbackup.operators.restore.RestoreOperator`, per collection.

    :param plan_task_id: the :class:`RestorePlanOperator`.
    :param slice_task_id: the mapped :class:`SliceRestoreOperator`.
    """

    ui_color = "#95d5b2"

    def __init__(self, *, plan_task_id: str = "restore_plan", slice_task_id: str = "restore_slice",
                 trigger_rule: str = "all_done", **kwargs: Any) -> None:
        super().__init__(trigger_rule=trigger_rule, **kwargs)
        self.plan_task_id = plan_task_id
        self.slice_task_id = slice_task_id

    def execute(self, context: Context) -> dict[str, Any]:
        config, plan, options = self._planned(context, self.plan_task_id)
        items = plan.work_items
        reports = (context["ti"].xcom_pull(task_ids=self.slice_task_id, key=SLICE_REPORT_KEY,
                                           map_indexes=list(range(len(items)))) if items else [])
        try:
            return commit_restore(open_store(StoreSpec(**config["store"])), plan, reports, self._source(config),
                                  options)
        except RestoreNotValidated as exc:
            raise AirflowFailException(str(exc)) from None
