"""Optional authenticated manifests: a detached signature over the exact bytes of ``manifest.json``.

``manifest.json`` holds the size, SHA-256 and SHA-1 of every other file, so a valid signature
over it authenticates the whole snapshot. Without one, a careful tamperer can rewrite a segment
and fix its hashes in the manifest; with one, they would also need the key.

Two algorithms (docs/format.md, "Signed manifests"):

- ``hmac-sha256``: one shared secret signs and verifies (:class:`HmacKey`).
- ``ed25519``: workers that make backups hold the private key (:class:`Ed25519Signer`); anyone
  who verifies needs only the public key (:class:`Ed25519Verifier`).

Secrets never leave the key objects: not in the signature file, the manifest, a ``repr`` or an
exception message. Keys are identified by a ``key_id``, a fingerprint from which the key cannot
be recovered.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, Union, runtime_checkable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from airflow_provider_vectorbackup.snapshot.errors import ManifestError
from airflow_provider_vectorbackup.snapshot.files import Digests, write_file_durably
from airflow_provider_vectorbackup.snapshot.layout import MANIFEST_NAME

SIGNATURE_NAME = MANIFEST_NAME + ".sig"
"""The detached signature file, next to ``manifest.json``. It is never listed in the manifest."""

HMAC_SHA256 = "hmac-sha256"
ED25519 = "ed25519"
ALGORITHMS = (HMAC_SHA256, ED25519)

SIGNED_PREFIX = b"vectorbackup-manifest-signature/v1\n"
"""Prepended to the manifest bytes before signing, so a signature made for this purpose means nothing elsewhere."""

_HMAC_KEY_ID_MESSAGE = b"vectorbackup-key-id/v1"
_KEY_ID_HEX_CHARS = 16
MIN_HMAC_SECRET_BYTES = 16
MAX_SIGNATURE_FILE_BYTES = 64 * 1024

# Problem codes, as reported by verify() under the path "manifest.json".
SIGNATURE_MISSING = "signature_missing"
SIGNATURE_MALFORMED = "signature_malformed"
SIGNATURE_UNSUPPORTED = "signature_unsupported"
SIGNATURE_KEY_MISMATCH = "signature_key_mismatch"
SIGNATURE_INVALID = "signature_invalid"


class SignatureError(ManifestError):
    """A signature was required and ``manifest.json`` is unsigned, signed by another key, or badly signed.

    :attr:`problems` holds ``(code, message)`` pairs with the codes ``verify`` reports.
    """

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        self.code = problems[0][0]
        super().__init__("; ".join(message for _, message in problems))


@runtime_checkable
class ManifestSigner(Protocol):
    """Anything that can sign: an ``algorithm`` name, a ``key_id`` fingerprint, and :meth:`sign`."""

    algorithm: str
    key_id: str

    def sign(self, message: bytes) -> bytes: ...


@runtime_checkable
class ManifestVerifier(Protocol):
    """Anything that can check a signature made by the key named ``key_id`` with ``algorithm``."""

    algorithm: str
    key_id: str

    def verify(self, message: bytes, signature: bytes) -> bool: ...


Verifiers = Union[ManifestVerifier, Sequence[ManifestVerifier]]
"""One verifier, or several (e.g. the old and the new key during a key rotation), matched by ``key_id``."""


class HmacKey:
    """A shared secret for ``hmac-sha256``: it both signs and verifies.

    :param secret: at least 16 bytes; a ``str`` is encoded as UTF-8. Use a random value, e.g.
        ``secrets.token_urlsafe(32)``, held in an Airflow connection or secrets backend.
    """

    algorithm = HMAC_SHA256

    def __init__(self, secret: bytes | str) -> None:
        if isinstance(secret, str):
            secret = secret.encode("utf-8")
        if not isinstance(secret, (bytes, bytearray)):
            raise TypeError(f"an HMAC secret must be bytes or str, not {type(secret).__name__}")
        if len(secret) < MIN_HMAC_SECRET_BYTES:
            raise ValueError(f"an HMAC secret must be at least {MIN_HMAC_SECRET_BYTES} bytes long (this one is "
                             f"{len(secret)}); generate one with secrets.token_urlsafe(32)")
        self.__secret = bytes(secret)
        self.key_id = hmac.new(self.__secret, _HMAC_KEY_ID_MESSAGE, hashlib.sha256).hexdigest()[:_KEY_ID_HEX_CHARS]

    def sign(self, message: bytes) -> bytes:
        return hmac.new(self.__secret, message, hashlib.sha256).digest()

    def verify(self, message: bytes, signature: bytes) -> bool:
        return hmac.compare_digest(self.sign(message), signature)

    def __repr__(self) -> str:
        return f"HmacKey(key_id={self.key_id!r})"

    def __reduce__(self) -> None:  # never pickle the secret into XCom or a log by accident
        raise TypeError("HmacKey holds a secret and cannot be pickled; pass the connection id instead")


class Ed25519Verifier:
    """An Ed25519 public key: verifies signatures, cannot make them."""

    algorithm = ED25519

    def __init__(self, public_key: Ed25519PublicKey) -> None:
        if not isinstance(public_key, Ed25519PublicKey):
            raise TypeError(f"expected an Ed25519 public key, not {type(public_key).__name__}")
        self._public_key = public_key
        raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = hashlib.sha256(raw).hexdigest()[:_KEY_ID_HEX_CHARS]

    @classmethod
    def from_pem(cls, pem: bytes | str) -> Ed25519Verifier:
        """Load a PEM ``PUBLIC KEY``; a PEM private key is accepted too, and only its public half is kept."""
        data = pem.encode("ascii", "replace") if isinstance(pem, str) else bytes(pem)
        if b"PRIVATE KEY" in data:
            return Ed25519Signer.from_pem(data).verifier()
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"could not load an Ed25519 public key from PEM ({type(exc).__name__}); expected "
                             f"'-----BEGIN PUBLIC KEY-----' as written by Ed25519Signer.public_key_pem()") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"the PEM public key is a {type(key).__name__}, not an Ed25519 key")
        return cls(key)

    def public_key_pem(self) -> bytes:
        return self._public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            self._public_key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def __repr__(self) -> str:
        return f"Ed25519Verifier(key_id={self.key_id!r})"


class Ed25519Signer:
    """An Ed25519 private key: signs manifests. Give backup workers this; give verifiers :meth:`verifier`."""

    algorithm = ED25519

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        if not isinstance(private_key, Ed25519PrivateKey):
            raise TypeError(f"expected an Ed25519 private key, not {type(private_key).__name__}")
        self.__private_key = private_key
        self._verifier = Ed25519Verifier(private_key.public_key())
        self.key_id = self._verifier.key_id

    @classmethod
    def generate(cls) -> Ed25519Signer:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, pem: bytes | str, password: bytes | str | None = None) -> Ed25519Signer:
        """Load a PEM ``PRIVATE KEY`` (PKCS#8, as ``openssl genpkey -algorithm ed25519`` writes)."""
        data = pem.encode("ascii", "replace") if isinstance(pem, str) else bytes(pem)
        if isinstance(password, str):
            password = password.encode("utf-8")
        try:
            key = serialization.load_pem_private_key(data, password=password)
        except (ValueError, TypeError) as exc:
            # The library's message is not echoed: it is generic, and nothing of the key may reach a log.
            raise ValueError(f"could not load an Ed25519 private key from PEM ({type(exc).__name__}): expected "
                             f"'-----BEGIN PRIVATE KEY-----', and the right password if it is encrypted") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"the PEM private key is a {type(key).__name__}, not an Ed25519 key")
        return cls(key)

    def private_key_pem(self, password: bytes | None = None) -> bytes:
        encryption = (serialization.BestAvailableEncryption(password) if password
                      else serialization.NoEncryption())
        return self.__private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                encryption)

    def public_key_pem(self) -> bytes:
        return self._verifier.public_key_pem()

    def verifier(self) -> Ed25519Verifier:
        return self._verifier

    def sign(self, message: bytes) -> bytes:
        return self.__private_key.sign(message)

    def verify(self, message: bytes, signature: bytes) -> bool:
        return self._verifier.verify(message, signature)

    def __repr__(self) -> str:
        return f"Ed25519Signer(key_id={self.key_id!r})"

    def __reduce__(self) -> None:
        raise TypeError("Ed25519Signer holds a private key and cannot be pickled; pass the connection id instead")


