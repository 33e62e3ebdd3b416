"""Helpers for the BoxApi tests: clients for a connection id, large seeded files written in pieces, never held in
memory whole."""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from airflow_provider_vectorbackup.hooks.connections import connection_settings
from airflow_provider_vectorbackup.stores.box.client import BoxApi

if TYPE_CHECKING:
    from airflow_provider_vectorbackup.testing.box import BoxStandIn

MIB = 1024 * 1024
DEVELOPER_TOKEN = "stand-in-developer-token"
PASSPHRASE = "stand-in-passphrase"


def rsa_pair(passphrase: str) -> tuple[str, bytes]:
    """A new RSA key pair: the private key as encrypted PEM text, the public key as PEM bytes."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.BestAvailableEncryption(passphrase.encode())).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def stand_in_urls(stand_in: BoxStandIn, slash: str = "") -> dict[str, str]:
    """The connection extras that point a client at ``stand_in``."""
    return {"base_url": stand_in.url + slash, "upload_url": stand_in.upload_url + slash,
            "oauth2_url": stand_in.oauth2_url + slash}


def jwt_app_config(stand_in: BoxStandIn, private_key: str, passphrase: str = PASSPHRASE) -> str:
    """A Box JWT app config (the developer console's JSON) for ``stand_in``'s app."""
    return json.dumps({
        "boxAppSettings": {"clientID": stand_in.client_id, "clientSecret": stand_in.client_secret,
                           "appAuth": {"publicKeyID": "key-1", "privateKey": private_key, "passphrase": passphrase}},
        "enterpriseID": stand_in.enterprise_id,
    })


def box_api(conn_id: str, **options: Any) -> BoxApi:
    """The client for Airflow connection ``conn_id``, looked up as the hook and the CLI do."""
    return BoxApi.from_connection(connection_settings(conn_id), **options)


def write_file(path: Path, size: int, seed: int = 0) -> str:
    """Write ``size`` seeded, incompressible bytes to ``path`` one MiB at a time; returns their SHA-1."""
    digest, rng, left = hashlib.sha1(), random.Random(seed), size
    with path.open("wb") as out:
        while left:
            block = rng.randbytes(min(MIB, left))
            digest.update(block)
            out.write(block)
            left -= len(block)
    return digest.hexdigest()


def sha1_file(path: Path) -> str:
    digest = hashlib.sha1()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(MIB), b""):
            digest.update(block)
    return digest.hexdigest()


class OnLogMessage(logging.Handler):
    """Run ``action(record)`` once, in the logging thread, when a message starting with ``prefix`` is logged.

    Lets a test act at an exact point of the client's work (e.g. right after an upload session
    is created) without sleeping or patching it.
    """

    def __init__(self, prefix: str, action: Callable[[logging.LogRecord], None]) -> None:
        super().__init__(logging.DEBUG)
        self.prefix = prefix
        self.action = action
        self.fired = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.fired and str(record.msg).startswith(self.prefix):
            self.fired = True
            self.action(record)
