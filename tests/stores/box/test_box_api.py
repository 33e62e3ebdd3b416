"""BoxApi against the Box stand-in, with the real boxsdk over HTTP: folders, uploads, downloads, faults.

The client is never mocked; tests act at exact points of its work through log messages
(:class:`OnLogMessage`) instead of patching or sleeping.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from box_sdk_gen import BoxClient

from airflow_provider_vectorbackup.connection import ConnectionSettings
from airflow_provider_vectorbackup.stores.box.client import BoxApi, BoxIntegrityError, BoxItem, BoxNameConflictError
from airflow_provider_vectorbackup.stores.box.items import BoxOperationError
from airflow_provider_vectorbackup.stores.box.upload import PartBody, sha_digest
from airflow_provider_vectorbackup.testing.box import BoxStandIn
from tests.stores.box.helpers import MIB, OnLogMessage, box_api, sha1_file, write_file

UPLOAD_LOG = "airflow_provider_vectorbackup.stores.box.upload"


@pytest.fixture
def fast_connection(box_connection: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """``box_default`` with millisecond retry back-off, for faults that come without Retry-After."""
    variable = f"AIRFLOW_CONN_{box_connection.upper()}"
    connection = json.loads(os.environ[variable])
    connection["extra"]["retry_base_interval"] = 0.001
    monkeypatch.setenv(variable, json.dumps(connection))
    return box_connection


@pytest.fixture
def api(fast_connection: str) -> BoxApi:
    return box_api(fast_connection)


@pytest.fixture
def chunky(box_stand_in: BoxStandIn, fast_connection: str) -> BoxApi:
    """A client that uploads chunked from 1 MiB, against a stand-in with a 1 MiB minimum and 256 KiB parts."""
    box_stand_in.chunk_minimum = 1 * MIB
    box_stand_in.part_size = 256 * 1024
    return box_api(fast_connection, chunk_threshold=1 * MIB, upload_concurrency=3)


@pytest.fixture
def upload_log_hooks() -> Iterator[Callable[[str, Callable[[logging.LogRecord], None]], OnLogMessage]]:
    """Register actions to run when the chunked uploader logs a given message."""
    logger, handlers = logging.getLogger(UPLOAD_LOG), []
    level = logger.level
    logger.setLevel(logging.INFO)

    def register(prefix: str, action: Callable[[logging.LogRecord], None]) -> OnLogMessage:
        handlers.append(OnLogMessage(prefix, action))
        logger.addHandler(handlers[-1])
        return handlers[-1]

    yield register
    for handler in handlers:
        logger.removeHandler(handler)
    logger.setLevel(level)


# -- construction -------------------------------------------------------------------------


def test_init_does_no_io_and_repr_is_plain(box_stand_in: BoxStandIn) -> None:
    settings = ConnectionSettings("no_such_connection", "box", password="CANARY-secret-5e1d",
                                  extra={"enterprise_id": "1000", "jwt_config": "CANARY-jwt-8a0b"})
    api = BoxApi.from_connection(settings, chunk_threshold=123, upload_concurrency=2)
    assert repr(api) == "BoxApi(conn_id='no_such_connection', chunk_threshold=123, upload_concurrency=2)"
    assert "CANARY" not in repr(api.__dict__)
    assert box_stand_in.request_counts == {}


@pytest.mark.parametrize("kwargs", [{"chunk_threshold": -1}, {"upload_concurrency": 0}])
def test_init_rejects_nonsense_settings(kwargs: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        BoxApi.from_connection(ConnectionSettings("box_default", "box"), **kwargs)


def test_client_is_built_once(api: BoxApi, box_stand_in: BoxStandIn) -> None:
    assert api.client is api.client
    api.ensure_folder("a")
    api.ensure_folder("b")
    assert box_stand_in.tokens_issued == 1


# -- folders ------------------------------------------------------------------------------


def test_ensure_folder_creates_nested_paths_idempotently(api: BoxApi, box_stand_in: BoxStandIn) -> None:
    leaf = api.ensure_folder("backups/articles/2026-11-22")
    assert api.ensure_folder("/backups//articles/2026-11-22/") == leaf
    assert api.ensure_folder("BACKUPS/Articles/2026-11-22") == leaf  # Box names are case-insensitive
    assert [row["path"] for row in box_stand_in.tree()] == [
        "/backups", "/backups/articles", "/backups/articles/2026-11-22"]
    backups = api.ensure_folder("backups")
    assert api.ensure_folder("articles/2026-11-22", parent_id=backups) == leaf
    assert api.ensure_folder("", parent_id=backups) == backups


def test_ensure_folder_uses_a_folder_another_client_created(api: BoxApi, box_client: BoxClient,
                                                            box_stand_in: BoxStandIn) -> None:
    from box_sdk_gen import CreateFolderParent

    theirs = box_client.folders.create_folder("shared", CreateFolderParent(id="0")).id
    assert api.ensure_folder("shared/mine") != theirs
    assert api.ensure_folder("shared") == theirs
    assert len(box_stand_in.tree()) == 2


def test_ensure_folder_from_racing_threads_ends_with_one_folder_each(fast_connection: str,
                                                                     box_stand_in: BoxStandIn) -> None:
    apis = [box_api(fast_connection) for _ in range(4)]
    for each in apis:
        each.client.auth.retrieve_token(network_session=each.client.network_session)  # tokens up front
    start = threading.Barrier(len(apis))
    results: list[str] = []

    def create(each: BoxApi) -> None:
        start.wait()
        results.append(each.ensure_folder("race/a/b"))

    threads = [threading.Thread(target=create, args=(each,)) for each in apis]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4 and len(set(results)) == 1
    assert [row["path"] for row in box_stand_in.tree()] == ["/race", "/race/a", "/race/a/b"]
    assert box_stand_in.request_counts["create_folder"] == 12  # every level tried by every thread


def test_ensure_folder_refuses_a_file_in_the_way(api: BoxApi, tmp_path: Path) -> None:
    folder = api.ensure_folder("x")
    (tmp_path / "data").write_bytes(b"not a folder")
    file = api.upload(tmp_path / "data", folder)
    with pytest.raises(BoxNameConflictError, match=rf"a file named 'data' \(id {file.id}\)") as caught:
        api.ensure_folder("x/data/y")
    assert caught.value.existing == BoxItem(file.id, "data", "file", None, file.sha1, None)


def test_list_folder_follows_markers_to_the_end(api: BoxApi, box_stand_in: BoxStandIn, tmp_path: Path) -> None:
    folder = api.ensure_folder("many")
    for i in range(6):
        api.ensure_folder(f"sub-{i:02d}", parent_id=folder)
    for i in range(14):
        (tmp_path / f"f{i:02d}.txt").write_bytes(f"file {i}".encode())
        api.upload(tmp_path / f"f{i:02d}.txt", folder)
    before = box_stand_in.request_counts.get("list_folder_items", 0)

    items = list(api.list_folder(folder, page_size=7))

    assert box_stand_in.request_counts["list_folder_items"] - before == 3  # 7 + 7 + 6
    assert len(items) == 20 and len({item.id for item in items}) == 20
    assert sorted(item.name for item in items if item.type == "folder") == [f"sub-{i:02d}" for i in range(6)]
    f03 = next(item for item in items if item.name == "f03.txt")
    assert f03 == BoxItem(f03.id, "f03.txt", "file", 6, hashlib.sha1(b"file 3").hexdigest(), folder)
    assert list(api.list_folder(api.ensure_folder("empty"))) == []


def test_find_item_matches_names_like_box(api: BoxApi, tmp_path: Path) -> None:
    folder = api.ensure_folder("find")
    sub = api.ensure_folder("Snapshots", parent_id=folder)
    assert api.find_item(folder, "snapshots") == BoxItem(sub, "Snapshots", "folder", 0, None, folder)
    assert api.find_item(folder, "missing") is None


def test_rename_folder_and_the_clash_error(api: BoxApi, box_stand_in: BoxStandIn) -> None:
    parent = api.ensure_folder("snapshots")
    staging = api.ensure_folder(".incomplete-run-7", parent_id=parent)
    renamed = api.rename_folder(staging, "run-7")
    assert (renamed.id, renamed.name, renamed.type, renamed.parent_id) == (staging, "run-7", "folder", parent)
    assert "/snapshots/run-7" in [row["path"] for row in box_stand_in.tree()]

    other = api.ensure_folder(".incomplete-run-8", parent_id=parent)
    with pytest.raises(BoxNameConflictError) as caught:
        api.rename_folder(other, "RUN-7")
    message = str(caught.value)
    assert "'.incomplete-run-8'" in message and "'RUN-7'" in message and f"'run-7' (id {staging})" in message
    assert caught.value.existing is not None and caught.value.existing.id == staging
    assert api.find_item(parent, ".incomplete-run-8") is not None  # left as it was


def test_delete_file_and_folders(api: BoxApi, box_stand_in: BoxStandIn, tmp_path: Path) -> None:
    root = api.ensure_folder("old")
    leaf = api.ensure_folder("a/b", parent_id=root)
    (tmp_path / "seg").write_bytes(b"segment")
    kept = api.upload(tmp_path / "seg", root)
    api.upload(tmp_path / "seg", leaf)
    api.delete_file(kept.id)
    assert api.find_item(root, "seg") is None

    with pytest.raises(BoxOperationError) as refused:
        api.delete_folder(root, recursive=False)
    assert refused.value.code == "folder_not_empty" and "folder_not_empty" in str(refused.value)
    api.delete_folder(root)
    assert box_stand_in.tree() == []
    with pytest.raises(BoxOperationError) as gone:
        api.delete_file(kept.id)
    assert gone.value.status_code == 404


# -- uploads and downloads ----------------------------------------------------------------


def test_small_upload_is_direct_with_content_md5_and_round_trips(api: BoxApi, box_stand_in: BoxStandIn,
                                                                tmp_path: Path) -> None:
    folder = api.ensure_folder("direct")
    sha1 = write_file(tmp_path / "small.jsonl", 300_000)
    item = api.upload(tmp_path / "small.jsonl", folder, "renamed.jsonl")
    assert item == BoxItem(item.id, "renamed.jsonl", "file", 300_000, sha1, folder)
    assert box_stand_in.request_counts["upload_file"] == 1
    assert "create_upload_session" not in box_stand_in.request_counts
    assert api.file_info(item.id) == item
    assert api.download(item.id, tmp_path / "back.jsonl") == sha1 == sha1_file(tmp_path / "back.jsonl")


def test_empty_file_uploads(api: BoxApi, tmp_path: Path) -> None:
    (tmp_path / "empty").write_bytes(b"")
    item = api.upload(tmp_path / "empty", "0")
    assert (item.size, item.sha1) == (0, hashlib.sha1(b"").hexdigest())
    assert api.download(item.id, tmp_path / "again") == item.sha1


def test_chunked_upload_sends_every_part_with_its_digest(chunky: BoxApi, box_stand_in: BoxStandIn,
                                                         tmp_path: Path) -> None:
    sha1 = write_file(tmp_path / "seg.bin", 3 * MIB + 12345, seed=1)
    item = chunky.upload(tmp_path / "seg.bin", chunky.ensure_folder("chunked"))
    counts = box_stand_in.request_counts
    assert (counts["create_upload_session"], counts["upload_part"], counts["commit_upload_session"]) == (1, 13, 1)
    assert "upload_file" not in counts and "abort_upload_session" not in counts
    assert item.sha1 == sha1 == hashlib.sha1(box_stand_in.read_file_bytes(item.id)).hexdigest()


@pytest.mark.parametrize("size", [300_000, 3 * MIB + 12345], ids=["direct", "chunked"])
def test_a_known_sha1_is_trusted_only_as_far_as_box_confirms_it(chunky: BoxApi, box_stand_in: BoxStandIn,
                                                              tmp_path: Path, size: int) -> None:
    folder = chunky.ensure_folder("known")
    sha1 = write_file(tmp_path / "seg.bin", size, seed=3)
    assert chunky.upload(tmp_path / "seg.bin", folder, sha1=sha1).sha1 == sha1
    wrong = hashlib.sha1(b"not these bytes").hexdigest()
    with pytest.raises(Exception, match="sha1|SHA-1|digest|Digest"):
        chunky.upload(tmp_path / "seg.bin", folder, "other.bin", sha1=wrong)
    assert "other.bin" not in {item.name for item in chunky.list_folder(folder)}, "a wrong digest stores nothing"


def test_chunked_below_boxs_minimum_falls_back_to_direct(fast_connection: str, box_stand_in: BoxStandIn,
                                                         tmp_path: Path) -> None:
    api = box_api(fast_connection, chunk_threshold=1 * MIB)  # the stand-in keeps Box's 20 MB minimum
    sha1 = write_file(tmp_path / "two.bin", 2 * MIB)
    assert api.upload(tmp_path / "two.bin", "0").sha1 == sha1
    counts = box_stand_in.request_counts
    assert (counts["create_upload_session"], counts["upload_file"]) == (1, 1)


def test_reupload_of_the_same_bytes_is_a_no_op(chunky: BoxApi, box_stand_in: BoxStandIn, tmp_path: Path) -> None:
    folder = chunky.ensure_folder("same")
    write_file(tmp_path / "big.bin", 2 * MIB, seed=2)
    (tmp_path / "small.txt").write_bytes(b"small")
    first_big, first_small = chunky.upload(tmp_path / "big.bin", folder), chunky.upload(tmp_path / "small.txt", folder)
    parts = box_stand_in.request_counts["upload_part"]

    assert chunky.upload(tmp_path / "big.bin", folder) == first_big
    assert chunky.upload(tmp_path / "small.txt", folder, "SMALL.TXT") == first_small
    assert chunky.upload(tmp_path / "small.txt", folder, new_version_if_exists=True) == first_small
    assert box_stand_in.request_counts["upload_part"] == parts
    assert [row["path"] for row in box_stand_in.tree()] == ["/same", "/same/big.bin", "/same/small.txt"]
    assert len(box_stand_in.store.file(first_small.id).versions) == 1


@pytest.mark.parametrize("size", [100, 2 * MIB], ids=["direct", "chunked"])
def test_reupload_of_different_bytes_is_refused_or_versioned(chunky: BoxApi, box_stand_in: BoxStandIn,
                                                             tmp_path: Path, size: int) -> None:
    folder = chunky.ensure_folder("versions")
    write_file(tmp_path / "seg", size, seed=3)
    first = chunky.upload(tmp_path / "seg", folder)
    new_sha1 = write_file(tmp_path / "seg", size, seed=4)

    with pytest.raises(BoxNameConflictError) as caught:
        chunky.upload(tmp_path / "seg", folder)
    message = str(caught.value)
    assert first.sha1 in message and new_sha1 in message and "new_version_if_exists=True" in message
    assert caught.value.existing is not None and caught.value.existing.id == first.id

    second = chunky.upload(tmp_path / "seg", folder, new_version_if_exists=True)
    assert (second.id, second.sha1) == (first.id, new_sha1)
    assert [v.sha1 for v in box_stand_in.store.file(first.id).versions] == [first.sha1, new_sha1]
    assert chunky.download(first.id, tmp_path / "check") == new_sha1


def test_upload_onto_a_folder_name_is_refused(api: BoxApi, tmp_path: Path) -> None:
    api.ensure_folder("taken")
    (tmp_path / "taken").write_bytes(b"x")
    with pytest.raises(BoxNameConflictError, match="a folder named 'taken'"):
        api.upload(tmp_path / "taken", "0", new_version_if_exists=True)


def test_corruption_at_rest_is_detected_and_nothing_is_left_behind(api: BoxApi, box_stand_in: BoxStandIn,
                                                                   tmp_path: Path) -> None:
    write_file(tmp_path / "seg.bin", 200_000, seed=5)
    item = api.upload(tmp_path / "seg.bin", "0")
    box_stand_in.corrupt_file(item.id, offset=123_456)
    out = tmp_path / "restore"
    out.mkdir()

    with pytest.raises(BoxIntegrityError) as caught:
        api.download(item.id, out / "seg.bin")
    assert caught.value.expected_sha1 == item.sha1 and caught.value.actual_sha1 != item.sha1
    assert item.sha1 in str(caught.value) and caught.value.actual_sha1 in str(caught.value)
    assert list(out.iterdir()) == []


def test_download_checks_the_callers_sha1_and_keeps_an_existing_file(api: BoxApi, tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"abc")
    item = api.upload(tmp_path / "a", "0")
    (tmp_path / "dest").write_bytes(b"previous")
    with pytest.raises(BoxIntegrityError, match="expected " + "0" * 40):
        api.download(item.id, tmp_path / "dest", expected_sha1="0" * 40)
    assert (tmp_path / "dest").read_bytes() == b"previous"
    assert api.download(item.id, tmp_path / "dest", expected_sha1=item.sha1.upper()) == item.sha1
    assert (tmp_path / "dest").read_bytes() == b"abc"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "dest"]


def test_download_checks_a_sha256_when_asked(api: BoxApi, tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"abc")
    item = api.upload(tmp_path / "a", "0")
    with pytest.raises(BoxIntegrityError, match="sha256 " + hashlib.sha256(b"abc").hexdigest()) as refused:
        api.download(item.id, tmp_path / "dest", expected_sha256="0" * 64)
    assert (refused.value.expected_sha256, refused.value.actual_sha256) == ("0" * 64, hashlib.sha256(b"abc").hexdigest())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"], "nothing is left of the download"
    api.download(item.id, tmp_path / "dest", expected_sha256=hashlib.sha256(b"abc").hexdigest())
    assert (tmp_path / "dest").read_bytes() == b"abc"


# -- chunked upload under faults ----------------------------------------------------------


def test_chunked_upload_survives_429s_5xx_drops_and_slow_commits(chunky: BoxApi, box_stand_in: BoxStandIn,
                                                                 tmp_path: Path) -> None:
    sha1 = write_file(tmp_path / "seg.bin", 4 * MIB + 1, seed=6)
    folder = chunky.ensure_folder("faulty")
    box_stand_in.faults.configure(rate_limit_every=7, retry_after_seconds=0.01, server_error_every=11, drop_every=13)
    box_stand_in.delay_commits(7, retry_after_seconds=0.01)  # more 202s than boxsdk's own 5 attempts

    item = chunky.upload(tmp_path / "seg.bin", folder)

    injected = box_stand_in.faults.injected
    assert injected["rate_limit"] and injected["server_error"] and injected["drop"], injected
    assert item.sha1 == sha1 == hashlib.sha1(box_stand_in.read_file_bytes(item.id)).hexdigest()
    assert box_stand_in.request_counts["commit_upload_session"] == 8
    assert chunky.download(item.id, tmp_path / "back.bin") == sha1


def test_a_429_storm_on_every_other_request(fast_connection: str, box_stand_in: BoxStandIn, tmp_path: Path) -> None:
    box_stand_in.chunk_minimum, box_stand_in.part_size = MIB, 256 * 1024
    api = box_api(fast_connection, chunk_threshold=MIB, upload_concurrency=1)  # sequential: every 2nd one is a 429
    sha1 = write_file(tmp_path / "seg.bin", 3 * MIB, seed=7)
    box_stand_in.faults.configure(rate_limit_every=2, retry_after_seconds=0.01)
    assert api.upload(tmp_path / "seg.bin", "0").sha1 == sha1
    assert box_stand_in.faults.injected["rate_limit"] >= 14  # token, session, 12 parts, commit


def test_parts_are_resent_when_boxsdk_gives_up(
    fast_connection: str, box_stand_in: BoxStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    variable = f"AIRFLOW_CONN_{fast_connection.upper()}"
    connection = json.loads(os.environ[variable])
    connection["extra"]["max_attempts"] = 1  # boxsdk itself does not retry at all
    monkeypatch.setenv(variable, json.dumps(connection))
    box_stand_in.chunk_minimum, box_stand_in.part_size = MIB, 256 * 1024
    api = box_api(fast_connection, chunk_threshold=MIB, upload_concurrency=1)
    api.client.auth.retrieve_token(network_session=api.client.network_session)
    sha1 = write_file(tmp_path / "seg.bin", 3 * MIB, seed=10)
    box_stand_in.faults.configure(server_error_every=4)  # the session (1st request) gets through

    with caplog.at_level(logging.WARNING, logger=UPLOAD_LOG):
        assert api.upload(tmp_path / "seg.bin", "0").sha1 == sha1
    retried = [record for record in caplog.records if "trying again" in record.getMessage()]
    assert len(retried) == box_stand_in.faults.injected["server_error"] >= 3


def test_a_failed_part_aborts_the_session(chunky: BoxApi, box_stand_in: BoxStandIn, tmp_path: Path,
                                          upload_log_hooks) -> None:
    write_file(tmp_path / "seg.bin", 3 * MIB, seed=8)
    # The local file shrinks once the session exists: parts past the new end cannot be read.
    upload_log_hooks("Uploading %r", lambda record: os.truncate(tmp_path / "seg.bin", MIB))

    with pytest.raises(BoxIntegrityError, match="shrank while being uploaded"):
        chunky.upload(tmp_path / "seg.bin", "0")

    assert box_stand_in.request_counts["abort_upload_session"] == 1
    assert box_stand_in.sessions.sessions == {}
    assert "commit_upload_session" not in box_stand_in.request_counts and box_stand_in.tree() == []


def test_a_part_box_already_holds_counts_as_uploaded(chunky: BoxApi, box_stand_in: BoxStandIn, box_client: BoxClient,
                                                     tmp_path: Path, upload_log_hooks) -> None:
    """A part re-sent after its first response was lost gets 409; the api finds Box's copy and goes on."""
    sha1 = write_file(tmp_path / "seg.bin", 2 * MIB, seed=9)
    part_size = box_stand_in.part_size
    first_part = (tmp_path / "seg.bin").read_bytes()[:part_size]

    def lost_response(record: logging.LogRecord) -> None:
        session_url = f"{box_stand_in.upload_url}/2.0/files/upload_sessions/{record.args[2]}"
        box_client.chunked_uploads.upload_file_part_by_url(
            session_url, io.BytesIO(first_part), sha_digest(hashlib.sha1(first_part).digest()),
            f"bytes 0-{part_size - 1}/{2 * MIB}")

    upload_log_hooks("Uploading %r", lost_response)
    item = chunky.upload(tmp_path / "seg.bin", "0")

    assert item.sha1 == sha1
    assert box_stand_in.request_counts["list_upload_session_parts"] == 1
    assert box_stand_in.request_counts["upload_part"] == 8 + 1  # 8 parts by the api, one by the "lost" attempt


