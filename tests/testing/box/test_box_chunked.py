"""Chunked upload sessions, driven by ``upload_big_file`` and by the SDK's building blocks."""

from __future__ import annotations

import base64
import hashlib
import io

import pytest
from box_helpers import KIB, MIB, api_error, make_folder, payload, sha1, upload
from box_sdk_gen import BoxAPIError, BoxClient, UploadPart

from airflow_provider_vectorbackup.testing.box import BoxStandIn

PART = 256 * KIB


def digest(data: bytes) -> str:
    return "sha=" + base64.b64encode(hashlib.sha1(data).digest()).decode()


def content_range(first: int, size: int, total: int) -> str:
    return f"bytes {first}-{first + size - 1}/{total}"


def test_upload_big_file(small_chunks: BoxStandIn, box_client: BoxClient) -> None:
    folder = make_folder(box_client, "big")
    data = payload(5 * PART + 1234, seed=7)
    file = box_client.chunked_uploads.upload_big_file(io.BytesIO(data), "big.bin", len(data), folder)
    assert (file.name, file.size, file.sha_1, file.parent.id) == ("big.bin", len(data), sha1(data), folder)
    assert small_chunks.read_file_bytes("/big/big.bin") == data
    counts = small_chunks.request_counts
    assert (counts["create_upload_session"], counts["upload_part"], counts["commit_upload_session"]) == (1, 6, 1)
    assert not list(small_chunks.store.staging.iterdir())


@pytest.mark.slow
def test_upload_big_file_at_real_box_minimum(box_stand_in: BoxStandIn, box_client: BoxClient) -> None:
    """Real-Box defaults: 20 MB minimum, 8 MiB parts."""
    data = payload(20 * 1024 * 1024 + 5, seed=11)
    file = box_client.chunked_uploads.upload_big_file(io.BytesIO(data), "real.bin", len(data), "0")
    assert file.sha_1 == sha1(data)
    assert box_stand_in.request_counts["upload_part"] == 3


def test_upload_big_file_version(small_chunks: BoxStandIn, box_client: BoxClient) -> None:
    file_id = upload(box_client, "grow.bin", b"small")
    data = payload(4 * PART + 1, seed=5)
    file = box_client.chunked_uploads.upload_big_file_version(file_id, io.BytesIO(data), len(data),
                                                              file_name="grown.bin")
    assert (file.id, file.name, file.sha_1) == (file_id, "grown.bin", sha1(data))
    assert small_chunks.read_file_bytes(file_id) == data
    assert small_chunks.request_counts["plan_upload_session"] == 5


def test_session_below_minimum_is_refused(box_stand_in: BoxStandIn, box_client: BoxClient) -> None:
    with pytest.raises(BoxAPIError) as excinfo:
        box_client.chunked_uploads.create_file_upload_session("0", 20 * 1024 * 1024 - 1, "small.bin")
    api_error(excinfo, 400, "file_size_too_small")


def test_session_name_conflict_is_409(small_chunks: BoxStandIn, box_client: BoxClient) -> None:
    existing = upload(box_client, "taken.bin", b"x")
    with pytest.raises(BoxAPIError) as excinfo:
        box_client.chunked_uploads.create_file_upload_session("0", 2 * MIB, "TAKEN.bin")
    assert api_error(excinfo, 409, "item_name_in_use").response_info.context_info["conflicts"]["id"] == existing


def test_session_shape(small_chunks: BoxStandIn, box_client: BoxClient) -> None:
    session = box_client.chunked_uploads.create_file_upload_session("0", 4 * PART + 1, "s.bin")
    assert (session.part_size, session.total_parts, session.num_parts_processed) == (PART, 5, 0)
    prefix = f"{small_chunks.upload_url}/2.0/files/upload_sessions/{session.id}"
    endpoints = session.session_endpoints
    assert (endpoints.upload_part, endpoints.commit, endpoints.list_parts, endpoints.abort) == (
        prefix, prefix + "/commit", prefix + "/parts", prefix)


@pytest.fixture
def session(small_chunks: BoxStandIn, box_client: BoxClient):  # noqa: ANN201 - an SDK UploadSession
    return box_client.chunked_uploads.create_file_upload_session("0", TOTAL, "parts.bin")


DATA = payload(4 * PART + 100, seed=1)  # just over the 1 MiB minimum of small_chunks
TOTAL = len(DATA)


def _put(client: BoxClient, session, first: int, size: int, *, body: bytes | None = None,  # noqa: ANN001
         digest_header: str | None = None, total: int = TOTAL) -> UploadPart:
    body = DATA[first:first + size] if body is None else body
    return client.chunked_uploads.upload_file_part_by_url(
        session.session_endpoints.upload_part, io.BytesIO(body), digest_header or digest(body),
        content_range(first, size, total)).part


@pytest.mark.parametrize(("first", "size", "total"), [
    (1, PART, TOTAL),            # offset not a multiple of part_size
    (0, PART - 1, TOTAL),        # short part that is not the last
    (4 * PART, 99, TOTAL),       # last part, wrong size
    (5 * PART, 100, TOTAL),      # beyond the file
    (0, PART, TOTAL + 1),        # wrong total
])
def test_bad_content_range_is_416(box_client: BoxClient, session, first: int, size: int, total: int) -> None:  # noqa: ANN001
    with pytest.raises(BoxAPIError) as excinfo:
        _put(box_client, session, first, size, body=DATA[first:first + size] or b"x", total=total)
    api_error(excinfo, 416, "requested_range_not_satisfiable")


