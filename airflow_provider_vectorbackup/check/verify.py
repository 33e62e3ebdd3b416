"""Verification that re-reads what is stored and reports every problem, not just the first.

``files``: every listed file exists with its size and checksums, and nothing unlisted is there.
``records``: additionally parses every line and checks counts, vector dimensions, envelopes
and each collection's content digest against the manifest.

The levels are named here once (:data:`LEVELS`); :func:`level_named` is the one place that
reads a level given by a user. Stores only list, read and download: the comparing is done here
(a folder on disk) and in :mod:`.stored` (a snapshot in any store).
"""

from __future__ import annotations

import io
import json
import os
import warnings
from dataclasses import asdict, dataclass, field
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from airflow_provider_vectorbackup.snapshot.codec import DEFAULT_CODEC, Codec
from airflow_provider_vectorbackup.snapshot.digest import DIGEST_ALGORITHM
from airflow_provider_vectorbackup.snapshot.encryption import (
    DECRYPTION_FAILED, IDENTITY_REQUIRED, AgeIdentities, DecryptionError, identity_required, is_encrypted_path,
)
from airflow_provider_vectorbackup.snapshot.errors import (
    DecompressionBoundError, EnvelopeError, IntegrityError, SnapshotError,
)
from airflow_provider_vectorbackup.snapshot.files import Digests, digests_of_file
from airflow_provider_vectorbackup.snapshot.guard import declared_dimension
from airflow_provider_vectorbackup.snapshot.layout import MANIFEST_NAME, SnapshotState
from airflow_provider_vectorbackup.snapshot.manifest import (
    COLLECTION_FAILED, STATUS_COMPLETE, CollectionEntry, FileEntry, Manifest, ManifestNameError,
)
from airflow_provider_vectorbackup.snapshot.packed_reader import packed_plan, uses_line
from airflow_provider_vectorbackup.snapshot.packs import is_document_pack, is_index_pack
from airflow_provider_vectorbackup.snapshot.reader import (
    Mismatch, SegmentScan, checksum_mismatches, decode_line, folder_state, read_manifest_bytes, size_mismatches,
)
from airflow_provider_vectorbackup.snapshot.signing import SIGNATURE_NAME, Verifiers, check_signature, read_signature
from airflow_provider_vectorbackup.snapshot.tally import Tally
from airflow_provider_vectorbackup.snapshot.vector_fields import declared_fields
from airflow_provider_vectorbackup.snapshot.vectors import INVALID

LEVELS = ("files", "records")
DEPRECATED_LEVELS = {"deep": "records"}
"""Old names of a level, still accepted with a :class:`DeprecationWarning`."""
_MAX_LINE_PROBLEMS_PER_FILE = 20


def level_named(level: str) -> str:
    """The level ``level`` names: one of :data:`LEVELS`, or an old name (``"deep"``) with a deprecation warning.

    :raises ValueError: any other name.
    """
    if level in DEPRECATED_LEVELS:
        new = DEPRECATED_LEVELS[level]
        warnings.warn(f"verification level {level!r} is deprecated: use {new!r}", DeprecationWarning, stacklevel=3)
        return new
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
    return level


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one file: ``code`` for programs, ``message`` for people, and the two values compared."""

    path: str
    code: str
    message: str
    expected: Any = None
    """What the manifest (or the format) says, where one value was compared: a size, a checksum, a count, a rule."""
    found: Any = None
    """What was found instead."""

    def __str__(self) -> str:
        return f"{self.path}: {self.message} [{self.code}]"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``vectorbackup verify --json``, the sensor's XCom): ``file``, ``problem`` (the code), ``expected``,
        ``found`` and ``message``."""
        return {"file": self.path, "problem": self.code, "expected": self.expected, "found": self.found,
                "message": self.message}