def test_a_commit_whose_response_was_lost(chunky: BoxApi, box_stand_in: BoxStandIn, box_client: BoxClient,
                                          tmp_path: Path, upload_log_hooks) -> None:
    """The commit went through but its answer never arrived; the retry finds the session gone (404)."""
    sha1 = write_file(tmp_path / "seg.bin", 2 * MIB, seed=11)
    folder = chunky.ensure_folder("lost")

    def commit_first(record: logging.LogRecord) -> None:
        session_url = f"{box_stand_in.upload_url}/2.0/files/upload_sessions/{record.args[2]}"
        uploads = box_client.chunked_uploads
        parts = uploads.get_file_upload_session_parts_by_url(session_url + "/parts").entries
        digest = sha_digest(bytes.fromhex(sha1))
        uploads.create_file_upload_session_commit_by_url(session_url + "/commit", parts, digest)

    upload_log_hooks("All %d parts", commit_first)
    item = chunky.upload(tmp_path / "seg.bin", folder)

    assert (item.name, item.sha1, item.parent_id) == ("seg.bin", sha1, folder)
    assert box_stand_in.request_counts["commit_upload_session"] == 2
    assert "abort_upload_session" not in box_stand_in.request_counts


# -- one pass over the file, parts in parallel ---------------------------------------------


