"""A Milvus Lite server killed mid-dump, and a token that must never show."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest
from pymilvus import MilvusClient

from airflow_provider_vectorbackup.connection import ConnectionSettings
from airflow_provider_vectorbackup.jobs.dump import DumpOptions, dump_snapshot
from airflow_provider_vectorbackup.sources.milvus.client import MilvusRequestFailed, MilvusSource
from airflow_provider_vectorbackup.stores.local import LocalStore
from tests.sources.milvus.dataset import string_key_collection

CANARY = "canary-token-5f1e9b"


@pytest.fixture
def lite_server(tmp_path):
    """A Milvus Lite gRPC server in its own process (``python -m milvus_lite server``), so it can be killed."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(tmp_path / "served"),
                                "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    yield process, f"http://127.0.0.1:{port}"
    process.kill()
    process.wait()


def test_a_server_killed_mid_scan_fails_the_collection_and_no_complete_snapshot_is_left(lite_server, tmp_path) -> None:
    process, uri = lite_server
    client = MilvusClient(uri)
    string_key_collection(client, "strings", count=200)
    client.close()
    source = MilvusSource.from_connection(ConnectionSettings("milvus_default", conn_type="milvus", host=uri),
                                          page_size=5, timeout=3)

    def kill_after_first_page(progress) -> None:
        if progress.documents and process.poll() is None:
            process.kill()
            process.wait()

    store = LocalStore(tmp_path / "store")
    outcome = dump_snapshot(source, store, "20260101T000000Z-killed", DumpOptions(scan_streams=2),
                            on_progress=kill_after_first_page)
    assert outcome.manifest.status == "incomplete"
    failure = outcome.failures["strings"]
    assert isinstance(failure, MilvusRequestFailed) and "collection 'strings'" in str(failure)
    assert "check that Milvus is up and run it again" in str(failure)
    entry = outcome.manifest.collection("strings")
    assert entry.status == "failed" and 0 < entry.scan["documents"] < 200


def test_the_token_never_shows(lite_server, tmp_path) -> None:
    process, uri = lite_server
    settings = ConnectionSettings("milvus_default", conn_type="milvus", host=uri, login="root", password=CANARY)
    source = MilvusSource.from_connection(settings, timeout=3)
    assert CANARY not in repr(source) and CANARY not in repr(settings)
    outcome = dump_snapshot(source, LocalStore(tmp_path / "store"), "20260101T000000Z-canary", DumpOptions())
    assert CANARY.encode() not in outcome.manifest.to_json()
    assert CANARY not in json.dumps(source.describe_source())
    process.kill()
    process.wait()
    dead = MilvusSource.from_connection(settings, timeout=1)
    with pytest.raises(MilvusRequestFailed) as raised:
        dead.list_collections()
    assert CANARY not in str(raised.value) and "milvus_default" in str(raised.value)
    for location in tmp_path.rglob("*"):
        if location.is_file():
            assert CANARY.encode() not in location.read_bytes(), location


def test_credentials_in_the_host_are_refused_without_repeating_them() -> None:
    settings = ConnectionSettings("m", conn_type="milvus", host=f"https://root:{CANARY}@milvus.example:19530")
    with pytest.raises(ValueError, match="login and password") as raised:
        MilvusSource.from_connection(settings).uri
    assert CANARY not in str(raised.value)
    assert MilvusSource.from_connection(ConnectionSettings("m", host="milvus.example")).uri == "http://milvus.example:19530"
    assert MilvusSource.from_connection(ConnectionSettings("m", schema="analytics")).namespace == "analytics"
    assert MilvusSource.from_connection(ConnectionSettings("m", extra={"db_name": "x"})).namespace == "x"


def test_a_row_written_behind_the_scan_fails_it_by_count(lite, milvus_source) -> None:
    from pymilvus import DataType

    from airflow_provider_vectorbackup.sources.milvus.scan import ScanIncomplete

    schema = lite.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    index = lite.prepare_index_params()
    index.add_index("v", index_type="FLAT", metric_type="L2")
    lite.create_collection("items", schema=schema, index_params=index)
    lite.insert("items", [{"id": i, "v": [float(i), 1.0]} for i in range(10, 60)])
    source = milvus_source(page_size=5)
    scan = source.scan("items", source.collection_definition("items"), streams=1)
    pages = scan.pages()
    next(pages)
    lite.insert("items", [{"id": 0, "v": [0.0, 1.0]}])  # below the keys already paged past: never read
    with pytest.raises(ScanIncomplete, match="50 rows were read but count\\(\\*\\) says 51"):
        list(pages)
