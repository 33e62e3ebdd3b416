"""QdrantSource against real Qdrant local mode: fidelity of every id, vector and payload kind, its quirks, faults and secrets."""

from __future__ import annotations

import uuid
import warnings
from importlib import metadata

import numpy as np
import pytest
from qdrant_client import QdrantClient, models

from airflow_provider_vectorbackup.connection import ConnectionSettings
from airflow_provider_vectorbackup.jobs.dump import DumpOptions, dump_snapshot
from airflow_provider_vectorbackup.jobs.restore import RestoreOptions, restore_snapshot
from airflow_provider_vectorbackup.snapshot.tolerance import ulps_apart
from airflow_provider_vectorbackup.snapshot import vector_fields as vf
from airflow_provider_vectorbackup.snapshot.codec import DEFAULT_CODEC
from airflow_provider_vectorbackup.sources import registry
from airflow_provider_vectorbackup.sources.base import CollectionDefinitionMismatch, UnsupportedDefinition
from airflow_provider_vectorbackup.sources.qdrant import client as qdrant_client_module
from airflow_provider_vectorbackup.sources.qdrant.client import QdrantConnectionError, QdrantReadError, QdrantSource
from airflow_provider_vectorbackup.sources.qdrant.cosine import canonical
from airflow_provider_vectorbackup.sources.qdrant.definition import UNNAMED, recreated_parts
from airflow_provider_vectorbackup.snapshot.digest import canonical_json
from airflow_provider_vectorbackup.snapshot.guard import VectorLossPolicy
from airflow_provider_vectorbackup.stores.local import LocalStore
from tests.sources.test_conformance import digest_of

PAYLOAD = {"text": "café 東京 🧭 e\u0301", "big": 2**63 + 5, "negative": -(2**62), "zero": -0.0, "tiny": 5e-324,
           "huge": 1.7976931348623157e308, "flag": False, "nothing": None, "list": [1, "two", 3.5, None, [], {}],
           "nested": {"a": {"b": [{"c": None}, {"$dollar": "kept"}]}}, "empty": {}}


def tricky_collection(client: QdrantClient, name: str = "tricky") -> None:
    """Named dense vectors of every distance (one float16), a Cosine multivector, an IDF sparse vector,
    int and UUID ids, points missing some vectors, non-unit Cosine vectors, metadata, an index and an alias."""
    client.create_collection(
        name,
        vectors_config={
            "cos": models.VectorParams(size=4, distance=models.Distance.COSINE, on_disk=True,
                                       hnsw_config=models.HnswConfigDiff(m=8)),
            "dot": models.VectorParams(size=3, distance=models.Distance.DOT),
            "euclid": models.VectorParams(size=3, distance=models.Distance.EUCLID),
            "manhattan": models.VectorParams(size=2, distance=models.Distance.MANHATTAN),
            "half": models.VectorParams(size=3, distance=models.Distance.DOT, datatype=models.Datatype.FLOAT16),
            "colbert": models.VectorParams(size=2, distance=models.Distance.COSINE,
                                           multivector_config=models.MultiVectorConfig(
                                               comparator=models.MultiVectorComparator.MAX_SIM)),
        },
        sparse_vectors_config={"bm25": models.SparseVectorParams(modifier=models.Modifier.IDF)},
        hnsw_config=models.HnswConfigDiff(m=32), metadata={"owner": "search-team", "version": 3})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # local mode: payload indexes have no effect
        client.create_payload_index(name, "text", models.PayloadSchemaType.KEYWORD)
    client.update_collection_aliases(change_aliases_operations=[models.CreateAliasOperation(
        create_alias=models.CreateAlias(collection_name=name, alias_name=f"{name}-live"))])
    points = []
    for i in range(60):
        id_: int | str = i * 1_000_003 if i % 2 else str(uuid.UUID(int=(i + 1) * 2**100 + i, version=4))
        vectors: dict = {"cos": [3.0 + i, 4.0, 0.0, -i / 3], "dot": [i / 10, -1.5, 2e-3], "euclid": [i, i * 0.1, -i],
                         "manhattan": [1.0, -i], "half": [0.1 * i, 1 / 3, 2.0],
                         "colbert": [[3.0, 4.0], [1.0, i + 0.5], [-2.0, 0.25]],
                         "bm25": models.SparseVector(indices=[900 - i, 7, i + 10], values=[0.5, 0.1 * i, 3.0])}
        if i % 5 == 0:
            vectors = {k: v for k, v in vectors.items() if k in ("dot", "bm25")}
        points.append(models.PointStruct(id=id_, vector=vectors, payload={**PAYLOAD, "i": i}))
    points.append(models.PointStruct(id=2**64 - 1, vector={}, payload=None))
    client.upsert(name, points=points, wait=True)