@dataclass
class VerifyReport:
    snapshot: str
    level: str
    problems: list[Problem] = field(default_factory=list)
    files_checked: int = 0
    bytes_checked: int = 0
    documents_checked: int = 0
    signature_key_id: str | None = None
    """The key whose valid signature on ``manifest.json`` was checked, when a verifier was given."""

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, path: str, code: str, message: str, expected: Any = None, found: Any = None) -> None:
        self.problems.append(Problem(path, code, message, expected, found))

    def add_mismatches(self, path: str, mismatches: Iterable[Mismatch]) -> None:
        for mismatch in mismatches:
            self.add(path, *mismatch)

    def summary(self) -> str:
        head = (f"snapshot {self.snapshot}: {self.level} verification "
                f"{'passed' if self.ok else f'FAILED with {len(self.problems)} problem(s)'} "
                f"({self.files_checked} file(s), {self.bytes_checked} byte(s), {self.documents_checked} document(s) checked"
                f"{f'; manifest signed by key {self.signature_key_id}' if self.signature_key_id else ''})")
        if self.ok:
            return head
        lines = [head, *(f"  - {problem}" for problem in self.problems),
                 "Do not restore from this snapshot as it is: restore from another snapshot, or re-run the backup."]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "problems": [problem.to_dict() for problem in self.problems], "ok": self.ok}


def verify(
    path: str | os.PathLike[str], level: str = "files", *, allow_incomplete: bool = False, codec: Codec = DEFAULT_CODEC,
    verifier: Verifiers | None = None, identities: AgeIdentities | None = None,
    scratch_dir: str | os.PathLike[str] | None = None, damaged: Mapping[str, Problem] | None = None,
    read_data_subset: DataSubset | None = None,
) -> VerifyReport:
    """Check a snapshot folder against its manifest and return a report of every problem found.

    With a ``verifier`` (one key or several, see :mod:`signing`), ``manifest.json`` must also carry
    a valid signature by one of them; without one, ``manifest.json.sig`` is ignored.

    An encrypted snapshot verifies at ``files`` level without a key (the manifest lists the
    ciphertexts). The ``records`` level needs its age ``identities``: without them it reports
    ``identity_required`` (and still checks every file), with a wrong one ``decryption_failed``.
    Each segment is decrypted to a temporary file in ``scratch_dir`` (default: the system's
    temporary folder), which is deleted once the segment is checked.

    ``damaged`` names the files of a downloaded copy that the download found damaged and did not
    keep, with the problem found: each is reported as that problem rather than as missing.

    A deduplicated (format 4) snapshot's packs are checked in ``data/`` beside the folder. At the
    ``files`` level, ``read_data_subset`` also reads every line of the packs it selects (docs/format.md, 12.6).
    """
    level = level_named(level)
    path = Path(path)
    report = VerifyReport(snapshot=path.name, level=level)
    if not path.is_dir():
        report.add(path.name, "snapshot_missing", "no such snapshot folder")
        return report
    state = folder_state(path)
    if state is SnapshotState.IN_PROGRESS:
        report.add(path.name, "in_progress", "the snapshot is still being written or was abandoned by a crash; "
                   "it is never restorable")
        return report
    try:
        raw = read_manifest_bytes(path)
        manifest = Manifest.from_json(raw)
    except SnapshotError as exc:
        add_manifest_error(report, exc)
        return report
    report.snapshot = manifest.snapshot_id
    if verifier is not None:
        check_manifest_signature(raw, read_signature(path), verifier, report)
    _check_status(manifest, state, allow_incomplete, report)
    listed = _listed_files(manifest, report)
    _check_unlisted(path, listed, report)
    keys = _Decryption(identities, scratch_dir, manifest.encryption)
    if level == "records" and manifest.encrypted and identities is None:
        report.add(MANIFEST_NAME, IDENTITY_REQUIRED, identity_required(MANIFEST_NAME, manifest.encryption).reason
                   + ". Only the files (size and hashes) were checked")
        level = "files"
    for collection in manifest.collections:
        if collection.index is not None:
            _verify_packed(path, collection, level, codec, report, keys, damaged or {}, read_data_subset)
        else:
            _verify_collection(path, collection, level, codec, report, keys, damaged or {})
    return report


