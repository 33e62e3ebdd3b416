"""What every snapshot store must do, whatever it keeps snapshots in: the same tests, run against each store.

A store passes when snapshots written through ``begin`` / ``put`` / ``seal`` show the format's
three states, a sealed snapshot is never reopened, a copy holds exactly the bytes written, a
deleted snapshot is gone, and ``"latest"`` means the newest complete snapshot.

To add a store (S3, GCS, Azure, ...): write a factory ``(request, tmp_path) -> Store`` that builds
it, empty, against its stand-in (take the stand-in's fixtures with ``request.getfixturevalue``),
and add it to :data:`STORES` under a short id. Every test below then runs against it too.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from airflow_provider_vectorbackup.check.stored import check_stored
from airflow_provider_vectorbackup.check.verify import DataSubset
from airflow_provider_vectorbackup.hooks.connections import connection_settings
from airflow_provider_vectorbackup.hooks.object_storage import object_filesystem
from airflow_provider_vectorbackup.snapshot import SnapshotWriter, describe_source
from airflow_provider_vectorbackup.snapshot.errors import IntegrityError, PackDamagedError, SnapshotStateError
from airflow_provider_vectorbackup.snapshot.layout import MANIFEST_NAME, SnapshotState
from airflow_provider_vectorbackup.snapshot.packs import BLOB_DIR
from airflow_provider_vectorbackup.stores.base import (
    SnapshotExistsError, SnapshotSealedError, Store, StoredSnapshot,
)
from airflow_provider_vectorbackup.stores.box.client import BoxApi
from airflow_provider_vectorbackup.stores.box.store import BoxStore
from airflow_provider_vectorbackup.stores.local import LocalStore
from airflow_provider_vectorbackup.stores.object.s3 import S3Access
from airflow_provider_vectorbackup.stores.object.store import ObjectStore
from airflow_provider_vectorbackup.testing.box import BoxStandIn
from tests.snapshot.conftest import VECTOR_DEFINITION, sample_documents
from tests.snapshot.tamper import flip_byte

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


# -- the shared area (format 4): packs in data/, lock files in locks/ ------------------------------------------------


@pytest.fixture
def shared_store(store: Store) -> Store:
    """The same stores, for the shared area of format 4 (docs/format.md, 12)."""
    return store


def pack(tmp_path: Path, content: bytes, suffix: str = ".jsonl.gz") -> tuple[str, Path]:
    """A local pack file and its content-addressed name."""
    name = hashlib.sha256(content).hexdigest() + suffix
    local = tmp_path / "packs" / name
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_bytes(content)
    return name, local


def tamper(store: Store, name: str, content: bytes) -> None:
    """Replace the bytes of ``data/<name>`` behind the store's back, as a careless tool or an attacker would."""
    if isinstance(store, BoxStore):  # a new version through Box's API: Box records its SHA-1, the name stays
        folder = store.api.find_item(store.root_folder_id, BLOB_DIR)
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / name).write_bytes(content)
            store.api.upload(Path(tmp) / name, folder.id, name, new_version_if_exists=True)
    elif isinstance(store, ObjectStore):  # a plain PUT over the object, with no checksum
        key = f"{store.root}/{BLOB_DIR}/{name}"
        store.access.fs.pipe_file(key, content)
        store.access.fs.invalidate_cache(key)
    else:
        (Path(store.describe()) / BLOB_DIR / name).write_bytes(content)


def test_the_shared_area_starts_empty_and_is_not_a_snapshot(shared_store: Store, tmp_path: Path) -> None:
    assert shared_store.blob_files() == {} and shared_store.lock_files() == {}
    name, local = pack(tmp_path, b"documents")
    shared_store.put_blob(name, local)
    shared_store.put_lock_file("dump-1.json", b"{}")
    sealed = write(shared_store, "20260301T000000Z", tmp_path)
    assert shared_store.snapshots() == [sealed], "data/ and locks/ are never taken for snapshot folders"