def read_all(source: QdrantSource, name: str) -> list[dict]:
    scan = source.scan(name, source.collection_definition(name))
    documents = [document for page in scan.pages() for document in page]
    assert scan.record.to_dict()["documents"] == len(documents)
    return documents


def test_every_id_vector_and_payload_kind_round_trips_into_a_new_collection_and_reads_the_same_after_a_reopen(
        qdrant_local) -> None:
    tricky_collection(qdrant_local.client)
    source = qdrant_local.source()
    definition = source.collection_definition("tricky")
    documents = read_all(source, "tricky")
    assert len(documents) == 61
    assert {type(d["_id"]) for d in documents} == {int, dict}
    kinds = [type(d["_id"]) for d in documents]
    assert kinds == sorted(kinds, key=lambda kind: kind is dict), "Qdrant's order: integers first, then UUIDs"
    assert any(d["_id"] == 2**64 - 1 and "$vectors" not in d and d["payload"] == {} for d in documents)
    full = next(d for d in documents if d["payload"].get("i") == 1)
    assert full["payload"] == {**PAYLOAD, "i": 1} and str(full["payload"]["zero"]) == "-0.0"
    assert set(full["$vectors"]) == {"cos", "dot", "euclid", "manhattan", "half", "colbert", "bm25"}
    assert vf.sparse_of(full["$vectors"]["bm25"]) == {7: pytest.approx(0.1), 11: 3.0, 899: 0.5}
    cos = [4.0, 4.0, 0.0, -1 / 3]
    assert vf.values_of(full["$vectors"]["cos"]) == pytest.approx([x / sum(y * y for y in cos) ** 0.5 for x in cos])
    assert definition["vectors"] == {
        "cos": {"kind": "dense", "dtype": "float32", "dimension": 4, "metric": "cosine"},
        "dot": {"kind": "dense", "dtype": "float32", "dimension": 3, "metric": "dot_product"},
        "euclid": {"kind": "dense", "dtype": "float32", "dimension": 3, "metric": "euclidean"},
        "manhattan": {"kind": "dense", "dtype": "float32", "dimension": 2, "metric": "manhattan"},
        "half": {"kind": "dense", "dtype": "float32", "dimension": 3, "metric": "dot_product"},
        "colbert": {"kind": "multi", "dtype": "float32", "dimension": 2, "metric": "max_sim_cosine"},
        "bm25": {"kind": "sparse", "dtype": "float32", "dimension": None, "metric": "dot_product"}}
    native = definition["native"]
    assert native["config"]["params"]["vectors"]["half"]["datatype"] == "float16"
    assert native["config"]["params"]["sparse_vectors"]["bm25"]["modifier"] == "idf"
    assert native["config"]["params"]["vectors"]["cos"]["hnsw_config"] == {"m": 8}
    assert native["config"]["metadata"] == {"owner": "search-team", "version": 3}
    assert native["aliases"] == ["tricky-live"] and definition["id"] == {"type": "int_or_uuid", "field": None}

    tolerance = source.restore_tolerance(definition)
    assert tolerance == 32, "Cosine fields of 2 and 4 dimensions"
    assert source.create_collection("copy", definition) is True
    report = source.insert_documents("copy", documents, chunk_size=16)
    assert (report.inserted, report.failures) == (61, [])
    copy_definition = source.collection_definition("copy")
    assert recreated_parts(copy_definition) == recreated_parts(definition)
    assert copy_definition["native"]["aliases"] == [], "the alias stays with the original"
    assert {**copy_definition, "native": {**copy_definition["native"], "aliases": ["tricky-live"]}} == definition
    assert_same_but_cosine_drift(read_all(source, "copy"), documents, tolerance)
    for name in ("cos", "euclid", "manhattan"):  # a point is its own nearest neighbour by these metrics
        assert source.vector_search("copy", full["$vectors"][name], limit=3, field=name)[0] == full["_id"], name
    for name in ("dot", "half"):  # by dot product, the largest product with the query comes first
        query = vf.values_of(full["$vectors"][name])
        best = max((d for d in documents if name in d.get("$vectors", {})),
                   key=lambda d: sum(a * b for a, b in zip(query, vf.values_of(d["$vectors"][name]))))
        assert source.vector_search("copy", full["$vectors"][name], limit=3, field=name)[0] == best["_id"], name
    ids = [d["_id"] for d in documents]
    for name in ("bm25", "colbert"):
        found = source.vector_search("copy", full["$vectors"][name], limit=3, field=name)
        assert len(found) == 3 and all(i in ids for i in found), name

    qdrant_local.reopen()  # another process: local mode hands it the raw stored values
    reopened = qdrant_local.source()
    assert_same_but_cosine_drift(read_all(reopened, "copy"), documents, tolerance)
    assert reopened.collection_definition("tricky") == definition
    # the original's raw vectors (what a reopening process reads) against the writer's normalised ones
    assert_same_but_cosine_drift(read_all(reopened, "tricky"), documents, tolerance)


