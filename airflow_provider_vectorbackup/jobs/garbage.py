"""Garbage collection of the shared ``data/`` area: mark from every sealed snapshot, then sweep the rest.

After restic's ``prune``: a pack may be deleted only when no snapshot that stays lists it. Prune
deletes snapshot folders first and collects garbage after, so a crash between or during the two
leaves only unreferenced packs, which the next run frees. Garbage collection holds the store's
exclusive lock, which no deduplicating dump holds beside it (:mod:`..stores.locking`), so a pack
that a running dump reuses is never swept. It refuses to sweep at all when any sealed snapshot's
manifest cannot be read, since the packs that snapshot needs cannot then be known.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_provider_vectorbackup.snapshot.errors import SnapshotError
from airflow_provider_vectorbackup.snapshot.layout import SnapshotState
from airflow_provider_vectorbackup.snapshot.packs import blob_name
from airflow_provider_vectorbackup.stores.base import SnapshotLockedError, Store
from airflow_provider_vectorbackup.stores.locking import EXCLUSIVE, StoreLock, StoreLockedError, remove_expired_locks

log = logging.getLogger(__name__)

GC_LEASE = dt.timedelta(minutes=10)
"""Garbage collection refreshes its lock with every deletion; a crashed one blocks dumps for at most this long."""


@dataclass(frozen=True)
class GarbageReport:
    """What garbage collection found and did (or, in a dry run, would do)."""

    dry_run: bool
    swept: bool
    """Whether the sweep ran (in a dry run: whether it could have)."""
    reason: str | None = None
    """Why it did not, when it did not."""
    stored_files: int = 0
    referenced_files: int = 0
    unreferenced: list[str] = field(default_factory=list)
    """Names in ``data/`` that no remaining snapshot lists: deleted, or in a dry run, to be deleted."""
    bytes_freed: int = 0
    """Their total size: freed, or in a dry run, what would be freed."""
    expired_locks_removed: list[str] = field(default_factory=list)
    retained: list[str] = field(default_factory=list)
    """Unreferenced names the store refused to delete yet (S3 Object Lock): kept, freed by a prune after the date."""

    def summary(self) -> str:
        if not self.swept:
            return f"garbage collection did not run: {self.reason}"
        verb = "would free" if self.dry_run else "freed"
        text = (f"garbage collection {verb} {self.bytes_freed} byte(s) in {len(self.unreferenced)} unreferenced "
                f"file(s) of data/; {self.referenced_files} of {self.stored_files} are still used")
        if self.retained:
            text += f"; {len(self.retained)} more are unreferenced but under the store's lock until their date"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "summary": self.summary()}


def collect_garbage(store: Store, *, dry_run: bool = False, deleting: Iterable[str] = (),
                    lease: dt.timedelta = GC_LEASE) -> GarbageReport:
    """Delete every file of ``data/`` that no sealed snapshot lists.

    :param deleting: snapshot ids a dry run's plan would delete: their packs count as unreferenced.
    """
    stored = store.blob_files()
    if not stored:  # nothing to sweep; a store of snapshots that are not deduplicated gets no lock file either
        return GarbageReport(dry_run, True)
    lock = StoreLock(store, EXCLUSIVE, "garbage collection (prune)", lease=lease)
    removed_locks: list[str] = []
    if not dry_run:
        removed_locks = remove_expired_locks(store)
        try:
            lock.acquire()
        except StoreLockedError as exc:
            return GarbageReport(dry_run, False, f"{exc}. Unreferenced packs are freed by the next prune",
                                 len(stored), expired_locks_removed=removed_locks)
    try:
        marked, unreadable = _mark(store, set(deleting))
        if unreadable:
            return GarbageReport(dry_run, False, f"the manifest of {', '.join(unreadable)} cannot be read, so the "
                                 f"packs it needs are unknown and nothing was swept; verify it, and delete it if it "
                                 f"is damaged beyond use", len(stored), expired_locks_removed=removed_locks)
        garbage = sorted(set(stored) - marked)
        retained = []
        if not dry_run:
            for name in garbage:
                lock.refresh()
                try:
                    store.delete_blob(name)
                except SnapshotLockedError as exc:  # retained by S3 Object Lock: kept, nothing else changes
                    log.info("Not deleted yet: %s", exc)
                    retained.append(name)
        freed_names = [name for name in garbage if name not in retained]
        report = GarbageReport(dry_run, True, None, len(stored), len(set(stored) & marked), freed_names,
                               sum(stored[name].size or 0 for name in freed_names), removed_locks, retained)
        log.info("%s", report.summary())
        return report
    finally:
        lock.release()


def _mark(store: Store, deleting: set[str]) -> tuple[set[str], list[str]]:
    """Every ``data/`` name a sealed snapshot (other than those in ``deleting``) lists, and the unreadable ones."""
    marked: set[str] = set()
    unreadable: list[str] = []
    for snapshot in store.snapshots():
        if snapshot.state is SnapshotState.IN_PROGRESS or snapshot.snapshot_id in deleting:
            continue  # a running dump's packs are covered by its lock; an abandoned one's are garbage
        try:
            manifest = store.read_manifest(snapshot)
        except SnapshotError:
            unreadable.append(snapshot.ref.folder_name)
            continue
        for collection in manifest.collections:
            marked.update(blob_name(entry.path) for entry in collection.shared)
    return marked, unreadable