def test_blobs_are_put_listed_read_and_deleted(shared_store: Store, tmp_path: Path) -> None:
    documents, documents_file = pack(tmp_path, b'{"_id": 1}\n' * 500)
    index, index_file = pack(tmp_path, b"index entries " * 100, ".index")
    shared_store.put_blob(documents, documents_file)
    shared_store.put_blob(index, index_file)
    assert documents_file.exists() and index_file.exists(), "put_blob leaves the local file in place"

    listed = shared_store.blob_files()
    assert set(listed) == {documents, index}
    for name, local in ((documents, documents_file), (index, index_file)):
        content = local.read_bytes()
        assert listed[name].size == len(content)
        assert listed[name].sha1 in (None, hashlib.sha1(content).hexdigest())
        assert listed[name].sha256 in (None, hashlib.sha256(content).hexdigest())
        copy = shared_store.get_blob(name, tmp_path / "scratch")  # a local store's own file, read in place
        assert copy.read_bytes() == content
        assert copy.parent == (tmp_path / "scratch" if shared_store.kind != "local" else copy.parent)

    shared_store.delete_blob(documents)
    shared_store.delete_blob(documents)  # a missing one is fine
    assert set(shared_store.blob_files()) == {index}
    with pytest.raises(IntegrityError, match=f"^{BLOB_DIR}/{documents}: not in the"):
        shared_store.get_blob(documents, tmp_path / "again")


def test_putting_a_blob_again_leaves_the_stored_one(shared_store: Store, tmp_path: Path) -> None:
    name, local = pack(tmp_path, b"the first bytes")
    shared_store.put_blob(name, local)
    shared_store.put_blob(name, local)  # a retried upload
    impostor = tmp_path / "impostor"
    impostor.write_bytes(b"the other bytes")  # same size: same name, same bytes is the rule
    assert impostor.stat().st_size == local.stat().st_size
    shared_store.put_blob(name, impostor)

    assert list(shared_store.blob_files()) == [name]
    assert shared_store.get_blob(name, tmp_path / "scratch").read_bytes() == b"the first bytes"


@pytest.mark.parametrize("name", [
    "../" + "0" * 64 + ".index", "0" * 64 + ".txt", "0" * 63 + ".index", "A" * 64 + ".index",
    "0" * 64 + ".index/x", "0" * 64 + ".jsonl.gz.age.age", "", "data/" + "0" * 64 + ".index"])
def test_a_blob_name_outside_the_rule_is_refused_before_the_store_is_touched(shared_store: Store, tmp_path: Path,
                                                                             name: str) -> None:
    _, local = pack(tmp_path, b"bytes")
    for call in (lambda: shared_store.put_blob(name, local), lambda: shared_store.get_blob(name, tmp_path),
                 lambda: shared_store.delete_blob(name)):
        with pytest.raises(ValueError, match="64 lowercase hex digits then"):
            call()
    assert shared_store.blob_files() == {}


@pytest.mark.parametrize("name", ["../escape.json", "lock.txt", "a/b.json", "x" * 129 + ".json", ".json", "l k.json"])
def test_a_lock_name_outside_the_rule_is_refused_before_the_store_is_touched(shared_store: Store,
                                                                             name: str) -> None:
    for call in (lambda: shared_store.put_lock_file(name, b"{}"), lambda: shared_store.delete_lock_file(name)):
        with pytest.raises(ValueError, match="is not a lock file name"):
            call()
    assert shared_store.lock_files() == {}


def test_lock_files_are_written_replaced_listed_and_deleted(shared_store: Store) -> None:
    shared_store.put_lock_file("dump-20260301T000000Z.json", b'{"refreshed": 1}')
    shared_store.put_lock_file("prune.json", b'{"exclusive": true}')
    shared_store.put_lock_file("dump-20260301T000000Z.json", b'{"refreshed": 2, "longer": true}')
    assert shared_store.lock_files() == {"dump-20260301T000000Z.json": b'{"refreshed": 2, "longer": true}',
                                         "prune.json": b'{"exclusive": true}'}

    shared_store.delete_lock_file("prune.json")
    shared_store.delete_lock_file("prune.json")  # a missing one is fine
    assert shared_store.lock_files() == {"dump-20260301T000000Z.json": b'{"refreshed": 2, "longer": true}'}


