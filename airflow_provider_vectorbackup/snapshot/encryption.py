"""Optional client-side encryption at rest with the standard ``age`` format (https://age-encryption.org/v1).

Workers that make backups hold only public *recipients* (``age1…``, :class:`AgeEncryption`);
only verifying records or restoring needs a private *identity* (``AGE-SECRET-KEY-1…``,
:class:`AgeIdentities`). Each data segment and each ``definition.json`` is stored as an age file
``<name>.age``; the manifest keeps what verification needs without the key (docs/format.md,
"Encryption"). The cipher construction is age's own (X25519 recipients, ChaCha20-Poly1305 in
64 KiB chunks with a last-chunk flag, so truncation and tampering are detected), through ``pyrage``.

Secrets never leave :class:`AgeIdentities`: not in a ``repr``, the manifest or an exception message.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

import pyrage
from pyrage import x25519

from airflow_provider_vectorbackup.snapshot.errors import SnapshotError
from airflow_provider_vectorbackup.snapshot.files import Digests, HashingReader, HashingWriter
from airflow_provider_vectorbackup.snapshot.manifest import ENCRYPTION_SCHEME as SCHEME

ENCRYPTED_SUFFIX = ".age"
"""Appended to the name of every encrypted file: ``part-00000.jsonl.gz.age``, ``definition.json.age``."""

_FINGERPRINT_HEX_CHARS = 16
_IDENTITY_PREFIX = "AGE-SECRET-KEY-1"

# Problem codes, as reported by verify() for encrypted snapshots.
IDENTITY_REQUIRED = "identity_required"
DECRYPTION_FAILED = "decryption_failed"
CORRUPT_CIPHERTEXT = "corrupt_ciphertext"


class DecryptionError(SnapshotError):
    """An encrypted file could not be decrypted: no identity given, no matching identity, or damaged ciphertext.

    :attr:`code` is the ``verify`` problem code (``identity_required``, ``decryption_failed`` or
    ``corrupt_ciphertext``); :attr:`path` is the file, relative to the snapshot folder. The message
    never contains key material.
    """

    def __init__(self, path: str, code: str, message: str) -> None:
        self.path = path
        self.code = code
        self.reason = message
        super().__init__(f"{path}: {message}")


def is_encrypted_path(path: str) -> bool:
    return path.endswith(ENCRYPTED_SUFFIX)


def plaintext_name(path: str) -> str:
    """``part-00000.jsonl.gz.age`` → ``part-00000.jsonl.gz``: the name that says how the plaintext is encoded."""
    return path[: -len(ENCRYPTED_SUFFIX)] if is_encrypted_path(path) else path


def recipients_fingerprint(recipients: Iterable[str]) -> str:
    """First 16 hex digits of SHA-256 over the sorted, distinct recipient strings, each followed by ``\\n``."""
    text = "".join(f"{r}\n" for r in sorted(set(recipients)))
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:_FINGERPRINT_HEX_CHARS]


class AgeEncryption:
    """What a writer needs: the public recipients every encrypted file is encrypted to. Holds no secret."""

    scheme = SCHEME

    def __init__(self, recipients: list[x25519.Recipient]) -> None:
        if not recipients:
            raise ValueError("age encryption needs at least one recipient (an 'age1…' public key)")
        self._recipients = list(recipients)
        self.recipients: tuple[str, ...] = tuple(sorted({str(r) for r in recipients}))
        self.fingerprint: str = recipients_fingerprint(self.recipients)

    @classmethod
    def from_recipients(cls, recipients: list[str] | tuple[str, ...] | str) -> AgeEncryption:
        """Parse ``age1…`` X25519 recipient strings (a single string may hold several, one per line).

        :raises ValueError: when there is none, or one is not an age X25519 recipient.
        """
        if isinstance(recipients, str):
            recipients = [recipients]
        parsed: list[x25519.Recipient] = []
        for number, item in enumerate(recipients, start=1):
            for line in str(item).splitlines():
                text = line.strip()
                if not text or text.startswith("#"):
                    continue
                if text.upper().startswith("AGE-SECRET-KEY-"):
                    raise ValueError(f"recipient {number} is a private age identity, not a public recipient: a "
                                     f"backup worker needs only the public key ('age1…', from 'age-keygen -y')")
                try:
                    parsed.append(x25519.Recipient.from_str(text))
                except pyrage.RecipientError as exc:
                    raise ValueError(f"recipient {number} is not an age X25519 recipient ('age1…'): {exc}") from None
        if not parsed:
            raise ValueError("no age recipients given: pass at least one public key 'age1…' (age-keygen -y <identity file>)")
        return cls(parsed)

    def manifest_entry(self) -> dict[str, Any]:
        """The manifest's top-level ``encryption`` object."""
        return {"scheme": SCHEME, "recipients_fingerprint": self.fingerprint}

    def encrypt_file(self, source: Path, target: Path) -> tuple[Digests, int]:
        """Encrypt the file ``source`` into ``target`` (streaming, constant memory); see :meth:`encrypt_stream`."""
        with open(source, "rb") as plain:
            return self.encrypt_stream(plain, target)

    def encrypt_stream(self, source: BinaryIO, target: Path) -> tuple[Digests, int]:
        """Encrypt ``source`` into the new file ``target``, ``fsync`` it, and return its digests and size.

        ``target`` is removed again if anything fails.
        """
        writer = HashingWriter(target)
        try:
            _run(pyrage.encrypt_io, source, writer, self._recipients, on_error=_encrypt_error(target))
            digests = writer.close()
        except BaseException:
            writer.discard()
            raise
        return digests, writer.size

    def __repr__(self) -> str:
        return f"AgeEncryption(recipients={len(self.recipients)}, fingerprint={self.fingerprint!r})"