def test_part_digest_mismatch(box_client: BoxClient, session) -> None:  # noqa: ANN001
    with pytest.raises(BoxAPIError) as excinfo:
        _put(box_client, session, 0, PART, digest_header=digest(b"something else"))
    api_error(excinfo, 400, "bad_digest")
    # The refused part was not recorded, so the right bytes are still accepted.
    assert _put(box_client, session, 0, PART).sha_1 == sha1(DATA[:PART])


def test_part_without_valid_digest_is_400(box_client: BoxClient, session) -> None:  # noqa: ANN001
    with pytest.raises(BoxAPIError) as excinfo:
        _put(box_client, session, 0, PART, digest_header="md5=abc")
    api_error(excinfo, 400, "bad_request")


def test_parts_are_immutable(box_client: BoxClient, session) -> None:  # noqa: ANN001
    _put(box_client, session, 0, PART)
    for body in (DATA[:PART], payload(PART, seed=99)):
        with pytest.raises(BoxAPIError) as excinfo:
            _put(box_client, session, 0, PART, body=body)
        api_error(excinfo, 409, "range_overlaps_existing_part")


def test_list_parts_pages(box_client: BoxClient, session) -> None:  # noqa: ANN001
    parts = [_put(box_client, session, first, min(PART, TOTAL - first)) for first in range(0, TOTAL, PART)]
    listed = box_client.chunked_uploads.get_file_upload_session_parts_by_url(session.session_endpoints.list_parts)
    assert listed.total_count == 5 and [p.part_id for p in listed.entries] == [p.part_id for p in parts]
    page = box_client.chunked_uploads.get_file_upload_session_parts_by_url(
        session.session_endpoints.list_parts, offset=1, limit=2)
    assert (page.offset, page.limit, [p.offset for p in page.entries]) == (1, 2, [PART, 2 * PART])
    status = box_client.chunked_uploads.get_file_upload_session_by_url(session.session_endpoints.status)
    assert status.num_parts_processed == 5


def _all_parts(client: BoxClient, session) -> list[UploadPart]:  # noqa: ANN001
    return [_put(client, session, first, min(PART, TOTAL - first)) for first in range(0, TOTAL, PART)]


def test_commit_checks_whole_file_digest(box_client: BoxClient, session) -> None:  # noqa: ANN001
    parts = _all_parts(box_client, session)
    with pytest.raises(BoxAPIError) as excinfo:
        box_client.chunked_uploads.create_file_upload_session_commit_by_url(
            session.session_endpoints.commit, parts, digest(DATA + b"!"))
    api_error(excinfo, 400, "bad_digest")


def test_commit_checks_the_parts_list(box_client: BoxClient, session) -> None:  # noqa: ANN001
    parts = _all_parts(box_client, session)
    for wrong in (parts[:-1], [*parts[:-1], UploadPart(part_id="FFFFFFFF", offset=4 * PART, size=100)]):
        with pytest.raises(BoxAPIError) as excinfo:
            box_client.chunked_uploads.create_file_upload_session_commit_by_url(
                session.session_endpoints.commit, wrong, digest(DATA))
        api_error(excinfo, 400, "bad_request")


def test_commit_with_missing_parts_is_refused(box_client: BoxClient, session) -> None:  # noqa: ANN001
    parts = [_put(box_client, session, 0, PART)]
    with pytest.raises(BoxAPIError) as excinfo:
        box_client.chunked_uploads.create_file_upload_session_commit_by_url(
            session.session_endpoints.commit, parts, digest(DATA))
    api_error(excinfo, 400, "bad_request")


def test_commit_answered_202_is_retried(small_chunks: BoxStandIn, box_client: BoxClient, session) -> None:  # noqa: ANN001
    parts = _all_parts(box_client, session)
    small_chunks.delay_commits(2, retry_after_seconds=0.01)
    files = box_client.chunked_uploads.create_file_upload_session_commit_by_url(
        session.session_endpoints.commit, parts, digest(DATA))
    assert files.entries[0].sha_1 == sha1(DATA)
    assert small_chunks.request_counts["commit_upload_session"] == 3


def test_commit_conflict_when_name_taken_meanwhile(box_client: BoxClient, session) -> None:  # noqa: ANN001
    parts = _all_parts(box_client, session)
    upload(box_client, "parts.bin", b"sneaked in")
    with pytest.raises(BoxAPIError) as excinfo:
        box_client.chunked_uploads.create_file_upload_session_commit_by_url(
            session.session_endpoints.commit, parts, digest(DATA))
    api_error(excinfo, 409, "item_name_in_use")


def test_abort(small_chunks: BoxStandIn, box_client: BoxClient, session) -> None:  # noqa: ANN001
    _put(box_client, session, 0, PART)
    box_client.chunked_uploads.delete_file_upload_session_by_url(session.session_endpoints.abort)
    with pytest.raises(BoxAPIError) as excinfo:
        _put(box_client, session, PART, PART)
    api_error(excinfo, 404, "not_found")
    assert not list(small_chunks.store.staging.iterdir())


def test_refused_full_size_part_gets_the_error(box_stand_in: BoxStandIn, box_client: BoxClient) -> None:
    """An 8 MiB part refused before its body is read still gets Box's 416, not a connection reset."""
    session = box_client.chunked_uploads.create_file_upload_session("0", 20 * MIB, "reset.bin")
    body = payload(8 * MIB, seed=3)
    with pytest.raises(BoxAPIError) as excinfo:
        box_client.chunked_uploads.upload_file_part_by_url(
            session.session_endpoints.upload_part, io.BytesIO(body), digest(body), content_range(1, 8 * MIB, 20 * MIB))
    api_error(excinfo, 416, "requested_range_not_satisfiable")