COSINE_FIELDS = ("cos", "colbert", UNNAMED)


def assert_same_but_cosine_drift(read: list[dict], expected: list[dict], tolerance: int) -> int:
    """Same ids in the same order, payloads and non-Cosine vectors bit for bit, Cosine vector elements at most
    ``tolerance`` float32 ulps apart; returns the most ulps seen."""
    assert [d["_id"] for d in read] == [d["_id"] for d in expected]
    worst = 0
    for got, want in zip(read, expected):
        assert canonical_json(got["payload"]) == canonical_json(want["payload"])
        assert set(got.get("$vectors", {})) == set(want.get("$vectors", {}))
        for name, value in got.get("$vectors", {}).items():
            if name in COSINE_FIELDS:
                apart = ulps_apart(want["$vectors"][name], value)
                assert apart is not None and apart <= tolerance, (got["_id"], name, apart)
                worst = max(worst, apart)
            else:
                assert value == want["$vectors"][name], name
    return worst


def test_the_canonical_form_of_a_cosine_vector_is_deterministic_and_of_unit_length() -> None:
    rng = np.random.default_rng(16)
    rows = rng.normal(size=(400, 768)) * rng.uniform(1e-3, 1e3, size=(400, 1))
    once = canonical(rows)
    assert once.dtype == np.float32 and np.array_equal(once, canonical(rows))
    assert all(np.array_equal(canonical(row.tolist()), once[i]) for i, row in enumerate(rows[:40])), \
        "a vector alone and as a multivector row have one form"
    assert np.array_equal(canonical(rows.astype(np.float32)), once), "a float64 read and a float32 one agree"
    assert np.array_equal(canonical(rows * 4.0), once), "the scale does not matter"
    assert np.abs(np.linalg.norm(once.astype(np.float64), axis=-1) - 1.0).max() < 1e-6
    assert canonical([3.0, 4.0, 0.0]).tolist() == [np.float32(0.6), np.float32(0.8), 0.0]
    assert canonical([0.0, -0.0, 0.0]).tobytes() == np.array([0.0, -0.0, 0.0], np.float32).tobytes()


