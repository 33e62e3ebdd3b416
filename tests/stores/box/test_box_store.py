"""What the Box store does beyond the conformance suite: Box's own ways with names already in use."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from airflow_provider_vectorbackup.snapshot.layout import SnapshotState
from airflow_provider_vectorbackup.snapshot.packs import BLOB_DIR
from airflow_provider_vectorbackup.stores.box.store import BoxStore
from airflow_provider_vectorbackup.testing.box import BoxStandIn
from tests.stores.box.helpers import MIB, box_api
from tests.stores.test_store_conformance import write


@pytest.fixture
def store(box_stand_in: BoxStandIn, box_connection: str) -> BoxStore:
    """A store whose client uploads in parts from 1 MiB (the stand-in takes sessions from 1 MiB, in 256 KiB parts)."""
    box_stand_in.chunk_minimum = 1 * MIB
    box_stand_in.part_size = 256 * 1024
    return BoxStore.at_path(box_api(box_connection, chunk_threshold=1 * MIB), "store", create=True)


def big_pack(tmp_path: Path, fill: bytes, size: int = 1 * MIB + 3) -> tuple[str, Path]:
    content = (fill * (size // len(fill) + 1))[:size]
    local = tmp_path / fill.decode()
    local.write_bytes(content)
    return hashlib.sha256(content).hexdigest() + ".jsonl.gz", local


def test_a_pack_uploaded_in_parts_over_a_name_in_use_keeps_or_replaces_by_size(store: BoxStore,
                                                                              tmp_path: Path) -> None:
    name, local = big_pack(tmp_path, b"a")
    store.put_blob(name, local)
    store.put_blob(name, local)  # Box answers the session with 409: the same bytes are there
    _, same_size = big_pack(tmp_path, b"b")
    store.put_blob(name, same_size)  # other bytes of the same size: left as they are, not a failure
    assert store.blob_files()[name].sha1 == hashlib.sha1(local.read_bytes()).hexdigest()

    truncated = tmp_path / "truncated"
    truncated.write_bytes(local.read_bytes()[:1000])
    store.api.upload(truncated, store.api.find_item(store.root_folder_id, BLOB_DIR).id, name,
                     new_version_if_exists=True)  # a damaged copy: not the size its name stands for
    store.put_blob(name, local)
    assert store.blob_files()[name].size == local.stat().st_size
    assert store.get_blob(name, tmp_path / "scratch").read_bytes() == local.read_bytes()


def test_delete_hides_the_snapshot_even_beside_an_abandoned_attempt_at_the_same_id(store: BoxStore,
                                                                                    tmp_path: Path) -> None:
    sealed = write(store, "20260301T000000Z", tmp_path)
    store.api.ensure_folder(".20260301T000000Z.inprogress", store.root_folder_id)  # a crash left it beside the seal
    assert [s.state for s in store.snapshots()] == [SnapshotState.COMPLETE, SnapshotState.IN_PROGRESS]

    store.delete(sealed)

    assert store.snapshots() == []
