"""The last step of a snapshot: ``manifest.json`` (and its signature) written durably, then the folder renamed.

Until the rename, the snapshot is a ``.inprogress`` folder that readers ignore; after it, the
folder is ``<id>`` (complete) or ``<id>.INCOMPLETE``, and its manifest says what it holds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from airflow_provider_vectorbackup.snapshot.files import fsync_dir, write_file_durably
from airflow_provider_vectorbackup.snapshot.layout import MANIFEST_NAME, SnapshotState, folder_name
from airflow_provider_vectorbackup.snapshot.manifest import STATUS_COMPLETE, Manifest
from airflow_provider_vectorbackup.snapshot.signing import SIGNATURE_NAME, ManifestSigner, signature_document


@dataclass(frozen=True)
class SnapshotResult:
    snapshot_id: str
    status: str
    path: Path
    manifest: Manifest
    manifest_sha256: str
    manifest_sha1: str
    signature_key_id: str | None = None
    """The ``key_id`` that signed ``manifest.json`` (the snapshot then holds ``manifest.json.sig``), else ``None``."""


def seal_folder(path: Path, root: Path, manifest: Manifest, signer: ManifestSigner | None) -> SnapshotResult:
    """Write ``manifest`` (signed by ``signer``, if any) into the ``.inprogress`` folder ``path``, then rename it.

    The manifest is signed before anything is written, so a failing signer leaves only the
    ``.inprogress`` folder. The folder becomes ``<root>/<id>`` if the manifest's status is
    complete, else ``<root>/<id>.INCOMPLETE``.
    """
    raw = manifest.to_json()
    signature = signature_document(raw, signer) if signer is not None else None
    manifest_digests = write_file_durably(path / MANIFEST_NAME, raw)
    if signature is not None:
        write_file_durably(path / SIGNATURE_NAME, signature)
    state = SnapshotState.COMPLETE if manifest.status == STATUS_COMPLETE else SnapshotState.INCOMPLETE
    final = root / folder_name(manifest.snapshot_id, state)
    os.rename(path, final)
    fsync_dir(root)
    return SnapshotResult(manifest.snapshot_id, manifest.status, final, manifest, manifest_digests.sha256,
                          manifest_digests.sha1, signer.key_id if signer is not None else None)