@dataclass
class _Decryption:
    """What the records level needs to read encrypted files, and whether the identities already failed."""

    identities: AgeIdentities | None
    scratch_dir: str | os.PathLike[str] | None
    encryption: dict[str, Any] | None
    wrong_identity: bool = False

    def failed(self, exc: DecryptionError, report: VerifyReport) -> None:
        message = exc.reason
        if exc.code == DECRYPTION_FAILED:
            self.wrong_identity = True
            message += ("; the other encrypted files were checked at file level only (size and hashes), since "
                        "every file is encrypted to the same recipients")
        report.add(exc.path, exc.code, message)


def add_manifest_error(report: VerifyReport, exc: SnapshotError) -> None:
    """Report why ``manifest.json`` was refused (each forbidden name on its own); nothing it lists is checked then."""
    if isinstance(exc, ManifestNameError):
        for problem in exc.problems:
            report.add(MANIFEST_NAME, "invalid_name", f"{problem}: nothing the manifest lists was read",
                       problem.rule, problem.found)
        return
    report.add(MANIFEST_NAME, "manifest_invalid", str(exc))


def check_manifest_signature(manifest_raw: bytes, signature_raw: bytes | None, verifier: Verifiers,
                             report: VerifyReport) -> None:
    """Add any signature problem to ``report`` under ``manifest.json``; usable by remote stores with downloaded bytes."""
    problems = check_signature(manifest_raw, signature_raw, verifier)
    for code, message in problems:
        report.add(MANIFEST_NAME, code, message)
    if not problems:
        report.signature_key_id = json.loads(signature_raw)["key_id"]


def _check_status(manifest: Manifest, state: SnapshotState, allow_incomplete: bool, report: VerifyReport) -> None:
    if state is SnapshotState.COMPLETE and manifest.status != STATUS_COMPLETE:
        report.add(MANIFEST_NAME, "status_mismatch", f"the folder is named as complete but the manifest says "
                   f"{manifest.status!r}")
    if allow_incomplete:
        return
    if manifest.status != STATUS_COMPLETE or state is SnapshotState.INCOMPLETE:
        report.add(MANIFEST_NAME, "incomplete", "the snapshot is INCOMPLETE"
                   + (f" ({manifest.error})" if manifest.error else "") + "; pass allow_incomplete to check it anyway")
    for collection in manifest.collections:
        if collection.status == COLLECTION_FAILED:
            report.add(f"collections/{collection.name}", "collection_failed",
                       f"the collection failed during the backup: {collection.error}")


def _listed_files(manifest: Manifest, report: VerifyReport) -> set[str]:
    listed: set[str] = set()
    for entry in manifest.files:
        if entry.path in listed:
            report.add(entry.path, "duplicate_entry", "the manifest lists this file twice")
        listed.add(entry.path)
        if manifest.encrypted and not is_encrypted_path(entry.path):
            report.add(entry.path, "not_encrypted", "the manifest says the snapshot is encrypted, but this file is "
                       "listed without encryption ('.age'): it was not written by an encrypting writer")
    return listed


def _check_unlisted(path: Path, listed: set[str], report: VerifyReport) -> None:
    present = (child.relative_to(path).as_posix() for child in path.rglob("*") if not child.is_dir())
    _report_unlisted(present, listed, report)


def _report_unlisted(present: Iterable[str], listed: set[str], report: VerifyReport) -> None:
    for relative in sorted(present):
        if relative not in (MANIFEST_NAME, SIGNATURE_NAME) and relative not in listed:
            report.add(relative, "unlisted_file", "file is not listed in the manifest: it was added after the "
                       "backup, or left by an interrupted write")


@dataclass(frozen=True)
class StoredFile:
    """What a store knows about a file without the checker reading it: its size and the checksums it keeps.

    Box records a SHA-1; S3 a SHA-256 (of an object written in one part); a folder on disk keeps none, so listing
    one reads each file for both.
    """

    size: int | None
    sha1: str | None
    sha256: str | None = None