def test_what_a_restore_writes_reads_back_within_the_tolerance_in_the_writer_after_searches_and_after_a_reopen(
        qdrant_local) -> None:
    client = qdrant_local.client
    client.create_collection("original", vectors_config={
        "cos": models.VectorParams(size=64, distance=models.Distance.COSINE),
        "colbert": models.VectorParams(size=64, distance=models.Distance.COSINE, multivector_config=models.
                                       MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM))})
    rng = np.random.default_rng(7)
    client.upsert("original", points=[models.PointStruct(id=i, vector={
        "cos": (rng.normal(size=64) * 5).tolist(), "colbert": rng.uniform(-2, 2, size=(3, 64)).tolist()})
        for i in range(300)], wait=True)
    source = qdrant_local.source()
    definition = source.collection_definition("original")
    tolerance = source.restore_tolerance(definition)
    assert tolerance == 4, "64+ dimensions"
    snapshot = read_all(source, "original")  # what a dump holds: canonical vectors

    source.create_collection("restored", definition)
    assert source.insert_documents("restored", snapshot).inserted == 300
    answered = client.scroll("restored", limit=300, with_vectors=True)[0]
    written = {d["_id"]: vf.values_of(d["$vectors"]["cos"]) for d in snapshot}
    assert any(np.float32(p.vector["cos"]).tolist() != written[p.id] for p in answered), \
        "Qdrant itself answers some restored vectors off in their last bits (its own renormalisation)"
    moved = [assert_same_but_cosine_drift(read_all(source, "restored"), snapshot, tolerance)]
    for document in snapshot[:10]:  # as many searches per field as the restore's validation makes
        for field in ("cos", "colbert"):
            source.vector_search("restored", document["$vectors"][field], limit=3, field=field)
    moved.append(assert_same_but_cosine_drift(read_all(source, "restored"), snapshot, tolerance))
    again = source.insert_documents("restored", snapshot)
    assert (again.inserted, again.already_present, again.failures) == (0, 300, []), "a resumed restore"
    far = np.float32(written[0]) * np.float32([1.0001] + [1.0] * 63)
    changed = {**snapshot[0], "$vectors": {**snapshot[0]["$vectors"], "cos": vf.dense(far.tolist())}}
    assert [f.error_code for f in source.insert_documents("restored", [changed]).failures] == [
        "DIFFERENT_DOCUMENT_EXISTS"]

    qdrant_local.reopen()
    source = qdrant_local.source()
    moved.append(assert_same_but_cosine_drift(read_all(source, "restored"), snapshot, tolerance))
    source.vector_search("restored", snapshot[1]["$vectors"]["cos"], limit=3, field="cos")  # float64 rows now
    moved.append(assert_same_but_cosine_drift(read_all(source, "restored"), snapshot, tolerance))
    assert max(moved) >= 1, "the comparison saw Qdrant's drift"


def collection_through_the_jobs(qdrant_local, tmp_path, distance: models.Distance) -> dict:
    """A dump and restore (new name) of 300 points of 96-dimension vectors by ``distance``: the restore's report."""
    rng = np.random.default_rng(11)
    qdrant_local.client.create_collection("vectors", vectors_config={
        "embedding": models.VectorParams(size=96, distance=distance)})
    qdrant_local.client.upsert("vectors", points=[models.PointStruct(
        id=i, vector={"embedding": rng.normal(size=96).tolist()}, payload={"i": i, "ratio": i / 7})
        for i in range(300)], wait=True)
    source = qdrant_local.source()
    store = LocalStore(tmp_path / "store")
    assert dump_snapshot(source, store, "20260104T000000Z-cos", DumpOptions()).manifest.status == "complete"
    report = restore_snapshot(store, "20260104T000000Z-cos", source, RestoreOptions(target_prefix="restored-"))
    return report["vectors"] if "vectors" in report else report["collections"]["vectors"]


def test_a_cosine_collection_restored_through_the_jobs_validates_within_the_tolerance(qdrant_local,
                                                                                      tmp_path) -> None:
    result = collection_through_the_jobs(qdrant_local, tmp_path, models.Distance.COSINE)
    assert result["ok"] and result["digest_matches_manifest"], result
    assert result["digest_scope"].startswith("shape") and result["tolerance_ulps"] == 4
    assert result["most_ulps_apart"] <= result["tolerance_ulps"] and result["recall_at_10"] >= 0.9


@pytest.mark.parametrize("distance", [models.Distance.DOT, models.Distance.EUCLID], ids=["dot", "euclid"])
def test_a_collection_without_cosine_restored_through_the_jobs_validates_exactly(qdrant_local, tmp_path,
                                                                                 distance) -> None:
    result = collection_through_the_jobs(qdrant_local, tmp_path, distance)
    assert result["ok"] and "digest_scope" not in result, result
    assert result["digest_restored"] == result["digest_expected"] and result["digest_matches_manifest"]


