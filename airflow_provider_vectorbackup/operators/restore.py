"""RestoreOperator: bring collections back from a snapshot in Box, and prove the result."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from airflow_provider_vectorbackup.hooks.box import BoxHook
from airflow_provider_vectorbackup.upstream import resolve_snapshot_id
from airflow_provider_vectorbackup.snapshot.digest import ContentDigest
from airflow_provider_vectorbackup.snapshot.guard import is_vectorize
from airflow_provider_vectorbackup.snapshot.layout import SnapshotState
from airflow_provider_vectorbackup.snapshot.manifest import COLLECTION_FAILED, CollectionEntry
from airflow_provider_vectorbackup.snapshot.reader import Snapshot, open_snapshot
from airflow_provider_vectorbackup.snapshot.similarity import exact_top_k, id_key, recall_at_k, vector_of
from airflow_provider_vectorbackup.snapshot.vectors import VECTOR_FIELD, VECTORIZE_FIELD
from airflow_provider_vectorbackup.snapshot.verify import verify
from airflow_provider_vectorbackup.stores.spec import StoreSpec

if TYPE_CHECKING:
    from airflow.sdk import Context

IF_EXISTS = ("fail", "resume", "replace")


class RestoreOperator(BaseOperator):
    """Restore collections from a Box snapshot into Astra, then validate counts, content digests and vector search.

    Nothing is written until the whole snapshot has been downloaded and verified record by
    record, and every target has been checked. Re-running after a crash is safe: inserts are
    idempotent and identical documents already present are accepted.

    :param box_folder: path of the Box folder holding snapshots.
    :param local_folder: instead of Box, the local or mounted folder holding snapshots.
    :param snapshot_id: templated; an id or ``"latest"``. Ignored when ``dump_task_id`` is set.
    :param dump_task_id: restore the snapshot an upstream ``VectorDumpOperator`` reported in XCom.
    :param collections: names to restore (default: every complete collection of the snapshot).
    :param target_prefix: restore ``name`` as ``target_prefix + name``.
    :param name_mapping: explicit ``{source_name: target_name}``; wins over the prefix.
    :param target_keyspace: restore into another keyspace than the connection's.
    :param if_exists: what to do with a target collection that already exists. ``"fail"``
        (default) refuses one that holds documents or has another definition; ``"resume"`` continues
        into one with the snapshot's definition (re-running a restore that crashed: documents already
        there must be identical, and the final validation proves the result); ``"replace"`` drops and
        recreates it (required to restore in place over live data).
    :param allow_incomplete: restore the complete collections of an ``.INCOMPLETE`` snapshot.
    :param validation_queries: sample vector queries per collection for recall@10 (0 disables).
    :param min_recall: fail if recall@10 falls below this (default 0.9).

    Returns (XCom) the validation report per collection.

    .. seealso:: docs/restore.md
    """

    template_fields: Sequence[str] = ("snapshot_id", "box_folder", "local_folder", "collections", "target_prefix", "name_mapping",
                                      "target_keyspace", "if_exists")
    ui_color = "#95d5b2"

    def __init__(
        self, *, box_folder: str | None = None, local_folder: str | None = None, snapshot_id: str = "latest", dump_task_id: str | None = None,
        collections: list[str] | None = None, target_prefix: str | None = None,
        name_mapping: dict[str, str] | None = None, target_keyspace: str | None = None, if_exists: str = "fail",
        allow_incomplete: bool = False, astra_conn_id: str = AstraDBHook.default_conn_name,
        box_conn_id: str = BoxHook.default_conn_name, box_folder_id: str = "0", chunk_size: int = 20,
        concurrency: int = 8, validation_queries: int = 10, min_recall: float = 0.9, staging_dir: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        StoreSpec.from_arguments(box_folder=box_folder, local_folder=local_folder, box_conn_id=box_conn_id,
                                 box_folder_id=box_folder_id)  # refuse a wrong combination when the DAG is parsed
        self.box_folder = box_folder
        self.local_folder = local_folder
        self.snapshot_id = snapshot_id
        self.dump_task_id = dump_task_id
        self.collections = collections
        self.target_prefix = target_prefix
        self.name_mapping = name_mapping
        self.target_keyspace = target_keyspace
        self.if_exists = if_exists
        self.allow_incomplete = allow_incomplete
        self.astra_conn_id = astra_conn_id
        self.box_conn_id = box_conn_id
        self.box_folder_id = box_folder_id
        self.chunk_size = chunk_size
        self.concurrency = concurrency
        self.validation_queries = validation_queries
        self.min_recall = min_recall
        self.staging_dir = staging_dir

    @cached_property
    def astra_hook(self) -> AstraDBHook:
        return AstraDBHook(self.astra_conn_id, keyspace=self.target_keyspace)

    def store_spec(self) -> StoreSpec:
        return StoreSpec.from_arguments(box_folder=self.box_folder, local_folder=self.local_folder,
                                        box_conn_id=self.box_conn_id, box_folder_id=self.box_folder_id)

    def execute(self, context: Context) -> dict[str, Any]:
        if self.if_exists not in IF_EXISTS:
            raise AirflowFailException(f"if_exists must be one of {IF_EXISTS}, not {self.if_exists!r}")
        store = self.store_spec().open()
        stored = store.get(resolve_snapshot_id(context, self.snapshot_id, self.dump_task_id))
        if stored.state is SnapshotState.IN_PROGRESS:
            raise AirflowFailException(f"snapshot {stored.snapshot_id} is still in progress (or was abandoned by a "
                                       f"crash); it is never restorable")
        if stored.state is SnapshotState.INCOMPLETE and not self.allow_incomplete:
            raise AirflowFailException(f"snapshot {stored.snapshot_id} is INCOMPLETE; pick a complete snapshot, or set "
                                       f"allow_incomplete=True to restore its complete collections")
        with tempfile.TemporaryDirectory(prefix="vectorbackup-restore-", dir=self.staging_dir) as staging:
            local = store.download(stored, staging)
            report = verify(local, "records", allow_incomplete=self.allow_incomplete)
            if not report.ok:
                raise AirflowFailException("refusing to restore from a snapshot that fails verification; nothing "
                                           "was written.\n" + report.summary())
            snapshot = open_snapshot(local, allow_incomplete=self.allow_incomplete)
            plan = self._plan(snapshot)
            results = {source: self._restore(snapshot, snapshot.manifest.collection(source), target)
                       for source, target in plan.items()}
        summary = {"snapshot_id": stored.snapshot_id, "keyspace": self.astra_hook.keyspace, "collections": results,
                   "ok": all(r["ok"] for r in results.values())}
        if not summary["ok"]:
            bad = {name: r for name, r in results.items() if not r["ok"]}
            raise AirflowFailException(f"restore of {stored.snapshot_id} did not validate: {bad}")
        return summary

    def _plan(self, snapshot: Snapshot) -> dict[str, str]:
        """Source → target names, with every refusal checked before anything is written."""
        available = {c.name: c for c in snapshot.collections()}
        names = self.collections or [c.name for c in available.values() if c.status != COLLECTION_FAILED]
        unknown = [n for n in names if n not in available]
        if unknown:
            raise AirflowFailException(f"snapshot {snapshot.snapshot_id} has no collection(s) {unknown}; it has "
                                       f"{sorted(available)}")
        failed = [n for n in names if available[n].status == COLLECTION_FAILED]
        if failed:
            raise AirflowFailException(f"collection(s) {failed} failed during snapshot {snapshot.snapshot_id}; their "
                                       f"data is partial and is not restored")
        plan = {n: (self.name_mapping or {}).get(n) or f"{self.target_prefix or ''}{n}" for n in names}
        if len(set(plan.values())) != len(plan):
            raise AirflowFailException(f"two collections would be restored under the same name: {plan}")
        for source, target in plan.items():
            self._check_target(target, available[source].definition)
        return plan

    def _check_target(self, target: str, definition: dict[str, Any]) -> None:
        existing = self.astra_hook.collection_definition(target)
        if existing is None or self.if_exists == "replace":
            return
        if existing == definition and (self.if_exists == "resume" or self.astra_hook.count_documents(target).count == 0):
            return
        raise AirflowFailException(
            f"collection {target!r} already exists in keyspace {self.astra_hook.keyspace!r}"
            + (" with documents" if existing == definition else " with a different definition")
            + ". Nothing was written. Restore under another name (target_prefix or name_mapping), set "
            "if_exists='resume' to continue a restore that crashed, or if_exists='replace' to drop and recreate it")

    def _restore(self, snapshot: Snapshot, entry: CollectionEntry, target: str) -> dict[str, Any]:
        hook = self.astra_hook
        if self.if_exists == "replace" and hook.collection_definition(target) is not None:
            self.log.warning("Dropping existing collection %r to replace it (if_exists='replace')", target)
            hook.drop_collection(target)
        hook.create_collection(target, entry.definition)
        expected = ContentDigest()
        stripped = 0

        def documents() -> Iterator[dict[str, Any]]:
            nonlocal stripped
            for record in snapshot.records(entry.name):
                if is_vectorize(entry.definition) and VECTOR_FIELD in record and VECTORIZE_FIELD in record:
                    # The Data API refuses both together; keep the stored vector (no re-embedding), drop the text.
                    record = {k: v for k, v in record.items() if k != VECTORIZE_FIELD}
                    stripped += 1
                expected.add(record)
                yield record

        inserted = hook.insert_documents(target, documents(), chunk_size=self.chunk_size, concurrency=self.concurrency)
        self.log.info("Restored %r into %r: %s", entry.name, target, inserted.summary())
        restored = ContentDigest()
        for document in hook.iter_documents(target):
            restored.add(document)
        result: dict[str, Any] = {
            "target": target, "documents_expected": entry.document_count, "documents_restored": restored.documents,
            "inserted": inserted.inserted, "already_present": inserted.already_present,
            "failures": [f"{f.id!r}: {f.error_code}: {f.message}" for f in inserted.failures[:20]],
            "digest_expected": expected.hexdigest(), "digest_restored": restored.hexdigest(),
            "digest_matches_manifest": expected.hexdigest() == entry.content_digest,
            "vectorize_text_dropped": stripped,
        }
        result["recall_at_10"], result["queries"] = self._recall(snapshot, entry, target)
        result["ok"] = (inserted.ok and restored.documents == entry.document_count
                        and restored.hexdigest() == expected.hexdigest()
                        and (result["recall_at_10"] is None or result["recall_at_10"] >= self.min_recall))
        self.log.info("Validation of %r: %s", target, result)
        return result

    def _recall(self, snapshot: Snapshot, entry: CollectionEntry, target: str) -> tuple[float | None, int]:
        metric = (entry.definition.get("vector") or {}).get("metric", "cosine")
        if not self.validation_queries or not entry.vectors.documents_with_vector:
            return None, 0
        step = max(1, entry.vectors.documents_with_vector // self.validation_queries)
        queries = [v for i, v in enumerate(filter(None, map(vector_of, snapshot.records(entry.name))))
                   if i % step == 0][: self.validation_queries]
        expected = exact_top_k(snapshot.records(entry.name), queries, metric)
        found = [[id_key(i) for i in self.astra_hook.vector_search(target, q, limit=10)] for q in queries]
        return round(recall_at_k(expected, found), 4), len(queries)
