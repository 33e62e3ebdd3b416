"""``manifest.json``: the contract between the code that writes a snapshot and the code that restores it.

Field by field it is specified in docs/format.md. Readers ignore fields they do not know, and
refuse a ``format_version`` newer than the one they implement.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_vectorbackup.snapshot.errors import ManifestError
from airflow_provider_vectorbackup.snapshot.packs import BLOB_DIR, BLOB_NAME_RULE, INDEX_SUFFIX, is_blob_name, is_index
from airflow_provider_vectorbackup.snapshot.layout import (
    COLLECTION_NAME_RULE, KEYSPACE_NAME_RULE, is_collection_name, is_definition_path, is_keyspace_name,
    is_segment_path,
)

FORMAT_NAME = "vectorbackup-snapshot"
FORMAT_VERSION = 4
"""The newest version this package reads. It writes 1; 2 when segments are zstd-compressed; 3 for engines other than
the Data API, whose documents carry ``$vectors``; 4 for deduplicated snapshots (docs/format.md, 1 and 12)."""
ENGINE_FORMAT_VERSION = 3
"""The lowest ``format_version`` whose readers understand ``$vectors`` documents and engine definitions."""


def format_version_for(compression_version: int, source: dict[str, Any]) -> int:
    """The lowest version a reader needs: the compression's, raised to 3 for a source other than the Data API."""
    kind = source.get("kind", "astra") if isinstance(source, dict) else "astra"
    return max(compression_version, ENGINE_FORMAT_VERSION if kind != "astra" else 1)

STATUS_COMPLETE = "complete"
STATUS_INCOMPLETE = "incomplete"
COLLECTION_FAILED = "failed"
ENCRYPTION_SCHEME = "age"

DOCUMENT_FORMAT = {
    "layout": "JSON Lines: one UTF-8 JSON document per line, in the order the source returned them",
    "vector_field": "$vector kept as the source returned it: a JSON array of numbers or {\"$binary\": base64 big-endian float32}",
    "vector_fields": "$vectors (engines other than the Data API): {field: {kind, dtype, data, ...}}, bit-exact, docs/format.md",
    "ejson": "Data API EJSON ($date, $uuid, $objectId, $binary) kept verbatim",
    "special_types": "other non-JSON values wrapped as {\"$backupType\": <name>, \"value\": <json>}",
}


@dataclass
class FileEntry:
    """One stored file, with what a verifier needs to check it without trusting the store."""

    path: str
    bytes: int
    sha256: str
    documents: int | None = None
    uncompressed_bytes: int | None = None
    sha1: str | None = None


@dataclass
class FieldSummary:
    """What a pass saw of one ``$vectors`` field: documents with a value, their dimensions and kinds."""

    documents_with_vector: int = 0
    dimensions: dict[str, int] = field(default_factory=dict)
    encodings: dict[str, int] = field(default_factory=dict)
    """``"<kind>/<dtype>"`` (``"bit"`` alone), or ``"invalid"``, with the number of values of each."""


