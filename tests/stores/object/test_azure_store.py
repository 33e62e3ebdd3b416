"""Azure Blob storage: no Azure server runs offline here (Azurite needs Node.js), so these are unit-level.

What they hold: an ``abfs://`` URL goes through Airflow's ObjectStoragePath and the azure provider to adlfs's
filesystem for the right account and container, without touching the network; the store takes it with the plain
object access (the one that runs the whole conformance suite on fsspec's in-memory filesystem), refuses
S3 Object Lock for it, and never shows the account key.
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_vectorbackup.hooks.object_storage import object_filesystem
from airflow_provider_vectorbackup.stores.object.access import ObjectAccess
from airflow_provider_vectorbackup.stores.object.lock import ObjectLock
from airflow_provider_vectorbackup.stores.object.store import ObjectStore

ACCOUNT_KEY = "Y2FuYXJ5LWF6dXJlLWFjY291bnQta2V5LTQyNjE="  # a canary, base64 as Azure keys are


@pytest.fixture
def azure_connection(monkeypatch: pytest.MonkeyPatch) -> str:
    conn_id = "azure_unit"
    connection_string = (f"DefaultEndpointsProtocol=https;AccountName=vbaccount;AccountKey={ACCOUNT_KEY};"
                         f"EndpointSuffix=core.windows.net")
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(
        {"conn_type": "wasb", "extra": {"connection_string": connection_string}}))
    return conn_id


def test_an_abfs_url_reaches_adlfs_for_its_account_and_container_with_the_plain_access(azure_connection: str) -> None:
    from adlfs import AzureBlobFileSystem

    url = f"abfs://{azure_connection}@vb-container/vector-backups"
    fs, path = object_filesystem(url)
    assert isinstance(fs, AzureBlobFileSystem) and "AccountName=vbaccount;" in fs.connection_string
    assert path == "vb-container/vector-backups"
    store = ObjectStore(fs, path, url=url)
    assert type(store.access) is ObjectAccess
    assert ACCOUNT_KEY not in store.describe() and ACCOUNT_KEY not in repr(store.__dict__.get("url"))


def test_s3_object_lock_is_refused_for_an_azure_store(azure_connection: str) -> None:
    fs, path = object_filesystem(f"abfs://{azure_connection}@vb-container/vector-backups")
    with pytest.raises(ValueError, match="abfs:// store cannot hold one") as refused:
        ObjectStore(fs, path, url="abfs://azure_unit@vb-container/vector-backups", lock=ObjectLock("governance", 7))
    assert ACCOUNT_KEY not in str(refused.value)
