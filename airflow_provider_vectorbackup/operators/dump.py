"""VectorDumpOperator: back up a vector database's collections into a snapshot in Box or a folder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, BaseOperator

from airflow_provider_vectorbackup.sources.base import DEFAULT_STREAMS
from airflow_provider_vectorbackup.hooks.box import BoxHook
from airflow_provider_vectorbackup.hooks.connections import keys_from, open_store
from airflow_provider_vectorbackup.hooks.source import UNUSABLE_SOURCE, source_conn_id_from
from airflow_provider_vectorbackup.jobs.collection import UnknownCollectionsError
from airflow_provider_vectorbackup.jobs.dump import dump_snapshot
from airflow_provider_vectorbackup.jobs.models import ModelMismatch, embedding_models_argument
from airflow_provider_vectorbackup.jobs.outcome import summary_of
from airflow_provider_vectorbackup.keys import encryption_from_connection, signer_from_connection
from airflow_provider_vectorbackup.operators.dump_arguments import DumpArguments
from airflow_provider_vectorbackup.operators.assets import report_snapshot, snapshot_asset
from airflow_provider_vectorbackup.operators.failures import VectorLossTaskFailure
from airflow_provider_vectorbackup.operators.links import BoxFolderLink
from airflow_provider_vectorbackup.operators.snapshot_ids import SNAPSHOT_ID_KEY, default_snapshot_id
from airflow_provider_vectorbackup.snapshot.errors import VectorLossError
from airflow_provider_vectorbackup.snapshot.layout import check_snapshot_id
from airflow_provider_vectorbackup.snapshot.writer import DEFAULT_SEGMENT_MAX_BYTES
from airflow_provider_vectorbackup.stores.base import SnapshotExistsError
from airflow_provider_vectorbackup.stores.spec import StoreArguments, StoreSpec

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class VectorDumpOperator(StoreArguments, DumpArguments, BaseOperator):
    """Dump collections of a vector database into a new, verified-by-construction snapshot in Box (or a folder).

    Documents stream page by page into size-rolled segments; each finished segment is uploaded
    while the next is written and deleted locally, so staging disk holds at most
    ``uploads_at_once`` segments plus one per collection being written. A collection with string
    ids is read by ``_id`` range on several streams (docs/operators.md, "Speed"). The snapshot is built
    in ``.<id>.inprogress``, ``manifest.json`` goes up last, and the folder is renamed to ``<id>``
    only if every collection succeeded (else ``<id>.INCOMPLETE``).

    :param source_conn_id: connection of the source; its type picks the engine (``astra_db``, ``qdrant``,
        ``postgres``, ``chroma``, ``milvus``; docs/connections.md). Default ``astra_default``.
    :param astra_conn_id: deprecated old name of ``source_conn_id`` (a ``DeprecationWarning``; not both).
    :param box_conn_id: ``box`` connection of the store.
    :param box_folder: path of the Box folder holding snapshots (created if missing), e.g.
        ``"backups/prod-vectors"``.
    :param box_folder_id: id of an existing folder under which ``box_folder`` is resolved (default root).
    :param local_folder: instead of Box, a local or mounted folder holding snapshots (e.g. a network share).
    :param object_folder: instead, an object store URL, ``s3://<conn_id>@bucket/prefix`` (also ``gs://``,
        ``abfs://``; docs/stores.md).
    :param object_lock_mode: S3 only: ``"governance"`` or ``"compliance"``, to write every object under
        S3 Object Lock (the bucket must have Object Lock enabled); with ``object_lock_days``.
    :param object_lock_days: days each object stays locked, e.g. ``RetentionPolicy(...).lock_days()``.
    :param keyspace: Astra only: overrides the connection's keyspace.
    :param collections: names to back up; ``None`` backs up every collection of the source.
    :param snapshot_id: templated; default ``<run_after as YYYYMMDDTHHMMSSZ>-<dag_id>``.
    :param segment_max_bytes: uncompressed size at which a segment rolls over.
    :param staging_dir: local folder for segments before upload (default: the system temp dir).
    :param max_missing_vector_fraction: share of documents allowed to lack a declared vector (``$vector``, or
        a ``$vectors`` field that is not nullable) before the vector-loss guard trips (default 0.0).
    :param signing_conn_id: connection holding the key that signs ``manifest.json`` (see docs/security.md).
    :param encryption_conn_id: connection whose ``recipients`` (public age keys) encrypt segments and
        definitions; the worker never needs the private identity.
    :param scan_streams: requests in flight per collection (default 4); more suits a distant database.
    :param scan_mode: ``"auto"`` (split by id range when provably complete, default), ``"ranges"`` (for
        Astra: by range, trusting that no id is a ``$uuid``/``$objectId``) or ``"single"`` (one scan). How each
        engine splits: docs/sources.md.
    :param collections_at_once: collections dumped concurrently (default 2).
    :param uploads_at_once: segments uploaded concurrently while the next is written (default 2).
    :param compression: ``"gzip"`` (default, level 1), ``"zstd"`` (about 16 times less CPU for a little less
        space; needs the ``zstd`` extra where snapshots are written and read) or ``"none"``.
    :param deduplicate: store each document once per store (format 4): a dump uploads only what changed since
        the newest earlier snapshot, and each snapshot still restores alone. Retention then frees the packs no
        snapshot uses (docs/format.md section 12, docs/retention.md). Encrypted, it needs ``signing_conn_id``.
    :param embedding_models: templated; the model that made each vector field's vectors, recorded in the manifest:
        ``{"$vector": "text-embedding-3-small@2024-01"}`` (``"MODEL"`` or ``"MODEL@VERSION"``; the Data API's one
        vector field is ``$vector``), or a plain string for each collection's only vector field. A field no dumped
        collection has fails the task before anything is written (docs/restore.md, "Embedding models").

    Returns (XCom) a small summary: ``snapshot_id``, ``status``, ``store`` (``box``/``local``),
    ``location`` (Box folder id or local path), ``path``, per-collection counts and bytes, ``bytes``,
    ``manifest_sha256`` and ``manifest_sha1``.

    .. seealso:: docs/operators.md
    """

    template_fields: Sequence[str] = ("snapshot_id", "box_folder", "local_folder", "object_folder", "keyspace",
                                      "collections", "staging_dir", "embedding_models")
    operator_extra_links = (BoxFolderLink(),)
    ui_color = "#d8f3dc"

    def __init__(
        self, *, box_folder: str | None = None, local_folder: str | None = None,
        object_folder: str | None = None, object_lock_mode: str | None = None,
        object_lock_days: int | None = None,
        source_conn_id: str | None = None, astra_conn_id: str | None = None,
        box_conn_id: str = BoxHook.default_conn_name,
        box_folder_id: str = "0", keyspace: str | None = None,
        collections: list[str] | None = None, snapshot_id: str | None = None,
        segment_max_bytes: int = DEFAULT_SEGMENT_MAX_BYTES, staging_dir: str | None = None,
        max_missing_vector_fraction: float = 0.0, signing_conn_id: str | None = None,
        encryption_conn_id: str | None = None, scan_streams: int = DEFAULT_STREAMS, scan_mode: str = "auto",
        collections_at_once: int = 2, uploads_at_once: int = 2, compression: str = "gzip", deduplicate: bool = False,
        embedding_models: dict[str, str] | str | None = None, **kwargs: Any,
    ) -> None:
        store = StoreSpec.from_arguments(box_folder=box_folder, local_folder=local_folder, box_conn_id=box_conn_id,
                                         box_folder_id=box_folder_id, object_folder=object_folder,
                                         object_lock_mode=object_lock_mode,
                                         object_lock_days=object_lock_days)  # a wrong combination fails at parse
        if "{{" not in store.folder:  # a templated folder is only known at run time: no default Asset
            kwargs.setdefault("outlets", [snapshot_asset(store)])
        super().__init__(**kwargs)
        self._set_store(box_folder, local_folder, box_conn_id, box_folder_id, object_folder, object_lock_mode,
                        object_lock_days)
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
        self.collections_at_once = collections_at_once
        self.uploads_at_once = uploads_at_once
        self.compression = compression
        self.deduplicate = deduplicate
        self.embedding_models = embedding_models
        # A bad setting fails when the DAG is parsed; templated ones are checked when it runs.
        self.dump_options(**({} if "{{" in str(embedding_models) else
                             {"embedding_models": embedding_models_argument(embedding_models)}))

    def execute(self, context: Context) -> dict[str, Any]:
        snapshot_id = check_snapshot_id(self.snapshot_id or default_snapshot_id(context))
        ti = context["ti"]
        # Pushed before any work, so retention learns of this snapshot even if the dump fails.
        ti.xcom_push(key=SNAPSHOT_ID_KEY, value=snapshot_id)
        try:
            options = self.dump_options(
                collections=self.collections, staging_dir=self.staging_dir,
                embedding_models=embedding_models_argument(self.embedding_models),
                producer={"dag_id": ti.dag_id, "task_id": ti.task_id, "run_id": ti.run_id},
                signer=keys_from(signer_from_connection, self.signing_conn_id),
                encryption=keys_from(encryption_from_connection, self.encryption_conn_id))
        except ValueError as exc:  # a templated argument rendered to something unusable: no retry helps
            raise AirflowFailException(str(exc)) from None
        spec = self.store_spec()
        try:
            outcome = dump_snapshot(self.source_hook.get_conn(), open_store(spec, create=True),
                                    snapshot_id, options)
        except (UnknownCollectionsError, SnapshotExistsError) as exc:
            raise AirflowException(str(exc)) from None
        except ModelMismatch as exc:  # a field the collections do not have: no retry helps
            raise AirflowFailException(str(exc)) from None
        except UNUSABLE_SOURCE as exc:
            raise AirflowFailException(str(exc)) from None
        summary = summary_of(outcome, spec.kind, spec.folder)
        if spec.kind == "box":
            BoxFolderLink.persist(context, outcome.snapshot.location)
        report_snapshot(context, self.outlets, summary)
        if outcome.failures:
            raise self._failure(outcome.failures, snapshot_id)
        return summary

    def _failure(self, failures: dict[str, BaseException], snapshot_id: str) -> Exception:
        losses = [exc for exc in failures.values() if isinstance(exc, VectorLossError)]
        if losses:
            return VectorLossTaskFailure.from_error(losses[0], snapshot_id=snapshot_id,
                                                    failed_collections=sorted(failures))
        detail = "; ".join(f"{name}: {type(exc).__name__}: {exc}" for name, exc in failures.items())
        return AirflowException(f"snapshot {snapshot_id} is INCOMPLETE: {detail}")

