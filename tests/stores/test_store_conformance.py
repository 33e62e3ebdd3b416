"""What every snapshot store must do, whatever it keeps snapshots in: the same tests, run against each store.

A store passes when snapshots written through ``begin`` / ``put`` / ``seal`` show the format's
three states, a sealed snapshot is never reopened, a copy holds exactly the bytes written, a
deleted snapshot is gone, and ``"latest"`` means the newest complete snapshot.

To add a store (S3, GCS, Azure, ...): write a factory ``(request, tmp_path) -> Store`` that builds
it, empty, against its stand-in (take the stand-in's fixtures with ``request.getfixturevalue``),
and add it to :data:`STORES` under a short id. Every test below then runs against it too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from airflow_provider_vectorbackup.hooks.connections import connection_settings
from airflow_provider_vectorbackup.hooks.object_storage import object_filesystem
from airflow_provider_vectorbackup.snapshot import SnapshotWriter, describe_source
from airflow_provider_vectorbackup.snapshot.errors import SnapshotStateError
from airflow_provider_vectorbackup.snapshot.layout import MANIFEST_NAME, SnapshotState
from airflow_provider_vectorbackup.stores.base import (
    SnapshotExistsError, SnapshotSealedError, Store, StoredSnapshot,
)
from airflow_provider_vectorbackup.stores.box.client import BoxApi
from airflow_provider_vectorbackup.stores.box.store import BoxStore
from airflow_provider_vectorbackup.stores.local import LocalStore
from airflow_provider_vectorbackup.stores.object.store import ObjectStore
from tests.snapshot.conftest import VECTOR_DEFINITION, sample_documents

SOURCE = describe_source("astra", "https://db.example", "ks")


def local_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return LocalStore(tmp_path / "local-store")


def box_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    conn_id = request.getfixturevalue("box_connection")  # the Box stand-in, reset, behind connection box_default
    return BoxStore.at_path(BoxApi.from_connection(connection_settings(conn_id)), "conformance", create=True)


def s3_store(request: pytest.FixtureRequest, tmp_path: Path, *, versioned: bool = True) -> Store:
    """The moto S3 server, through Airflow's ObjectStoragePath and the ``aws`` connection."""
    from tests.engines.s3 import LOCKED_BUCKET, PLAIN_BUCKET, S3_CONN_ID

    request.getfixturevalue("s3")
    fs, path = object_filesystem(f"s3://{S3_CONN_ID}@{LOCKED_BUCKET if versioned else PLAIN_BUCKET}/conformance")
    return ObjectStore(fs, path, url=f"s3://{S3_CONN_ID}@{path}")