def signer_from_key(algorithm: str, key: bytes | str, password: bytes | str | None = None) -> ManifestSigner:
    """A signer from configuration: ``hmac-sha256`` with a secret, or ``ed25519`` with a PEM private key."""
    if algorithm == HMAC_SHA256:
        return HmacKey(key)
    if algorithm == ED25519:
        return Ed25519Signer.from_pem(key, password)
    raise ValueError(f"unknown signing algorithm {algorithm!r}; use one of {ALGORITHMS}")


def verifier_from_key(algorithm: str, key: bytes | str) -> ManifestVerifier:
    """A verifier from configuration: ``hmac-sha256`` with the secret, or ``ed25519`` with a PEM public key."""
    if algorithm == HMAC_SHA256:
        return HmacKey(key)
    if algorithm == ED25519:
        return Ed25519Verifier.from_pem(key)
    raise ValueError(f"unknown signing algorithm {algorithm!r}; use one of {ALGORITHMS}")


def signed_message(manifest_raw: bytes) -> bytes:
    """What is signed: the fixed prefix, then the exact bytes of ``manifest.json``."""
    return SIGNED_PREFIX + manifest_raw


def signature_document(manifest_raw: bytes, signer: ManifestSigner) -> bytes:
    """The content of ``manifest.json.sig`` for these manifest bytes."""
    if signer.algorithm not in ALGORITHMS:
        raise ValueError(f"unknown signing algorithm {signer.algorithm!r}; use one of {ALGORITHMS}")
    signature = signer.sign(signed_message(manifest_raw))
    document = {"algorithm": signer.algorithm, "key_id": signer.key_id,
                "signature": base64.b64encode(signature).decode("ascii")}
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def write_signature(folder: Path, manifest_raw: bytes, signer: ManifestSigner) -> Digests:
    """Write ``manifest.json.sig`` into ``folder`` durably (through a temporary name)."""
    return write_file_durably(Path(folder) / SIGNATURE_NAME, signature_document(manifest_raw, signer))


