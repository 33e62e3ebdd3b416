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


SPARSE_DEFINITION = {**QDRANT_DEFINITION, "vectors": {
    **QDRANT_DEFINITION["vectors"], "words": {"kind": "sparse", "dtype": "float32", "dimension": None,
                                              "metric": "dot_product"}}}


def test_a_lossy_step_into_another_engine_is_refused_naming_it_and_its_flag(astra_stand_in, astra_connection,
                                                                           tmp_path) -> None:
    with SnapshotWriter(tmp_path, source={"kind": "qdrant"}, snapshot_id="20260601T000000Z") as writer:
        with writer.collection("points", SPARSE_DEFINITION) as collection:
            collection.write_many([{"_id": i, "$vectors": {"text": vf.dense([1.0, float(i)]),
                                                          "words": vf.sparse([i], [0.5])}} for i in range(5)])
    source = AstraDBHook().get_conn()
    with pytest.raises(TargetConflict, match=r"from qdrant into astra needs what was not allowed; nothing was "
                                             r"written(.|\n)*'words'.*--allow-lossy drop-sparse"):
        restore_snapshot(LocalStore(tmp_path), "20260601T000000Z", source, RestoreOptions())
    assert source.collection_definition("points") is None


def test_a_reserved_field_name_in_the_source_is_refused_before_writing(astra_stand_in, astra_connection,
                                                                      tmp_path) -> None:
    with SnapshotWriter(tmp_path, source={"kind": "qdrant"}, snapshot_id="20260603T000000Z") as writer:
        with writer.collection("points", QDRANT_DEFINITION) as collection:
            collection.write_many([{"_id": i, "$vectors": {"text": vf.dense([1.0, float(i)])},
                                    "payload": {"_vectorbackup": "user data"}} for i in range(3)])
    source = AstraDBHook().get_conn()
    with pytest.raises(TargetConflict, match="'_vectorbackup' that is not a reserved record"):
        restore_snapshot(LocalStore(tmp_path), "20260603T000000Z", source, RestoreOptions())
    assert source.collection_definition("points") is None


def test_an_engine_definition_is_refused_up_front_even_under_the_right_kind(astra_stand_in, astra_connection,
                                                                             tmp_path) -> None:
    write(tmp_path, {"kind": "astra"}, QDRANT_DEFINITION, "20260602T000000Z")  # a mislabelled or altered snapshot
    source = AstraDBHook().get_conn()
    with pytest.raises(TargetConflict, match="'points': the definition is a qdrant collection's"):
        restore_snapshot(LocalStore(tmp_path), "20260602T000000Z", source, RestoreOptions())
    assert source.collection_definition("points") is None
