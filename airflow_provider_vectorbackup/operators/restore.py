"""RestoreOperator: bring collections back from a snapshot, and prove the result."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException, BaseOperator

from airflow_provider_vectorbackup.sources.base import SCAN_MODES
from airflow_provider_vectorbackup.hooks.box import BoxHook
from airflow_provider_vectorbackup.hooks.connections import keys_from, open_store
from airflow_provider_vectorbackup.hooks.source import UNUSABLE_SOURCE, VectorSourceHook, source_conn_id_from
from airflow_provider_vectorbackup.jobs.as_of import NoSnapshotAsOf, parse_as_of
from airflow_provider_vectorbackup.jobs.models import ModelMismatch, embedding_models_argument, parse_models
from airflow_provider_vectorbackup.jobs.restore import (
    RestoreNotValidated, RestoreOptions, RestoreRefused, restore_snapshot,
)
from airflow_provider_vectorbackup.keys import (
    KeyConfigurationError, identities_from_connection, verifier_from_connection,
)
from airflow_provider_vectorbackup.stores.spec import StoreArguments
from airflow_provider_vectorbackup.operators.snapshot_ids import resolve_snapshot_id

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class RestoreOperator(StoreArguments, BaseOperator):
    """Restore collections from a snapshot into a vector database, then validate counts, content digests and vector search.

    Nothing is written until the whole snapshot has been downloaded and verified record by
    record, and every target has been checked. Re-running after a crash is safe: inserts are
    idempotent and identical documents already present are accepted.

    :param box_folder: path of the Box folder holding snapshots.
    :param local_folder: instead of Box, the local or mounted folder holding snapshots.
    :param object_folder: instead, an object store URL, ``s3://<conn_id>@bucket/prefix`` (also ``gs://``,
        ``abfs://``; docs/stores.md).
    :param snapshot_id: templated; an id or ``"latest"`` (the default). Ignored when ``dump_task_id`` is set.
    :param dump_task_id: restore the snapshot an upstream ``VectorDumpOperator`` reported in XCom.
    :param as_of: templated; instead of ``snapshot_id`` or ``dump_task_id`` (not with them): the newest
        snapshot taken at or before this time that is complete and passes ``files`` verification. An
        ISO 8601 time with ``Z`` or an offset (``"2026-11-30T02:00Z"``, ``"{{ data_interval_end }}"``) or an
        aware datetime; a time without a zone is refused, a future one means the newest. The report's
        ``as_of`` names the snapshot chosen and every newer one skipped, with why (docs/restore.md).
    :param collections: names to restore (default: every complete collection of the snapshot).
    :param target_prefix: restore ``name`` as ``target_prefix + name``.
    :param name_mapping: explicit ``{source_name: target_name}``; wins over the prefix.
    :param source_conn_id: connection of the database restored into; its type picks the engine, as for
        ``VectorDumpOperator`` (docs/connections.md). Default ``astra_default``.
    :param astra_conn_id: deprecated old name of ``source_conn_id`` (a ``DeprecationWarning``; not both).
    :param target_keyspace: Astra only: restore into another keyspace than the connection's.
    :param if_exists: what to do with a target collection that already exists. ``"fail"``
        (default) refuses one that holds documents or has another definition; ``"resume"`` continues
        into one with the snapshot's definition (re-running a restore that crashed: documents already
        there must be identical, and the final validation proves the result); ``"replace"`` drops and
        recreates it (required to restore in place over live data), after dumping what it drops into the same
        store and verifying that snapshot record by record; the report's ``replaced_backup`` names it.
    :param allow_incomplete: restore the complete collections of an ``.INCOMPLETE`` snapshot.
    :param chunk_size: documents per insert request (default 20; docs/restore.md says why).
    :param concurrency: insert requests in flight at most (default 32); while the database throttles
        (HTTP 429) fewer are sent, then more again.
    :param read_streams: requests in flight when each restored collection is read back for validation (default 16).
    :param validation_queries: sample vector queries per collection for recall@10 (0 disables).
    :param min_recall: fail if recall@10 falls below this (default 0.9).
    :param scan_mode: how restored collections are read back for validation: ``"auto"`` (default),
        ``"ranges"`` or ``"single"``, as for ``VectorDumpOperator``.
    :param signing_conn_id: connection with the manifest key: an unsigned or badly signed snapshot is refused.
    :param encryption_conn_id: connection whose password holds the age identity of an encrypted snapshot.
    :param embedding_models: templated; the models the targets' vector fields are queried with, as
        ``VectorDumpOperator``'s: ``{"$vector": "MODEL[@VERSION]"}`` or a plain string for each collection's only
        vector field. A snapshot whose recorded model differs is refused before anything is written.
    :param allow_model_change: restore even into a target whose declared model (``embedding_models``, or its own
        vectorize/vectorizer config) or vector dimension differs from the snapshot's; the stored vectors are
        restored as they are, nothing is re-embedded (docs/restore.md, "Embedding models").
    :param where: templated; restore only the documents whose top-level payload fields equal these values
        (``{"tenant": "acme"}``); counts, digest and recall are measured on the documents chosen.
    :param plan_only: download, verify and plan, write nothing: the XCom holds each collection's
        ``translation`` plan (into another engine: every step exact, reversible or lossy; docs/restore.md).
    :param allow_lossy: templated; lossy translation steps allowed into another engine, by kind (``float32``,
        ``drop-sparse``, ``drop-multi``, ``drop-vector``, ``metric``, ``normalize``, ``truncate-metadata``); any other
        lossy step refuses the restore before writing.

    Returns (XCom) the validation report per collection, and under ``phases`` the seconds spent preparing
    (download, verification, target checks), writing and validating. Task logs show a progress line with
    an ETA every 30 seconds while documents are written.

    .. seealso:: docs/restore.md
    """

    template_fields: Sequence[str] = ("snapshot_id", "as_of", "box_folder", "local_folder", "object_folder", "collections",
                                      "target_prefix", "name_mapping", "target_keyspace", "if_exists",
                                      "embedding_models", "allow_lossy", "where")
    ui_color = "#95d5b2"

    def __init__(
        self, *, box_folder: str | None = None, local_folder: str | None = None, object_folder: str | None = None,
        snapshot_id: str | None = None,
        dump_task_id: str | None = None, as_of: str | dt.datetime | None = None,
        collections: list[str] | None = None, target_prefix: str | None = None,
        name_mapping: dict[str, str] | None = None, target_keyspace: str | None = None, if_exists: str = "fail",
        allow_incomplete: bool = False, source_conn_id: str | None = None, astra_conn_id: str | None = None,
        box_conn_id: str = BoxHook.default_conn_name, box_folder_id: str = "0",
        chunk_size: int = RestoreOptions.chunk_size, concurrency: int = RestoreOptions.concurrency,
        read_streams: int = RestoreOptions.read_streams, validation_queries: int = 10, min_recall: float = 0.9,
        staging_dir: str | None = None,
        signing_conn_id: str | None = None, encryption_conn_id: str | None = None, scan_mode: str = "auto",
        plan_only: bool = False, allow_lossy: Sequence[str] = (), where: dict[str, Any] | None = None,
        embedding_models: dict[str, str] | str | None = None, allow_model_change: bool = False, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if scan_mode not in SCAN_MODES:  # at parse time, not when the task runs
            raise ValueError(f"scan_mode must be one of {SCAN_MODES}, not {scan_mode!r}")
        self._set_store(box_folder, local_folder, box_conn_id, box_folder_id,
                        object_folder)  # a wrong combination fails at parse
        if as_of is not None and (snapshot_id is not None or dump_task_id is not None):
            raise ValueError(f"give as_of or {'snapshot_id' if snapshot_id is not None else 'dump_task_id'}, not "
                             f"both: as_of chooses the snapshot")
        self.snapshot_id = snapshot_id if snapshot_id is not None or as_of is not None else "latest"
        self.dump_task_id = dump_task_id
        self.as_of = as_of
        self.collections = collections
        self.target_prefix = target_prefix
        self.name_mapping = name_mapping
        self.target_keyspace = target_keyspace
        self.if_exists = if_exists
        self.allow_incomplete = allow_incomplete
        self.source_conn_id = source_conn_id_from(type(self).__name__, source_conn_id, astra_conn_id)
        self.chunk_size = chunk_size
        self.concurrency = concurrency
        self.read_streams = read_streams
        self.validation_queries = validation_queries
        self.min_recall = min_recall
        self.staging_dir = staging_dir
        self.signing_conn_id = signing_conn_id
        self.encryption_conn_id = encryption_conn_id
        self.scan_mode = scan_mode
        self.plan_only = plan_only
        self.allow_lossy = allow_lossy
        self.where = where
        self.embedding_models = embedding_models
        self.allow_model_change = allow_model_change
        if "{{" not in str(embedding_models):  # at parse time, unless it is only known when the task runs
            parse_models(embedding_models_argument(embedding_models))

    @cached_property
    def source_hook(self) -> VectorSourceHook:
        return VectorSourceHook(self.source_conn_id, keyspace=self.target_keyspace or None)

    def _which_snapshot(self, context: Context) -> tuple[str | None, dt.datetime | None]:
        """The snapshot id to restore, or ``None`` and the moment ``as_of`` names (rendered by now)."""
        if self.as_of is None:
            return resolve_snapshot_id(context, self.snapshot_id, self.dump_task_id), None
        try:
            return None, parse_as_of(self.as_of)
        except ValueError as exc:
            raise AirflowFailException(str(exc)) from None

    def execute(self, context: Context) -> dict[str, Any]:
        snapshot_id, as_of = self._which_snapshot(context)
        try:
            options = RestoreOptions(
                collections=self.collections, target_prefix=self.target_prefix, name_mapping=self.name_mapping,
                if_exists=self.if_exists, allow_incomplete=self.allow_incomplete, chunk_size=self.chunk_size,
                concurrency=self.concurrency, read_streams=self.read_streams,
                validation_queries=self.validation_queries,
                min_recall=self.min_recall, staging_dir=self.staging_dir, scan_mode=self.scan_mode,
                identities=keys_from(identities_from_connection, self.encryption_conn_id),
                verifier=keys_from(verifier_from_connection, self.signing_conn_id), as_of=as_of,
                plan_only=self.plan_only, allow_lossy=tuple(self.allow_lossy or ()), where=self.where or None,
                embedding_models=embedding_models_argument(self.embedding_models),
                allow_model_change=self.allow_model_change)
            return restore_snapshot(open_store(self.store_spec()), snapshot_id,
                                    self.source_hook.get_conn(), options)
        except (RestoreRefused, RestoreNotValidated, NoSnapshotAsOf, KeyConfigurationError, ModelMismatch,
                *UNUSABLE_SOURCE) as exc:
            raise AirflowFailException(str(exc)) from None