def read_signature(folder: Path) -> bytes | None:
    """The raw bytes of ``folder/manifest.json.sig``, or ``None`` when the snapshot is unsigned."""
    try:
        with open(Path(folder) / SIGNATURE_NAME, "rb") as file:
            return file.read(MAX_SIGNATURE_FILE_BYTES + 1)
    except FileNotFoundError:
        return None


def check_signature(manifest_raw: bytes, signature_raw: bytes | None, verifiers: Verifiers) -> list[tuple[str, str]]:
    """``(code, message)`` problems of a manifest's signature; an empty list means it is valid.

    Works on bytes alone, so a remote store can check a downloaded manifest and signature too.
    """
    pool = _as_list(verifiers)
    keys = ", ".join(f"{v.algorithm} {v.key_id}" for v in pool)
    if signature_raw is None:
        return [(SIGNATURE_MISSING, f"{SIGNATURE_NAME} is missing, but a signed manifest is required (expected a "
                 f"signature by {keys}): the snapshot was written without signing, or the signature was removed. "
                 f"Do not trust it; restore from a signed snapshot, or verify without a key if you know why")]
    try:
        algorithm, key_id, signature = _parse_signature(signature_raw)
    except _Malformed as exc:
        return [(SIGNATURE_MALFORMED, f"{SIGNATURE_NAME} is not a valid signature file ({exc}); the signature was "
                 f"damaged or replaced. Do not trust {MANIFEST_NAME}; restore from another snapshot")]
    if algorithm not in ALGORITHMS:
        return [(SIGNATURE_UNSUPPORTED, f"{SIGNATURE_NAME} uses signature algorithm {algorithm!r}, which this reader "
                 f"does not know (it knows {', '.join(ALGORITHMS)}); upgrade airflow-provider-vectorbackup or verify "
                 f"with a key of a known algorithm")]
    matching = [v for v in pool if v.algorithm == algorithm and v.key_id == key_id]
    if not matching:
        return [(SIGNATURE_KEY_MISMATCH, f"{MANIFEST_NAME} is signed by {algorithm} key {key_id}, but verification "
                 f"was given {keys}: use the key that signed this snapshot (check key rotation), or treat the "
                 f"snapshot as untrusted")]
    message = signed_message(manifest_raw)
    if any(v.verify(message, signature) for v in matching):
        return []
    return [(SIGNATURE_INVALID, f"the signature in {SIGNATURE_NAME} does not match {MANIFEST_NAME} for {algorithm} key "
             f"{key_id}: the manifest (or the signature) was changed after the backup was signed. Do not restore "
             f"from this snapshot; use another one")]


def verify_signature(manifest_raw: bytes, signature_raw: bytes | None, verifiers: Verifiers) -> str:
    """Raise :class:`SignatureError` unless the signature is valid; return the signing ``key_id``."""
    problems = check_signature(manifest_raw, signature_raw, verifiers)
    if problems:
        raise SignatureError(problems)
    return json.loads(signature_raw)["key_id"]


def _as_list(verifiers: Verifiers) -> list[ManifestVerifier]:
    pool = [verifiers] if isinstance(verifiers, ManifestVerifier) else list(verifiers)
    if not pool:
        raise ValueError("pass at least one verifier (or None to skip signature checks)")
    for verifier in pool:
        if not isinstance(verifier, ManifestVerifier):
            raise TypeError(f"{type(verifier).__name__} is not a manifest verifier (it needs algorithm, key_id and "
                            f"verify()); use HmacKey or Ed25519Verifier")
    return pool


class _Malformed(Exception):
    pass


def _parse_signature(raw: bytes) -> tuple[str, str, bytes]:
    if len(raw) > MAX_SIGNATURE_FILE_BYTES:
        raise _Malformed(f"larger than {MAX_SIGNATURE_FILE_BYTES} bytes")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise _Malformed("not JSON")
    if not isinstance(data, dict):
        raise _Malformed("not a JSON object")
    fields = {name: data.get(name) for name in ("algorithm", "key_id", "signature")}
    missing = [name for name, value in fields.items() if not isinstance(value, str)]
    if missing:
        raise _Malformed(f"no string field {', '.join(missing)}")
    try:
        signature = base64.b64decode(fields["signature"], validate=True)
    except (binascii.Error, ValueError):
        raise _Malformed("'signature' is not standard base64")
    return fields["algorithm"], fields["key_id"], signature
