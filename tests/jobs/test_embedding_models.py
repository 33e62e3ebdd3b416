"""The embedding model travels with the data: a dump records it per vector field, a restore refuses a target it
does not fit (another model, another dimension) before writing, unless the change is allowed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from airflow_provider_vectorbackup.jobs.dump import DumpOptions, dump_snapshot
from airflow_provider_vectorbackup.jobs.models import (
    EmbeddingModel, ModelMismatch, declared_models, model_conflicts, models_by_collection, parse_model_argument,
    parse_models, recorded_models,
)
from airflow_provider_vectorbackup.jobs.restore import RestoreOptions, TargetConflict, restore_snapshot
from airflow_provider_vectorbackup.snapshot import SnapshotWriter
from airflow_provider_vectorbackup.snapshot.manifest import Manifest
from airflow_provider_vectorbackup.stores.local import LocalStore
from airflow_provider_vectorbackup.testing import sample_data

KS = sample_data.KEYSPACE

WEAVIATE_DEFINITION = {  # Weaviate's documented schema shape for named vectors, under the definition's native block
    "engine": "weaviate", "id": {"type": "uuid", "field": None},
    "vectors": {"title": {"kind": "dense", "dtype": "float32", "dimension": 1536, "metric": "cosine"},
                "body": {"kind": "dense", "dtype": "float32", "dimension": 1024, "metric": "cosine"},
                "own": {"kind": "dense", "dtype": "float32", "dimension": 8, "metric": "cosine"}},
    "native": {"vectorConfig": {
        "title": {"vectorizer": {"text2vec-openai": {"model": "ada", "modelVersion": "002", "type": "text"}},
                  "vectorIndexType": "hnsw"},
        "body": {"vectorizer": {"text2vec-cohere": {"model": "embed-multilingual-v3.0"}}, "vectorIndexType": "hnsw"},
        "own": {"vectorizer": {"none": {}}, "vectorIndexType": "flat"}}},
}


def test_models_are_parsed_as_model_at_version_and_nonsense_is_refused_naming_the_argument() -> None:
    assert EmbeddingModel.parse("text-embedding-3-small@2024-01") == EmbeddingModel("text-embedding-3-small",
                                                                                  "2024-01")
    assert EmbeddingModel.parse("BAAI/bge-m3") == EmbeddingModel("BAAI/bge-m3")
    assert parse_model_argument("$vector=m@1") == ("$vector", "m@1") and parse_model_argument("m") == ("", "m")
    for bad in ("", "@v1", "model@", 7):
        with pytest.raises(ModelMismatch, match=r"embedding_models\['\$vector'\] must be"):
            parse_models({"$vector": bad})
    with pytest.raises(ModelMismatch, match="must map vector fields to models"):
        parse_models("text-embedding-3-small")  # type: ignore[arg-type]
    with pytest.raises(ModelMismatch, match="the field is empty"):
        parse_model_argument("=m")


def test_a_version_differs_only_when_both_are_known() -> None:
    assert not EmbeddingModel("m", "1").differs_from(EmbeddingModel("m"))
    assert EmbeddingModel("m", "1").differs_from(EmbeddingModel("m", "2"))
    assert EmbeddingModel("m").differs_from(EmbeddingModel("n"))


def test_astra_vectorize_and_weaviate_vectorizers_declare_their_models() -> None:
    assert declared_models(sample_data.DEFINITIONS["faq"]) == {
        "$vector": EmbeddingModel("NV-Embed-QA", None, "astra-vectorize")}
    assert declared_models(sample_data.DEFINITIONS["articles"]) == {}  # sourceModel is a tuning hint, not a model
    assert declared_models(WEAVIATE_DEFINITION) == {
        "title": EmbeddingModel("ada", "002", "weaviate-vectorizer"),
        "body": EmbeddingModel("embed-multilingual-v3.0", None, "weaviate-vectorizer")}  # "none" declares none


def test_an_argument_wins_over_the_definition_and_an_encrypted_manifest_records_only_arguments() -> None:
    argued = {"$vector": EmbeddingModel("NV-Embed-QA", "v4")}
    assert recorded_models(sample_data.DEFINITIONS["faq"], argued, encrypted=False) == {
        "$vector": {"model": "NV-Embed-QA", "version": "v4", "from": "argument"}}
    assert recorded_models(sample_data.DEFINITIONS["faq"], {}, encrypted=True) == {}
    assert recorded_models(WEAVIATE_DEFINITION, {}, encrypted=False)["title"] == {
        "model": "ada", "version": "002", "from": "weaviate-vectorizer"}


def test_fields_are_resolved_per_collection_and_unknown_or_ambiguous_ones_are_refused() -> None:
    definitions = {"articles": sample_data.DEFINITIONS["articles"], "weaviate": WEAVIATE_DEFINITION}
    model = EmbeddingModel("m")
    assert models_by_collection({"$vector": model}, definitions) == {"articles": {"$vector": model}, "weaviate": {}}
    assert models_by_collection({"": model}, {"articles": definitions["articles"]}) == {
        "articles": {"$vector": model}}
    with pytest.raises(ModelMismatch, match="names vector field 'tilte', which no collection among.*title"):
        models_by_collection({"tilte": model}, definitions)
    with pytest.raises(ModelMismatch, match=r"without naming its vector field.*'weaviate': \['body', 'own', 'title'\]"):
        models_by_collection({"": model}, definitions)


def test_conflicts_name_the_field_both_models_and_both_dimensions() -> None:
    snapshot = {"$vector": EmbeddingModel("NV-Embed-QA", None, "astra-vectorize")}
    openai = {"vector": {"dimension": 32, "metric": "cosine",
                         "service": {"provider": "openai", "modelName": "text-embedding-3-small"}}}
    assert model_conflicts(sample_data.DEFINITIONS["faq"], snapshot, openai, {}) == [
        "field $vector: the snapshot's vectors were made by NV-Embed-QA (astra-vectorize), and the target declares "
        "text-embedding-3-small (its astra-vectorize)"]
    wide = {"vector": {"dimension": 64, "metric": "cosine"}}
    assert model_conflicts(sample_data.DEFINITIONS["faq"], snapshot, wide, {}) == [
        "field $vector: the snapshot's vectors have 32 dimensions, and the existing target holds vectors of 64"]
    assert model_conflicts(sample_data.DEFINITIONS["faq"], snapshot, None, {"$vector": EmbeddingModel("x")}) == [
        "field $vector: the snapshot's vectors were made by NV-Embed-QA (astra-vectorize), and the target declares "
        "x (the restore's embedding_models)"]
    assert model_conflicts(sample_data.DEFINITIONS["faq"], snapshot, sample_data.DEFINITIONS["faq"], {}) == []
    assert model_conflicts(sample_data.DEFINITIONS["articles"], {}, None, {"$vector": EmbeddingModel("x")}) == []


@pytest.fixture
def seeded(astra_stand_in, astra_connection):
    sample_data.seed(astra_stand_in, {"articles": 30, "products": 10, "faq": 8})
    return astra_stand_in


def manifest_of(root: Path, snapshot_id: str) -> dict:
    return json.loads((root / snapshot_id / "manifest.json").read_text())


def test_a_dump_records_argument_and_vectorize_models_and_only_where_known(seeded, tmp_path: Path) -> None:
    options = DumpOptions(embedding_models={"$vector": "text-embedding-3-small@2024-01"},
                          collections=["articles", "faq"])
    outcome = dump_snapshot(AstraDBHook().get_conn(), LocalStore(tmp_path), "20260801T000000Z", options)
    assert not outcome.failures
    by_name = {c["name"]: c for c in manifest_of(tmp_path, "20260801T000000Z")["collections"]}
    assert by_name["articles"]["embedding_models"] == {
        "$vector": {"model": "text-embedding-3-small", "version": "2024-01", "from": "argument"}}
    assert by_name["faq"]["embedding_models"] == {  # the argument is the caller's word and wins
        "$vector": {"model": "text-embedding-3-small", "version": "2024-01", "from": "argument"}}

    dump_snapshot(AstraDBHook().get_conn(), LocalStore(tmp_path), "20260802T000000Z",
                  DumpOptions(collections=["articles", "faq"]))
    by_name = {c["name"]: c for c in manifest_of(tmp_path, "20260802T000000Z")["collections"]}
    assert by_name["faq"]["embedding_models"] == {"$vector": {"model": "NV-Embed-QA", "version": None,
                                                              "from": "astra-vectorize"}}
    assert "embedding_models" not in by_name["articles"]  # as manifests were before models were recorded
    read = Manifest.from_json((tmp_path / "20260802T000000Z" / "manifest.json").read_bytes())
    assert read.collection("articles").embedding_models == {}


def test_an_argument_naming_a_field_no_collection_has_is_refused_before_anything_is_written(seeded,
                                                                                          tmp_path: Path) -> None:
    with pytest.raises(ModelMismatch, match=r"names vector field 'title', which no collection.*articles: \['\$vector'\]"):
        dump_snapshot(AstraDBHook().get_conn(), LocalStore(tmp_path), "20260803T000000Z",
                      DumpOptions(embedding_models={"title": "m"}, collections=["articles"]))
    assert list(tmp_path.iterdir()) == []


def snapshot_of_articles(store_root: Path, snapshot_id: str, model: str) -> LocalStore:
    dump_snapshot(AstraDBHook().get_conn(), LocalStore(store_root), snapshot_id,
                  DumpOptions(embedding_models={"": model}, collections=["articles"]))
    return LocalStore(store_root)


def test_a_restore_into_a_target_of_another_declared_model_is_refused_unless_allowed(seeded, tmp_path: Path) -> None:
    store = snapshot_of_articles(tmp_path, "20260804T000000Z", "text-embedding-3-small")
    source = AstraDBHook().get_conn()
    options = dict(target_prefix="copy_", embedding_models={"$vector": "text-embedding-3-large"})
    with pytest.raises(TargetConflict) as refused:
        restore_snapshot(store, "20260804T000000Z", source, RestoreOptions(**options))
    message = str(refused.value)
    for part in ("'articles' into 'copy_articles': field $vector", "made by text-embedding-3-small (argument)",
                 "declares text-embedding-3-large", "nothing was written", "allow_model_change=True",
                 "--allow-model-change"):
        assert part in message
    assert source.collection_definition("copy_articles") is None

    report = restore_snapshot(store, "20260804T000000Z", source, RestoreOptions(**options, allow_model_change=True,
                                                                                validation_queries=3))
    assert report["ok"] and report["collections"]["articles"]["documents_restored"] == 30
    same = restore_snapshot(store, "20260804T000000Z", source, RestoreOptions(
        target_prefix="again_", embedding_models={"": "text-embedding-3-small@2024-01"}, validation_queries=0))
    assert same["ok"]  # a version only one side knows is no difference


def test_replacing_a_target_of_another_dimension_is_refused_leaving_it_whole_unless_allowed(seeded,
                                                                                           tmp_path: Path) -> None:
    store = snapshot_of_articles(tmp_path, "20260805T000000Z", "m")
    source = AstraDBHook().get_conn()
    live = source.count_documents("products").count  # 64 dimensions, where articles has 384
    options = dict(name_mapping={"articles": "products"}, if_exists="replace", validation_queries=0)
    with pytest.raises(TargetConflict, match="'articles' into 'products': field \\$vector: the snapshot's vectors "
                                             "have 384 dimensions, and the existing target holds vectors of 64"):
        restore_snapshot(store, "20260805T000000Z", source, RestoreOptions(**options))
    assert source.collection_definition("products")["vector"]["dimension"] == 64
    assert source.count_documents("products").count == live

    report = restore_snapshot(store, "20260805T000000Z", source, RestoreOptions(**options, allow_model_change=True))
    assert report["ok"] and source.collection_definition("products")["vector"]["dimension"] == 384


def test_without_replace_an_existing_target_is_refused_for_existing_not_as_a_model_change(seeded,
                                                                                         tmp_path: Path) -> None:
    store = snapshot_of_articles(tmp_path, "20260808T000000Z", "m")
    with pytest.raises(TargetConflict, match="already exists .* with a different definition") as refused:
        restore_snapshot(store, "20260808T000000Z", AstraDBHook().get_conn(),
                         RestoreOptions(name_mapping={"articles": "products"}, allow_model_change=True))
    assert "allow_model_change" not in str(refused.value)  # it would not help: if_exists decides first


def test_replacing_a_vectorize_target_of_another_service_model_is_refused(seeded, tmp_path: Path) -> None:
    dump_snapshot(AstraDBHook().get_conn(), LocalStore(tmp_path), "20260806T000000Z", DumpOptions(collections=["faq"]))
    seeded.create_collection(KS, "faq_openai", {"vector": {
        "dimension": 32, "metric": "cosine", "service": {"provider": "openai", "modelName": "text-embedding-3-small"}}})
    source = AstraDBHook().get_conn()
    with pytest.raises(TargetConflict, match=r"made by NV-Embed-QA \(astra-vectorize\), and the target declares "
                                             r"text-embedding-3-small \(its astra-vectorize\)"):
        restore_snapshot(LocalStore(tmp_path), "20260806T000000Z", source,
                         RestoreOptions(name_mapping={"faq": "faq_openai"}, if_exists="replace"))
    assert source.collection_definition("faq_openai")["vector"]["service"]["provider"] == "openai"


def test_a_snapshot_that_records_no_model_is_compared_by_what_its_definition_declares(astra_stand_in,
                                                                                     astra_connection,
                                                                                     tmp_path: Path) -> None:
    with SnapshotWriter(tmp_path, source={"kind": "astra"}, snapshot_id="20260807T000000Z") as writer:
        with writer.collection("faq", sample_data.DEFINITIONS["faq"]) as collection:  # as an older dump wrote it
            collection.write_many([{"_id": i, "$vector": [0.5] * 32, "answer": str(i)} for i in range(3)])
    assert "embedding_models" not in manifest_of(tmp_path, "20260807T000000Z")["collections"][0]
    source = AstraDBHook().get_conn()
    with pytest.raises(TargetConflict, match=r"made by NV-Embed-QA \(astra-vectorize\), and the target declares "
                                             r"bge \(the restore's embedding_models\)"):
        restore_snapshot(LocalStore(tmp_path), "20260807T000000Z", source,
                         RestoreOptions(embedding_models={"$vector": "bge"}))
    assert source.collection_definition("faq") is None


def test_restore_options_refuse_a_malformed_model_before_anything_runs() -> None:
    with pytest.raises(ValueError, match=r"embedding_models\['\$vector'\] must be MODEL or MODEL@VERSION"):
        RestoreOptions(embedding_models={"$vector": "m@"})
    with pytest.raises(ValueError, match=r"embedding_models\[''\] must be"):
        DumpOptions(embedding_models={"": ""})


def test_an_engine_snapshot_field_of_another_model_is_refused_too() -> None:
    """Engines' ``$vectors`` fields are compared by name, as the Data API's ``$vector``."""
    definition = {"engine": "qdrant", "id": {"type": "int", "field": None}, "native": {},
                  "vectors": {"text": {"kind": "dense", "dtype": "float32", "dimension": 2, "metric": "cosine"}}}
    models = {"text": EmbeddingModel("m1")}
    assert model_conflicts(definition, models, definition, {"text": EmbeddingModel("m2")}) == [
        "field text: the snapshot's vectors were made by m1 (argument), and the target declares m2 (the restore's "
        "embedding_models)"]


def test_a_restore_into_another_engine_compares_by_the_targets_field_names(seeded, tmp_path: Path,
                                                                            qdrant_local) -> None:
    store = snapshot_of_articles(tmp_path, "20260809T000000Z", "text-embedding-3-small")
    qdrant = qdrant_local.source()
    with pytest.raises(TargetConflict, match=r"field \$vector \(vector in the target\): the snapshot's vectors were "
                                             r"made by text-embedding-3-small \(argument\), and the target declares "
                                             r"bge-m3"):
        restore_snapshot(store, "20260809T000000Z", qdrant, RestoreOptions(embedding_models={"vector": "bge-m3"}))
    assert qdrant.collection_definition("articles") is None
    with pytest.raises(TargetConflict, match=r"names vector field '\$vector', which no collection.*'vector'"):
        restore_snapshot(store, "20260809T000000Z", qdrant, RestoreOptions(embedding_models={"$vector": "m"}))
    report = restore_snapshot(store, "20260809T000000Z", qdrant, RestoreOptions(
        embedding_models={"": "text-embedding-3-small"}, validation_queries=2))
    assert report["ok"]


def test_an_encrypted_manifest_records_the_argument_and_the_restore_still_reads_the_vectorize_model(
        seeded, tmp_path: Path) -> None:
    from pyrage import x25519

    from airflow_provider_vectorbackup.snapshot.encryption import AgeEncryption, AgeIdentities

    identity = x25519.Identity.generate()
    encryption = AgeEncryption.from_recipients([str(identity.to_public())])
    dump_snapshot(AstraDBHook().get_conn(), LocalStore(tmp_path), "20260810T000000Z", DumpOptions(
        collections=["articles", "faq"], encryption=encryption))
    dump_snapshot(AstraDBHook().get_conn(), LocalStore(tmp_path), "20260811T000000Z", DumpOptions(
        collections=["articles"], encryption=encryption, embedding_models={"$vector": "m@1"}))
    recorded = {c["name"]: c.get("embedding_models") for c in manifest_of(tmp_path, "20260810T000000Z")["collections"]}
    assert recorded == {"articles": None, "faq": None}  # Astra's vectorize service stays in the encrypted definition
    assert manifest_of(tmp_path, "20260811T000000Z")["collections"][0]["embedding_models"] == {
        "$vector": {"model": "m", "version": "1", "from": "argument"}}
    with pytest.raises(TargetConflict, match=r"made by NV-Embed-QA \(astra-vectorize\)"):  # read from the decrypted one
        restore_snapshot(LocalStore(tmp_path), "20260810T000000Z", AstraDBHook().get_conn(), RestoreOptions(
            collections=["faq"], target_prefix="e_", identities=AgeIdentities([identity]),
            embedding_models={"$vector": "other"}))