def verify_listing(snapshot: str, state: SnapshotState, manifest: Manifest, listing: Mapping[str, StoredFile], *,
                   allow_incomplete: bool = False, blobs: Mapping[str, StoredFile] | None = None) -> VerifyReport:
    """The ``files`` level from a store's listing alone: presence, size and checksums of every file.

    :param listing: every file under the snapshot folder, by path relative to it.
    :param blobs: for a deduplicated snapshot, the store's shared ``data/`` area, by ``data/<name>``.
    """
    report = VerifyReport(snapshot=manifest.snapshot_id or snapshot, level="files")
    _check_status(manifest, state, allow_incomplete, report)
    listed = _listed_files(manifest, report)
    _report_unlisted(listing, listed, report)
    compare_listing(manifest.files, listing, report, require_checksum=True)
    compare_listing(shared_files(manifest), blobs or {}, report, require_checksum=True)
    return report


def shared_files(manifest: Manifest) -> list[FileEntry]:
    """The files in the store's ``data/`` area that a deduplicated snapshot uses, each once."""
    unique: dict[str, FileEntry] = {}
    for collection in manifest.collections:
        for pack in collection.shared:
            unique.setdefault(pack.path, pack)
    return list(unique.values())


def compare_listing(entries: Iterable[FileEntry], listing: Mapping[str, StoredFile], report: VerifyReport, *,
                    require_checksum: bool) -> None:
    """Add to ``report`` how each stored file differs from its entry: missing, size, checksum.

    The one comparison of a listing with manifest entries, for the ``files`` level and for the
    scale-out commit (which compares a folder still being written with the entries its workers
    reported). With ``require_checksum``, a file whose checksum cannot be compared is a problem;
    without, a checksum the store did not record is not compared (sizes still are).
    """
    for entry in entries:
        stored = listing.get(entry.path)
        if stored is None:
            report.add(entry.path, "missing_file", "listed in the manifest but not in the snapshot")
            continue
        report.files_checked += 1
        report.bytes_checked += entry.bytes
        report.add_mismatches(entry.path, _stored_mismatches(entry, stored, require_checksum))


def _stored_mismatches(entry: FileEntry, stored: StoredFile, require_checksum: bool) -> list[Mismatch]:
    found = size_mismatches(stored.size, entry) if stored.size is not None else []
    if stored.sha256 is not None and stored.sha1 is not None:  # read from the file itself
        return found + checksum_mismatches(Digests(stored.sha256, stored.sha1), entry)
    if stored.sha256 is not None:  # the SHA-256 the store verified and recorded when the file was written (S3)
        if stored.sha256.lower() != entry.sha256:
            found.append(Mismatch("checksum_mismatch", f"the store's SHA-256 is {stored.sha256}, the manifest says "
                                  f"{entry.sha256}: the file changed after it was written (corruption or tampering)",
                                  entry.sha256, stored.sha256))
        return found
    if entry.sha1 is None:
        if require_checksum:
            found.append(Mismatch("checksum_unavailable", "the manifest has no SHA-1 for this file; use the records "
                                  "level to check it", None, None))
    elif stored.sha1 is not None or require_checksum:
        if stored.sha1 is None or stored.sha1.lower() != entry.sha1:
            found.append(Mismatch("checksum_mismatch", f"the store's SHA-1 is {stored.sha1}, the manifest says "
                                  f"{entry.sha1}: the file changed after it was written (corruption or tampering)",
                                  entry.sha1, stored.sha1))
    return found


def _find_files(listed: list[tuple[Path, FileEntry]], report: VerifyReport,
                damaged: Mapping[str, Problem]) -> list[tuple[Path, FileEntry]]:
    """Count each listed file (under its folder) that is there, report the others; return those that are there."""
    present = []
    for base, entry in listed:
        if (base / entry.path).is_file():
            report.files_checked += 1
            report.bytes_checked += entry.bytes
            present.append((base, entry))
        elif entry.path in damaged:
            report.files_checked += 1
            report.problems.append(damaged[entry.path])
        else:
            report.add(entry.path, "missing_file", "listed in the manifest but not in the snapshot")
    return present


def _verify_collection(path: Path, collection: CollectionEntry, level: str, codec: Codec, report: VerifyReport,
                       keys: _Decryption, damaged: Mapping[str, Problem]) -> None:
    _find_files([(path, entry) for entry in collection.files], report, damaged)
    if level == "files" or keys.wrong_identity:
        for entry in collection.files:
            if (path / entry.path).is_file():
                _check_whole_file(path, entry, report)
        return
    definition = collection.definition
    if collection.definition_file is not None:
        definition = _check_definition(path, collection, report, keys)
        if keys.wrong_identity:
            for entry in collection.segments:
                if (path / entry.path).is_file():
                    _check_whole_file(path, entry, report)
            return
    _check_records(path, collection, definition, codec, report, keys)


