"""The object store on GCS: uploads checked against the MD5 GCS computes, and ``gs://`` URLs through Airflow."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest

from airflow_provider_vectorbackup.stores.object.access import ObjectIntegrityError
from airflow_provider_vectorbackup.stores.object.gcs import GcsAccess
from airflow_provider_vectorbackup.stores.object.store import ObjectStore
from tests.engines.gcs import BUCKET, GCS_CONN_ID, PROJECT, GcsServer

RESUMABLE_SIZE = 6 * 1024 * 1024
"""Above gcsfs's 5 MiB threshold, so the file goes up as a resumable upload in several requests."""


def test_a_gcs_filesystem_gets_the_md5_checked_access(gcs: GcsServer) -> None:
    store = ObjectStore(gcs.filesystem(), f"{BUCKET}/backups", url=f"gs://{GCS_CONN_ID}@{BUCKET}/backups")
    assert type(store.access) is GcsAccess


def test_a_resumable_upload_is_checked_and_stored_whole(gcs: GcsServer, tmp_path: Path) -> None:
    fs = gcs.filesystem()
    local = tmp_path / "segment.bin"
    data = os.urandom(RESUMABLE_SIZE)
    local.write_bytes(data)

    GcsAccess(fs).upload(local, f"{BUCKET}/p/segment.bin", sha256=None, size=len(data), locked=False)

    info = fs.info(f"{BUCKET}/p/segment.bin")
    assert info["size"] == len(data)
    assert info["md5Hash"] == base64.b64encode(hashlib.md5(data).digest()).decode()
    assert fs.cat_file(f"{BUCKET}/p/segment.bin") == data


def test_an_upload_damaged_on_the_way_fails_although_its_size_is_right(gcs: GcsServer, tmp_path: Path) -> None:
    import gcsfs

    class OneByteFlipped(gcsfs.GCSFileSystem):
        """Sends the file with its first byte changed: what a faulty network or proxy would deliver."""

        async def _put_file(self, lpath, rpath, **kwargs):  # noqa: ANN001, ANN202 - gcsfs's signature
            damaged = Path(lpath).with_suffix(".damaged")
            data = bytearray(Path(lpath).read_bytes())
            data[0] ^= 0xFF
            damaged.write_bytes(data)
            return await super()._put_file(str(damaged), rpath, **kwargs)

    fs = OneByteFlipped(endpoint_url=gcs.endpoint_url, token="anon", project=PROJECT)
    local = tmp_path / "segment.bin"
    local.write_bytes(b"vectors" * 1000)

    with pytest.raises(ObjectIntegrityError, match="GCS computed MD5 .* the upload damaged them"):
        GcsAccess(fs).upload(local, f"{BUCKET}/p/segment.bin", sha256=None, size=7000, locked=False)
