"""Signing and encryption keys, read from connections (Airflow's, or secrets backends), never from DAG code.

A *signing* connection holds the manifest key: extra ``algorithm`` (``hmac-sha256`` or
``ed25519``), the HMAC secret or the Ed25519 private key (PEM) in ``password``, and, for hosts that
only verify Ed25519 signatures, the public key (PEM) in the extra ``public_key``.

An *encryption* connection holds ``age`` keys: the extra ``recipients`` (public ``age1...`` keys;
a list or comma-separated) is all a backup worker needs; only a restore or a records-level verification
needs the private identity (``AGE-SECRET-KEY-1...``) in ``password``.

The loaders take the connection's fields (:class:`ConnectionSettings`): the operators, the sensor
and the CLI look the connection up (``hooks/connections.py``); nothing here needs Airflow.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_vectorbackup.connection import ConnectionSettings
from airflow_provider_vectorbackup.snapshot.signing import (
    ManifestSigner, ManifestVerifier, signer_from_key, verifier_from_key,
)


class KeyConfigurationError(ValueError):
    """A key connection lacks what the task needs; the message names the field."""


def signer_from_connection(conn: ConnectionSettings) -> ManifestSigner:
    algorithm = conn.extra.get("algorithm", "hmac-sha256")
    if not conn.password:
        raise KeyConfigurationError(f"signing connection {conn.conn_id!r} has no password: put the HMAC secret or the "
                                    f"Ed25519 private key (PEM) there")
    return signer_from_key(algorithm, conn.password, conn.extra.get("key_password"))


def verifier_from_connection(conn: ConnectionSettings) -> ManifestVerifier:
    algorithm = conn.extra.get("algorithm", "hmac-sha256")
    key = conn.extra.get("public_key") if algorithm == "ed25519" else None
    key = key or conn.password
    if not key:
        raise KeyConfigurationError(f"signing connection {conn.conn_id!r} holds no key to verify with: the HMAC secret "
                                    f"(password), or for ed25519 the public key (extra public_key) or private key")
    return verifier_from_key(algorithm, key)


def encryption_from_connection(conn: ConnectionSettings) -> Any:
    """An ``AgeEncryption`` for the connection's recipients: what a backup worker holds."""
    from airflow_provider_vectorbackup.snapshot.encryption import AgeEncryption

    return AgeEncryption.from_recipients(recipients_from_connection(conn))


def identities_from_connection(conn: ConnectionSettings) -> Any:
    """``AgeIdentities`` from the connection's password: what only a restore or a records-level verification needs."""
    from airflow_provider_vectorbackup.snapshot.encryption import AgeIdentities

    return AgeIdentities.from_text(identity_text_from_connection(conn))


def recipients_from_connection(conn: ConnectionSettings) -> list[str]:
    raw = conn.extra.get("recipients")
    recipients = [r.strip() for r in (raw.split(",") if isinstance(raw, str) else raw or []) if r.strip()]
    if not recipients:
        raise KeyConfigurationError(f"encryption connection {conn.conn_id!r} has no recipients: set the extra "
                                    f"'recipients' to the public age key(s) (age1...)")
    return recipients


def identity_text_from_connection(conn: ConnectionSettings) -> str:
    password = conn.password
    if not password:
        raise KeyConfigurationError(f"encryption connection {conn.conn_id!r} has no identity: restoring an encrypted "
                                    f"snapshot, or verifying its records, needs the private age identity "
                                    f"(AGE-SECRET-KEY-1...) in its password")
    return password
