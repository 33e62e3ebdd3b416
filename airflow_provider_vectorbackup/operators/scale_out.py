"""The scale-out dump on Airflow: a plan task, one mapped task per collection (or per slice of one), and one commit task.

.. code-block:: python

    plan = SnapshotPlanOperator(task_id="plan", box_folder="vector-backups")
    dump = CollectionDumpOperator.partial(task_id="dump").expand(collection=plan.output)
    commit = SnapshotCommitOperator(task_id="commit", box_folder="vector-backups")
    dump >> commit

The mapped tasks may run on different workers (Celery, Kubernetes); each uploads its collection
into the same ``.inprogress`` snapshot. With ``slices_per_collection=4`` on the plan, a large
collection is split over four mapped tasks (its slices), and the commit joins them. The commit writes the manifest and makes the snapshot
visible, or seals it INCOMPLETE naming the collections that failed. See docs/scale-out.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, BaseOperator

from airflow_provider_vectorbackup.sources.base import DEFAULT_STREAMS
from airflow_provider_vectorbackup.hooks.box import BoxHook
from airflow_provider_vectorbackup.hooks.connections import connection_settings, keys_from, open_store
from airflow_provider_vectorbackup.hooks.source import UNUSABLE_SOURCE, VectorSourceHook, source_conn_id_from
from airflow_provider_vectorbackup.jobs.collection import UnknownCollectionsError
from airflow_provider_vectorbackup.jobs.dump import DumpOptions
from airflow_provider_vectorbackup.jobs.outcome import summary_of
from airflow_provider_vectorbackup.jobs.scale_out import (
    SnapshotPlan, commit_snapshot, dump_work_item, parse_work_item, plan_snapshot,
)
from airflow_provider_vectorbackup.keys import encryption_from_connection, signer_from_connection
from airflow_provider_vectorbackup.operators.dump_arguments import DumpArguments
from airflow_provider_vectorbackup.operators.assets import report_snapshot, snapshot_asset
from airflow_provider_vectorbackup.operators.failures import VectorLossTaskFailure
from airflow_provider_vectorbackup.operators.links import BoxFolderLink
from airflow_provider_vectorbackup.operators.snapshot_ids import SNAPSHOT_ID_KEY, default_snapshot_id
from airflow_provider_vectorbackup.snapshot.errors import SnapshotStateError, VectorLossError
from airflow_provider_vectorbackup.snapshot.layout import check_snapshot_id
from airflow_provider_vectorbackup.snapshot.manifest import COLLECTION_FAILED, STATUS_COMPLETE
from airflow_provider_vectorbackup.snapshot.writer import DEFAULT_SEGMENT_MAX_BYTES
from airflow_provider_vectorbackup.stores.base import SnapshotExistsError
from airflow_provider_vectorbackup.stores.spec import StoreArguments, StoreSpec

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

PLAN_KEY = "snapshot_plan"
"""XCom key of the plan task: the snapshot plan and the configuration every mapped task and the commit use."""

RESULT_KEY = "collection_result"
"""XCom key of each mapped task: its collection's (or slice's) manifest entry, pushed even when it failed."""


def _pull_plan(context: Context, plan_task_id: str) -> dict[str, Any] | None:
    return context["ti"].xcom_pull(task_ids=plan_task_id, key=PLAN_KEY)


class SnapshotPlanOperator(StoreArguments, DumpArguments, BaseOperator):
    """Begin a snapshot that mapped tasks fill, one per collection or per slice; returns the work items to map over.

    It creates ``.<id>.inprogress`` in the store (removing leftovers of an earlier attempt at the
    same id) and lists the collections. It holds the backup's whole configuration: the mapped
    :class:`CollectionDumpOperator` tasks and the :class:`SnapshotCommitOperator` read it from this
    task's XCom (key ``snapshot_plan``), so every worker writes with the same settings.

    :param box_folder: path of the Box folder holding snapshots (created if missing).
    :param local_folder: instead of Box, a local or mounted folder; with workers on several
        machines it must be a shared file system that every worker mounts at this path.
    :param object_folder: instead, an object store URL, ``s3://<conn_id>@bucket/prefix`` (also ``gs://``,
        ``abfs://``; docs/stores.md).
    :param object_lock_mode: S3 only: ``"governance"`` or ``"compliance"``, to write every object under
        S3 Object Lock (the bucket must have Object Lock enabled); with ``object_lock_days``.
    :param object_lock_days: days each object stays locked, e.g. ``RetentionPolicy(...).lock_days()``.
    :param source_conn_id: connection of the source; its type picks the engine (``astra_db``, ``qdrant``,
        ``postgres``, ``chroma``, ``milvus``; docs/connections.md). Default ``astra_default``.
    :param astra_conn_id: deprecated old name of ``source_conn_id`` (a ``DeprecationWarning``; not both).
    :param box_conn_id: ``box`` connection of the store.
    :param box_folder_id: id of an existing folder under which ``box_folder`` is resolved (default root).
    :param keyspace: Astra only: overrides the connection's keyspace.
    :param collections: names to back up; ``None`` backs up every collection of the source.
    :param snapshot_id: templated; default ``<run_after as YYYYMMDDTHHMMSSZ>-<dag_id>``.
    :param segment_max_bytes: uncompressed size at which a segment rolls over.
    :param staging_dir: local folder for this task's scratch files (default: the system temp dir).
    :param max_missing_vector_fraction: the vector-loss guard's threshold (default 0.0).
    :param signing_conn_id: connection holding the key with which the commit signs ``manifest.json``.
    :param encryption_conn_id: connection whose ``recipients`` (public age keys) encrypt every collection.
    :param scan_streams: requests in flight per collection task (default 4).
    :param scan_mode: ``"auto"`` (by ``_id`` range when provably complete, default), ``"ranges"`` (by range,
        trusting that no id is a ``$uuid``/``$objectId``) or ``"single"`` (one scan).
    :param uploads_at_once: segments each collection task uploads concurrently while writing the next
        (default 2). How many collections run at once is the mapped task's ``max_active_tis_per_dagrun``.
    :param compression: ``"gzip"`` (default), ``"zstd"`` (the ``zstd`` extra on every worker) or ``"none"``.
    :param slices_per_collection: split each collection over up to this many mapped tasks (default 1: one
        task per collection), grouping the partitions its source offers (``scan_mode`` decides them); a
        collection the source cannot split stays one task.

    Returns (XCom) the work items, for ``.expand(collection=plan.output)``: a collection's name, or for a
    sliced one ``<name>[<slice>/<slices>]`` per slice; pushes the snapshot id (key ``snapshot_id``) before
    any work.

    .. seealso:: docs/scale-out.md
    """

    template_fields: Sequence[str] = ("snapshot_id", "box_folder", "local_folder", "object_folder", "keyspace",
                                      "collections", "staging_dir")
    ui_color = "#d8f3dc"

    def __init__(
        self, *, box_folder: str | None = None, local_folder: str | None = None,
        object_folder: str | None = None, object_lock_mode: str | None = None,
        object_lock_days: int | None = None,
        source_conn_id: str | None = None, astra_conn_id: str | None = None,
        box_conn_id: str = BoxHook.default_conn_name,
        box_folder_id: str = "0", keyspace: str | None = None, collections: list[str] | None = None,
        snapshot_id: str | None = None, segment_max_bytes: int = DEFAULT_SEGMENT_MAX_BYTES,
        staging_dir: str | None = None, max_missing_vector_fraction: float = 0.0,
        signing_conn_id: str | None = None, encryption_conn_id: str | None = None,
        scan_streams: int = DEFAULT_STREAMS, scan_mode: str = "auto", uploads_at_once: int = 2,
        compression: str = "gzip", slices_per_collection: int = 1, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._set_store(box_folder, local_folder, box_conn_id, box_folder_id, object_folder, object_lock_mode,
                        object_lock_days)  # a wrong combination fails at parse
        if not isinstance(slices_per_collection, int) or slices_per_collection < 1:
            raise ValueError(f"slices_per_collection must be a whole number of tasks, 1 or more, not "
                             f"{slices_per_collection!r}")
        self.slices_per_collection = slices_per_collection
        # Kept exactly as given, so templates render and `airflow tasks render` shows what was written.
        self.source_conn_id = source_conn_id_from(type(self).__name__, source_conn_id, astra_conn_id)
        self.keyspace = keyspace
        self.collections = collections
        self.snapshot_id = snapshot_id
        self.segment_max_bytes = segment_max_bytes
        self.staging_dir = staging_dir
        self.max_missing_vector_fraction = max_missing_vector_fraction
        self.signing_conn_id = signing_conn_id
        self.encryption_conn_id = encryption_conn_id
        self.scan_streams = scan_streams
        self.scan_mode = scan_mode
        self.uploads_at_once = uploads_at_once
        self.collections_at_once = 1  # one collection per mapped task
        self.compression = compression
        self.dump_options()  # a bad setting fails when the DAG is parsed; templated ones are checked when it runs

    def execute(self, context: Context) -> list[str]:
        snapshot_id = check_snapshot_id(self.snapshot_id or default_snapshot_id(context))
        ti = context["ti"]
        # Pushed before any work, so the commit and retention learn of this snapshot even if planning fails.
        ti.xcom_push(key=SNAPSHOT_ID_KEY, value=snapshot_id)
        if self.encryption_conn_id:  # a broken key connection fails here, before anything is written
            encryption_from_connection(connection_settings(self.encryption_conn_id))
        spec = self.store_spec()
        try:
            options = self.dump_options(
                collections=self.collections, staging_dir=self.staging_dir,
                producer={"dag_id": ti.dag_id, "task_id": ti.task_id, "run_id": ti.run_id})
            plan = plan_snapshot(self.source_hook.get_conn(), open_store(spec, create=True),
                                 snapshot_id, options, slices_per_collection=self.slices_per_collection)
        except UNUSABLE_SOURCE as exc:
            raise AirflowFailException(str(exc)) from None
        except (UnknownCollectionsError, SnapshotExistsError, ValueError) as exc:
            raise AirflowException(str(exc)) from None
        ti.xcom_push(key=PLAN_KEY, value={
            "plan": plan.to_dict(), "store": spec.to_dict(), "source_conn_id": self.source_conn_id,
            "source_options": self.source_options(), "signing_conn_id": self.signing_conn_id,
            "encryption_conn_id": self.encryption_conn_id,
            "dump_options": {"scan_mode": options.scan_mode, "scan_streams": options.scan_streams,
                             "uploads_at_once": options.uploads_at_once},
        })
        if plan.sealed:
            self.log.info("Snapshot %s is already complete; no collection task will run, the commit reports it",
                          snapshot_id)
        return plan.work_items


class CollectionDumpOperator(BaseOperator):
    """Dump one collection, or one slice of one, into the snapshot its plan task began; meant to be mapped.

    Whatever an earlier attempt of this task stored for its collection (or slice) is removed first,
    so a retry starts again from its first segment and leaves other tasks' files alone. Its manifest
    entry is pushed to XCom (key ``collection_result``) for the commit, also when it failed.
    A vector-loss failure raises :class:`~airflow_provider_vectorbackup.operators.failures.VectorLossTaskFailure`
    (never retried; attach :func:`~airflow_provider_vectorbackup.notifications.vector_loss.vector_loss_callback`
    as ``on_failure_callback`` to alert); any other failure is retried per ``retries``.

    :param collection: the work item to dump, normally mapped: ``.expand(collection=plan.output)``; a
        collection's name, or ``<name>[<slice>/<slices>]`` for one slice of it.
    :param plan_task_id: the :class:`SnapshotPlanOperator` whose XCom holds the snapshot and its settings.
    :param staging_dir: local folder for segments before upload (default: the system temp dir).

    Returns (XCom) a small summary of the collection: status, documents, bytes, content digest.
    Give ``.partial(map_index_template="{{ task.collection }}")`` to see collection names as map indexes.

    .. seealso:: docs/scale-out.md
    """

    template_fields: Sequence[str] = ("collection", "staging_dir")
    ui_color = "#b7e4c7"

    def __init__(self, *, collection: str, plan_task_id: str = "plan", staging_dir: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.collection = collection
        self.plan_task_id = plan_task_id
        self.staging_dir = staging_dir

    def execute(self, context: Context) -> dict[str, Any]:
        config = _pull_plan(context, self.plan_task_id)
        if not config:
            raise AirflowFailException(f"task {self.plan_task_id!r} pushed no snapshot plan to XCom; did it succeed?")
        plan = SnapshotPlan.from_dict(config["plan"])
        store = open_store(StoreSpec(**config["store"]))
        encryption = keys_from(encryption_from_connection, config["encryption_conn_id"])
        # A plan pushed before a rename (a run in flight across an upgrade) kept these under "tuning", and its
        # source under "astra_conn_id" with the keyspace it read.
        planned = config.get("dump_options", config.get("tuning", {}))
        source_conn_id = config.get("source_conn_id", config.get("astra_conn_id"))
        source_options = config.get("source_options", {"keyspace": config.get("keyspace")})
        try:
            source = VectorSourceHook(source_conn_id, **source_options).get_conn()
        except UNUSABLE_SOURCE as exc:
            raise AirflowFailException(str(exc)) from None
        try:
            options = DumpOptions(staging_dir=self.staging_dir, encryption=encryption, **planned)
            outcome = dump_work_item(source, store, plan, self.collection, options)
        except (SnapshotStateError, ValueError) as exc:  # sealed already, never begun, or not planned: no retry helps
            raise AirflowFailException(str(exc)) from None
        context["ti"].xcom_push(key=RESULT_KEY, value=outcome.result)
        entry = outcome.entry
        if outcome.error is not None:
            raise self._failure(outcome.error, plan.snapshot_id)
        return {"collection": entry.name, "slice": parse_work_item(self.collection)[1],
                "snapshot_id": plan.snapshot_id, "status": entry.status,
                "documents": entry.document_count, "documents_with_vector": entry.vectors.documents_with_vector,
                "bytes": sum(f.bytes for f in entry.files), "content_digest": entry.content_digest,
                "warnings": entry.warnings}

    def _failure(self, error: Exception, snapshot_id: str) -> Exception:
        if isinstance(error, VectorLossError):
            return VectorLossTaskFailure.from_error(error, snapshot_id=snapshot_id,
                                                    failed_collections=[parse_work_item(self.collection)[0]],
                                                    sealed_by_commit=True)
        what = "slice" if parse_work_item(self.collection)[1] is not None else "collection"
        return AirflowException(f"{what} {self.collection!r} of snapshot {snapshot_id} failed: "
                                f"{type(error).__name__}: {error}")


def _lock_words(spec: StoreSpec) -> str:
    return f"{spec.object_lock_mode} for {spec.object_lock_days} days" if spec.object_lock_mode else "none"


class SnapshotCommitOperator(StoreArguments, BaseOperator):
    """Seal the snapshot that a plan task began and mapped collection tasks filled.

    Runs once every collection task finished, whatever its state (``trigger_rule="all_done"``).
    It lists each collection from the entry its task pushed; a collection whose task failed is
    recorded as failed, and one whose task left no entry (killed, timed out, upstream failed) is
    recorded as failed with its stored files removed. Each entry is checked against what the store
    holds. ``manifest.json`` is written last; the folder becomes ``<id>`` only if every collection
    succeeded, else ``<id>.INCOMPLETE``, and then this task fails naming the failed collections.

    It pushes what :class:`~airflow_provider_vectorbackup.operators.dump.VectorDumpOperator` pushes
    (the summary as its return value, ``snapshot_id``, the Box folder link, the Asset event), so
    ``ManifestVerifySensor(dump_task_id=...)`` and ``RetentionOperator(dump_task_id=...)`` take the
    commit's task id unchanged.

    :param box_folder: path of the Box folder holding snapshots: the same as the plan's.
    :param local_folder: instead of Box, the local or mounted folder: the same as the plan's.
    :param object_folder: instead, an object store URL, ``s3://<conn_id>@bucket/prefix`` (also ``gs://``,
        ``abfs://``; docs/stores.md).
    :param object_lock_mode: S3 only: ``"governance"`` or ``"compliance"``, to write every object under
        S3 Object Lock (the bucket must have Object Lock enabled); with ``object_lock_days``.
    :param object_lock_days: days each object stays locked, e.g. ``RetentionPolicy(...).lock_days()``.
    :param plan_task_id: the :class:`SnapshotPlanOperator`.
    :param dump_task_id: the mapped :class:`CollectionDumpOperator`.
    :param staging_dir: local folder for the manifest before upload (default: the system temp dir).

    .. seealso:: docs/scale-out.md
    """

    template_fields: Sequence[str] = ("box_folder", "local_folder", "object_folder", "staging_dir")
    operator_extra_links = (BoxFolderLink(),)
    ui_color = "#d8f3dc"

    def __init__(
        self, *, box_folder: str | None = None, local_folder: str | None = None,
        object_folder: str | None = None, object_lock_mode: str | None = None,
        object_lock_days: int | None = None,
        box_conn_id: str = BoxHook.default_conn_name, box_folder_id: str = "0", plan_task_id: str = "plan",
        dump_task_id: str = "dump", staging_dir: str | None = None, trigger_rule: str = "all_done", **kwargs: Any,
    ) -> None:
        store = StoreSpec.from_arguments(box_folder=box_folder, local_folder=local_folder, box_conn_id=box_conn_id,
                                         box_folder_id=box_folder_id, object_folder=object_folder,
                                         object_lock_mode=object_lock_mode,
                                         object_lock_days=object_lock_days)  # a wrong combination fails at parse
        if "{{" not in store.folder:  # a templated folder is only known at run time: no default Asset
            kwargs.setdefault("outlets", [snapshot_asset(store)])
        super().__init__(trigger_rule=trigger_rule, **kwargs)
        self._set_store(box_folder, local_folder, box_conn_id, box_folder_id, object_folder, object_lock_mode,
                        object_lock_days)
        self.plan_task_id = plan_task_id
        self.dump_task_id = dump_task_id
        self.staging_dir = staging_dir

    def execute(self, context: Context) -> dict[str, Any]:
        ti = context["ti"]
        snapshot_id = ti.xcom_pull(task_ids=self.plan_task_id, key=SNAPSHOT_ID_KEY)
        if snapshot_id:  # for retention, even when the plan failed
            ti.xcom_push(key=SNAPSHOT_ID_KEY, value=snapshot_id)
        config = _pull_plan(context, self.plan_task_id)
        if not config:
            raise AirflowFailException(
                f"task {self.plan_task_id!r} planned no snapshot{' ' + snapshot_id if snapshot_id else ''}: it failed "
                f"or did not run, and sealed INCOMPLETE, with the reason, any snapshot it had begun; see its log")
        plan = SnapshotPlan.from_dict(config["plan"])
        spec = StoreSpec(**config["store"])
        ours = self.store_spec()
        if spec.folder == ours.folder and _lock_words(spec) != _lock_words(ours):
            raise AirflowFailException(
                f"the plan began snapshot {plan.snapshot_id} with object lock {_lock_words(spec)}, but this task "
                f"commits with {_lock_words(ours)}; give both the same object_lock_mode and object_lock_days")
        if spec != ours:
            raise AirflowFailException(f"the plan began snapshot {plan.snapshot_id} in {spec.kind} folder {spec.folder!r}"
                                       f", but this task commits to {ours.kind} folder {ours.folder!r}; give both the "
                                       f"same folder")
        items = plan.work_items
        results = (ti.xcom_pull(task_ids=self.dump_task_id, key=RESULT_KEY, map_indexes=list(range(len(items))))
                   if items else [])
        try:
            options = DumpOptions(
                staging_dir=self.staging_dir,
                producer={"dag_id": ti.dag_id, "task_id": ti.task_id, "run_id": ti.run_id},
                signer=keys_from(signer_from_connection, config["signing_conn_id"]),
                encryption=keys_from(encryption_from_connection, config["encryption_conn_id"]))
            outcome = commit_snapshot(open_store(spec), plan, results, options)
        except SnapshotExistsError as exc:
            raise AirflowFailException(str(exc)) from None
        summary = summary_of(outcome, spec.kind, spec.folder)
        if spec.kind == "box":
            BoxFolderLink.persist(context, outcome.snapshot.location)
        report_snapshot(context, self.outlets, summary)
        if outcome.manifest.status != STATUS_COMPLETE:
            raise AirflowFailException(self._incomplete(outcome.manifest, summary["path"]))
        return summary

    def _incomplete(self, manifest: Any, path: str) -> str:
        failed = [c for c in manifest.collections if c.status == COLLECTION_FAILED]
        lines = [f"snapshot {manifest.snapshot_id} was sealed INCOMPLETE at {path}: "
                 f"{len(failed)} of {len(manifest.collections)} collection(s) failed"]
        if manifest.error:
            lines.append(f"  the run: {manifest.error}")
        lines += [f"  {c.name}: {c.error}" for c in failed]
        lines.append(f"The other collections are stored intact, but an INCOMPLETE snapshot is never restored without "
                     f"being forced and is not counted by retention. Fix the cause (see the failed "
                     f"{self.dump_task_id!r} tasks' logs), then clear {self.plan_task_id!r} with its downstream tasks "
                     f"to make this snapshot again, or let the next run make a new one.")
        return "\n".join(lines)
