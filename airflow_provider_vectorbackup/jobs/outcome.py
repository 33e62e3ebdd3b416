"""What a dump reports, single-task or scaled out: the sealed snapshot, its failures, and a small summary.

A retry may find the snapshot already sealed by an earlier attempt; it then reports that one,
and only if the same producer made it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_vectorbackup.snapshot.manifest import Manifest
from airflow_provider_vectorbackup.snapshot.writer import SnapshotResult
from airflow_provider_vectorbackup.stores.base import SnapshotExistsError, Store, StoredSnapshot

log = logging.getLogger(__name__)


@dataclass
class DumpOutcome:
    """A sealed snapshot (complete or INCOMPLETE) and what failed on the way, by collection."""

    snapshot: StoredSnapshot
    manifest: Manifest
    result: SnapshotResult | None
    failures: dict[str, BaseException] = field(default_factory=dict)
    already_complete: bool = False


def sealed_by(store: Store, snapshot_id: str, producer: dict[str, str] | None) -> tuple[StoredSnapshot, Manifest]:
    """A sealed snapshot and its manifest, if this producer made it; a retry may report it, never another DAG's.

    :raises SnapshotExistsError: another producer's snapshot has this id.
    """
    existing = store.get(snapshot_id)
    manifest = store.read_manifest(existing)
    theirs = (manifest.producer or {}).get("dag_id")
    if producer is not None and theirs != producer.get("dag_id"):
        raise SnapshotExistsError(f"snapshot {snapshot_id} in {store.describe()} was made by {theirs or 'someone else'}"
                                  f", not {producer.get('dag_id')}; give this backup another snapshot id")
    return existing, manifest


def already_complete(store: Store, snapshot_id: str, collections: list[str] | None,
                     producer: dict[str, str] | None) -> DumpOutcome:
    """A retry after the snapshot was sealed: report it, but only if it is this producer's and holds what was asked.

    :raises SnapshotExistsError: another producer's snapshot has this id, or it lacks a collection asked for.
    """
    existing, manifest = sealed_by(store, snapshot_id, producer)
    names = {c.name for c in manifest.collections}
    if collections and not set(collections) <= names:
        raise SnapshotExistsError(f"snapshot {snapshot_id} already exists without collection(s) "
                                  f"{sorted(set(collections) - names)}; give this dump another snapshot id")
    log.warning("Snapshot %s is already complete in %s; reporting it instead of dumping again", snapshot_id,
                store.describe())
    return DumpOutcome(existing, manifest, None, already_complete=True)


def summary_of(outcome: DumpOutcome, kind: str, folder: str) -> dict[str, Any]:
    """The small, JSON-safe report of a dump: enough for verify, restore and retention to find the snapshot."""
    snapshot, manifest = outcome.snapshot, outcome.manifest
    collections = {
        c.name: {"status": c.status, "documents": c.document_count,
                 "documents_with_vector": c.vectors.documents_with_vector,
                 "bytes": sum(f.bytes for f in c.files + c.shared), "content_digest": c.content_digest,
                 **({"bytes_stored": c.deduplication["bytes_stored"] + sum(f.bytes for f in c.files),
                     "parent": c.deduplication["parent"]} if c.deduplication else {})}
        for c in manifest.collections
    }
    summary = {
        "snapshot_id": snapshot.snapshot_id, "status": manifest.status, "store": kind, "location": snapshot.location,
        "path": f"{folder.rstrip('/')}/{snapshot.ref.folder_name}", "collections": collections,
        "bytes": sum(c["bytes"] for c in collections.values()), "already_complete": outcome.already_complete,
    }
    if outcome.result is not None:
        summary.update(manifest_sha256=outcome.result.manifest_sha256, manifest_sha1=outcome.result.manifest_sha1)
    return summary