def test_a_tampered_blob_is_refused_by_get_blob(shared_store: Store, tmp_path: Path) -> None:
    if shared_store.kind == "local":
        pytest.skip("a local store hands out its own file, read in place: the reader and verifier check it")
    name, local = pack(tmp_path, b"the documents as written")
    shared_store.put_blob(name, local)
    tamper(shared_store, name, b"the documents, rewritten")

    with pytest.raises(PackDamagedError, match=rf"^{BLOB_DIR}/{name}: .*SHA-256") as refused:
        shared_store.get_blob(name, tmp_path / "scratch")
    assert refused.value.path == f"{BLOB_DIR}/{name}"
    assert refused.value.problem.expected == hashlib.sha256(b"the documents as written").hexdigest()
    assert refused.value.problem.found == hashlib.sha256(b"the documents, rewritten").hexdigest()
    assert list((tmp_path / "scratch").iterdir()) == [], "no partial file is left"


def write_format_4(store: Store, snapshot_id: str, tmp_path: Path, packs: dict[str, bytes]) -> StoredSnapshot:
    """A snapshot whose manifest (format 4, made by hand from a small dump's) lists ``packs`` for its collection."""
    pending = store.begin(snapshot_id)
    writer = SnapshotWriter(tmp_path / "staging" / snapshot_id, source=SOURCE, snapshot_id=snapshot_id,
                            segment_max_bytes=4_000, on_file_complete=pending.put).open()
    with writer.collection("articles", VECTOR_DEFINITION) as collection:
        collection.write_many(sample_documents(5))
    result = writer.finish()
    manifest = json.loads((result.path / MANIFEST_NAME).read_bytes())
    manifest["format_version"] = 4
    manifest["collections"][0]["packs"] = [
        {"path": f"{BLOB_DIR}/{name}", "bytes": len(content), "sha256": hashlib.sha256(content).hexdigest(),
         "sha1": hashlib.sha1(content).hexdigest()} for name, content in packs.items()]
    (result.path / MANIFEST_NAME).write_bytes(json.dumps(manifest).encode())
    return pending.seal(result)


def test_a_download_of_a_format_4_snapshot_copies_the_packs_it_lists(shared_store: Store, tmp_path: Path) -> None:
    contents = {}
    for content, suffix in ((b"documents " * 300, ".jsonl.gz"), (b"index " * 50, ".index")):
        name, local = pack(tmp_path, content, suffix)
        shared_store.put_blob(name, local)
        contents[name] = content
    unlisted, unlisted_file = pack(tmp_path, b"a pack of another snapshot")
    shared_store.put_blob(unlisted, unlisted_file)
    sealed = write_format_4(shared_store, "20260301T000000Z", tmp_path, contents)

    copy = shared_store.download(sealed, tmp_path / "downloads")

    data = copy.parent / BLOB_DIR  # beside the snapshot folder
    if shared_store.kind != "local":  # the local store's own data/ also holds every other snapshot's packs
        assert sorted(path.name for path in data.iterdir()) == sorted(contents)
    assert {name: (data / name).read_bytes() for name in contents} == contents
    assert shared_store.read_manifest(sealed).format_version == 4


def test_a_download_reports_a_damaged_pack(shared_store: Store, tmp_path: Path) -> None:
    if shared_store.kind == "local":
        pytest.skip("a local snapshot is read in place: the verifier, not the download, finds a damaged pack")
    good, good_file = pack(tmp_path, b"good documents " * 20)
    bad, bad_file = pack(tmp_path, b"documents that will be damaged")
    for name, local in ((good, good_file), (bad, bad_file)):
        shared_store.put_blob(name, local)
    sealed = write_format_4(shared_store, "20260301T000000Z", tmp_path,
                            {good: good_file.read_bytes(), bad: bad_file.read_bytes()})
    tamper(shared_store, bad, b"documents that were damaged!!!")  # same size

    with pytest.raises(PackDamagedError, match=rf"^{BLOB_DIR}/{bad}: "):
        shared_store.download(sealed, tmp_path / "strict")

    damaged: dict = {}
    copy = shared_store.download(sealed, tmp_path / "lenient", damaged=damaged)
    assert list(damaged) == [f"{BLOB_DIR}/{bad}"] and damaged[f"{BLOB_DIR}/{bad}"].code == "checksum_mismatch"
    assert sorted(path.name for path in (copy.parent / BLOB_DIR).iterdir()) == [good]


