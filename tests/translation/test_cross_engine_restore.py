"""Cross-engine restores end to end: Data API snapshots into Qdrant and back, a resumed restore, and the CLI."""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path

import pytest

from airflow_provider_vectorbackup.connection import ConnectionSettings
from airflow_provider_vectorbackup.jobs.dump import DumpOptions, dump_snapshot
from airflow_provider_vectorbackup.jobs.restore import RestoreOptions, TargetConflict, restore_snapshot
from airflow_provider_vectorbackup.snapshot import SnapshotWriter
from airflow_provider_vectorbackup.snapshot import vector_fields as vf
from airflow_provider_vectorbackup.sources.base import InsertReport
from airflow_provider_vectorbackup.sources.portable import RESERVED_FIELD
from airflow_provider_vectorbackup.sources.qdrant.client import QdrantSource
from airflow_provider_vectorbackup.stores.local import LocalStore
from airflow_provider_vectorbackup.translation.documents import ID_NAMESPACE
from tests.cli.test_cli import run

SNAPSHOT = "20261201T000000Z"


@pytest.fixture
def astra_snapshot(astra_stand_in, astra_source, tmp_path: Path) -> LocalStore:
    """A snapshot of a Data API collection whose vectors are float32 values, as the Data API stores them."""
    source = astra_source()
    source.create_collection("articles", {"vector": {"dimension": 8, "metric": "euclidean"}})
    rng = random.Random(3)
    documents = [{"_id": f"a{i}" if i % 3 else i, "title": f"t{i}", "rank": i, "when": {"$date": 1700000000000 + i},
                  "$vector": [rng.randint(-64, 64) / 32 for _ in range(8)]} for i in range(45)]
    assert source.insert_documents("articles", documents).ok
    store = LocalStore(tmp_path / "store")
    outcome = dump_snapshot(source, store, SNAPSHOT, DumpOptions())
    assert not outcome.failures
    return store


def scan_all(source, name: str) -> list[dict]:
    return [d for page in source.scan(name, source.collection_definition(name)).pages() for d in page]


def test_a_data_api_snapshot_restores_into_qdrant_with_mapped_ids_and_comes_back_exactly(
        astra_snapshot: LocalStore, astra_source, qdrant_local) -> None:
    qdrant = qdrant_local.source()
    report = restore_snapshot(astra_snapshot, SNAPSHOT, qdrant, RestoreOptions(target_prefix="q_"))
    result = report["collections"]["articles"]
    assert report["ok"] and result["documents_restored"] == 45 and result["recall_at_10"] >= 0.99
    steps = {(s["part"], s["name"]): s for s in result["translation"]["steps"]}
    assert steps[("id", "_id")]["class"] == "reversible" and steps[("id", "_id")]["documents"] == 45
    moved = scan_all(qdrant, "q_articles")
    record = json.loads(moved[0]["payload"][RESERVED_FIELD])
    assert moved[0]["_id"]["value"] == str(uuid.uuid5(ID_NAMESPACE, str(record["id"])))

    dump_snapshot(qdrant, astra_snapshot, "20261201T010000Z", DumpOptions(collections=["q_articles"]))
    astra = astra_source()
    back = restore_snapshot(astra_snapshot, "20261201T010000Z", astra,
                            RestoreOptions(name_mapping={"q_articles": "articles_back"}))
    assert back["ok"]
    original = {d["_id"]: d for d in scan_all(astra, "articles")}
    returned = {d["_id"]: d for d in scan_all(astra, "articles_back")}
    assert returned == original


def test_an_interrupted_cross_engine_restore_resumes_without_rewriting_or_leftovers(
        astra_snapshot: LocalStore, qdrant_local, monkeypatch: pytest.MonkeyPatch) -> None:
    qdrant = qdrant_local.source()
    insert = QdrantSource.insert_documents

    def die_after_twenty(self, name, documents, **kwargs):
        taken = []
        for document in documents:
            taken.append(document)
            if len(taken) == 20:
                insert(self, name, taken, **kwargs)
                raise ConnectionError("the network went away")
        return InsertReport()

    monkeypatch.setattr(QdrantSource, "insert_documents", die_after_twenty)
    with pytest.raises(ConnectionError):
        restore_snapshot(astra_snapshot, SNAPSHOT, qdrant, RestoreOptions(target_prefix="q_"))
    monkeypatch.setattr(QdrantSource, "insert_documents", insert)
    report = restore_snapshot(astra_snapshot, SNAPSHOT, qdrant, RestoreOptions(target_prefix="q_",
                                                                               if_exists="resume"))
    result = report["collections"]["articles"]
    assert report["ok"] and result["already_present"] == 20 and result["inserted"] == 25
    assert [c.name for c in qdrant.list_collections()] == ["q_articles"], "nothing kept in the target to resume"


