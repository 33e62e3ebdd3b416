"""Shared helpers for the Box stand-in conformance suite (the fixtures come from the plugin)."""

from __future__ import annotations

import hashlib
import io

import pytest
from box_sdk_gen import (
    BoxAPIError,
    BoxClient,
    BoxRetryStrategy,
    CreateFolderParent,
    UploadFileAttributes,
    UploadFileAttributesParentField,
)

from airflow_provider_vectorbackup.testing.box import BoxStandIn

KIB = 1024
MIB = 1024 * KIB


def payload(size: int, seed: int = 0) -> bytes:
    """Deterministic, incompressible-looking bytes."""
    blocks, counter = [], 0
    while sum(map(len, blocks)) < size:
        blocks.append(hashlib.sha256(f"{seed}:{counter}".encode()).digest())
        counter += 1
    return b"".join(blocks)[:size]


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def make_folder(client: BoxClient, name: str, parent_id: str = "0") -> str:
    return client.folders.create_folder(name, CreateFolderParent(id=parent_id)).id


def upload(client: BoxClient, name: str, data: bytes, parent_id: str = "0", **kwargs: object) -> str:
    files = client.uploads.upload_file(
        UploadFileAttributes(name=name, parent=UploadFileAttributesParentField(id=parent_id)),
        io.BytesIO(data), **kwargs,
    )
    return files.entries[0].id


def api_error(excinfo: pytest.ExceptionInfo[BoxAPIError], status: int, code: str | None) -> BoxAPIError:
    """Assert the real client received Box's error and return it for further checks."""
    error = excinfo.value
    assert error.response_info.status_code == status, error.response_info.body
    assert error.response_info.code == code, error.response_info.body
    if code is not None:
        body = error.response_info.body
        assert body["type"] == "error" and body["status"] == status and body["request_id"]
    return error


@pytest.fixture
def fast_retries() -> BoxRetryStrategy:
    """The SDK's own retry strategy with millisecond back-off (for faults sent without Retry-After)."""
    return BoxRetryStrategy(retry_base_interval=0.001)


@pytest.fixture
def small_chunks(box_stand_in: BoxStandIn) -> BoxStandIn:
    """Chunked uploads from 1 MiB with 256 KiB parts, so they stay fast."""
    box_stand_in.chunk_minimum = 1 * MIB
    box_stand_in.part_size = 256 * KIB
    return box_stand_in