def test_local_mode_drops_collection_level_settings_and_payload_indexes_and_the_comparison_ignores_them(
        qdrant_local) -> None:
    tricky_collection(qdrant_local.client, "original")
    source = qdrant_local.source()
    captured = source.collection_definition("original")
    assert captured["native"]["config"]["hnsw_config"]["m"] == 16, "local mode answers its defaults, not m=32"
    assert captured["native"]["payload_schema"] == {}, "and no payload indexes"
    server_like = {**captured, "native": {**captured["native"], "payload_schema": {"text": {"data_type": "keyword"}},
                                          "config": {**captured["native"]["config"],
                                                     "hnsw_config": {"m": 32, "ef_construct": 200}}}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert source.create_collection("from-server", server_like) is True
        assert source.create_collection("from-server", server_like) is False
    assert recreated_parts(source.collection_definition("from-server")) == recreated_parts(server_like)


def test_definitions_it_cannot_create_are_refused_by_name_before_anything_is_created(qdrant_local) -> None:
    tricky_collection(qdrant_local.client, "model")
    source = qdrant_local.source()
    definition = source.collection_definition("model")
    with pytest.raises(UnsupportedDefinition, match=r"'elsewhere'.*'pgvector' definition"):
        source.create_collection("elsewhere", {**definition, "engine": "pgvector"})
    params = definition["native"]["config"]["params"]
    odd = {**params, "vectors": {**params["vectors"], "dot": {"size": 3, "distance": "Hamming"}}}
    with pytest.raises(UnsupportedDefinition, match=r"'odd'.*vector 'dot'.*'Hamming'"):
        source.create_collection("odd", {**definition, "native": {**definition["native"], "config": {
            **definition["native"]["config"], "params": odd}}})
    with pytest.raises(UnsupportedDefinition, match="'huge'"):
        source.create_collection("huge", {**definition, "native": {**definition["native"], "config": {
            **definition["native"]["config"], "params": {"vectors": {"size": 70_000, "distance": "Dot"}}}}})
    assert [source.collection_definition(n) for n in ("elsewhere", "odd", "huge")] == [None, None, None]
    with pytest.raises(CollectionDefinitionMismatch, match="'model-live' is an alias"):
        source.create_collection("model-live", definition)


def test_an_existing_point_with_other_content_is_a_failure_and_left_untouched(qdrant_local) -> None:
    client = qdrant_local.client
    client.create_collection("points", vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    source = qdrant_local.source()
    documents = [{"_id": 1, "$vectors": {UNNAMED: vf.dense([1.0, 2.0])}, "payload": {"v": 1}},
                 {"_id": DEFAULT_CODEC.encode(uuid.UUID(int=7)), "$vectors": {UNNAMED: vf.dense([0.5, 0.5])},
                  "payload": {}}]
    assert source.insert_documents("points", documents).inserted == 2
    changed = [{**documents[0], "payload": {"v": 2}}, documents[1], {"_id": "not-a-uuid", "payload": {}}]
    report = source.insert_documents("points", changed)
    assert (report.inserted, report.already_present) == (0, 1)
    assert [(f.id, f.error_code) for f in report.failures] == [("not-a-uuid", "UNWRITABLE"),
                                                               (1, "DIFFERENT_DOCUMENT_EXISTS")]
    assert source.find_by_ids("points", [1])[0]["payload"] == {"v": 1}


def test_a_restore_into_a_fresh_qdrant_recreates_the_aliases(qdrant_local) -> None:
    tricky_collection(qdrant_local.client, "aliased")
    definition = qdrant_local.source().collection_definition("aliased")
    fresh = QdrantSource.from_connection(ConnectionSettings("mem", conn_type="qdrant", extra={"location": ":memory:"}))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            assert fresh.create_collection("aliased", definition) is True
        assert fresh.collection_definition("aliased") == definition
    finally:
        fresh.close()


def test_the_dump_fails_naming_the_collection_when_the_client_dies_mid_scan(qdrant_local, tmp_path,
                                                                            monkeypatch) -> None:
    tricky_collection(qdrant_local.client, "fragile")
    monkeypatch.setattr(qdrant_client_module, "PAGE_SIZE", 10)
    source = qdrant_local.source()
    scan = source.scan("fragile", source.collection_definition("fragile"))
    pages = scan.pages()
    next(pages)
    qdrant_local.client.close()
    with pytest.raises(QdrantReadError, match=r"collection 'fragile' at local path .* after 10 document"):
        next(pages)

    qdrant_local.reopen()
    source = qdrant_local.source()
    store = LocalStore(tmp_path / "store")
    closed = []

    def close_after_first_page(progress) -> None:
        if not closed:
            closed.append(True)
            qdrant_local.client.close()
    outcome = dump_snapshot(source, store, "20260102T000000Z-fault", DumpOptions(collections=["fragile"]),
                            on_progress=close_after_first_page)
    assert outcome.manifest.status != "complete"
    assert "fragile" in outcome.failures and "'fragile'" in str(outcome.failures["fragile"])


def test_the_api_key_never_shows_and_a_locked_path_is_explained(qdrant_local) -> None:
    canary = "canary-api-key-7f3a9c"
    settings = ConnectionSettings("qdrant_cloud", conn_type="qdrant", password=canary,
                                  extra={"url": "http://127.0.0.1:9/", "timeout": 1})
    source = registry.open_source(settings)
    assert isinstance(source, QdrantSource)
    ok, message = source.test_connection()
    described = source.describe_source()
    assert not ok and described["where"] == "http://127.0.0.1:9" and described["kind"] == "qdrant"
    with pytest.raises(Exception) as raised:
        list(source.scan("docs", {}).pages())
    for text in (repr(source), message, str(described), str(raised.value), repr(raised.value)):
        assert canary not in text

    locked = QdrantSource.from_connection(qdrant_local.settings())  # builds, opens nothing
    with pytest.raises(QdrantConnectionError, match="one client"):
        locked.list_collections()
    assert qdrant_local.source().describe_source() == {
        "kind": "qdrant", "version": f"qdrant-client {metadata.version('qdrant-client')}, local mode",
        "where": f"local path {qdrant_local.path}"}


@pytest.mark.parametrize("uuid_ids", [False, True], ids=["int-ids", "uuid-ids"])
def test_a_dump_and_restore_through_the_jobs_keep_every_document_and_find_neighbours_on_every_field(
        qdrant_local, tmp_path, uuid_ids) -> None:
    tricky_collection(qdrant_local.client, "tricky")
    if not uuid_ids:
        qdrant_local.client.delete("tricky", points_selector=models.FilterSelector(filter=models.Filter(
            must=[models.FieldCondition(key="i", range=models.Range(gte=0))])))
        qdrant_local.client.upsert("tricky", points=[models.PointStruct(
            id=i, vector={"cos": [1.0 + i, 2.0, -3.0, 0.5], "colbert": [[1.0, i + 1.0]], "euclid": [i, 0, 1],
                          "dot": [i, 1, 0], "manhattan": [i, -i], "half": [0.5, i, 1],
                          "bm25": models.SparseVector(indices=[i, 500], values=[1.0, 0.5])},
            payload={**PAYLOAD, "i": i}) for i in range(40)], wait=True)
    source = qdrant_local.source()
    expected = digest_of(read_all(source, "tricky"))
    store = LocalStore(tmp_path / "store")
    lenient = DumpOptions(vector_policy=VectorLossPolicy(max_missing_fraction=1.0))  # some points lack some vectors
    dumped = dump_snapshot(source, store, "20260103T000000Z-jobs", lenient)
    assert dumped.manifest.status == "complete" and dumped.manifest.collection("tricky").content_digest == expected
    report = restore_snapshot(store, "20260103T000000Z-jobs", source, RestoreOptions(target_prefix="restored-"))
    result = report["tricky"] if "tricky" in report else report["collections"]["tricky"]
    assert result["ok"] and result["digest_matches_manifest"], result
    assert result["digest_restored"] == result["digest_expected"] and result["digest_scope"].startswith("shape")
    assert all(recall >= 0.9 for recall in result["recall_by_field"].values()), result["recall_by_field"]
    assert recreated_parts(source.collection_definition("restored-tricky")) == recreated_parts(
        source.collection_definition("tricky"))