def test_the_cli_plans_without_writing_then_restores(
        astra_snapshot: LocalStore, astra_connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "qdrant-cli"
    monkeypatch.setenv("AIRFLOW_CONN_QDRANT_CLI", json.dumps({"conn_type": "qdrant", "extra": {"path": str(path)}}))
    store = ["--local-folder", str(tmp_path / "store")]
    planned = run("restore", *store, SNAPSHOT, "--target-conn-id", "qdrant_cli", "--plan", "--json")
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)["collections"]["articles"]["translation"]
    assert plan["source_engine"] == "astra" and plan["target_engine"] == "qdrant" and plan["refused"] == []
    text = run("restore", *store, SNAPSHOT, "--target-conn-id", "qdrant_cli", "--plan")
    assert "reversible id _id" in text.stdout and "nothing written" in text.stdout
    settings = ConnectionSettings("qdrant_cli", conn_type="qdrant", extra={"path": str(path)})
    assert QdrantSource.from_connection(settings).collection_definition("articles") is None

    restored = run("restore", *store, SNAPSHOT, "--target-conn-id", "qdrant_cli", "--target-prefix", "q_")
    assert restored.returncode == 0, restored.stderr
    assert "validated" in restored.stdout


def test_the_cli_refuses_a_lossy_step_naming_its_flag_and_runs_it_when_allowed(
        astra_stand_in, astra_connection, astra_source, tmp_path: Path) -> None:
    definition = {"engine": "qdrant", "id": {"type": "int", "field": None}, "native": {}, "vectors": {
        "text": {"kind": "dense", "dtype": "float32", "dimension": 2, "metric": "euclidean"},
        "words": {"kind": "sparse", "dtype": "float32", "dimension": None, "metric": "dot_product"}}}
    with SnapshotWriter(tmp_path, source={"kind": "qdrant"}, snapshot_id=SNAPSHOT) as writer:
        with writer.collection("points", definition) as collection:
            collection.write_many([{"_id": i, "$vectors": {"text": vf.dense([1.0, float(i)]),
                                                          "words": vf.sparse([i], [0.5])}, "payload": {"i": i}}
                                   for i in range(12)])
    store = ["--local-folder", str(tmp_path)]
    refused = run("restore", *store, SNAPSHOT)
    assert refused.returncode != 0 and "--allow-lossy drop-sparse" in refused.stderr
    assert astra_source().collection_definition("points") is None
    allowed = run("restore", *store, SNAPSHOT, "--allow-lossy", "drop-sparse", "--json")
    assert allowed.returncode == 0, allowed.stderr
    result = json.loads(allowed.stdout)["collections"]["points"]
    assert result["documents_restored"] == 12 and result["translation"]["lossy_documents"] == {"drop-sparse": 12}


def test_a_payload_over_pinecones_limit_is_refused_and_truncated_only_when_allowed(
        astra_source, pinecone_stand_in, tmp_path: Path) -> None:
    from tests.sources.pinecone.standin import pinecone_source

    source = astra_source()
    source.create_collection("notes", {"vector": {"dimension": 4, "metric": "euclidean"}})
    documents = [{"_id": f"n{i}", "title": f"note {i}", "$vector": [1.0, float(i), 0.5, -1.0]} for i in range(5)]
    # Pinecone holds at most 40,960 bytes of metadata per record (the Data API, 8,000 bytes per string)
    documents[2].update({f"part{k}": "x" * 7_000 for k in range(7)})
    assert source.insert_documents("notes", documents).ok
    store = LocalStore(tmp_path / "store")
    assert not dump_snapshot(source, store, SNAPSHOT, DumpOptions()).failures
    pinecone = pinecone_source(pinecone_stand_in)
    with pytest.raises(TargetConflict, match=r"1 document\(s\) have a payload over pinecone's limit of 40960 bytes"
                                             r"(.|\n)*--allow-lossy truncate-metadata"):
        restore_snapshot(store, SNAPSHOT, pinecone, RestoreOptions())
    assert pinecone.collection_definition("notes") is None
    report = restore_snapshot(store, SNAPSHOT, pinecone, RestoreOptions(allow_lossy=("truncate-metadata",)))
    result = report["collections"]["notes"]
    assert report["ok"] and result["translation"]["lossy_documents"] == {"truncate-metadata": 1}
    kept = {d["_id"]: d["payload"] for d in scan_all(pinecone, "notes")}
    assert kept["n2"]["title"] == "note 2" and len(kept) == 5
    assert 0 < sum(k.startswith("part") for k in kept["n2"]) < 7, "only the fields over the limit are left out"


def test_a_restore_over_mapped_tasks_into_another_engine_is_refused_before_writing(
        astra_snapshot: LocalStore, qdrant_local) -> None:
    from airflow_provider_vectorbackup.jobs.restore_scale_out import plan_restore

    qdrant = qdrant_local.source()
    with pytest.raises(TargetConflict, match="taken from astra: a restore into qdrant translates it, which runs in "
                                             "one task.*nothing was written"):
        plan_restore(astra_snapshot, SNAPSHOT, qdrant, RestoreOptions(target_prefix="q_"), slices_per_collection=2)
    assert qdrant.list_collections() == []
