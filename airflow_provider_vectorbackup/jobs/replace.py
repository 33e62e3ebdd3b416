"""A verified backup of the collections a restore is about to drop: replacing live data must be undoable.

``if_exists="replace"`` drops existing targets and recreates them from the snapshot. Before the
first is dropped, they are dumped as a normal snapshot into the same store and that snapshot is
verified record by record; if either fails, nothing is dropped.

No Airflow here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from airflow_provider_vectorbackup.check.stored import check_stored
from airflow_provider_vectorbackup.jobs.dump import DumpOptions, dump_snapshot
from airflow_provider_vectorbackup.snapshot.encryption import AgeEncryption, AgeIdentities
from airflow_provider_vectorbackup.snapshot.guard import VectorLossPolicy
from airflow_provider_vectorbackup.snapshot.layout import new_snapshot_id
from airflow_provider_vectorbackup.snapshot.manifest import STATUS_COMPLETE
from airflow_provider_vectorbackup.sources.base import VectorSource
from airflow_provider_vectorbackup.stores.base import Store

log = logging.getLogger(__name__)

BACKUP_LABEL = "before-replace"
"""The label of a backup's snapshot id, e.g. ``20261205T143000Z-before-replace``."""

PRODUCER = "vectorbackup-restore"
"""The manifest's ``producer.tool`` of such a backup; ``producer.replaced_by`` names the snapshot restored."""


class ReplacedBackupFailed(RuntimeError):
    """The backup of the collections to replace failed or did not verify; nothing was dropped."""


def back_up_replaced(source: VectorSource, store: Store, targets: Iterable[str], *, restoring: str,
                     identities: AgeIdentities | None = None, staging_dir: str | None = None) -> str | None:
    """Dump the ``targets`` that exist into ``store`` and verify the snapshot at level ``records``; return its id
    (``None``: no target exists, nothing to back up).

    The backup keeps what is there, documents without vectors included (the vector-loss guard only warns: a
    collection being replaced is often a damaged one). With ``identities`` (the restore reads an encrypted
    store) it is encrypted to their recipients. It is not signed: a restore holds no signing key.

    :raises ReplacedBackupFailed: the dump failed, was incomplete, or its verification found a problem.
    """
    existing = [name for name in targets if source.collection_definition(name) is not None]
    if not existing:
        return None
    snapshot_id = new_snapshot_id(label=BACKUP_LABEL)
    options = DumpOptions(collections=existing, staging_dir=staging_dir,
                          vector_policy=VectorLossPolicy(max_missing_fraction=1.0),
                          producer={"tool": PRODUCER, "replaced_by": restoring},
                          encryption=AgeEncryption.from_recipients(identities.recipients) if identities else None)
    refusal = (f"refusing to replace {existing} in {source.kind} namespace {source.namespace!r}: their backup, "
               f"snapshot {snapshot_id} in {store.describe()}, ")
    log.info("Backing up %s before replacing them, as snapshot %s", existing, snapshot_id)
    try:
        outcome = dump_snapshot(source, store, snapshot_id, options)
    except Exception as exc:
        raise ReplacedBackupFailed(f"{refusal}failed ({type(exc).__name__}: {exc}); nothing was dropped") from None
    if outcome.already_complete:  # another backup took this id in the same second: it is not a copy of these
        raise ReplacedBackupFailed(f"{refusal}already existed; nothing was dropped: run the restore again")
    if outcome.failures or outcome.manifest.status != STATUS_COMPLETE:
        failed = "; ".join(f"{name}: {type(exc).__name__}: {exc}" for name, exc in outcome.failures.items())
        raise ReplacedBackupFailed(f"{refusal}is incomplete ({failed or outcome.manifest.error}); nothing was "
                                   f"dropped")
    report = check_stored(store, outcome.snapshot, "records", identities=identities, scratch_dir=staging_dir)
    if not report.ok:
        raise ReplacedBackupFailed(f"{refusal}does not verify; nothing was dropped.\n{report.summary()}")
    log.info("Backed up %s as snapshot %s (verified record by record) before replacing them", existing, snapshot_id)
    return snapshot_id