@dataclass(frozen=True)
class DataSubset:
    """``n/t`` of a store's packs, read whole at the ``files`` level: those whose name, read as a number from its
    first 8 hex digits, leaves remainder ``n - 1`` when divided by ``t``. The same packs every time, and ``t`` runs
    with ``n`` = 1..t read every pack once (docs/format.md, 12.6)."""

    n: int
    t: int

    @classmethod
    def parse(cls, text: str) -> DataSubset:
        try:
            n, t = (int(part) for part in text.split("/"))
        except ValueError:
            raise ValueError(f"a data subset is 'n/t', e.g. 1/10, not {text!r}") from None
        if not 1 <= n <= t:
            raise ValueError(f"a data subset 'n/t' needs 1 <= n <= t, not {text!r}")
        return cls(n, t)

    def selects(self, path: str) -> bool:
        return int(path.rsplit("/", 1)[-1][:8], 16) % self.t == self.n - 1

    def __str__(self) -> str:
        return f"{self.n}/{self.t}"


def _verify_packed(path: Path, collection: CollectionEntry, level: str, codec: Codec, report: VerifyReport,
                   keys: _Decryption, damaged: Mapping[str, Problem], subset: DataSubset | None) -> None:
    """A deduplicated collection: its own files in the folder, its packs in ``data/`` beside it, then its records."""
    store_root = path.parent  # packs are listed as data/<name>, relative to the folder that holds the snapshots
    present = _find_files([(path, e) for e in collection.files] + [(store_root, p) for p in collection.shared],
                          report, damaged)
    if level == "files" or keys.wrong_identity:
        for base, entry in present:
            _check_whole_file(base, entry, report)
        if subset is not None:
            for base, entry in present:
                if base == store_root and is_document_pack(entry.path) and subset.selects(entry.path):
                    read_pack(base / entry.path, entry, report, codec=codec, identities=keys.identities,
                              scratch_dir=keys.scratch_dir, encryption=keys.encryption)
        return
    definition = collection.definition
    if collection.definition_file is not None:
        definition = _check_definition(path, collection, report, keys)
    for base, entry in present:
        if base == store_root and (entry is collection.index or is_index_pack(entry.path)):
            _check_whole_file(base, entry, report)
    tally = Tally()
    complete = True
    try:
        plan = list(packed_plan(path, collection))
    except IntegrityError as exc:
        report.add(exc.path, "index_invalid", str(exc).split(": ", 1)[1])
        plan, complete = [], False
    for local, pack, wanted in plan:
        if keys.wrong_identity:
            _check_whole_file(store_root, pack, report)
            continue
        scan = SegmentScan(local, pack, keys.identities, keys.scratch_dir, keys.encryption)
        if not _check_segment(scan, codec, tally, report, keys, wanted):
            complete = False
    if not keys.wrong_identity:
        _compare_tally(collection, definition, tally, complete, report)


def read_pack(local: Path, entry: FileEntry, report: VerifyReport, *, codec: Codec = DEFAULT_CODEC,
              identities: AgeIdentities | None = None, scratch_dir: str | os.PathLike[str] | None = None,
              encryption: dict[str, Any] | None = None) -> None:
    """Read every line of one document pack into ``report``, as the records level reads a segment."""
    keys = _Decryption(identities, scratch_dir, encryption)
    if is_encrypted_path(entry.path) and identities is None:
        keys.failed(identity_required(entry.path, encryption), report)
        return
    _check_segment(SegmentScan(local, entry, identities, scratch_dir, encryption), codec, Tally(), report, keys)


def _check_whole_file(path: Path, entry: FileEntry, report: VerifyReport) -> None:
    digests, size = digests_of_file(path / entry.path)
    report.add_mismatches(entry.path, size_mismatches(size, entry) + checksum_mismatches(digests, entry))


