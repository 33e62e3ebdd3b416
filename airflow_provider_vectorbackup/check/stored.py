"""Verification of a snapshot in a store, at either level: what the CLI, the sensor, restore and retention call.

The store lists its files (with the checksums it knows), reads the manifest and downloads;
everything compared here is compared by :mod:`.verify`, so one bad file is reported the same
way whichever entry point found it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from airflow_provider_vectorbackup.check.verify import (
    DataSubset, Problem, StoredFile, VerifyReport, add_manifest_error, check_manifest_signature, level_named,
    read_pack, shared_files, verify, verify_listing,
)
from airflow_provider_vectorbackup.snapshot.encryption import AgeIdentities
from airflow_provider_vectorbackup.snapshot.errors import PackDamagedError, SnapshotError
from airflow_provider_vectorbackup.snapshot.files import digests_of_file
from airflow_provider_vectorbackup.snapshot.packs import blob_name, is_document_pack
from airflow_provider_vectorbackup.snapshot.layout import SnapshotState
from airflow_provider_vectorbackup.snapshot.manifest import Manifest
from airflow_provider_vectorbackup.snapshot.signing import Verifiers

if TYPE_CHECKING:
    from airflow_provider_vectorbackup.stores.base import Store, StoredSnapshot


def check_stored(store: Store, snapshot: StoredSnapshot, level: str = "files", *,
                 allow_incomplete: bool = False, verifier: Verifiers | None = None,
                 identities: AgeIdentities | None = None, scratch_dir: str | Path | None = None,
                 read_data_subset: DataSubset | None = None) -> VerifyReport:
    """Verify a stored snapshot at ``level`` and report every problem found.

    ``files`` compares the store's listing with the manifest (in Box, its recorded SHA-1s,
    downloading only the manifest); ``records`` downloads everything into ``scratch_dir`` (a
    temporary folder, removed afterwards) and re-reads every record, which also catches bytes
    that rotted at rest while the store's recorded checksum stayed the same. A snapshot still in
    progress is never verified: the report says so. For a deduplicated snapshot, ``read_data_subset``
    adds to the ``files`` level a full read of the document packs it selects (docs/format.md, 12.6).

    :raises Exception: the store failed (e.g. Box unreachable); damaged files are in the report instead.
    """
    level = level_named(level)
    if level == "files":
        return _check_files(store, snapshot, allow_incomplete, verifier, read_data_subset, identities, scratch_dir)
    with tempfile.TemporaryDirectory(prefix="vectorbackup-verify-", dir=scratch_dir) as tmp:
        return download_and_verify(store, snapshot, tmp, allow_incomplete=allow_incomplete, verifier=verifier,
                                   identities=identities, scratch_dir=tmp)[1]


def download_and_verify(store: Store, snapshot: StoredSnapshot, local_root: str | Path, *,
                        allow_incomplete: bool = False, verifier: Verifiers | None = None,
                        identities: AgeIdentities | None = None,
                        scratch_dir: str | Path | None = None) -> tuple[Path | None, VerifyReport]:
    """``records`` verification of a stored snapshot: its local copy, and a report of every problem in one run.

    Every file is downloaded even when one is damaged, and the report lists each damaged file
    along with what reading the others found. Nothing is downloaded, and the copy is ``None``,
    when the snapshot is in progress, or INCOMPLETE without ``allow_incomplete``, or its manifest
    is refused (unreadable, damaged, or naming an unsafe collection or path).
    """
    refused = _refused_state(snapshot, "records", allow_incomplete)
    if refused is not None:
        return None, refused
    damaged: dict[str, Problem] = {}
    try:
        local = store.download(snapshot, local_root, damaged=damaged)
    except SnapshotError as exc:
        report = VerifyReport(snapshot=snapshot.snapshot_id, level="records")
        add_manifest_error(report, exc)
        return None, report
    return local, verify(local, "records", allow_incomplete=allow_incomplete, verifier=verifier,
                         identities=identities, scratch_dir=scratch_dir, damaged=damaged)


def _check_files(store: Store, snapshot: StoredSnapshot, allow_incomplete: bool, verifier: Verifiers | None,
                 subset: DataSubset | None = None, identities: AgeIdentities | None = None,
                 scratch_dir: str | Path | None = None) -> VerifyReport:
    refused = _refused_state(snapshot, "files", allow_incomplete)
    if refused is not None:
        return refused
    try:
        raw = store.manifest_bytes(snapshot)
        manifest = Manifest.from_json(raw)
    except SnapshotError as exc:
        report = VerifyReport(snapshot=snapshot.snapshot_id, level="files")
        add_manifest_error(report, exc)
        return report
    with tempfile.TemporaryDirectory(prefix="vectorbackup-verify-", dir=scratch_dir) as scratch:
        blobs = shared_listing(store, manifest, Path(scratch))
        report = verify_listing(snapshot.ref.folder_name, snapshot.state, manifest, store.files(snapshot),
                                allow_incomplete=allow_incomplete, blobs=blobs)
        if subset is not None:
            for entry in shared_files(manifest):
                if entry.path in blobs and is_document_pack(entry.path) and subset.selects(entry.path):
                    try:
                        local = store.get_blob(blob_name(entry.path), Path(scratch))
                    except PackDamagedError as exc:  # e.g. rotted in Box while the SHA-1 Box records stayed right
                        if not any(problem.path == entry.path for problem in report.problems):
                            report.problems.append(exc.problem)
                        continue
                    read_pack(local, entry, report, identities=identities, scratch_dir=scratch,
                              encryption=manifest.encryption)
                    if local.parent == Path(scratch):
                        local.unlink()
    if verifier is not None:
        check_manifest_signature(raw, store.signature_bytes(snapshot), verifier, report)
    return report


def shared_listing(store: Store, manifest: Manifest, scratch: Path) -> dict[str, StoredFile]:
    """The store's ``data/`` files that a deduplicated snapshot uses, by ``data/<name>``, with checksums.

    A store that records no checksum for a file (a folder on disk) has the file read for them, as its
    :meth:`files` does for the snapshot folder; one that records them (Box, S3) is only listed.
    """
    needed = shared_files(manifest)
    if not needed:
        return {}
    listing = store.blob_files()
    found: dict[str, StoredFile] = {}
    for entry in needed:
        name = blob_name(entry.path)
        stored = listing.get(name)
        if stored is not None and stored.sha1 is None and stored.sha256 is None:
            try:
                local = store.get_blob(name, scratch)
            except PackDamagedError as exc:  # its bytes are not its name's: a mismatch for the listing check
                stored = StoredFile(stored.size, None, exc.problem.found)
            else:
                digests, size = digests_of_file(local)
                stored = StoredFile(size, digests.sha1, digests.sha256)
                if local.parent == scratch:
                    local.unlink()  # a downloaded copy: scratch holds one pack at a time, not the store's data area
        if stored is not None:
            found[entry.path] = stored
    return found


def _refused_state(snapshot: StoredSnapshot, level: str, allow_incomplete: bool) -> VerifyReport | None:
    """A report refusing a snapshot for its folder's state alone, before anything is read; ``None`` if it may be read.

    An INCOMPLETE snapshot is read at ``files`` level anyway (its manifest says which collection
    failed, and the report lists it); at ``records`` level nothing is downloaded for it.
    """
    report = VerifyReport(snapshot=snapshot.snapshot_id, level=level)
    if snapshot.state is SnapshotState.IN_PROGRESS:
        report.add(snapshot.ref.folder_name, "in_progress", "the snapshot is still being written or was abandoned by "
                   "a crash; it is never restorable")
        return report
    if snapshot.state is SnapshotState.INCOMPLETE and not allow_incomplete and level == "records":
        report.add(snapshot.ref.folder_name, "incomplete", "the snapshot is INCOMPLETE: a collection failed during "
                   "the backup; allow incomplete snapshots (allow_incomplete, --allow-incomplete) to use its "
                   "complete collections")
        return report
    return None
