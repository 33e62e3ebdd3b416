"""One look at a snapshot in a store: still coming, verified, or failed. Shared by the sensor's poke and its trigger."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airflow_provider_vectorbackup.check.stored import check_stored
from airflow_provider_vectorbackup.check.verify import DataSubset, level_named
from airflow_provider_vectorbackup.snapshot.errors import SnapshotStateError
from airflow_provider_vectorbackup.snapshot.layout import SnapshotState
from airflow_provider_vectorbackup.stores.base import Store
from airflow_provider_vectorbackup.stores.spec import StoreSpec

WAITING, SEALED, VERIFIED, FAILED = "waiting", "sealed", "verified", "failed"

StoreOpener = Callable[[StoreSpec], Store]
"""Opens the store a spec names, resolving its connections: ``hooks.connections.open_store`` in Airflow."""


@dataclass(frozen=True)
class SnapshotCheck:
    outcome: str
    message: str
    report: dict[str, Any] | None = None


def check_sealed(spec: StoreSpec, snapshot_id: str, *, open_store: StoreOpener) -> SnapshotCheck:
    """Blocking but light: is the snapshot sealed yet (complete or INCOMPLETE)? Used while waiting in a trigger."""
    try:
        snapshot = open_store(spec).get(snapshot_id)
    except SnapshotStateError as exc:
        return SnapshotCheck(WAITING, str(exc))
    if snapshot.state is SnapshotState.IN_PROGRESS:
        return SnapshotCheck(WAITING, f"snapshot {snapshot.snapshot_id} is still in progress")
    return SnapshotCheck(SEALED, f"snapshot {snapshot.snapshot_id} is sealed ({snapshot.state.value})")


def check_snapshot(spec: StoreSpec, snapshot_id: str, level: str, allow_incomplete: bool = False, *,
                   open_store: StoreOpener, verifier: Any = None, identities: Any = None,
                   read_data_subset: DataSubset | None = None) -> SnapshotCheck:
    """Blocking: look for the snapshot and, once sealed, verify it at ``level`` (see :func:`.check_stored`).

    ``level`` is ``"files"`` or ``"records"`` (``"deep"``, its old name, warns). Either way the
    report lists every bad file.
    """
    level = level_named(level)
    try:
        store = open_store(spec)
        snapshot = store.get(snapshot_id)
    except SnapshotStateError as exc:
        return SnapshotCheck(WAITING, str(exc))
    if snapshot.state is SnapshotState.IN_PROGRESS:
        return SnapshotCheck(WAITING, f"snapshot {snapshot.snapshot_id} is still in progress")
    if snapshot.state is SnapshotState.INCOMPLETE and not allow_incomplete:
        report = check_stored(store, snapshot, "files", allow_incomplete=True).to_dict()
        return SnapshotCheck(FAILED, f"snapshot {snapshot.snapshot_id} was sealed INCOMPLETE: a collection failed "
                             f"during the dump (see its manifest)", report)
    if level == "files":
        report = check_stored(store, snapshot, level, allow_incomplete=allow_incomplete, verifier=verifier,
                              identities=identities, read_data_subset=read_data_subset)
    else:
        try:
            report = check_stored(store, snapshot, level, allow_incomplete=allow_incomplete, verifier=verifier,
                                  identities=identities)
        except Exception as exc:  # damaged files are in the report: this is the store failing
            return SnapshotCheck(FAILED, f"records verification of {snapshot.snapshot_id} failed while downloading: "
                                 f"{type(exc).__name__}: {exc}")
    outcome = VERIFIED if report.ok else FAILED
    return SnapshotCheck(outcome, report.summary(), report.to_dict())