def sent_digests(client: BoxClient) -> dict[str, str]:
    """Record the ``digest`` header of every part (by ``content-range``) and of the commit that ``client`` sends."""
    seen: dict[str, str] = {}

    def record(response: requests.Response, *args: object, **kwargs: object) -> None:
        headers = response.request.headers
        if "digest" in headers:
            seen[headers.get("content-range", "commit")] = headers["digest"]

    client.network_session.network_client.requests_session.hooks["response"].append(record)
    return seen


def test_one_pass_sends_the_digests_boxsdk_sends(chunky: BoxApi, box_stand_in: BoxStandIn, box_client: BoxClient,
                                                tmp_path: Path) -> None:
    """Ours hashes each part and the whole file from one read; boxsdk's upload_big_file reads and hashes its own way."""
    size = 3 * MIB + 12345
    sha1 = write_file(tmp_path / "seg.bin", size, seed=21)
    ours, theirs = sent_digests(chunky.client), sent_digests(box_client)

    item = chunky.upload(tmp_path / "seg.bin", "0")  # no sha1 given: computed from the parts as they are read
    with open(tmp_path / "seg.bin", "rb") as stream:
        file = box_client.chunked_uploads.upload_big_file(stream, "by-boxsdk.bin", size, "0")

    assert item.sha1 == file.sha_1 == sha1
    assert len(ours) == 13 + 1 and ours == theirs
    assert ours["commit"] == sha_digest(bytes.fromhex(sha1))


