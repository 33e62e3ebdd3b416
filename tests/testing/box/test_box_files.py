"""Files: direct uploads and versions, info, download through the 302, preflight, delete."""

from __future__ import annotations

import hashlib
import io
import os
import threading

import pytest
import requests
from box_helpers import api_error, make_folder, payload, sha1, upload
from box_sdk_gen import (
    BoxAPIError,
    BoxClient,
    FetchOptions,
    MultipartItem,
    PreflightFileUploadCheckParent,
    UploadFileAttributes,
    UploadFileAttributesParentField,
    UploadFileVersionAttributes,
    UploadWithPreflightCheckAttributes,
    UploadWithPreflightCheckAttributesParentField,
)

from airflow_provider_vectorbackup.testing.box import BoxStandIn


def test_upload_then_info_and_download(box_stand_in: BoxStandIn, box_client: BoxClient) -> None:
    folder = make_folder(box_client, "backups")
    data = payload(300_000)
    file_id = upload(box_client, "snap.bin", data, folder, content_md_5=sha1(data))
    info = box_client.files.get_file_by_id(file_id, fields=["sha1", "size", "name"])
    assert (info.id, info.type, info.sha_1, info.size, info.name) == (file_id, "file", sha1(data), len(data), "snap.bin")
    full = box_client.files.get_file_by_id(file_id)
    assert (full.parent.id, full.file_version.sha_1, full.etag) == (folder, sha1(data), "0")
    assert box_client.downloads.download_file(file_id).read() == data
    assert box_stand_in.read_file_bytes(file_id) == data
    assert box_stand_in.tree()[1] == {"path": "/backups/snap.bin", "type": "file", "id": file_id,
                                      "size": len(data), "sha1": sha1(data)}
    assert box_stand_in.request_counts["download_bytes"] == 1


def test_file_bytes_live_on_disk(box_stand_in: BoxStandIn, box_client: BoxClient) -> None:
    file_id = upload(box_client, "disk.bin", b"on disk")
    version = box_stand_in.store.file(file_id).current
    assert version.path.is_relative_to(box_stand_in.store.storage_dir) and version.path.read_bytes() == b"on disk"
    assert not list(box_stand_in.store.staging.iterdir())


def test_download_redirects_to_download_host(box_stand_in: BoxStandIn, box_client: BoxClient) -> None:
    file_id = upload(box_client, "r.bin", b"0123456789")
    url = box_client.downloads.get_download_file_url(file_id)
    assert url.startswith(box_stand_in.download_url + "/") and not url.startswith(box_stand_in.url + "/")
    assert requests.get(url, timeout=10).content == b"0123456789"  # no Authorization needed there


def test_download_range_is_206(box_client: BoxClient) -> None:
    data = payload(10_000)
    file_id = upload(box_client, "range.bin", data)
    assert box_client.downloads.download_file(file_id, range="bytes=100-199").read() == data[100:200]
    url = box_client.downloads.get_download_file_url(file_id)
    response = requests.get(url, headers={"Range": "bytes=9990-"}, timeout=10)
    assert response.status_code == 206
    assert response.headers["content-range"] == "bytes 9990-9999/10000"
    assert response.content == data[9990:]
    assert requests.get(url, headers={"Range": "bytes=20000-"}, timeout=10).status_code == 416


def test_download_missing_file_is_404(box_client: BoxClient) -> None:
    with pytest.raises(BoxAPIError) as excinfo:
        box_client.downloads.download_file("424242")
    api_error(excinfo, 404, "not_found")


def test_content_md5_mismatch_is_bad_digest(box_stand_in: BoxStandIn, box_client: BoxClient) -> None:
    with pytest.raises(BoxAPIError) as excinfo:
        upload(box_client, "d.bin", b"abc", content_md_5=sha1(b"abd"))
    api_error(excinfo, 400, "bad_digest")
    assert box_stand_in.tree() == [] and not list(box_stand_in.store.staging.iterdir())


def test_upload_name_conflict_has_conflict_object(box_client: BoxClient) -> None:
    first = upload(box_client, "same.bin", b"one")
    with pytest.raises(BoxAPIError) as excinfo:
        upload(box_client, "SAME.bin", b"two")
    conflict = api_error(excinfo, 409, "item_name_in_use").response_info.context_info["conflicts"]
    assert isinstance(conflict, dict)
    assert (conflict["id"], conflict["sha1"], conflict["file_version"]["sha1"]) == (first, sha1(b"one"), sha1(b"one"))


@pytest.mark.parametrize(("name", "code"), [("x" * 256, "item_name_too_long"), ("a/b", "item_name_invalid")])
def test_upload_invalid_name_is_refused(box_client: BoxClient, name: str, code: str) -> None:
    with pytest.raises(BoxAPIError) as excinfo:
        upload(box_client, name, b"x")
    api_error(excinfo, 400, code)


def test_upload_into_missing_folder_is_404(box_client: BoxClient) -> None:
    with pytest.raises(BoxAPIError) as excinfo:
        upload(box_client, "x.bin", b"x", parent_id="31337")
    api_error(excinfo, 404, "not_found")


