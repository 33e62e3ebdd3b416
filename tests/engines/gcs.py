"""A real GCS JSON API server for tests: gcp-storage-emulator in its own process on a free port, reached over HTTP.

Each test gets an emptied server (the emulator's wipe endpoint) with bucket ``vb-gcs``, and Airflow connection
``gcs_test`` of the google provider's ``google_cloud_platform`` type pointing at it (anonymous credentials, the
endpoint in the ``gcs.endpoint`` extra that the provider's ``gs`` filesystem passes to gcsfs).

gcsfs's experimental zonal and hierarchical-namespace support asks a gRPC control API for the layout of every
bucket it touches; the emulator speaks no gRPC, so each of those questions would wait out a 60 s timeout. The
switch that turns it off is read when gcsfs is first imported, so it is set here, when pytest loads this plugin.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

GCS_CONN_ID = "gcs_test"
BUCKET = "vb-gcs"
PROJECT = "vb-test-project"
READY_WITHIN_SECONDS = 30.0


@dataclass(frozen=True)
class GcsServer:
    """The emulator's endpoint; it accepts any request without credentials."""

    endpoint_url: str

    def filesystem(self) -> Any:
        """A gcsfs filesystem on the server, as the google provider builds it from :meth:`connection`."""
        import gcsfs

        return gcsfs.GCSFileSystem(endpoint_url=self.endpoint_url, token="anon", project=PROJECT)

    def connection(self) -> dict[str, Any]:
        """A ``google_cloud_platform`` connection (the google provider's type) for this server."""
        return {"conn_type": "google_cloud_platform",
                "extra": {"is_anonymous": True, "project": PROJECT, "gcs.endpoint": self.endpoint_url}}

    def reset(self) -> None:
        """Delete every bucket and object, then create the test bucket."""
        self._request("GET", "/wipe")
        self._request("POST", f"/storage/v1/b?project={PROJECT}", {"name": BUCKET})

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> bytes:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.endpoint_url}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_ready(server: GcsServer, process: subprocess.Popen, log_path: Path) -> None:
    """Poll a real API request until it answers; fail at once if the emulator exits, or after the deadline."""
    deadline = time.monotonic() + READY_WITHIN_SECONDS
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            server._request("GET", f"/storage/v1/b?project={PROJECT}")
            return
        except (urllib.error.URLError, ConnectionError) as error:
            last_error = error
        try:
            code = process.wait(timeout=0.05)  # the pause between attempts, and how an early exit shows
        except subprocess.TimeoutExpired:
            continue
        raise RuntimeError(f"gcp-storage-emulator exited with code {code} before answering: "
                           f"{log_path.read_text(errors='replace')[-2000:]}")
    raise RuntimeError(f"gcp-storage-emulator did not answer at {server.endpoint_url} within "
                       f"{READY_WITHIN_SECONDS:.0f} s (last error: {last_error})")


def _check_gcsfs_without_grpc_layout_lookups() -> None:
    import gcsfs

    if gcsfs.GCSFileSystem.__name__ != "GCSFileSystem":
        raise RuntimeError(
            f"gcsfs was imported before tests/engines/gcs.py set GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false, so it "
            f"uses {gcsfs.GCSFileSystem.__name__}, whose gRPC bucket-layout lookups time out against the "
            f"emulator; set the variable in the environment of the test run")


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[GcsServer]:
    _check_gcsfs_without_grpc_layout_lookups()
    host, port = "127.0.0.1", _free_port()
    with tempfile.TemporaryDirectory(prefix="vectorbackup-gcs-") as tmp:
        log_path = Path(tmp) / "emulator.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "gcp_storage_emulator", "start", "--host", host, "--port", str(port),
                 "--in-memory", "--quiet"],
                stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
        server = GcsServer(f"http://{host}:{port}")
        try:
            _wait_until_ready(server, process, log_path)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def gcs(gcs_server: GcsServer, monkeypatch: pytest.MonkeyPatch) -> GcsServer:
    """An empty server with the test bucket, and ``gcs_test`` pointing at it."""
    gcs_server.reset()
    monkeypatch.setenv(f"AIRFLOW_CONN_{GCS_CONN_ID.upper()}", json.dumps(gcs_server.connection()))
    return gcs_server
