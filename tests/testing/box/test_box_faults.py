"""Faults on both hosts (429 storms, 5xx, drops, latency) and silent corruption, seen by the real SDK."""

from __future__ import annotations

import io
import time

import pytest
import requests
from box_helpers import KIB, api_error, make_folder, payload, sha1, upload
from box_sdk_gen import BoxAPIError, BoxClient, BoxRetryStrategy, BoxSDKError

from airflow_provider_vectorbackup.testing.box import BoxStandIn, FaultPlan


def test_sdk_survives_a_429_storm(small_chunks: BoxStandIn, box_client: BoxClient) -> None:
    # An odd period: a download is two requests (302, then the bytes), so with an even period
    # every retry would hit the 429 on the same leg.
    small_chunks.faults.configure(rate_limit_every=3, retry_after_seconds=0)
    folder = make_folder(box_client, "storm")
    data = payload(4 * 256 * KIB + 10, seed=2)
    file = box_client.chunked_uploads.upload_big_file(io.BytesIO(data), "storm.bin", len(data), folder)
    assert file.sha_1 == sha1(data)
    assert box_client.downloads.download_file(file.id).read() == data
    assert small_chunks.faults.injected["rate_limit"] >= 5
    assert small_chunks.read_file_bytes(file.id) == data


def test_rate_limit_response_shape(box_stand_in: BoxStandIn, box_client: BoxClient) -> None:
    box_client.folders.get_folder_by_id("0")  # fetch a token first
    box_stand_in.faults.configure(rate_limit_every=1, retry_after_seconds=0.01)
    with pytest.raises(BoxAPIError) as excinfo:
        box_client.folders.get_folder_by_id("0")
    error = api_error(excinfo, 429, "rate_limit_exceeded")
    assert error.response_info.headers["retry-after"] == "0.01"
    assert box_stand_in.faults.injected["rate_limit"] == 5  # the SDK gives up after five attempts


def test_sdk_retries_through_5xx(box_stand_in: BoxStandIn, fast_retries: BoxRetryStrategy) -> None:
    client = box_stand_in.ccg_client(fast_retries)
    box_stand_in.faults.configure(server_error_every=3, server_error_status=500)
    file_id = upload(client, "five.bin", b"five hundred", make_folder(client, "errors"))
    assert client.downloads.download_file(file_id).read() == b"five hundred"
    assert box_stand_in.faults.injected["server_error"] >= 2


def test_5xx_body_is_box_shaped(box_stand_in: BoxStandIn, fast_retries: BoxRetryStrategy) -> None:
    client = box_stand_in.ccg_client(fast_retries)
    client.folders.get_folder_by_id("0")
    box_stand_in.faults.configure(server_error_every=1, server_error_status=503)
    with pytest.raises(BoxAPIError) as excinfo:
        client.folders.get_folder_by_id("0")
    api_error(excinfo, 503, "unavailable")


def test_sdk_retries_dropped_connections(box_stand_in: BoxStandIn, fast_retries: BoxRetryStrategy) -> None:
    client = box_stand_in.ccg_client(fast_retries)
    client.folders.get_folder_by_id("0")
    box_stand_in.faults.configure(drop_every=2)
    folder = make_folder(client, "dropped")  # request 1 passes
    assert client.folders.get_folder_by_id(folder).name == "dropped"  # request 2 dropped, 3 answers
    assert box_stand_in.faults.injected["drop"] == 1
    box_stand_in.faults.configure(drop_every=1)
    with pytest.raises(BoxSDKError) as excinfo:
        client.folders.get_folder_by_id(folder)
    assert not isinstance(excinfo.value, BoxAPIError)  # a transport failure, no response at all


def test_download_host_is_faulted_too(box_stand_in: BoxStandIn, box_client: BoxClient) -> None:
    file_id = upload(box_client, "dl.bin", b"bytes")
    url = box_client.downloads.get_download_file_url(file_id)
    box_stand_in.faults.configure(rate_limit_every=1)
    response = requests.get(url, timeout=10)
    assert response.status_code == 429 and response.json()["code"] == "rate_limit_exceeded"


def test_latency_is_added(box_stand_in: BoxStandIn, box_client: BoxClient) -> None:
    box_client.folders.get_folder_by_id("0")
    box_stand_in.faults.configure(latency_ms=150)
    started = time.monotonic()
    box_client.folders.get_folder_by_id("0")
    assert time.monotonic() - started >= 0.15


def test_faults_set_at_start() -> None:
    with BoxStandIn(faults=FaultPlan(rate_limit_every=3)) as stand_in:
        client = stand_in.ccg_client()
        for n in range(3):
            make_folder(client, f"f{n}")
        assert stand_in.faults.injected["rate_limit"] >= 1
        assert [row["path"] for row in stand_in.tree()] == ["/f0", "/f1", "/f2"]


def test_silent_corruption_keeps_recorded_sha1(box_stand_in: BoxStandIn, box_client: BoxClient) -> None:
    data = payload(4096, seed=4)
    file_id = upload(box_client, "rot.bin", data)
    box_stand_in.corrupt_file(file_id, offset=100)
    assert box_client.files.get_file_by_id(file_id, fields=["sha1"]).sha_1 == sha1(data)
    downloaded = box_client.downloads.download_file(file_id).read()
    assert len(downloaded) == len(data) and downloaded != data and sha1(downloaded) != sha1(data)
    assert downloaded[:100] == data[:100] and downloaded[101:] == data[101:]


def test_reset_clears_everything(box_stand_in: BoxStandIn, box_client: BoxClient) -> None:
    upload(box_client, "x.bin", b"x")
    box_stand_in.faults.configure(rate_limit_every=5)
    box_stand_in.chunk_minimum = 1
    box_stand_in.reset()
    assert box_stand_in.tree() == [] and box_stand_in.request_counts == {}
    assert box_stand_in.faults.plan.rate_limit_every == 0 and box_stand_in.chunk_minimum == 20 * 1024 * 1024
