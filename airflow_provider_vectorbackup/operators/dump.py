"""VectorDumpOperator: back up Astra collections into a snapshot in Box."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, BaseOperator
from airflow.sdk.exceptions import AirflowException

from airflow_provider_vectorbackup.exceptions import VectorLossTaskFailure
from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from airflow_provider_vectorbackup.hooks.box import BoxHook
from airflow_provider_vectorbackup.links import BoxFolderLink
from airflow_provider_vectorbackup.progress import Progress
from airflow_provider_vectorbackup.snapshot.errors import VectorLossError
from airflow_provider_vectorbackup.snapshot.guard import VectorLossPolicy
from airflow_provider_vectorbackup.snapshot.layout import check_snapshot_id
from airflow_provider_vectorbackup.snapshot.writer import DEFAULT_SEGMENT_MAX_BYTES, SnapshotResult, SnapshotWriter
from airflow_provider_vectorbackup.snapshot.manifest import FileEntry
from airflow_provider_vectorbackup.stores.base import PendingSnapshot, SnapshotExistsError, StoredSnapshot
from airflow_provider_vectorbackup.stores.spec import StoreSpec

if TYPE_CHECKING:
    from airflow.sdk import Context

SNAPSHOT_ID_KEY = "snapshot_id"
DEFAULT_SNAPSHOT_ID = "{{ dag_run.run_after.strftime('%Y%m%dT%H%M%SZ') }}"
"""From ``run_after``, which every run has (``logical_date`` is missing for manual and asset-triggered runs)."""


def snapshot_asset(store: StoreSpec) -> Asset:
    """The Asset a dump into ``store`` updates; downstream DAGs can schedule on it."""
    return Asset(name=f"vectorbackup:{store.uri()}", uri=store.uri(), group="vector-backup")


class _StoredFiles:
    """Hands each finished file to the store and counts the bytes stored, for progress lines."""

    def __init__(self, pending: PendingSnapshot) -> None:
        self.pending = pending
        self.bytes = 0

    def put(self, entry: FileEntry, local: Any) -> None:
        self.pending.put(entry, local)
        self.bytes += entry.bytes


class VectorDumpOperator(BaseOperator):
    """Dump collections of an Astra keyspace into a new, verified-by-construction snapshot in Box (or a folder).

    Documents stream page by page into size-rolled segments; each finished segment is uploaded
    at once and deleted locally, so staging disk holds about one segment. The snapshot is built
    in ``.<id>.inprogress``, ``manifest.json`` goes up last, and the folder is renamed to ``<id>``
    only if every collection succeeded (else ``<id>.INCOMPLETE``).

    :param astra_conn_id: ``astra_db`` connection of the source.
    :param box_conn_id: ``box`` connection of the store.
    :param box_folder: path of the Box folder holding snapshots (created if missing), e.g.
        ``"backups/prod-vectors"``.
    :param box_folder_id: id of an existing folder under which ``box_folder`` is resolved (default root).
    :param local_folder: instead of Box, a local or mounted folder holding snapshots (e.g. a network share).
    :param keyspace: overrides the connection's keyspace.
    :param collections: names to back up; ``None`` backs up every collection of the keyspace.
    :param snapshot_id: templated; default from the run's ``run_after`` (``YYYYMMDDTHHMMSSZ``).
    :param segment_max_bytes: uncompressed size at which a segment rolls over.
    :param staging_dir: local folder for segments before upload (default: the system temp dir).
    :param max_missing_vector_fraction: share of documents allowed to lack ``$vector`` in a vector
        collection before the vector-loss guard trips (default 0.0).

    Returns (XCom) a small summary: ``snapshot_id``, ``status``, ``store`` (``box``/``local``),
    ``location`` (Box folder id or local path), ``path``, per-collection counts and bytes, ``bytes``,
    ``manifest_sha256`` and ``manifest_sha1``.

    .. seealso:: docs/operators.md
    """

    template_fields: Sequence[str] = ("snapshot_id", "box_folder", "local_folder", "keyspace", "collections",
                                      "staging_dir")
    operator_extra_links = (BoxFolderLink(),)
    ui_color = "#d8f3dc"

    def __init__(
        self, *, box_folder: str | None = None, local_folder: str | None = None,
        astra_conn_id: str = AstraDBHook.default_conn_name, box_conn_id: str = BoxHook.default_conn_name,
        box_folder_id: str = "0", keyspace: str | None = None,
        collections: list[str] | None = None, snapshot_id: str = DEFAULT_SNAPSHOT_ID,
        segment_max_bytes: int = DEFAULT_SEGMENT_MAX_BYTES, staging_dir: str | None = None,
        max_missing_vector_fraction: float = 0.0, **kwargs: Any,
    ) -> None:
        store = StoreSpec.from_arguments(box_folder=box_folder, local_folder=local_folder, box_conn_id=box_conn_id,
                                         box_folder_id=box_folder_id)
        if "{{" not in store.folder:  # a templated folder is only known at run time: no default Asset
            kwargs.setdefault("outlets", [snapshot_asset(store)])
        super().__init__(**kwargs)
        self.astra_conn_id = astra_conn_id
        self.box_conn_id = box_conn_id
        self.box_folder = box_folder
        self.local_folder = local_folder
        self.box_folder_id = box_folder_id
        self.keyspace = keyspace
        self.collections = collections
        self.snapshot_id = snapshot_id
        self.segment_max_bytes = segment_max_bytes
        self.staging_dir = staging_dir
        self.vector_policy = VectorLossPolicy(max_missing_fraction=max_missing_vector_fraction)

    @cached_property
    def astra_hook(self) -> AstraDBHook:
        return AstraDBHook(self.astra_conn_id, keyspace=self.keyspace)

    def store_spec(self) -> StoreSpec:
        return StoreSpec.from_arguments(box_folder=self.box_folder, local_folder=self.local_folder,
                                        box_conn_id=self.box_conn_id, box_folder_id=self.box_folder_id)

    def execute(self, context: Context) -> dict[str, Any]:
        snapshot_id = check_snapshot_id(self.snapshot_id)
        ti = context["ti"]
        # Pushed before any work, so retention learns of this snapshot even if the dump fails.
        ti.xcom_push(key=SNAPSHOT_ID_KEY, value=snapshot_id)
        spec = self.store_spec()
        store = spec.open(create=True)
        try:
            pending = store.begin(snapshot_id)
        except SnapshotExistsError:
            # A retry after the snapshot was sealed (e.g. the worker died before reporting): report it, don't redo it.
            self.log.warning("Snapshot %s is already complete in %s; reporting it instead of dumping again",
                             snapshot_id, store.describe())
            existing = store.get(snapshot_id)
            return self._finish(context, spec, existing, summary_of(spec, existing, store.read_manifest(existing)))
        stored = _StoredFiles(pending)
        definitions = {info.name: info.definition for info in self.astra_hook.list_collections()}
        names = self.collections or sorted(definitions)
        missing = [name for name in names if name not in definitions]
        if missing:
            raise AirflowException(f"collections not found in keyspace {self.astra_hook.keyspace!r}: {missing}; "
                                   f"it has: {sorted(definitions)}")
        self.log.info("Dumping %d collection(s) of keyspace %r into %s, snapshot %s: %s", len(names),
                      self.astra_hook.keyspace, store.describe(), snapshot_id, ", ".join(names))
        with tempfile.TemporaryDirectory(prefix="vectorbackup-", dir=self.staging_dir) as staging:
            writer = SnapshotWriter(staging, source=self.astra_hook.describe_source(), snapshot_id=snapshot_id,
                                    segment_max_bytes=self.segment_max_bytes, vector_policy=self.vector_policy,
                                    on_file_complete=stored.put,
                                    producer={"dag_id": ti.dag_id, "task_id": ti.task_id, "run_id": ti.run_id})
            failures: dict[str, BaseException] = {}
            with writer:
                for name in names:
                    try:
                        self._dump_collection(writer, name, definitions[name], stored)
                    except Exception as exc:  # recorded in the manifest; the other collections still get backed up
                        self.log.error("Collection %r failed: %s: %s", name, type(exc).__name__, exc)
                        failures[name] = exc
            result = writer.result
            sealed = pending.seal(result)
        summary = summary_of(spec, sealed, result.manifest, result)
        self._finish(context, spec, sealed, summary)
        if failures:
            raise self._failure(failures, snapshot_id)
        return summary

    def _dump_collection(self, writer: SnapshotWriter, name: str, definition: dict[str, Any],
                         stored: _StoredFiles) -> None:
        progress = Progress(self.log, name, self._estimate(name))
        with writer.collection(name, definition) as collection:
            for page in self.astra_hook.scan_pages(name):
                collection.write_many(page.documents)
                progress.bytes = stored.bytes
                progress.advance(len(page.documents))
        progress.bytes = stored.bytes
        progress.done()

    def _estimate(self, name: str) -> int | None:
        try:
            return self.astra_hook.estimated_document_count(name)
        except Exception:  # only feeds the ETA; a dump must not fail for it
            return None

    def _finish(self, context: Context, spec: StoreSpec, snapshot: StoredSnapshot,
                summary: dict[str, Any]) -> dict[str, Any]:
        if spec.kind == "box":
            BoxFolderLink.persist(context, snapshot.location)
        for asset in self.outlets:
            if isinstance(asset, Asset):
                context["outlet_events"][asset].extra = {k: summary[k] for k in ("snapshot_id", "status", "location")}
        return summary

    def _failure(self, failures: dict[str, BaseException], snapshot_id: str) -> Exception:
        losses = [exc for exc in failures.values() if isinstance(exc, VectorLossError)]
        if losses:
            return VectorLossTaskFailure.from_error(losses[0], snapshot_id=snapshot_id,
                                                    failed_collections=sorted(failures))
        detail = "; ".join(f"{name}: {type(exc).__name__}: {exc}" for name, exc in failures.items())
        return AirflowException(f"snapshot {snapshot_id} is INCOMPLETE: {detail}")


def summary_of(spec: StoreSpec, snapshot: StoredSnapshot, manifest: Any,
               result: SnapshotResult | None = None) -> dict[str, Any]:
    """The XCom a dump returns: small, JSON-safe, enough for verify, restore and retention to find the snapshot."""
    collections = {
        c.name: {"status": c.status, "documents": c.document_count,
                 "documents_with_vector": c.vectors.documents_with_vector,
                 "bytes": sum(f.bytes for f in c.files), "content_digest": c.content_digest}
        for c in manifest.collections
    }
    summary = {
        "snapshot_id": snapshot.snapshot_id, "status": manifest.status, "store": spec.kind,
        "location": snapshot.location, "path": f"{spec.folder.rstrip('/')}/{snapshot.ref.folder_name}",
        "collections": collections,
        "bytes": sum(c["bytes"] for c in collections.values()),
    }
    if result is not None:
        summary.update(manifest_sha256=result.manifest_sha256, manifest_sha1=result.manifest_sha1)
    return summary