class CutShort(Exception):
    """The process dies here."""


def cut_delete_short(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the store's deletion stop at the step after the one that makes the snapshot read as not sealed."""
    def die(*args: object, **kwargs: object) -> None:
        raise CutShort

    if isinstance(store, LocalStore):  # the rename went through; removing the files does not
        monkeypatch.setattr(shutil, "rmtree", die)
    elif isinstance(store, BoxStore):  # the rename went through; the folder delete does not
        monkeypatch.setattr(store.api, "delete_folder", die)
    elif isinstance(store.access, S3Access):  # the manifest's request went through; the next one does not
        call, requests = store.access._call, []

        def some_deletes(method: str, **kwargs: object) -> dict:
            if method == "delete_objects":
                requests.append(kwargs)
                if len(requests) > 1:
                    raise CutShort
            return call(method, **kwargs)

        monkeypatch.setattr(store.access, "_call", some_deletes)
    else:  # the manifest was discarded; removing the rest fails
        monkeypatch.setattr(store.access.fs, "rm", die)


def test_a_delete_cut_short_never_leaves_a_sealed_snapshot_with_files_missing(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(store, "20260301T000000Z", tmp_path)
    sealed = write(store, "20260302T000000Z", tmp_path, fail=True)  # INCOMPLETE: its marker must not outlive it
    for snapshot in (store.get("20260301T000000Z"), sealed):
        with monkeypatch.context() as patch:
            cut_delete_short(store, patch)
            with pytest.raises(CutShort):
                store.delete(snapshot)
        left = [s.state for s in store.snapshots() if s.snapshot_id == snapshot.snapshot_id]
        assert left in ([], [SnapshotState.IN_PROGRESS]), "gone, or reading as in progress: never sealed"
    for snapshot in store.snapshots():  # prune finishes the job
        store.delete(snapshot)
    assert store.snapshots() == []


def test_a_tampered_pack_is_reported_by_the_files_level_check(shared_store: Store, tmp_path: Path) -> None:
    good, good_file = pack(tmp_path, b"good documents " * 20)
    bad, bad_file = pack(tmp_path, b"documents that will be damaged")
    for name, local in ((good, good_file), (bad, bad_file)):
        shared_store.put_blob(name, local)
    contents = {good: good_file.read_bytes(), bad: bad_file.read_bytes()}
    first = write_format_4(shared_store, "20260301T000000Z", tmp_path, contents)
    second = write_format_4(shared_store, "20260302T000000Z", tmp_path, contents)
    assert check_stored(shared_store, first, "files").ok
    tamper(shared_store, bad, b"documents that were damaged!!!")  # same size

    for snapshot in (first, second):  # a shared pack damaged is reported for every snapshot that lists it
        report = check_stored(shared_store, snapshot, "files")
        assert [(problem.path, problem.code) for problem in report.problems] == [
            (f"{BLOB_DIR}/{bad}", "checksum_mismatch")]


def test_a_pack_rotted_under_a_recorded_checksum_is_reported_by_a_read_of_the_data(
        shared_store: Store, tmp_path: Path, box_stand_in_session: BoxStandIn) -> None:
    """Bytes that change at rest while the store's record stays right pass the listing; reading them finds it."""
    if not isinstance(shared_store, BoxStore):
        pytest.skip("only Box keeps a checksum record apart from the bytes here (the stand-in's files on disk)")
    name, local = pack(tmp_path, b"documents that will rot")
    shared_store.put_blob(name, local)
    sealed = write_format_4(shared_store, "20260301T000000Z", tmp_path, {name: local.read_bytes()})
    item = shared_store.api.find_item(shared_store.api.find_item(shared_store.root_folder_id, BLOB_DIR).id, name)
    flip_byte(box_stand_in_session.store.file(item.id).current.path, 3)
    assert check_stored(shared_store, sealed, "files").ok, "the listing alone cannot see it"

    report = check_stored(shared_store, sealed, "files", read_data_subset=DataSubset.parse("1/1"))
    assert [(problem.path, problem.code) for problem in report.problems] == [
        (f"{BLOB_DIR}/{name}", "checksum_mismatch")]
