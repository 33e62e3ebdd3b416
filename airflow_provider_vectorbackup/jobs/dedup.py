"""What a deduplicating dump needs from the store: the parent of each collection, and where new packs go.

The parent of a collection is the newest sealed snapshot in the store that holds it complete,
deduplicated with the same keys, compression and encryption recipients. Only its index and
index packs are read (a few bytes per document); its document packs are reused, not read.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from airflow_provider_vectorbackup.snapshot.dedup_writer import Deduplication, ParentIndex
from airflow_provider_vectorbackup.snapshot.encryption import AgeEncryption
from airflow_provider_vectorbackup.snapshot.errors import IntegrityError, SnapshotError
from airflow_provider_vectorbackup.snapshot.files import digests_of_file
from airflow_provider_vectorbackup.snapshot.layout import SnapshotState
from airflow_provider_vectorbackup.snapshot.manifest import STATUS_COMPLETE, Manifest
from airflow_provider_vectorbackup.snapshot.packs import DEDUP_FORMAT_VERSION, DocumentKeys, blob_name
from airflow_provider_vectorbackup.snapshot.signing import ManifestSigner
from airflow_provider_vectorbackup.stores.base import Store, StoredSnapshot
from airflow_provider_vectorbackup.stores.locking import StoreLock

log = logging.getLogger(__name__)


def document_keys(encryption: AgeEncryption | None, signer: ManifestSigner | None) -> DocumentKeys:
    """Plain SHA-256 names, or keyed ones derived from the signer when the snapshot is encrypted."""
    if encryption is None:
        return DocumentKeys()
    if signer is None:
        raise ValueError("an encrypted, deduplicated dump needs a signing key: the keyed names of its documents "
                         "(docs/format.md, 12.2) are derived from it. Configure signing, or dump without "
                         "deduplication")
    return DocumentKeys.from_signer(signer)


def deduplication(store: Store, lock: StoreLock, scratch: Path, *, keys: DocumentKeys, compression: str,
                  encryption: AgeEncryption | None) -> Deduplication:
    """A :class:`Deduplication` that stores new packs in ``store`` and finds each collection's parent there."""
    scratch.mkdir(parents=True, exist_ok=True)
    wanted = {"key": keys.scheme, "key_id": keys.key_id, "compression": compression,
              "encryption": encryption.manifest_entry() if encryption is not None else None}
    candidates: list[StoredSnapshot] = []
    listed = False  # listed on first use, inside the writer, so a store that fails seals the snapshot INCOMPLETE
    manifests: dict[str, Manifest | None] = {}
    fetched: dict[str, Path] = {}
    guard = threading.Lock()

    def manifest_of(index: int) -> Manifest | None:
        snapshot = candidates[index]
        with guard:
            if snapshot.snapshot_id not in manifests:
                try:
                    manifests[snapshot.snapshot_id] = store.read_manifest(snapshot)
                except SnapshotError as exc:  # deleted meanwhile, or damaged: not a parent
                    log.info("Snapshot %s cannot be a parent: %s", snapshot.snapshot_id, exc)
                    manifests[snapshot.snapshot_id] = None
            return manifests[snapshot.snapshot_id]

    def fetch(name: str) -> Path:
        with guard:
            if name not in fetched:
                fetched[name] = store.get_blob(name, scratch)
            return fetched[name]

    def parent_for(collection: str) -> ParentIndex | None:
        nonlocal listed
        with guard:
            if not listed:
                candidates.extend(s for s in sorted(store.snapshots(), key=lambda s: s.ref, reverse=True)
                                  if s.state is not SnapshotState.IN_PROGRESS)
                listed = True
        for position in range(len(candidates)):
            manifest = manifest_of(position)
            if manifest is None or not _same_settings(manifest, wanted):
                continue
            entry = next((c for c in manifest.collections if c.name == collection), None)
            if entry is None or entry.status != STATUS_COMPLETE or entry.index is None:
                continue
            index = fetch(blob_name(entry.index.path))
            digests, size = digests_of_file(index)
            if size != entry.index.bytes or digests.sha256 != entry.index.sha256:
                raise IntegrityError(entry.index.path, f"the index of collection {collection!r} in snapshot "
                                     f"{manifest.snapshot_id} differs from its manifest; verify that snapshot")
            log.info("Collection %r: deduplicating against snapshot %s", collection, manifest.snapshot_id)
            return ParentIndex(manifest.snapshot_id, blob_name(entry.index.path), index, fetch,
                               {blob_name(p.path): p for p in entry.shared})
        log.info("Collection %r: no earlier deduplicated snapshot of it; every document is stored", collection)
        return None

    def put_blob(name: str, local: Path) -> None:
        store.put_blob(name, local)
        lock.refresh()

    return Deduplication(keys, put_blob, parent_for, retain=store.retain_blobs)


def _same_settings(manifest: Manifest, wanted: dict[str, object]) -> bool:
    dedup = manifest.settings.get("dedup") or {}
    return (manifest.format_version >= DEDUP_FORMAT_VERSION and dedup.get("key") == wanted["key"]
            and dedup.get("key_id") == wanted["key_id"]
            and manifest.settings.get("compression") == wanted["compression"]
            and manifest.encryption == wanted["encryption"])
