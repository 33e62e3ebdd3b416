"""The engine example DAGs, run with dag.test() against each real local engine and the Box stand-in.

Each engine is seeded through its own client, which is closed before the run: the DAG opens the
database itself from its ``AIRFLOW_CONN_*`` connection, as a worker would, and a local Qdrant,
Chroma or Milvus Lite database must not be held by another client meanwhile.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from airflow_provider_vectorbackup.hooks.box import BoxHook
from airflow_provider_vectorbackup.snapshot.layout import SnapshotState
from airflow_provider_vectorbackup.snapshot.manifest import ENGINE_FORMAT_VERSION, Manifest
from airflow_provider_vectorbackup.stores.box.store import BoxStore
from tests.conftest import requires_airflow
from tests.engines.pgvector import PgServer
from tests.system.conftest import DAG_TEST_CALLBACK_EXCEPTION, load_dag

SIZES = {"articles": 36, "faq": 12}
DIMENSION = 8


def vectors(count: int, seed: int) -> list[list[float]]:
    rng = random.Random(seed)
    return [[round(rng.uniform(-1, 1), 6) for _ in range(DIMENSION)] for _ in range(count)]


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, connection: dict) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))


def seed_qdrant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    from qdrant_client import QdrantClient, models

    path = tmp_path / "qdrant"
    client = QdrantClient(path=str(path))
    try:
        for seed, (name, size) in enumerate(SIZES.items()):
            client.create_collection(name, vectors_config={
                "dense": models.VectorParams(size=DIMENSION, distance=models.Distance.COSINE)})
            client.upsert(name, [models.PointStruct(id=i, vector={"dense": v}, payload={"title": f"{name} {i}"})
                                 for i, v in enumerate(vectors(size, seed))])
    finally:
        client.close()  # local mode locks the folder: the DAG's own client must be the only one
    set_connection(monkeypatch, "qdrant_default", {"conn_type": "qdrant", "extra": {"path": str(path)}})


def seed_pgvector(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    server: PgServer = request.getfixturevalue("pgvector_server")
    schema: str = request.getfixturevalue("pg_schema")
    with server.connect(autocommit=True) as connection:
        for seed, (name, size) in enumerate(SIZES.items()):
            connection.execute(f"CREATE TABLE {schema}.{name} (id bigint PRIMARY KEY, title text NOT NULL, "
                               f"embedding vector({DIMENSION}) NOT NULL)")
            connection.execute(f"CREATE INDEX ON {schema}.{name} USING hnsw (embedding vector_cosine_ops)")
            with connection.cursor() as cursor:
                cursor.executemany(f"INSERT INTO {schema}.{name} VALUES (%s, %s, %s::vector)",
                                   [(i, f"{name} {i}", str(v)) for i, v in enumerate(vectors(size, seed))])
    set_connection(monkeypatch, "postgres_default", {
        "conn_type": "postgres", "host": server.socket_dir, "port": server.port, "login": "postgres",
        "schema": "postgres", "extra": {"pg_schema": schema}})


def seed_chroma(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    from tests.sources.chroma.engine import persistent_client

    path = tmp_path / "chroma"
    with persistent_client(path) as client:
        for seed, (name, size) in enumerate(SIZES.items()):
            collection = client.create_collection(name, embedding_function=None,
                                                  configuration={"hnsw": {"space": "cosine"}})
            collection.add(ids=[f"{name}-{i}" for i in range(size)], embeddings=vectors(size, seed),
                           metadatas=[{"position": i} for i in range(size)],
                           documents=[f"{name} {i}" for i in range(size)])
    set_connection(monkeypatch, "chroma_default", {"conn_type": "chroma", "extra": {"path": str(path)}})


def seed_milvus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    import pymilvus

    path = tmp_path / "milvus.db"
    client = pymilvus.MilvusClient(str(path))
    try:
        for seed, (name, size) in enumerate(SIZES.items()):
            client.create_collection(name, dimension=DIMENSION, metric_type="COSINE")
            client.insert(name, [{"id": i, "vector": v, "title": f"{name} {i}"}
                                 for i, v in enumerate(vectors(size, seed))])
            client.flush(name)
    finally:
        client.close()
    set_connection(monkeypatch, "milvus_default", {"conn_type": "milvus", "extra": {"path": str(path)}})


SEEDERS: dict[str, Callable[..., None]] = {
    "qdrant": seed_qdrant, "pgvector": seed_pgvector, "chroma": seed_chroma, "milvus": seed_milvus}


@pytest.fixture
def box(airflow_db, box_stand_in, box_connection):
    return box_stand_in


def snapshots_in(folder: str):
    store = BoxStore.at_path(BoxHook().get_conn(), folder)
    return store, store.snapshots()


def task_states(dag_run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


@pytest.mark.parametrize("engine", sorted(SEEDERS))
def test_the_engine_example_dag_backs_up_every_seeded_document(engine, box, tmp_path, monkeypatch, request) -> None:
    SEEDERS[engine](tmp_path, monkeypatch, request)

    dag_run = load_dag(f"example_{engine}_backup").test()

    assert task_states(dag_run) == {"dump": "success", "verify": "success", "retention": "success",
                                    "watcher": "skipped"}
    assert dag_run.state == "success"
    store, (stored,) = snapshots_in(f"{engine}-backups")
    assert stored.state is SnapshotState.COMPLETE
    manifest: Manifest = store.read_manifest(stored)
    assert manifest.status == "complete" and manifest.source["kind"] == engine
    assert manifest.format_version == ENGINE_FORMAT_VERSION == 3
    assert {c.name: c.document_count for c in manifest.collections} == SIZES
    assert all(c.status == "complete" and not c.warnings for c in manifest.collections)


@requires_airflow("3.2", DAG_TEST_CALLBACK_EXCEPTION)
def test_qdrant_points_without_the_declared_vector_fail_the_dump_and_alert(box, tmp_path, monkeypatch) -> None:
    """Qdrant stores a point without one of its collection's named vectors: the real shape of lost embeddings."""
    from qdrant_client import QdrantClient, models

    from airflow_provider_vectorbackup.notifications.vector_loss import vector_loss_callback

    path = tmp_path / "qdrant"
    client = QdrantClient(path=str(path))
    try:
        client.create_collection("articles", vectors_config={
            "dense": models.VectorParams(size=DIMENSION, distance=models.Distance.COSINE)})
        with_vector = [models.PointStruct(id=i, vector={"dense": v}, payload={"title": f"a {i}"})
                       for i, v in enumerate(vectors(20, 0))]
        without = [models.PointStruct(id=100 + i, vector={}, payload={"title": f"b {i}"}) for i in range(10)]
        client.upsert("articles", with_vector + without)
        assert client.count("articles").count == 30, "Qdrant keeps points that lack the declared vector"
    finally:
        client.close()
    set_connection(monkeypatch, "qdrant_default", {"conn_type": "qdrant", "extra": {"path": str(path)}})
    alerts: list[str] = []
    dag = load_dag("example_qdrant_backup")
    dag.get_task("dump").on_failure_callback = [vector_loss_callback(lambda text, context: alerts.append(text))]

    dag_run = dag.test()

    states = task_states(dag_run)
    assert states["dump"] == "failed" and states["verify"] == "upstream_failed" and states["retention"] == "success"
    assert states["watcher"] == "failed" and dag_run.state == "failed"
    assert len(alerts) == 1, "one alert: a vector-loss failure is not retried"
    assert "VECTOR LOSS in collection 'articles'" in alerts[0], alerts[0]
    assert "vector field 'dense' declared dense/float32, 8 dimensions; documents seen: 30; with 'dense': 20" in alerts[0]
    assert "astrapy" not in alerts[0], "an Astra-only hint would send a Qdrant team the wrong way"
    _, (stored,) = snapshots_in("qdrant-backups")
    assert stored.state is SnapshotState.INCOMPLETE