def s3_store_unversioned(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return s3_store(request, tmp_path, versioned=False)


def gcs_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """The GCS emulator through gcsfs, the filesystem the google provider builds for ``gs://`` URLs."""
    from tests.engines.gcs import BUCKET, GCS_CONN_ID

    server = request.getfixturevalue("gcs")
    root = f"{BUCKET}/conformance"
    return ObjectStore(server.filesystem(), root, url=f"gs://{GCS_CONN_ID}@{root}")


def object_store_in_memory(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """The plain object access (what Azure uses) on fsspec's in-memory filesystem."""
    from fsspec.implementations.memory import MemoryFileSystem

    root = f"/conformance/{tmp_path.name}"
    return ObjectStore(MemoryFileSystem(), root, url=f"memory://{root}")


STORES: dict[str, Callable[[pytest.FixtureRequest, Path], Store]] = {
    "local": local_store, "box": box_store, "s3": s3_store, "s3-unversioned": s3_store_unversioned,
    "gcs": gcs_store, "object-memory": object_store_in_memory}
"""Every store the suite runs against: an id and a factory returning the store, empty."""


@pytest.fixture(params=list(STORES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return STORES[request.param](request, tmp_path)


def write(store: Store, snapshot_id: str, tmp_path: Path, *, fail: bool = False,
          written: dict[str, bytes] | None = None) -> StoredSnapshot:
    """Write a small snapshot through the store, as the dump does; ``fail`` makes one collection fail.

    :param written: filled with the bytes of every file handed to the store, by path in the snapshot.
    """
    pending = store.begin(snapshot_id)

    def put(entry, local: Path) -> None:  # noqa: ANN001 - a FileEntry
        if written is not None:
            written[entry.path] = local.read_bytes()
        pending.put(entry, local)

    writer = SnapshotWriter(tmp_path / "staging" / snapshot_id, source=SOURCE, snapshot_id=snapshot_id,
                            segment_max_bytes=4_000, on_file_complete=put).open()
    with writer.collection("articles", VECTOR_DEFINITION) as collection:
        collection.write_many(sample_documents(40))
    if fail:
        writer.collection("broken", VECTOR_DEFINITION).fail(RuntimeError("the source went away"))
    result = writer.finish()
    if written is not None:
        written[MANIFEST_NAME] = (result.path / MANIFEST_NAME).read_bytes()
    return pending.seal(result)


def test_a_snapshot_is_in_progress_until_sealed_complete_then_listed_and_readable(store: Store,
                                                                                   tmp_path: Path) -> None:
    store.begin("20260301T000000Z")
    assert [(s.snapshot_id, s.state) for s in store.snapshots()] == [("20260301T000000Z", SnapshotState.IN_PROGRESS)]
    with pytest.raises(SnapshotStateError, match="no complete snapshot"):
        store.get("latest")

    sealed = write(store, "20260301T000000Z", tmp_path)  # begins again: the abandoned attempt is removed

    assert sealed.state is SnapshotState.COMPLETE
    assert store.snapshots() == [sealed] and store.get("20260301T000000Z") == sealed == store.get("latest")
    manifest = store.read_manifest(sealed)
    assert (manifest.snapshot_id, manifest.status) == ("20260301T000000Z", "complete")
    assert [c.name for c in manifest.collections] == ["articles"] and manifest.collections[0].document_count == 40


def test_a_sealed_snapshot_is_never_reopened(store: Store, tmp_path: Path) -> None:
    write(store, "20260301T000000Z", tmp_path)
    with pytest.raises(SnapshotSealedError, match="already sealed"):
        store.resume("20260301T000000Z")
    with pytest.raises(SnapshotExistsError, match="already complete"):
        store.begin("20260301T000000Z")
    with pytest.raises(SnapshotStateError, match="no snapshot 20260302T000000Z in progress"):
        store.resume("20260302T000000Z")
    begun = store.begin("20260302T000000Z")
    assert store.resume("20260302T000000Z").location == begun.location  # another worker joins it


def test_a_failed_collection_seals_the_snapshot_incomplete(store: Store, tmp_path: Path) -> None:
    sealed = write(store, "20260301T000000Z", tmp_path, fail=True)
    assert sealed.state is SnapshotState.INCOMPLETE and store.get("20260301T000000Z") == sealed
    manifest = store.read_manifest(sealed)
    assert manifest.status == "incomplete"
    assert {c.name: c.status for c in manifest.collections} == {"articles": "complete", "broken": "failed"}
    with pytest.raises(SnapshotSealedError):
        store.resume("20260301T000000Z")
    with pytest.raises(SnapshotStateError, match="no complete snapshot"):
        store.get("latest")


def test_a_download_holds_exactly_the_bytes_written(store: Store, tmp_path: Path) -> None:
    written: dict[str, bytes] = {}
    sealed = write(store, "20260301T000000Z", tmp_path, written=written)
    assert sum(path.endswith(".jsonl.gz") for path in written) > 1, "several segments, in a sub-folder"

    copy = store.download(sealed, tmp_path / "downloads")

    found = {path.relative_to(copy).as_posix(): path.read_bytes() for path in copy.rglob("*") if path.is_file()}
    assert found == written


def test_pending_files_are_listed_and_a_collection_can_be_discarded(store: Store, tmp_path: Path) -> None:
    pending = store.begin("20260301T000000Z")
    writer = SnapshotWriter(tmp_path / "staging", source=SOURCE, snapshot_id="20260301T000000Z",
                            segment_max_bytes=4_000, on_file_complete=pending.put).open()
    with writer.collection("articles", VECTOR_DEFINITION) as collection:
        collection.write_many(sample_documents(40))
    entry = writer.recorded("articles")
    listed = pending.files()
    assert {segment.path for segment in entry.segments} <= set(listed)
    assert all(listed[segment.path].size == segment.bytes for segment in entry.segments)

    pending.discard_collection("articles")
    assert not any(path.startswith("collections/articles/") for path in pending.files())
    pending.discard_collection("never-written")  # nothing there is fine


def test_discard_files_removes_only_those_files(store: Store, tmp_path: Path) -> None:
    pending = store.begin("20260301T000000Z")
    writer = SnapshotWriter(tmp_path / "staging", source=SOURCE, snapshot_id="20260301T000000Z",
                            segment_max_bytes=4_000, on_file_complete=pending.put).open()
    with writer.collection("articles", VECTOR_DEFINITION) as collection:
        collection.write_many(sample_documents(40))
    before = set(pending.files())
    segments = [segment.path for segment in writer.recorded("articles").segments]
    assert len(segments) >= 3

    pending.discard_files([*segments[1:], "collections/articles/part-99999.jsonl.gz"])  # a missing one is fine
    assert set(pending.files()) == before - set(segments[1:])
    with pytest.raises(ValueError, match="not a relative path"):
        pending.discard_files(["collections/../manifest.json"])


def test_delete_removes_the_snapshot(store: Store, tmp_path: Path) -> None:
    kept, gone = write(store, "20260301T000000Z", tmp_path), write(store, "20260302T000000Z", tmp_path)
    store.delete(gone)
    assert store.snapshots() == [kept]
    with pytest.raises(SnapshotStateError, match="no snapshot '20260302T000000Z'"):
        store.get("20260302T000000Z")


def test_latest_is_the_newest_complete_snapshot(store: Store, tmp_path: Path) -> None:
    write(store, "20260301T000000Z", tmp_path)
    newest_complete = write(store, "20260302T000000Z", tmp_path)
    write(store, "20260303T000000Z", tmp_path, fail=True)
    store.begin("20260304T000000Z")
    assert [s.state for s in store.snapshots()] == [SnapshotState.COMPLETE, SnapshotState.COMPLETE,
                                                    SnapshotState.INCOMPLETE, SnapshotState.IN_PROGRESS]
    assert store.get("latest") == newest_complete
