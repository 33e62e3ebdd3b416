"""ManifestVerifySensor: wait until a snapshot is sealed, then prove it intact, or fail naming each bad file."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException, BaseSensorOperator, PokeReturnValue, conf

from airflow_provider_vectorbackup.hooks.box import BoxHook
from airflow_provider_vectorbackup.hooks.connections import keys_from, open_store
from airflow_provider_vectorbackup.operators.snapshot_ids import resolve_snapshot_id
from airflow_provider_vectorbackup.keys import identities_from_connection, verifier_from_connection
from airflow_provider_vectorbackup.check.snapshot import FAILED, VERIFIED, check_snapshot
from airflow_provider_vectorbackup.check.verify import DEPRECATED_LEVELS, DataSubset, level_named
from airflow_provider_vectorbackup.stores.spec import StoreArguments
from airflow_provider_vectorbackup.triggers.manifest import ManifestVerifyTrigger

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class ManifestVerifySensor(StoreArguments, BaseSensorOperator):
    """Succeed once snapshot ``snapshot_id`` is complete in its store and passes verification.

    :param box_folder: path of the Box folder holding snapshots (as given to the dump).
    :param local_folder: instead of Box, the local or mounted folder holding snapshots.
    :param object_folder: instead, an object store URL, ``s3://<conn_id>@bucket/prefix`` (also ``gs://``,
        ``abfs://``; docs/stores.md).
    :param snapshot_id: templated; an id, or ``"latest"``. Ignored when ``dump_task_id`` is set.
    :param dump_task_id: take the snapshot id from this upstream ``VectorDumpOperator``'s XCom.
    :param level: ``"files"`` (presence, size and Box SHA-1 of every file against the manifest) or
        ``"records"`` (download, SHA-256 and every record re-read). ``"deep"``, the old name of
        ``"records"``, still works with a deprecation warning.
    :param allow_incomplete: verify an ``.INCOMPLETE`` snapshot instead of failing on it.
    :param deferrable: wait in the triggerer instead of occupying a worker slot.
    :param signing_conn_id: connection with the manifest key: an unsigned or badly signed snapshot fails.
    :param encryption_conn_id: connection holding the age identity, for ``records`` on encrypted snapshots
        (``files`` needs no key).
    :param read_data_subset: templated; ``"n/t"`` (e.g. ``"1/7"``) reads, at the ``files`` level, every document of
        the deduplicated snapshot's packs that fall in part n of t; t runs with n = 1..t (e.g. one per weekday,
        ``"{{ logical_date.isoweekday() }}/7"``) read every pack once. docs/format.md, 12.6.

    Returns (XCom) the verification report. A mismatch fails the task with a report naming
    each bad file; it never passes silently.
    """

    template_fields: Sequence[str] = ("snapshot_id", "box_folder", "local_folder", "object_folder", "level",
                                      "read_data_subset")
    ui_color = "#b7e4c7"

    def __init__(
        self, *, box_folder: str | None = None, local_folder: str | None = None, object_folder: str | None = None,
        snapshot_id: str = "latest",
        dump_task_id: str | None = None, level: str = "files",
        box_conn_id: str = BoxHook.default_conn_name, box_folder_id: str = "0", allow_incomplete: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        signing_conn_id: str | None = None, encryption_conn_id: str | None = None,
        read_data_subset: str | None = None, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._set_store(box_folder, local_folder, box_conn_id, box_folder_id,
                        object_folder)  # a wrong combination fails at parse
        self.snapshot_id = snapshot_id
        self.dump_task_id = dump_task_id
        self.level = level_named(level) if level in DEPRECATED_LEVELS else level  # warns where the DAG says it
        self.allow_incomplete = allow_incomplete
        self.deferrable = deferrable
        self.signing_conn_id = signing_conn_id
        self.encryption_conn_id = encryption_conn_id
        self.read_data_subset = read_data_subset
        if read_data_subset and "{{" not in read_data_subset:
            DataSubset.parse(read_data_subset)  # a wrong one fails when the DAG is parsed

    def poke(self, context: Context) -> PokeReturnValue:
        try:  # checked here, not at parse time: the level may be templated
            level = level_named(self.level)
            subset = DataSubset.parse(self.read_data_subset) if self.read_data_subset else None
        except ValueError as exc:
            raise AirflowFailException(str(exc)) from None
        snapshot_id = resolve_snapshot_id(context, self.snapshot_id, self.dump_task_id)
        check = check_snapshot(
            self.store_spec(), snapshot_id, level, self.allow_incomplete, open_store=open_store,
            verifier=keys_from(verifier_from_connection, self.signing_conn_id),
            identities=keys_from(identities_from_connection, self.encryption_conn_id), read_data_subset=subset)
        self.log.info("%s", check.message)
        if check.outcome == FAILED:
            raise AirflowFailException(check.message)
        return PokeReturnValue(is_done=check.outcome == VERIFIED, xcom_value=check.report)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        first = self.poke(context)
        if first.is_done:
            return first.xcom_value
        self.defer(
            timeout=timedelta(seconds=self.timeout),
            trigger=ManifestVerifyTrigger(store=self.store_spec().to_dict(),
                                          snapshot_id=resolve_snapshot_id(context, self.snapshot_id, self.dump_task_id),
                                          poke_interval=self.poke_interval),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any] | None:
        """Back on a worker once the snapshot is sealed: verify it here, where heavy work belongs."""
        if event.get("status") != "success":
            raise AirflowFailException(event.get("message") or "waiting for the snapshot failed")
        self.log.info("%s", event.get("message"))
        result = self.poke(context)
        if not result.is_done:
            raise AirflowFailException("the snapshot was sealed but is no longer there; it may have been deleted")
        return result.xcom_value
