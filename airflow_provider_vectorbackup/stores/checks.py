"""One look at a snapshot in a store: still coming, verified, or failed. Shared by the sensor's poke and its trigger."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Any

from airflow_provider_vectorbackup.snapshot.errors import SnapshotStateError
from airflow_provider_vectorbackup.snapshot.layout import SnapshotState
from airflow_provider_vectorbackup.stores.base import download_and_verify
from airflow_provider_vectorbackup.stores.spec import Connections, StoreSpec

LEVELS = ("files", "deep")
WAITING, SEALED, VERIFIED, FAILED = "waiting", "sealed", "verified", "failed"


@dataclass(frozen=True)
class SnapshotCheck:
    outcome: str
    message: str
    report: dict[str, Any] | None = None


def check_sealed(spec: StoreSpec, snapshot_id: str, *, connections: Connections) -> SnapshotCheck:
    """Blocking but light: is the snapshot sealed yet (complete or INCOMPLETE)? Used while waiting in a trigger."""
    try:
        snapshot = spec.open(connections).get(snapshot_id)
    except SnapshotStateError as exc:
        return SnapshotCheck(WAITING, str(exc))
    if snapshot.state is SnapshotState.IN_PROGRESS:
        return SnapshotCheck(WAITING, f"snapshot {snapshot.snapshot_id} is still in progress")
    return SnapshotCheck(SEALED, f"snapshot {snapshot.snapshot_id} is sealed ({snapshot.state.value})")


def check_snapshot(spec: StoreSpec, snapshot_id: str, level: str, allow_incomplete: bool = False, *,
                   connections: Connections, verifier: Any = None, identities: Any = None) -> SnapshotCheck:
    """Blocking: look for the snapshot and, once sealed, verify it at ``level``.

    ``files`` compares every listed file's presence, size and checksum with the manifest (in Box,
    its recorded SHA-1, downloading only the manifest); ``deep`` downloads everything and re-reads
    every record, which also catches bytes that rotted at rest while Box's recorded SHA-1 stayed
    the same. Either way the report lists every bad file.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
    try:
        store = spec.open(connections)
        snapshot = store.get(snapshot_id)
    except SnapshotStateError as exc:
        return SnapshotCheck(WAITING, str(exc))
    if snapshot.state is SnapshotState.IN_PROGRESS:
        return SnapshotCheck(WAITING, f"snapshot {snapshot.snapshot_id} is still in progress")
    if snapshot.state is SnapshotState.INCOMPLETE and not allow_incomplete:
        report = store.verify_files(snapshot, allow_incomplete=True).to_dict()
        return SnapshotCheck(FAILED, f"snapshot {snapshot.snapshot_id} was sealed INCOMPLETE: a collection failed "
                             f"during the dump (see its manifest)", report)
    if level == "files":
        report = store.verify_files(snapshot, allow_incomplete=allow_incomplete, verifier=verifier)
    else:
        with tempfile.TemporaryDirectory(prefix="vectorbackup-verify-") as tmp:
            try:
                _, report = download_and_verify(store, snapshot, tmp, allow_incomplete=allow_incomplete,
                                                verifier=verifier, identities=identities)
            except Exception as exc:  # damaged files are in the report: this is the store failing
                return SnapshotCheck(FAILED, f"deep verification of {snapshot.snapshot_id} failed while downloading: "
                                     f"{type(exc).__name__}: {exc}")
    outcome = VERIFIED if report.ok else FAILED
    return SnapshotCheck(outcome, report.summary(), report.to_dict())
