"""object_filesystem: an object store URL becomes the provider's filesystem through Airflow, lazily, or an error
that names the extra to install."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from airflow_provider_vectorbackup.hooks.object_storage import MissingObjectStoreExtra, object_filesystem
from tests.engines.s3 import PLAIN_BUCKET, S3_CONN_ID, S3Server


def test_the_filesystem_is_the_connections_and_reaches_the_server(s3: S3Server) -> None:
    fs, path = object_filesystem(f"s3://{S3_CONN_ID}@{PLAIN_BUCKET}/nightly/")
    assert path == f"{PLAIN_BUCKET}/nightly"
    fs.pipe(f"{path}/probe", b"hello")
    assert s3.client().get_object(Bucket=PLAIN_BUCKET, Key="nightly/probe")["Body"].read() == b"hello"


def test_resolving_opens_no_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing listens on port 9: the filesystem is built all the same, and would connect on first use."""
    monkeypatch.setenv("AIRFLOW_CONN_AWS_NOWHERE", json.dumps({
        "conn_type": "aws", "login": "key-id", "password": "secret",
        "extra": {"endpoint_url": "http://127.0.0.1:9", "region_name": "us-east-1"}}))
    fs, path = object_filesystem("s3://aws_nowhere@bucket/prefix")
    assert path == "bucket/prefix" and fs.endpoint_url == "http://127.0.0.1:9"


@pytest.mark.skipif(importlib.util.find_spec("airflow.providers.google") is not None,
                    reason="the google provider is installed here, so gs:// resolves")
def test_a_scheme_whose_provider_is_missing_names_the_extra() -> None:
    with pytest.raises(MissingObjectStoreExtra, match=r'gs:// URLs need apache-airflow-providers-google: '
                                                      r'pip install "airflow-provider-vectorbackup\[gcs\]"'):
        object_filesystem("gs://google_cloud_default@bucket/prefix")


def test_a_missing_filesystem_library_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "s3fs", None)  # as if s3fs were not installed: importing it fails
    monkeypatch.setenv("AIRFLOW_CONN_AWS_WITHOUT_S3FS", json.dumps({"conn_type": "aws"}))
    with pytest.raises(MissingObjectStoreExtra, match=r'pip install "airflow-provider-vectorbackup\[s3\]"'):
        object_filesystem("s3://aws_without_s3fs@bucket/prefix")
