"""Signing and encryption keys, read from Airflow connections (or secrets backends), never from DAG code.

A *signing* connection holds the manifest key: extra ``algorithm`` (``hmac-sha256`` or
``ed25519``), the HMAC secret or the Ed25519 private key (PEM) in ``password``, and, for hosts that
only verify Ed25519 signatures, the public key (PEM) in the extra ``public_key``.

An *encryption* connection holds ``age`` keys: the extra ``recipients`` (public ``age1...`` keys;
a list or comma-separated) is all a backup worker needs; only a restore or a deep verification
needs the private identity (``AGE-SECRET-KEY-1...``) in ``password``.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import BaseHook

from airflow_provider_vectorbackup.snapshot.signing import (
    ManifestSigner, ManifestVerifier, signer_from_key, verifier_from_key,
)


class KeyConfigurationError(ValueError):
    """A key connection lacks what the task needs; the message names the field."""


def _connection(conn_id: str) -> Any:
    return BaseHook.get_connection(conn_id)


def signer_from_connection(conn_id: str) -> ManifestSigner:
    conn = _connection(conn_id)
    algorithm = conn.extra_dejson.get("algorithm", "hmac-sha256")
    if not conn.password:
        raise KeyConfigurationError(f"signing connection {conn_id!r} has no password: put the HMAC secret or the "
                                    f"Ed25519 private key (PEM) there")
    return signer_from_key(algorithm, conn.password, conn.extra_dejson.get("key_password"))


def verifier_from_connection(conn_id: str) -> ManifestVerifier:
    conn = _connection(conn_id)
    algorithm = conn.extra_dejson.get("algorithm", "hmac-sha256")
    key = conn.extra_dejson.get("public_key") if algorithm == "ed25519" else None
    key = key or conn.password
    if not key:
        raise KeyConfigurationError(f"signing connection {conn_id!r} holds no key to verify with: the HMAC secret "
                                    f"(password), or for ed25519 the public key (extra public_key) or private key")
    return verifier_from_key(algorithm, key)


def encryption_from_connection(conn_id: str) -> Any:
    """An ``AgeEncryption`` for the connection's recipients: what a backup worker holds."""
    from airflow_provider_vectorbackup.snapshot.encryption import AgeEncryption

    return AgeEncryption.from_recipients(recipients_from_connection(conn_id))


def identities_from_connection(conn_id: str) -> Any:
    """``AgeIdentities`` from the connection's password: what only a restore or deep verification needs."""
    from airflow_provider_vectorbackup.snapshot.encryption import AgeIdentities

    return AgeIdentities.from_text(identity_text_from_connection(conn_id))


def recipients_from_connection(conn_id: str) -> list[str]:
    raw = _connection(conn_id).extra_dejson.get("recipients")
    recipients = [r.strip() for r in (raw.split(",") if isinstance(raw, str) else raw or []) if r.strip()]
    if not recipients:
        raise KeyConfigurationError(f"encryption connection {conn_id!r} has no recipients: set the extra "
                                    f"'recipients' to the public age key(s) (age1...)")
    return recipients


def identity_text_from_connection(conn_id: str) -> str:
    password = _connection(conn_id).password
    if not password:
        raise KeyConfigurationError(f"encryption connection {conn_id!r} has no identity: restoring or deep-verifying "
                                    f"an encrypted snapshot needs the private age identity (AGE-SECRET-KEY-1...) in "
                                    f"its password")
    return password