@pytest.mark.parametrize("concurrency", [1, 3])
def test_parts_in_flight_never_exceed_the_concurrency(box_stand_in: BoxStandIn, fast_connection: str,
                                                      tmp_path: Path, concurrency: int) -> None:
    box_stand_in.chunk_minimum, box_stand_in.part_size = MIB, 256 * 1024
    box_stand_in.faults.configure(latency_ms=20)  # every part is in flight for a while, so the pool fills up
    api = box_api(fast_connection, chunk_threshold=MIB, upload_concurrency=concurrency)
    sha1 = write_file(tmp_path / "seg.bin", 3 * MIB, seed=22)

    assert api.upload(tmp_path / "seg.bin", "0").sha1 == sha1
    assert box_stand_in.request_counts["upload_part"] == 12
    assert box_stand_in.faults.most_in_flight == concurrency


@pytest.mark.parametrize("concurrency", [1, 3])
def test_a_part_box_refuses_aborts_the_session(box_stand_in: BoxStandIn, fast_connection: str, tmp_path: Path,
                                               upload_log_hooks, concurrency: int) -> None:
    """A part answered 400 (not worth retrying) stops the other parts, its error is the one raised (not that of a
    part given up because of it), and the session is aborted, not left open."""
    box_stand_in.chunk_minimum, box_stand_in.part_size = MIB, 256 * 1024
    chunky = box_api(fast_connection, chunk_threshold=MIB, upload_concurrency=concurrency)
    write_file(tmp_path / "seg.bin", 3 * MIB, seed=23)
    faults = box_stand_in.faults

    def refuse_once_parts_flow(response: requests.Response, *args: object, **kwargs: object) -> None:
        if response.status_code == 400:
            faults.configure(server_error_every=0)  # only parts are refused, not the abort that follows

    chunky.client.network_session.network_client.requests_session.hooks["response"].append(refuse_once_parts_flow)
    upload_log_hooks("Uploading %r", lambda record: faults.configure(server_error_every=4, server_error_status=400))

    with pytest.raises(BoxOperationError, match="HTTP 400"):
        chunky.upload(tmp_path / "seg.bin", "0")

    counts = box_stand_in.request_counts
    assert counts["abort_upload_session"] == 1 and box_stand_in.sessions.sessions == {}
    assert counts["upload_part"] < 12 and "commit_upload_session" not in counts and box_stand_in.tree() == []


def test_part_body_reads_views_and_seeks_like_a_file() -> None:
    data = memoryview(bytes(range(10)))
    body = PartBody(data)
    assert bytes(body.read(4)) == bytes(range(4)) and body.tell() == 4
    assert bytes(body.read()) == bytes(range(4, 10)) and len(body.read(3)) == 0
    assert body.seek(0, io.SEEK_END) == 10 and body.seek(-3, io.SEEK_CUR) == 7
    assert bytes(body.read(None)) == b"\x07\x08\x09"
    assert body.seek(2) == 2 and body.read(2).obj is data.obj  # a view of the part's buffer, not a copy
    with pytest.raises(ValueError, match="negative seek"):
        body.seek(-1)
