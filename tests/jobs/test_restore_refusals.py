"""Restore refuses, before writing anything, what the target engine cannot recreate."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from airflow_provider_vectorbackup.jobs.restore import RestoreOptions, TargetConflict, restore_snapshot
from airflow_provider_vectorbackup.snapshot import SnapshotWriter
from airflow_provider_vectorbackup.snapshot import vector_fields as vf
from airflow_provider_vectorbackup.stores.local import LocalStore

QDRANT_DEFINITION = {"engine": "qdrant", "id": {"type": "int", "field": None}, "native": {"vectors": {}},
                     "vectors": {"text": {"kind": "dense", "dtype": "float32", "dimension": 2, "metric": "cosine"}}}


def write(store_root: Path, source: dict, definition: dict, snapshot_id: str) -> None:
    with SnapshotWriter(store_root, source=source, snapshot_id=snapshot_id) as writer:
        with writer.collection("points", definition) as collection:
            collection.write_many([{"_id": i, "$vectors": {"text": vf.dense([1.0, float(i)])}} for i in range(5)])


def test_a_snapshot_of_another_engine_is_refused_naming_both(astra_stand_in, astra_connection, tmp_path) -> None:
    write(tmp_path, {"kind": "qdrant", "path": "/data/q"}, QDRANT_DEFINITION, "20260601T000000Z")
    source = AstraDBHook().get_conn()
    with pytest.raises(TargetConflict, match="taken from qdrant, and this restore writes to astra.*Nothing was written"):
        restore_snapshot(LocalStore(tmp_path), "20260601T000000Z", source, RestoreOptions())
    assert source.collection_definition("points") is None


def test_an_engine_definition_is_refused_up_front_even_under_the_right_kind(astra_stand_in, astra_connection,
                                                                             tmp_path) -> None:
    write(tmp_path, {"kind": "astra"}, QDRANT_DEFINITION, "20260602T000000Z")  # a mislabelled or altered snapshot
    source = AstraDBHook().get_conn()
    with pytest.raises(TargetConflict, match="'points': the definition is a qdrant collection's"):
        restore_snapshot(LocalStore(tmp_path), "20260602T000000Z", source, RestoreOptions())
    assert source.collection_definition("points") is None
