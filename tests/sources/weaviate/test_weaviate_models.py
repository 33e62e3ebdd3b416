"""A named vector's vectorizer module names its embedding model: a dump records it in the manifest, and a restore
recreates the vectorizer with its settings (against a stand-in started with the module, which vectorizes nothing)."""

from __future__ import annotations

import uuid

from airflow_provider_vectorbackup.connection import ConnectionSettings
from airflow_provider_vectorbackup.jobs.dump import dump_snapshot
from airflow_provider_vectorbackup.jobs.restore import RestoreOptions, restore_snapshot
from airflow_provider_vectorbackup.snapshot import vector_fields as vf
from airflow_provider_vectorbackup.snapshot.codec import DEFAULT_CODEC
from airflow_provider_vectorbackup.sources.weaviate.client import WeaviateSource
from airflow_provider_vectorbackup.stores.local import LocalStore
from airflow_provider_vectorbackup.testing.weaviate import WeaviateStandIn

OPENAI = {"model": "text-embedding-3-large", "dimensions": 4, "vectorizeClassName": False}


def test_a_vectorizer_model_is_recorded_by_the_dump_and_recreated_by_the_restore(tmp_path) -> None:
    with WeaviateStandIn(modules=("text2vec-openai",)) as stand_in:
        source = WeaviateSource.from_connection(ConnectionSettings(
            "weaviate_default", conn_type="weaviate", host=stand_in.host, port=stand_in.http_port,
            password=stand_in.api_key, extra={"grpc_port": stand_in.grpc_port}))
        try:
            source.client.collections.create_from_dict({
                "class": "Articles", "properties": [{"name": "title", "dataType": ["text"]}],
                "vectorConfig": {"title": {"vectorizer": {"text2vec-openai": OPENAI}, "vectorIndexType": "hnsw"},
                                 "raw": {"vectorizer": {"none": {}}, "vectorIndexType": "hnsw"}}})
            documents = [{"_id": DEFAULT_CODEC.encode(uuid.UUID(int=i + 1)),
                          "$vectors": {"raw": vf.dense([i, 1.0]), "title": vf.dense([1.0, i, 0.5, -i])},
                          "payload": {"title": f"article {i}"}} for i in range(12)]
            assert source.insert_documents("Articles", documents).inserted == 12
            store = LocalStore(tmp_path / "store")

            outcome = dump_snapshot(source, store, "20261205T000000Z")
            (entry,) = outcome.manifest.collections
            assert entry.embedding_models == {"title": {"model": "text-embedding-3-large", "version": None,
                                                        "from": "weaviate-vectorizer"}}

            report = restore_snapshot(store, "20261205T000000Z", source, RestoreOptions(target_prefix="Copy"))
            assert report["ok"] is True, report
            copy = source.collection_definition("CopyArticles")
            assert copy["native"]["vectorConfig"]["title"]["vectorizer"] == {"text2vec-openai": OPENAI}
            assert copy == source.collection_definition("Articles")
        finally:
            source.close()