def _check_definition(path: Path, collection: CollectionEntry, report: VerifyReport,
                      keys: _Decryption) -> dict[str, Any] | None:
    """Check ``definition.json`` (or decrypt ``definition.json.age``); return the definition to check records against."""
    entry = collection.definition_file
    local = path / entry.path
    if not local.is_file():
        return None if is_encrypted_path(entry.path) else collection.definition
    if is_encrypted_path(entry.path):
        return _check_encrypted_definition(local, entry, report, keys)
    _check_whole_file(path, entry, report)
    try:
        stored = json.loads(local.read_bytes())
    except ValueError:
        report.add(entry.path, "invalid_json", "the collection definition is not valid JSON")
        return collection.definition
    if stored != collection.definition:
        report.add(entry.path, "definition_mismatch", "the stored collection definition differs from the manifest's")
    return collection.definition


def _check_encrypted_definition(local: Path, entry: FileEntry, report: VerifyReport,
                                keys: _Decryption) -> dict[str, Any] | None:
    """The manifest holds no copy of an encrypted definition: check its file, that it decrypts, and that it parses."""
    if keys.identities is None:
        keys.failed(identity_required(entry.path, keys.encryption), report)
        return None
    buffer: io.BytesIO | None = io.BytesIO()
    try:
        digests, size = keys.identities.decrypt_file(local, buffer, entry.path)
    except DecryptionError as exc:
        keys.failed(exc, report)
        digests, size = exc.cipher_digests, exc.cipher_size  # type: ignore[attr-defined]
        buffer = None
    report.add_mismatches(entry.path, size_mismatches(size, entry) + checksum_mismatches(digests, entry))
    if buffer is None:
        return None
    try:
        definition = json.loads(buffer.getvalue())
    except ValueError:
        definition = None
    if not isinstance(definition, dict):
        report.add(entry.path, "invalid_json", "the decrypted collection definition is not a JSON object")
        return None
    return definition


def _check_records(path: Path, collection: CollectionEntry, definition: dict[str, Any] | None, codec: Codec,
                   report: VerifyReport, keys: _Decryption) -> None:
    tally = Tally()
    complete = True
    for entry in collection.segments:
        local = path / entry.path
        if not local.is_file():
            complete = False
            continue
        if keys.wrong_identity:
            _check_whole_file(path, entry, report)
            continue
        scan = SegmentScan(local, entry, keys.identities, keys.scratch_dir, keys.encryption)
        if not _check_segment(scan, codec, tally, report, keys):
            complete = False
    if keys.wrong_identity:
        return  # nothing was decrypted: counts and digests cannot be compared
    _compare_tally(collection, definition, tally, complete, report)


def _compare_tally(collection: CollectionEntry, definition: dict[str, Any] | None, tally: Tally, complete: bool,
                   report: VerifyReport) -> None:
    """What the records were found to hold against what the manifest says: counts, vectors, digest."""
    name = f"collections/{collection.name}"
    if tally.documents != collection.document_count:
        report.add(name, "count_mismatch", f"the segments hold {tally.documents} readable document(s), the "
                   f"manifest says {collection.document_count}", collection.document_count, tally.documents)
    if tally.vectors.documents_with_vector != collection.vectors.documents_with_vector:
        report.add(name, "vector_count_mismatch", f"{tally.vectors.documents_with_vector} document(s) carry $vector, the manifest "
                   f"says {collection.vectors.documents_with_vector}", collection.vectors.documents_with_vector,
                   tally.vectors.documents_with_vector)
    declared = declared_dimension(definition) if definition is not None else None
    wrong = {dim: n for dim, n in tally.vectors.dimensions.items() if declared is not None and dim != str(declared)}
    if wrong:
        report.add(name, "vector_dimension_mismatch", f"the collection declares dimension {declared} but "
                   + ", ".join(f"{n} vector(s) have dimension {dim}" for dim, n in sorted(wrong.items())))
    _check_vector_fields(name, collection, definition, tally, report)
    if collection.digest_algorithm != DIGEST_ALGORITHM:
        report.add(name, "unknown_digest", f"content digest algorithm {collection.digest_algorithm!r} is not "
                   f"{DIGEST_ALGORITHM!r}; upgrade this package to check it")
    elif complete and tally.digest.hexdigest() != collection.content_digest:
        report.add(name, "digest_mismatch", "the documents' content digest differs from the manifest's: the "
                   "stored documents are not the ones that were backed up", collection.content_digest,
                   tally.digest.hexdigest())


