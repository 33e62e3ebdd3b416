"""The snapshot format core: plain Python with no Airflow imports.

It writes, reads and guards snapshots as specified in docs/format.md, so hooks, operators
and a command-line restore all share one implementation of the contract. Verifying a snapshot
against it is the checker's job: :mod:`airflow_provider_vectorbackup.check`.
"""

from typing import Any

from airflow_provider_vectorbackup.deprecation import moved
from airflow_provider_vectorbackup.snapshot.codec import DEFAULT_CODEC, Codec
from airflow_provider_vectorbackup.snapshot.encryption import AgeEncryption, AgeIdentities, DecryptionError
from airflow_provider_vectorbackup.snapshot.errors import (
    EnvelopeError, IntegrityError, ManifestError, SnapshotError, SnapshotStateError, UnsupportedTypeError,
    VectorLossError,
)
from airflow_provider_vectorbackup.snapshot.guard import VectorLossPolicy, check_vector_loss
from airflow_provider_vectorbackup.snapshot.layout import SnapshotRef, SnapshotState, new_snapshot_id
from airflow_provider_vectorbackup.snapshot.manifest import FORMAT_VERSION, CollectionEntry, FileEntry, Manifest
from airflow_provider_vectorbackup.snapshot.provenance import describe_source
from airflow_provider_vectorbackup.snapshot.reader import Snapshot, latest_snapshot, list_snapshots, open_snapshot
from airflow_provider_vectorbackup.snapshot.signing import (
    SIGNATURE_NAME, Ed25519Signer, Ed25519Verifier, HmacKey, ManifestSigner, ManifestVerifier, SignatureError,
    signer_from_key, verifier_from_key,
)
from airflow_provider_vectorbackup.snapshot.writer import (
    DEFAULT_SEGMENT_MAX_BYTES, CollectionWriter, SnapshotResult, SnapshotWriter,
)

__all__ = [
    "AgeEncryption", "AgeIdentities", "DecryptionError", "DEFAULT_CODEC", "DEFAULT_SEGMENT_MAX_BYTES", "FORMAT_VERSION", "SIGNATURE_NAME", "Codec", "CollectionEntry", "CollectionWriter",
    "Ed25519Signer", "Ed25519Verifier", "EnvelopeError", "FileEntry", "HmacKey", "IntegrityError", "Manifest",
    "ManifestError", "ManifestSigner", "ManifestVerifier", "SignatureError", "Snapshot", "SnapshotError",
    "SnapshotRef", "SnapshotResult", "SnapshotState", "SnapshotStateError", "SnapshotWriter", "UnsupportedTypeError",
    "VectorLossError", "VectorLossPolicy", "check_vector_loss", "describe_source",
    "latest_snapshot", "list_snapshots", "new_snapshot_id", "open_snapshot", "signer_from_key", "verifier_from_key",
]


def __getattr__(name: str) -> Any:
    """Names that moved out of the format core, still found here with a DeprecationWarning."""
    return moved(__name__, name, {"verify": "airflow_provider_vectorbackup.check.verify",
                                  "Problem": "airflow_provider_vectorbackup.check.verify",
                                  "VerifyReport": "airflow_provider_vectorbackup.check.verify"})