def test_attributes_after_file_is_refused(box_stand_in: BoxStandIn, box_client: BoxClient) -> None:
    with pytest.raises(BoxAPIError) as excinfo:
        box_client.make_request(FetchOptions(
            url=box_stand_in.upload_url + "/2.0/files/content", method="POST", content_type="multipart/form-data",
            multipart_data=[MultipartItem("file", file_stream=io.BytesIO(b"bytes")),
                            MultipartItem("attributes", data={"name": "late.bin", "parent": {"id": "0"}})],
        ))
    api_error(excinfo, 400, "metadata_after_file_contents")
    assert box_stand_in.tree() == []


def test_upload_to_api_host_instead_of_upload_host_is_404(box_stand_in: BoxStandIn, box_client: BoxClient) -> None:
    with pytest.raises(BoxAPIError) as excinfo:
        box_client.make_request(FetchOptions(
            url=box_stand_in.url + "/2.0/files/content", method="POST", content_type="multipart/form-data",
            multipart_data=[MultipartItem("attributes", data={"name": "a.bin", "parent": {"id": "0"}}),
                            MultipartItem("file", file_stream=io.BytesIO(b"bytes"))],
        ))
    assert excinfo.value.response_info.status_code in (404, 405)


def test_non_seekable_stream_is_sent_chunked(box_stand_in: BoxStandIn, box_client: BoxClient) -> None:
    """A pipe has no length, so the SDK sends ``Transfer-Encoding: chunked``."""
    data = payload(200_000, seed=3)
    read_fd, write_fd = os.pipe()

    def feed() -> None:
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(data)

    writer = threading.Thread(target=feed)
    writer.start()
    with os.fdopen(read_fd, "rb") as pipe:
        files = box_client.uploads.upload_file(
            UploadFileAttributes(name="piped.bin", parent=UploadFileAttributesParentField(id="0")), pipe)
        file_id = files.entries[0].id
    writer.join()
    assert box_stand_in.read_file_bytes(file_id) == data
    assert files.entries[0].sha_1 == sha1(data)


def test_new_version_replaces_content(box_stand_in: BoxStandIn, box_client: BoxClient) -> None:
    file_id = upload(box_client, "v.bin", b"version one")
    files = box_client.uploads.upload_file_version(
        file_id, UploadFileVersionAttributes(name="v.bin"), io.BytesIO(b"version two"),
        content_md_5=sha1(b"version two"))
    entry = files.entries[0]
    assert (entry.id, entry.sha_1, entry.etag) == (file_id, sha1(b"version two"), "1")
    assert box_client.downloads.download_file(file_id).read() == b"version two"
    old_version = box_stand_in.store.file(file_id).versions[0].id
    assert box_client.downloads.download_file(file_id, version=old_version).read() == b"version one"


def test_new_version_with_stale_etag_is_412(box_client: BoxClient) -> None:
    file_id = upload(box_client, "e.bin", b"1")
    box_client.uploads.upload_file_version(file_id, UploadFileVersionAttributes(name="e.bin"), io.BytesIO(b"2"))
    with pytest.raises(BoxAPIError) as excinfo:
        box_client.uploads.upload_file_version(file_id, UploadFileVersionAttributes(name="e.bin"), io.BytesIO(b"3"),
                                               if_match="0")
    api_error(excinfo, 412, "precondition_failed")


def test_new_version_bad_digest(box_client: BoxClient) -> None:
    file_id = upload(box_client, "b.bin", b"1")
    with pytest.raises(BoxAPIError) as excinfo:
        box_client.uploads.upload_file_version(file_id, UploadFileVersionAttributes(name="b.bin"), io.BytesIO(b"2"),
                                               content_md_5=hashlib.sha1(b"3").hexdigest())
    api_error(excinfo, 400, "bad_digest")


def test_preflight(box_stand_in: BoxStandIn, box_client: BoxClient) -> None:
    url = box_client.uploads.preflight_file_upload_check(
        name="new.bin", size=10, parent=PreflightFileUploadCheckParent(id="0"))
    assert url.upload_url == box_stand_in.upload_url + "/2.0/files/content" and url.upload_token
    upload(box_client, "new.bin", b"0123456789")
    with pytest.raises(BoxAPIError) as excinfo:
        box_client.uploads.preflight_file_upload_check(name="NEW.bin", size=10,
                                                       parent=PreflightFileUploadCheckParent(id="0"))
    api_error(excinfo, 409, "item_name_in_use")
    assert box_stand_in.request_counts["preflight"] == 2


def test_upload_with_preflight_check_follows_returned_url(box_stand_in: BoxStandIn, box_client: BoxClient) -> None:
    files = box_client.uploads.upload_with_preflight_check(
        UploadWithPreflightCheckAttributes(name="pre.bin", size=3,
                                           parent=UploadWithPreflightCheckAttributesParentField(id="0")),
        io.BytesIO(b"pre"))
    assert files.entries[0].sha_1 == sha1(b"pre")
    assert (box_stand_in.request_counts["preflight"], box_stand_in.request_counts["upload_file"]) == (1, 1)


def test_delete_file(box_stand_in: BoxStandIn, box_client: BoxClient) -> None:
    file_id = upload(box_client, "gone.bin", b"x")
    with pytest.raises(BoxAPIError) as excinfo:
        box_client.files.delete_file_by_id(file_id, if_match="7")
    api_error(excinfo, 412, "precondition_failed")
    box_client.files.delete_file_by_id(file_id)
    with pytest.raises(BoxAPIError) as excinfo:
        box_client.files.get_file_by_id(file_id)
    api_error(excinfo, 404, "not_found")
    assert not list(box_stand_in.store.blobs.iterdir())