def _check_vector_fields(name: str, collection: CollectionEntry, definition: dict[str, Any] | None, tally: Tally,
                         report: VerifyReport) -> None:
    """Each ``$vectors`` field as stored against the manifest's counts and the definition's ``vectors`` block."""
    recorded = collection.vectors.fields
    for field, seen in sorted(tally.vectors.fields.items()):
        invalid = seen.encodings.get(INVALID, 0)
        if invalid:
            report.add(name, "invalid_vector", f"{invalid} value(s) of vector field {field!r} are not a valid "
                       f"$vectors value (docs/format.md, \"Vector fields\")", 0, invalid)
        expected = recorded[field].documents_with_vector if field in recorded else 0
        if seen.documents_with_vector != expected:
            report.add(name, "vector_count_mismatch", f"{seen.documents_with_vector} document(s) carry vector field "
                       f"{field!r}, the manifest says {expected}", expected, seen.documents_with_vector)
    for field in declared_fields(definition):
        seen = tally.vectors.fields.get(field.name)
        wrong = field.wrong_dimensions(seen.dimensions) if seen is not None else {}
        if wrong:
            report.add(name, "vector_dimension_mismatch", f"vector field {field.name!r} declares dimension "
                       f"{field.dimension} but " + ", ".join(f"{n} value(s) have dimension {dim}"
                                                              for dim, n in sorted(wrong.items())))


def _check_segment(scan: SegmentScan, codec: Codec, tally: Tally, report: VerifyReport, keys: _Decryption,
                   wanted: bytearray | None = None) -> bool:
    """Parse every line of one segment into the tally; return False if the segment could not be fully read.

    For a pack, ``wanted`` has a bit set for each line this collection uses: every line is checked, only those
    are counted.
    """
    line_problems = 0
    readable = True
    unused = Tally()  # lines of a pack that other snapshots use: checked, not counted
    try:
        for number, line in enumerate(scan.lines(), start=1):
            counted = wanted is None or uses_line(wanted, number - 1)
            problem = _check_line(line, codec, tally if counted else unused)
            if problem is None:
                continue
            line_problems += 1
            readable = False
            if line_problems <= _MAX_LINE_PROBLEMS_PER_FILE:
                report.add(scan.entry.path, problem[0], f"line {number}: {problem[1]}")
    except DecryptionError as exc:  # nothing was read: report the file's own checks, not a line count
        keys.failed(exc, report)
        report.add_mismatches(scan.entry.path, scan.stored_mismatches())
        return False
    except DecompressionBoundError as exc:
        report.add(scan.entry.path, "decompression_bound", str(exc).split(": ", 1)[1], f"at most {exc.bound} bytes",
                   f"more than {exc.bound} bytes")
        readable = False
    except IntegrityError as exc:
        report.add(scan.entry.path, "corrupt_compression", str(exc).split(": ", 1)[1])
        readable = False
    if line_problems > _MAX_LINE_PROBLEMS_PER_FILE:
        report.add(scan.entry.path, "more_problems", f"{line_problems - _MAX_LINE_PROBLEMS_PER_FILE} more bad line(s) not listed")
    report.add_mismatches(scan.entry.path, scan.mismatches())
    report.documents_checked += scan.lines_read
    return readable


def _check_line(line: bytes, codec: Codec, tally: Tally) -> tuple[str, str] | None:
    try:
        document = decode_line(line)
    except ValueError as exc:
        return "invalid_json", f"not valid JSON ({exc})"
    if type(document) is not dict or "_id" not in document:
        return "invalid_document", "not a JSON object with an _id"
    try:
        codec.decode(document)
    except EnvelopeError as exc:
        return "invalid_envelope", str(exc)
    if tally.add(document) == INVALID:
        return "invalid_vector", "$vector is neither an array of numbers nor a $binary float32 vector"
    return None
