"""Helpers shared by the Box stand-in conformance tests."""

from __future__ import annotations

import hashlib
import io
import random

import pytest
from box_sdk_gen import (
    BoxAPIError,
    BoxClient,
    CreateFolderParent,
    UploadFileAttributes,
    UploadFileAttributesParentField,
)

KIB = 1024
MIB = 1024 * KIB


def payload(size: int, seed: int = 0) -> bytes:
    """Deterministic (seeded) incompressible bytes."""
    return random.Random(seed).randbytes(size)


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