class AgeIdentities:
    """What a reader needs to decrypt: private age X25519 identities. Never shown in a ``repr`` or message."""

    def __init__(self, identities: list[x25519.Identity]) -> None:
        if not identities:
            raise ValueError("no age identities given: pass an identity file holding 'AGE-SECRET-KEY-1…' lines")
        self._identities = list(identities)

    @classmethod
    def from_text(cls, text: str) -> AgeIdentities:
        """Parse the content of an age identity file: one ``AGE-SECRET-KEY-1…`` per line; blank and ``#`` lines ignored.

        :raises ValueError: naming the line number (never its content) when a line is not an identity.
        """
        identities = []
        for number, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            if not stripped.upper().startswith(_IDENTITY_PREFIX):
                kind = "a public recipient" if stripped.startswith("age1") else "not an age X25519 identity"
                raise ValueError(f"line {number} of the age identity file is {kind}; expected "
                                 f"'{_IDENTITY_PREFIX}…' (age plugin and SSH identities are not supported)")
            try:
                identities.append(x25519.Identity.from_str(stripped.upper()))
            except pyrage.IdentityError:
                raise ValueError(f"line {number} of the age identity file is not a valid age X25519 identity "
                                 f"(damaged or truncated)") from None
        if not identities:
            raise ValueError("the age identity file holds no identity ('AGE-SECRET-KEY-1…' line)")
        return cls(identities)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> AgeIdentities:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"age identity file {os.fspath(path)!r} is not UTF-8 text") from None
        try:
            return cls.from_text(text)
        except ValueError as exc:
            raise ValueError(f"{os.fspath(path)}: {exc}") from None

    @property
    def recipients(self) -> list[str]:
        """The public recipients of these identities (safe to show)."""
        return sorted(str(identity.to_public()) for identity in self._identities)

    def decrypt_stream(self, source: BinaryIO, target: Any, label: str) -> None:
        """Decrypt age data from ``source`` into ``target`` (streaming). ``label`` names the file in errors.

        :raises DecryptionError: no matching identity, or the ciphertext is truncated or was altered.
        """
        _run(pyrage.decrypt_io, source, target, self._identities, on_error=_decrypt_error(label))

    def decrypt_file(self, source: Path, target: BinaryIO, label: str) -> tuple[Digests, int]:
        """Decrypt ``source`` into ``target`` while hashing the ciphertext; always hashes the whole file.

        Returns the ciphertext's digests and size. On :class:`DecryptionError` the digests are on the
        exception as :attr:`cipher_digests` and :attr:`cipher_size`, so size and checksum can still be checked.
        """
        with open(source, "rb") as file:
            reader = HashingReader(file)
            try:
                self.decrypt_stream(reader, target, label)
            except DecryptionError as exc:
                reader.drain()
                exc.cipher_digests, exc.cipher_size = reader.digests(), reader.size  # type: ignore[attr-defined]
                raise
            reader.drain()  # age stops at its last chunk; anything after it would already have failed
            return reader.digests(), reader.size

    def __repr__(self) -> str:
        return f"AgeIdentities({len(self._identities)} identit{'y' if len(self._identities) == 1 else 'ies'})"

    __str__ = __repr__


def identity_required(path: str, encryption: dict[str, Any] | None) -> DecryptionError:
    fingerprint = (encryption or {}).get("recipients_fingerprint", "unknown")
    return DecryptionError(path, IDENTITY_REQUIRED, (
        f"the snapshot is encrypted (age, recipients fingerprint {fingerprint}) and no identity was given: "
        f"pass the age identity file of one of its recipients (identities=AgeIdentities.from_file(...)) to read "
        f"or deeply verify it; file-level verification works without it"))


class _Guarded:
    """Wraps a file for pyrage and keeps the first exception the file itself raised (a full disk, an interrupt),
    so that it is re-raised as it is and never mistaken for a decryption failure."""

    def __init__(self, file: Any) -> None:
        self._file = file
        self.error: BaseException | None = None

    def read(self, size: int = -1) -> bytes:
        try:
            return self._file.read(size)
        except BaseException as exc:
            self.error = self.error or exc
            raise

    def write(self, data: bytes) -> int:
        try:
            return self._file.write(data)
        except BaseException as exc:
            self.error = self.error or exc
            raise

    def flush(self) -> None:
        try:
            flush = getattr(self._file, "flush", None)
            if flush is not None:
                flush()
        except BaseException as exc:
            self.error = self.error or exc
            raise


def _run(function: Any, source: Any, target: Any, keys: list[Any], *, on_error: Any) -> None:
    reader, writer = _Guarded(source), _Guarded(target)
    try:
        function(reader, writer, keys)
    except BaseException as exc:
        own = reader.error or writer.error
        if own is not None:
            raise own from None
        raise on_error(exc) from None


def _encrypt_error(target: Path) -> Any:
    def convert(exc: BaseException) -> BaseException:
        return SnapshotError(f"{target.name}: age encryption failed ({type(exc).__name__}: {exc})")
    return convert


def _decrypt_error(label: str) -> Any:
    def convert(exc: BaseException) -> BaseException:
        text = str(exc)
        if isinstance(exc, pyrage.DecryptError) and "no matching keys" in text.lower():
            return DecryptionError(label, DECRYPTION_FAILED, (
                "none of the given age identities can decrypt this file: the snapshot was encrypted to other "
                "recipients (use the identity file that belongs to one of them), or the file's header was damaged"))
        if isinstance(exc, (pyrage.DecryptError, OSError, ValueError)):
            return DecryptionError(label, CORRUPT_CIPHERTEXT, (
                f"the encrypted file is truncated or was altered after it was written (age: {text or type(exc).__name__}); "
                f"its content cannot be trusted: do not restore from it, use another snapshot"))
        return exc
    return convert