@dataclass
class VectorSummary:
    documents_with_vector: int = 0
    """Documents with ``$vector``, or with at least one valid ``$vectors`` value."""
    documents_with_vectorize: int = 0
    dimensions: dict[str, int] = field(default_factory=dict)
    encodings: dict[str, int] = field(default_factory=dict)
    fields: dict[str, FieldSummary] = field(default_factory=dict)
    """Per ``$vectors`` field (docs/format.md, "Vector fields"); empty for Data API collections."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VectorSummary:
        summary = cls(**_known(cls, data, exclude={"fields"}))
        summary.fields = {name: FieldSummary(**_known(FieldSummary, value))
                          for name, value in (data.get("fields") or {}).items()}
        return summary


@dataclass
class CollectionEntry:
    name: str
    status: str
    definition: dict[str, Any]
    definition_file: FileEntry | None
    document_count: int
    vectors: VectorSummary
    content_digest: str
    digest_algorithm: str
    segments: list[FileEntry] = field(default_factory=list)
    embedding: dict[str, Any] = field(default_factory=dict)
    embedding_models: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per vector field, ``{"model", "version", "from"}`` where known (docs/format.md 5); ``{}``: none recorded."""
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    scan: dict[str, Any] | None = None
    """How the source was read and the counts that reconcile it (docs/format.md, "Scan record")."""
    index: FileEntry | None = None
    """Format 4: the collection's index, ``data/<sha256>.chunks.gz``, in the store's shared area."""
    packs: list[FileEntry] = field(default_factory=list)
    """Format 4: every other file of the shared ``data/`` area that the index uses (index and document packs)."""
    deduplication: dict[str, Any] | None = None
    """Format 4, informational: the parent snapshot, documents reused from it and stored anew, bytes this dump
    stored in ``data/`` (docs/format.md, 12.5). Readers must not depend on it."""

    @property
    def files(self) -> list[FileEntry]:
        """The files inside the snapshot folder (a deduplicated collection's index and packs are not in it)."""
        return ([self.definition_file] if self.definition_file else []) + self.segments

    @property
    def shared(self) -> list[FileEntry]:
        """Format 4: the files of the store's shared ``data/`` area this collection needs, its index first."""
        return ([self.index] if self.index else []) + self.packs

    def to_dict(self) -> dict[str, Any]:
        """This entry exactly as ``manifest.json`` holds it: JSON-safe, e.g. to pass between workers."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CollectionEntry:
        """The inverse of :meth:`to_dict` (unknown fields are ignored, as a reader of the manifest does)."""
        try:
            return _collection_from_dict(data)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ManifestError(f"a collection entry is missing or has a malformed field ({exc!r})") from None


@dataclass
class Manifest:
    snapshot_id: str
    status: str
    started_at: str
    finished_at: str
    duration_seconds: float
    software: dict[str, str]
    source: dict[str, Any]
    settings: dict[str, Any]
    collections: list[CollectionEntry]
    error: str | None = None
    producer: dict[str, str] | None = None
    encryption: dict[str, Any] | None = None
    """``{"scheme": "age", "recipients_fingerprint": …}`` when data and definitions are encrypted; omitted otherwise."""
    document_format: dict[str, str] = field(default_factory=lambda: dict(DOCUMENT_FORMAT))
    format: str = FORMAT_NAME
    format_version: int = 1

    @property
    def files(self) -> list[FileEntry]:
        return [entry for collection in self.collections for entry in collection.files]

    @property
    def encrypted(self) -> bool:
        return self.encryption is not None

    def collection(self, name: str) -> CollectionEntry:
        for entry in self.collections:
            if entry.name == name:
                return entry
        known = ", ".join(c.name for c in self.collections) or "none"
        raise KeyError(f"snapshot {self.snapshot_id} has no collection {name!r} (it has: {known})")

    def to_json(self) -> bytes:
        data = {"format": self.format, "format_version": self.format_version}
        data.update({k: v for k, v in dataclasses.asdict(self).items() if k not in data})
        if data["encryption"] is None:
            del data["encryption"]  # unencrypted manifests stay exactly as they were before encryption existed
        for collection in data["collections"]:  # and snapshots that are not deduplicated as before format 4
            if collection["index"] is None and not collection["packs"]:
                del collection["index"], collection["packs"], collection["deduplication"]
            if not collection["embedding_models"]:  # and those that record no model as before models were recorded
                del collection["embedding_models"]
        return (json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ManifestError(f"manifest.json is not valid JSON ({exc}); the snapshot cannot be trusted") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
            raise ManifestError("manifest.json does not describe a vectorbackup snapshot (its 'format' field is missing or different)")
        version = data.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ManifestError(
                f"manifest.json has format_version {version!r}, but this reader implements version "
                f"{FORMAT_VERSION}; upgrade airflow-provider-vectorbackup to read it")
        encryption = data.get("encryption")
        if encryption is not None and (not isinstance(encryption, dict) or encryption.get("scheme") != ENCRYPTION_SCHEME):
            scheme = encryption.get("scheme") if isinstance(encryption, dict) else encryption
            raise ManifestError(
                f"manifest.json says the snapshot is encrypted with scheme {scheme!r}, which this reader does not "
                f"implement (it knows {ENCRYPTION_SCHEME!r}); upgrade airflow-provider-vectorbackup to read it")
        try:
            manifest = cls(
                **_known(cls, data, exclude={"collections"}),
                collections=[_collection_from_dict(c) for c in data["collections"]],
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ManifestError(f"manifest.json is missing or has a malformed field ({exc!r})") from None
        problems = name_problems(manifest)
        if problems:
            raise ManifestNameError(problems)
        return manifest


@dataclass(frozen=True)
class NameProblem:
    """A name or path in the manifest that the format does not allow: the field, its value, and the rule."""

    field: str
    found: Any
    rule: str

    def __str__(self) -> str:
        return f"{self.field} is {self.found!r}, which is not {self.rule}"


class ManifestNameError(ManifestError):
    """``manifest.json`` carries a collection, keyspace or file name the format forbids: nothing it lists is used."""

    def __init__(self, problems: list[NameProblem]) -> None:
        self.problems = problems
        super().__init__("manifest.json cannot be used: " + "; ".join(map(str, problems))
                         + ". It was not written by this format's writer (or was altered); use another snapshot")


def name_problems(manifest: Manifest) -> list[NameProblem]:
    """Every collection name, keyspace name and file path of ``manifest`` checked against docs/format.md, section 4.

    Readers run it before reading, downloading or writing anything the manifest names, signed or not.
    """
    found = []
    keyspace = manifest.source.get("keyspace") if isinstance(manifest.source, dict) else None
    if keyspace is not None and not is_keyspace_name(keyspace):
        found.append(NameProblem("source.keyspace", keyspace, KEYSPACE_NAME_RULE))
    for i, collection in enumerate(manifest.collections):
        name = collection.name
        if not is_collection_name(name):
            found.append(NameProblem(f"collections[{i}].name", name, COLLECTION_NAME_RULE))
            continue  # its files cannot belong to it
        entry = collection.definition_file
        if entry is not None and not is_definition_path(name, entry.path):
            found.append(NameProblem(f"collections[{i}].definition_file.path", entry.path,
                                     f"collections/{name}/definition.json (.age when encrypted)"))
        for j, segment in enumerate(collection.segments):
            if not is_segment_path(name, segment.path):
                found.append(NameProblem(f"collections[{i}].segments[{j}].path", segment.path,
                                         f"collections/{name}/part-NNNNN.jsonl, .jsonl.gz or .jsonl.zst "
                                         f"(.age when encrypted)"))
        index = collection.index
        if index is not None and not (_is_shared_path(index.path) and is_index(index.path)):
            found.append(NameProblem(f"collections[{i}].index.path", index.path,
                                     f"{BLOB_DIR}/<64 hex>{INDEX_SUFFIX}"))
        for j, pack in enumerate(collection.packs):
            if not _is_shared_path(pack.path) or is_index(pack.path):
                found.append(NameProblem(f"collections[{i}].packs[{j}].path", pack.path,
                                         f"{BLOB_DIR}/ and a name of {BLOB_NAME_RULE}"))
    return found


def _is_shared_path(path: object) -> bool:
    prefix = BLOB_DIR + "/"
    return isinstance(path, str) and path.startswith(prefix) and is_blob_name(path[len(prefix):])


def _known(cls: type, data: dict[str, Any], exclude: set[str] = frozenset()) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)} - exclude
    return {k: v for k, v in data.items() if k in names}


def _file_from_dict(data: dict[str, Any] | None) -> FileEntry | None:
    return None if data is None else FileEntry(**_known(FileEntry, data))


def _collection_from_dict(data: dict[str, Any]) -> CollectionEntry:
    return CollectionEntry(
        **_known(CollectionEntry, data, exclude={"definition_file", "segments", "vectors", "index", "packs"}),
        definition_file=_file_from_dict(data["definition_file"]),
        index=_file_from_dict(data.get("index")),
        packs=[_file_from_dict(p) for p in data.get("packs") or []],
        segments=[_file_from_dict(s) for s in data["segments"]],
        vectors=VectorSummary.from_dict(data["vectors"]),
    )
