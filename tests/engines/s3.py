"""A real S3 API server for tests: moto in server mode on a free port, reached over HTTP by boto3 and s3fs.

Each test gets an empty server (moto's reset endpoint) with two buckets: ``vb-plain`` (no versioning)
and ``vb-locked`` (created with Object Lock, hence versioned), and Airflow connection ``aws_test`` of
the amazon provider's ``aws`` type pointing at it.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

S3_CONN_ID = "aws_test"
PLAIN_BUCKET = "vb-plain"
LOCKED_BUCKET = "vb-locked"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    """The server's endpoint and the credentials it accepts (moto takes any)."""

    endpoint_url: str
    access_key: str = "testing-key-id"
    secret_key: str = "testing-secret"

    def client(self) -> Any:
        """A plain boto3 client on the server, for arranging and inspecting what the store did."""
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name=REGION,
                            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key)

    def connection(self, **extra: Any) -> dict[str, Any]:
        """An ``aws`` connection (the amazon provider's type) for this server."""
        return {"conn_type": "aws", "login": self.access_key, "password": self.secret_key,
                "extra": {"endpoint_url": self.endpoint_url, "region_name": REGION, **extra}}

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request would drown the test logs
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()  # returns once the server listens
    host, port = server.get_host_and_port()
    yield S3Server(f"http://{host}:{port}")
    server.stop()


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """An empty server with the two buckets, and ``aws_test`` pointing at it."""
    s3_server.reset()
    client = s3_server.client()
    client.create_bucket(Bucket=PLAIN_BUCKET)
    client.create_bucket(Bucket=LOCKED_BUCKET, ObjectLockEnabledForBucket=True)
    monkeypatch.setenv(f"AIRFLOW_CONN_{S3_CONN_ID.upper()}", json.dumps(s3_server.connection()))
    return s3_server
