"""The conformance suite: what every :class:`VectorSource` must do for dump, restore and validation to be sound.

Every test runs once per entry of :data:`SOURCES`. To add a source (Qdrant, pgvector, Chroma,
Milvus, ...):

1. write a factory ``def qdrant(request: pytest.FixtureRequest) -> Case`` that starts or reaches
   the source (take its stand-in fixture with ``request.getfixturevalue("qdrant_stand_in")``),
   builds the client with ``from_connection(ConnectionSettings(...))`` as its hook would, and
   describes, in the source's own terms, a collection of :data:`DIMENSION`-dimension cosine
   vectors (``definition``), another it can hold that differs from it (``other_definition``) and
   one it cannot represent (``unrepresentable``), and gives :data:`COUNT` tricky documents in its
   stored form (``documents``, ids of every type it has, some documents without a vector) and how
   to search for one (``query``);
2. append ``pytest.param(qdrant, id="qdrant")`` to :data:`SOURCES`.

The documents are the package's stored form (for the Data API: ``_id``, ``$vector`` as a list or
``$binary``, EJSON values; for the other engines ``_id``, ``$vectors`` and ``payload``); a source
that keeps them otherwise converts both ways, and the round trip proves it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from airflow_provider_vectorbackup.snapshot.digest import ContentDigest, canonical_json
from airflow_provider_vectorbackup.snapshot.vectors import floats_to_binary
from airflow_provider_vectorbackup.sources.astra.retry import RetryPolicy
from airflow_provider_vectorbackup.sources.base import (
    CollectionDefinitionMismatch, Partition, UnsupportedDefinition, VectorSource,
)
from airflow_provider_vectorbackup.testing.sample_data import unit_vector

DIMENSION = 8
COUNT = 150
"""More than a page (the stand-ins answer 20 per page) and below the Data API's exact-count limit of 1,000."""


@dataclass
class Case:
    """A source under test and collection definitions in its own terms."""

    source: VectorSource
    definition: dict[str, Any]
    """:data:`DIMENSION`-dimension vectors, cosine."""
    other_definition: dict[str, Any]
    """Representable, but not the same as ``definition``: a name clash must be refused."""
    unrepresentable: dict[str, Any]
    """A definition the source must refuse before creating anything."""
    documents: Callable[[], list[dict[str, Any]]] = field(default=lambda: tricky_documents())
    """:data:`COUNT` stored-form documents fitting ``definition``; the first is searched for."""
    query: Callable[[dict[str, Any]], tuple[Any, str | None]] = field(
        default=lambda document: (document["$vector"], None))
    """``(vector, field)`` to search for a document by its own vector."""
    listed_name: Callable[[str], str] = field(default=lambda name: name)
    """The name ``list_collections`` gives a collection created as ``name`` (Weaviate capitalises the first letter)."""


def astra(request: pytest.FixtureRequest) -> Case:
    build = request.getfixturevalue("astra_source")
    return Case(build(retry_policy=RetryPolicy(max_attempts=3, initial_wait=0.001, max_wait=0.01)),
                definition={"vector": {"dimension": DIMENSION, "metric": "cosine", "sourceModel": "other"}},
                other_definition={"vector": {"dimension": DIMENSION + 1, "metric": "cosine", "sourceModel": "other"}},
                unrepresentable={"vector": {"dimension": 4097, "metric": "cosine"}})  # the Data API's limit is 4096


SOURCES: list[Any] = [pytest.param(astra, id="astra"),
                      pytest.param(lambda request: chroma(request), id="chroma"),  # defined near the end
                      pytest.param(lambda request: qdrant(request), id="qdrant"),
                      pytest.param(lambda request: milvus(request), id="milvus"),
                      pytest.param(lambda request: pgvector(request), id="pgvector"),
                      pytest.param(lambda request: pinecone(request), id="pinecone"),
                      pytest.param(lambda request: weaviate(request), id="weaviate")]


@pytest.fixture(params=SOURCES)
def case(request: pytest.FixtureRequest) -> Case:
    factory: Callable[[pytest.FixtureRequest], Case] = request.param
    return factory(request)


_TEXT = ["café", "東京", "данные", "مرحبا", "e\u0301", "🧭🚀", "tab\tnew\nline", "quote\"back\\slash", ""]


def tricky_documents(count: int = COUNT, seed: int = 7) -> list[dict[str, Any]]:
    """Both vector encodings and no vector; EJSON dates (before 1970 too), UUIDs and ObjectIds; big and
    negative integers; unicode, empty values, deep nesting. Ids of every kind, the strings first, so a
    source that decides how to split from the first page sees strings there."""
    rng = random.Random(seed)
    string_ids = [f"{prefix}{i:04d}" for i, prefix in zip(range(count), rng.choices(
        ["0", "5", "9", "a", "c", "f", "g", "Z", "~", "é", "東"], k=count))]
    odd_ids: list[Any] = [42, -7, 3.5, {"$date": -86_400_000}, {"$date": 1_760_000_000_000},
                          {"$uuid": "0190f1c2-7a3b-7c4d-8e5f-0123456789ab"}, {"$objectId": "65f0a1b2c3d4e5f601234567"}]
    documents = []
    for i, id_ in enumerate(string_ids[:count - len(odd_ids)] + odd_ids):
        vector = unit_vector(rng, DIMENSION)
        document: dict[str, Any] = {
            "_id": id_, "name": _TEXT[i % len(_TEXT)] + f" {i}",
            "when": {"$date": 1_700_000_000_000 - i * 86_400_000_000 // 50},
            "batch": {"$uuid": f"00000000-0000-4000-8000-{i:012d}"}, "supplier": {"$objectId": f"{i:024x}"},
            "big": 2**62 + i, "negative": -(2**53) - i, "ratio": i / 7, "flag": bool(i % 2), "nothing": None,
            "nested": {"a": {"b": {"c": [i, {"d": _TEXT[(i + 3) % len(_TEXT)]}, []]}}, "empty": {}},
        }
        if i % 3 == 0:
            document["$vector"] = [round(x, 6) for x in vector]
        elif i % 3 == 1:
            document["$vector"] = {"$binary": floats_to_binary(vector)}
        documents.append(document)  # every third document has no vector
    return documents


def digest_of(documents: list[dict[str, Any]]) -> str:
    digest = ContentDigest()
    for document in documents:
        digest.add(document)
    return digest.hexdigest()


def scanned(source: VectorSource, name: str, definition: dict[str, Any]) -> list[dict[str, Any]]:
    scan = source.scan(name, definition)
    documents = [document for page in scan.pages() for document in page]
    assert scan.record is not None and scan.record.to_dict()["documents"] == len(documents)
    return documents


def filled(case: Case, name: str, documents: list[dict[str, Any]]) -> None:
    assert case.source.create_collection(name, case.definition) is True
    report = case.source.insert_documents(name, documents, chunk_size=20, concurrency=1)
    assert report.ok and report.inserted == len(documents), report.summary()


def test_tricky_documents_round_trip_unchanged(case: Case) -> None:
    assert isinstance(case.source, VectorSource) and case.source.kind
    documents = case.documents()
    filled(case, "roundtrip", documents)
    assert {info.name: info.definition for info in case.source.list_collections()}[case.listed_name("roundtrip")] == \
        case.source.collection_definition("roundtrip")
    read = scanned(case.source, "roundtrip", case.definition)
    assert len(read) == len(documents) and digest_of(read) == digest_of(documents)
    assert case.source.count_documents("roundtrip").count == len(documents)
    some = [documents[0], documents[1], documents[2], documents[-1]]  # array, binary, none; an odd id
    found = case.source.find_by_ids("roundtrip", [d["_id"] for d in some])
    assert sorted(map(canonical_json, found)) == sorted(map(canonical_json, some))


def test_vector_search_finds_a_documents_own_vector_first(case: Case) -> None:
    documents = case.documents()
    filled(case, "search", documents)
    target = documents[0]
    vector, vector_field = case.query(target)
    assert case.source.vector_search("search", vector, limit=5, field=vector_field)[0] == target["_id"]


def test_partitions_cover_every_document_once(case: Case) -> None:
    documents = case.documents()
    filled(case, "parts", documents)
    partitions = case.source.partitions("parts", case.definition)
    assert len({p.name for p in partitions}) == len(partitions), "partition names are unique"
    read: list[dict[str, Any]] = []
    for partition in partitions:
        handed_on = Partition.from_dict(partition.to_dict())  # as another task receives it
        read += [document for page in case.source.read_partition("parts", handed_on) for document in page]
    ids = [canonical_json({"_id": d["_id"]}) for d in read]
    assert len(ids) == len(set(ids)) == len(documents), "every document exactly once"
    assert digest_of(read) == digest_of(documents)


def test_writing_the_same_documents_again_changes_nothing(case: Case) -> None:
    documents = case.documents()
    filled(case, "rewrite", documents)
    assert case.source.create_collection("rewrite", case.definition) is False
    again = case.source.insert_documents("rewrite", documents, chunk_size=20, concurrency=4)
    assert (again.inserted, again.already_present, again.failures) == (0, len(documents), [])
    assert case.source.count_documents("rewrite").count == len(documents)
    assert digest_of(scanned(case.source, "rewrite", case.definition)) == digest_of(documents)


def test_a_definition_it_cannot_represent_is_refused_and_nothing_created(case: Case) -> None:
    with pytest.raises(UnsupportedDefinition, match="'impossible'"):
        case.source.create_collection("impossible", case.unrepresentable)
    assert case.source.collection_definition("impossible") is None


def test_a_name_taken_by_another_definition_is_refused_and_left_alone(case: Case) -> None:
    assert case.source.create_collection("taken", case.definition) is True
    before = case.source.collection_definition("taken")
    with pytest.raises(CollectionDefinitionMismatch, match="'taken'"):
        case.source.create_collection("taken", case.other_definition)
    assert case.source.collection_definition("taken") == before


def test_what_it_can_hold_is_not_reported_unsupported_and_another_engines_definition_is(case: Case) -> None:
    assert case.source.unsupported(case.definition) == []
    if case.source.kind == "astra":
        alien = {"engine": "qdrant", "id": {"type": "int", "field": None}, "native": {"vectors": {}},
                 "vectors": {"v": {"kind": "dense", "dtype": "float32", "dimension": DIMENSION, "metric": "cosine"}}}
    else:
        alien = {"vector": {"dimension": DIMENSION, "metric": "cosine"}}  # a Data API definition: no engine block
    assert case.source.unsupported(alien) != []


def _chroma_documents() -> list[dict[str, Any]]:
    """String ids (unicode too), metadata of every type Chroma keeps, documents and uris, some of each absent."""
    import struct

    from airflow_provider_vectorbackup.snapshot import vector_fields

    rng = random.Random(16)
    documents = []
    for i in range(COUNT):
        vector = struct.unpack(f"<{DIMENSION}f", struct.pack(f"<{DIMENSION}f", *unit_vector(rng, DIMENSION)))
        document: dict[str, Any] = {"_id": f"{_TEXT[i % len(_TEXT)]}-{i}",
                                    "$vectors": {"embedding": vector_fields.dense(vector)}}
        if i % 4:
            document["payload"] = {"name": _TEXT[i % len(_TEXT)], "n": 2**62 + i, "ratio": i / 7, "flag": bool(i % 2),
                                   "tags": ["a", _TEXT[(i + 1) % len(_TEXT)]], "ints": [i, -i], "flags": [True]}
        if i % 3:
            document["document"] = f"text {i} {_TEXT[i % len(_TEXT)]}"
        if i % 5 == 0:
            document["uri"] = f"s3://bucket/{i}"
        documents.append(document)
    return documents


def qdrant_documents(count: int = COUNT, seed: int = 16) -> list[dict[str, Any]]:
    """Integer ids (0, 2**63 and 2**64 - 1 among them) and UUID ids; a Euclid dense vector, a sparse one,
    either or none; every JSON kind in the payload."""
    import uuid

    from airflow_provider_vectorbackup.snapshot import vector_fields
    from airflow_provider_vectorbackup.snapshot.codec import DEFAULT_CODEC

    rng = random.Random(seed)
    ids: list[Any] = [0, 2**63, 2**64 - 1] + [
        i * 7919 if i % 2 else DEFAULT_CODEC.encode(uuid.UUID(int=rng.getrandbits(128), version=4))
        for i in range(1, count - 2)]
    documents = []
    for i, id_ in enumerate(ids):
        vectors = {}
        if i % 4 != 3:
            vectors["<unnamed>"] = vector_fields.dense([rng.uniform(-3, 3) for _ in range(DIMENSION)])
        if i % 3 == 0:
            indices = sorted(rng.sample(range(1000), 3))
            vectors["keywords"] = vector_fields.sparse(indices, [rng.uniform(0, 2) for _ in indices])
        document: dict[str, Any] = {"_id": id_, "payload": {
            "name": _TEXT[i % len(_TEXT)] + f" {i}", "big": 2**62 + i, "negative": -(2**53) - i, "ratio": i / 7,
            "zero": -0.0, "flag": bool(i % 2), "nothing": None, "tags": ["a", i, 1.5, None, []],
            "nested": {"a": {"b": {"c": [i, {"d": _TEXT[(i + 3) % len(_TEXT)]}, []]}}, "empty": {}}}}
        if vectors:
            document["$vectors"] = vectors
        documents.append(document)
    return documents


# -- pgvector -------------------------------------------------------------------------------------

PGVECTOR_TABLE = """
CREATE TABLE {table} (
    id text PRIMARY KEY,
    embedding vector({dimension}), half halfvec(8), terms sparsevec(1000), flags bit(12),
    title text NOT NULL DEFAULT '', price numeric(12, 3) CHECK (price >= 0), tags text[], counts integer[],
    meta jsonb, created timestamptz, day date, raw bytea, score real, ratio double precision, ok boolean,
    UNIQUE (title, day)
);
CREATE INDEX ON {table} USING hnsw (embedding vector_cosine_ops) WITH (m = 8, ef_construction = 32);
CREATE INDEX ON {table} USING hnsw (half halfvec_l2_ops);
CREATE INDEX ON {table} USING hnsw (flags bit_hamming_ops);
CREATE INDEX ON {table} (created DESC)
"""


def pgvector_definition(source: Any, dimension: int = DIMENSION) -> dict[str, Any]:
    """The definition PostgreSQL itself gives :data:`PGVECTOR_TABLE`, read from a scratch table then dropped."""
    from psycopg import sql

    with source.connect() as connection:
        table = sql.Identifier(source.namespace, "scratch_definition").as_string(connection)
        connection.execute(PGVECTOR_TABLE.format(table=table, dimension=dimension))
        connection.commit()
    definition = source.collection_definition("scratch_definition")
    source.drop_collection("scratch_definition")
    return definition


def pgvector_documents(count: int = COUNT, seed: int = 11) -> list[dict[str, Any]]:
    """Rows in the exact form a scan gives them: text ids in several scripts (one empty); NULL vectors;
    float16 extremes; empty and NULL sparse vectors; numeric NaN and scale; arrays with NULLs; jsonb with
    numbers only a Decimal holds; timestamps before 1970; real and double NaN, infinities and -0.0."""
    import datetime as dt
    import struct
    from decimal import Decimal

    from airflow_provider_vectorbackup.snapshot import vector_fields as vf
    from airflow_provider_vectorbackup.snapshot.codec import DEFAULT_CODEC

    rng = random.Random(seed)
    prefixes = ["", "é", "東", "Z", "a b", "~", "0", "ß"]
    documents = []
    for i in range(count):
        id_ = "" if i == count - 1 else f"{prefixes[i % len(prefixes)]}{i:04d}"
        vectors: dict[str, Any] = {}
        if i % 5 != 4:
            vectors["embedding"] = vf.dense(unit_vector(rng, DIMENSION))
        if i % 4 != 3:
            halves = [rng.uniform(-2, 2) for _ in range(8)]
            halves[i % 8] = [65504.0, -0.0, 6e-08, -65504.0][i % 4]
            vectors["half"] = vf.dense(halves, "float16")
        if i % 6 != 5:
            indices = sorted(rng.sample(range(1000), i % 4))  # every fourth one empty
            vectors["terms"] = vf.sparse(indices, [rng.uniform(0.1, 3) for _ in indices])
        if i % 7 != 6:
            vectors["flags"] = vf.bits(rng.getrandbits(12).to_bytes(2, "big")[:1] + bytes([rng.getrandbits(4) << 4]), 12)
        score = struct.unpack("<f", struct.pack("<f", rng.uniform(-1e6, 1e6)))[0]
        payload: dict[str, Any] = {
            "title": _TEXT[i % len(_TEXT)] + f" {i}",
            "price": Decimal("NaN") if i == 3 else Decimal(f"{rng.uniform(0, 1e6):.3f}"),
            "tags": None if i % 9 == 0 else ["x", None, _TEXT[(i + 1) % len(_TEXT)]][: i % 4],
            "counts": [i, None, -2**31, 2**31 - 1],
            "meta": None if i % 8 == 0 else "just a string" if i % 8 == 1 else {
                "n": i, "half": i / 4, "exact": Decimal("123456789012345678901234567890.5"), "scaled": Decimal("1.50"),
                "nested": {"list": [1, "two", False, None, {"deep": []}]}},
            "created": dt.datetime(1969, 7, 20, 20, 17, 40, 123456, tzinfo=dt.timezone.utc) + dt.timedelta(days=97 * i),
            "day": dt.date(1, 1, 1) if i == 1 else dt.date(2024, 2, 29) - dt.timedelta(days=i),
            "raw": b"" if i % 2 else bytes([0, 255, i % 256]) * 3,
            "score": [float("nan"), float("inf"), -0.0, score][i % 4] if i < 8 else score,
            "ratio": [float("-inf"), 1e308, 5e-324, i / 3][i % 4],
            "ok": None if i % 3 == 0 else bool(i % 2),
        }
        document: dict[str, Any] = {"_id": id_}
        if vectors:
            document["$vectors"] = vectors
        document["payload"] = DEFAULT_CODEC.encode(payload)
        documents.append(document)
    return documents


def chroma(request: pytest.FixtureRequest) -> Case:
    from tests.sources.chroma.engine import persistent_client, source_on
    from airflow_provider_vectorbackup.sources.chroma.definition import new_definition

    path = request.getfixturevalue("tmp_path") / "chroma"
    opened = persistent_client(path)
    client = opened.__enter__()
    request.addfinalizer(lambda: opened.__exit__(None, None, None))
    unrepresentable = new_definition(DIMENSION)
    unrepresentable["native"]["configuration"]["hnsw"]["space"] = "hamming"
    # Euclidean, not cosine: Chroma's cosine space hands vectors back a few ulps off (tests/sources/chroma).
    return Case(source_on(client, path, page_size=20), definition=new_definition(DIMENSION, "euclidean"),
                other_definition=new_definition(DIMENSION, "dot_product"), unrepresentable=unrepresentable,
                documents=_chroma_documents,
                query=lambda document: (document["$vectors"]["embedding"], "embedding"))


def qdrant(request: pytest.FixtureRequest) -> Case:
    from qdrant_client import models

    engine = request.getfixturevalue("qdrant_local")
    source = engine.source(partition_size=40)

    # Euclid, not Cosine: Qdrant moves Cosine vectors a few ulps as it renormalises them (tests/sources/qdrant).
    def described(size: int) -> dict[str, Any]:
        engine.client.create_collection(
            "definition-probe", vectors_config=models.VectorParams(size=size, distance=models.Distance.EUCLID),
            sparse_vectors_config={"keywords": models.SparseVectorParams(modifier=models.Modifier.IDF)})
        found = source.collection_definition("definition-probe")
        engine.client.delete_collection("definition-probe")
        return found

    definition = described(DIMENSION)
    unrepresentable = {**definition, "native": {**definition["native"], "config": {
        **definition["native"]["config"], "params": {"vectors": {"size": DIMENSION, "distance": "Hamming"}}}}}
    return Case(source, definition=definition, other_definition=described(DIMENSION + 1),
                unrepresentable=unrepresentable, documents=qdrant_documents,
                query=lambda document: (document["$vectors"]["<unnamed>"], "<unnamed>"))


# -- Milvus (Lite, in tmp_path) -------------------------------------------------------------------

def milvus(request: pytest.FixtureRequest) -> Case:
    import pymilvus

    from airflow_provider_vectorbackup.connection import ConnectionSettings
    from airflow_provider_vectorbackup.sources.milvus.client import MilvusSource

    path = str(request.getfixturevalue("tmp_path") / "conformance.db")
    client = pymilvus.MilvusClient(path)
    request.addfinalizer(client.close)
    settings = ConnectionSettings("milvus_default", conn_type="milvus", extra={"path": path})
    float16 = _milvus_definition(DIMENSION)
    float16["native"]["fields"].append({"name": "half", "type": "FLOAT16_VECTOR", "params": {"dim": 4}})
    return Case(MilvusSource.from_connection(settings, client=client, page_size=20),
                definition=_milvus_definition(DIMENSION), other_definition=_milvus_definition(DIMENSION + 1),
                unrepresentable=float16,  # Milvus Lite holds no FLOAT16_VECTOR field
                documents=_milvus_documents, query=lambda document: (document["$vectors"]["v"], "v"))


def _milvus_definition(dimension: int) -> dict[str, Any]:
    fields = [{"name": "id", "type": "VARCHAR", "is_primary": True, "params": {"max_length": 64}},
              {"name": "v", "type": "FLOAT_VECTOR", "params": {"dim": dimension}},
              {"name": "title", "type": "VARCHAR", "nullable": True, "params": {"max_length": 200}},
              {"name": "big", "type": "INT64"},
              {"name": "meta", "type": "JSON", "nullable": True}]
    return {"engine": "milvus", "id": {"type": "varchar", "field": "id"},
            "vectors": {"v": {"kind": "dense", "dtype": "float32", "dimension": dimension, "metric": "cosine",
                              "nullable": False}},
            "native": {"fields": fields, "functions": [], "enable_dynamic_field": True, "auto_id": False,
                       "description": "", "properties": {}, "consistency_level": "Strong", "num_shards": 1,
                       "partitions": ["_default"], "num_partitions": None,
                       "indexes": [{"field_name": "v", "index_name": "v", "index_type": "HNSW",
                                    "metric_type": "COSINE", "params": {}}]}}


def _milvus_documents(count: int = COUNT, seed: int = 7) -> list[dict[str, Any]]:
    """VARCHAR keys a filter literal must escape (newline, quote, backslash), unicode; nulls, big and negative
    integers, nested JSON, dynamic keys on some rows."""
    from airflow_provider_vectorbackup.snapshot.vector_fields import dense

    rng = random.Random(seed)
    odd_keys = ["a\nb", 'q"uote', "back\\slash", "東京", "tab\tkey", "~last"]
    keys = odd_keys + [f"{rng.choice('05acfgZ')}{i:04d}" for i in range(count - len(odd_keys))]
    documents = []
    for i, key in enumerate(keys):
        payload: dict[str, Any] = {"title": None if i % 5 == 0 else _TEXT[i % len(_TEXT)] + f" {i}",
                                   "big": 2**62 + i if i % 2 else -(2**53) - i,
                                   "meta": None if i % 7 == 0 else {"a": {"b": [i, {"c": _TEXT[(i + 3) % len(_TEXT)]}]},
                                                                    "ratio": i / 7, "empty": {}}}
        if i % 3 == 0:
            payload["dynamic"] = {"k": i, "s": _TEXT[i % len(_TEXT)]}
        documents.append({"_id": key, "$vectors": {"v": dense(unit_vector(rng, DIMENSION))}, "payload": payload})
    return documents


def pgvector(request: pytest.FixtureRequest) -> Case:
    source = request.getfixturevalue("pgvector_source")(page_size=20)
    definition = pgvector_definition(source)
    unrepresentable = {**definition, "native": {**definition["native"], "columns": [
        *definition["native"]["columns"],
        {"name": "shape", "type": "geometry(Point,4326)", "typname": "geometry", "array": False, "not_null": False,
         "default": None, "serial": False, "identity": None, "generated": None, "collation": None,
         "dimension": None}]}}  # PostGIS is not installed
    return Case(source, definition=definition, other_definition=pgvector_definition(source, DIMENSION + 1),
                unrepresentable=unrepresentable, documents=pgvector_documents,
                query=lambda document: (document["$vectors"]["embedding"], "embedding"))


# -- Pinecone (the stand-in, driven by the real client) --------------------------------------------

def pinecone(request: pytest.FixtureRequest) -> Case:
    from tests.sources.pinecone.standin import pinecone_source
    from airflow_provider_vectorbackup.sources.pinecone.definition import new_definition

    source = pinecone_source(request.getfixturevalue("pinecone_stand_in"), page_size=20)
    request.addfinalizer(source.close)
    pod = new_definition(DIMENSION, "dot_product", sparse=True)
    pod["native"]["deployment"] = {"deployment_type": "pod", "environment": "us-east1-gcp", "pod_type": "p1.x1",
                                   "replicas": 1, "shards": 1}
    # Dot product, not cosine: Pinecone takes sparse values beside dense ones only in a dot-product index.
    return Case(source, definition=new_definition(DIMENSION, "dot_product", sparse=True),
                other_definition=new_definition(DIMENSION, "cosine"),
                unrepresentable=pod,  # a pod index cannot list its ids, so a restore into one could not be verified
                documents=pinecone_documents, query=lambda document: (document["$vectors"]["values"], "values"))


def pinecone_documents(count: int = COUNT, seed: int = 5) -> list[dict[str, Any]]:
    """ASCII string ids (quotes, slashes, spaces, the longest Pinecone takes); a dense vector always, a sparse one on
    some; metadata of every kind Pinecone keeps (numbers as floats, lists of strings, empty ones too), none on some."""
    from airflow_provider_vectorbackup.snapshot import vector_fields

    rng = random.Random(seed)
    odd_ids = ["x" * 512, 'q"uote', "back\\slash", "a b", "~last", "#hash?&="]
    ids = odd_ids + [f"{rng.choice('05acfgZ')}{i:04d}" for i in range(count - len(odd_ids))]
    documents = []
    for i, id_ in enumerate(ids):
        vectors = {"values": vector_fields.dense(unit_vector(rng, DIMENSION))}
        if i % 3 == 0:
            indices = sorted(rng.sample(range(2**32), 1 + i % 4))
            vectors["sparse_values"] = vector_fields.sparse(indices, [rng.uniform(0.1, 2) for _ in indices])
        document: dict[str, Any] = {"_id": id_, "$vectors": vectors}
        if i % 5:
            document["payload"] = {"name": _TEXT[i % len(_TEXT)], "ratio": i / 7, "whole": float(2**53 - i),
                                   "flag": bool(i % 2), "tags": ["a", _TEXT[(i + 1) % len(_TEXT)]][: i % 3]}
        documents.append(document)
    return documents


# -- Weaviate (the wire-faithful stand-in, REST and gRPC) -----------------------------------------------

WEAVIATE_PROPERTIES = [
    {"name": "title", "dataType": ["text"]}, {"name": "n", "dataType": ["int"]}, {"name": "ratio", "dataType": ["number"]},
    {"name": "flag", "dataType": ["boolean"]}, {"name": "when", "dataType": ["date"]},
    {"name": "batch", "dataType": ["uuid"]}, {"name": "raw", "dataType": ["blob"]}, {"name": "tags", "dataType": ["text[]"]},
    {"name": "counts", "dataType": ["int[]"]},
    {"name": "meta", "dataType": ["object"], "nestedProperties": [
        {"name": "a", "dataType": ["text"]}, {"name": "xs", "dataType": ["number[]"]},
        {"name": "deep", "dataType": ["object[]"], "nestedProperties": [{"name": "d", "dataType": ["date[]"]}]}]}]


def weaviate_definition(source: Any, distance: str = "l2-squared") -> dict[str, Any]:
    """The definition Weaviate itself gives a class with :data:`WEAVIATE_PROPERTIES` and a named vector ``text``."""
    source.client.collections.create_from_dict({
        "class": "Probe", "properties": WEAVIATE_PROPERTIES,
        "vectorConfig": {"text": {"vectorizer": {"none": {}}, "vectorIndexType": "hnsw",
                                  "vectorIndexConfig": {"distance": distance}}}})
    definition = source.collection_definition("Probe")
    source.drop_collection("Probe")
    return definition


def weaviate_documents(count: int = COUNT, seed: int = 12) -> list[dict[str, Any]]:
    """UUID ids; a float32 vector on most; every property type, dates with several UTC offsets, ints at +-2**53
    and in int[] (Weaviate keeps integers as doubles), nested objects with dates; some properties left out."""
    import datetime as dt
    import uuid

    from airflow_provider_vectorbackup.snapshot import vector_fields
    from airflow_provider_vectorbackup.snapshot.codec import DEFAULT_CODEC

    rng = random.Random(seed)
    documents = []
    for i in range(count):
        zone = dt.timezone(dt.timedelta(minutes=[0, 330, -420][i % 3]))
        payload: dict[str, Any] = {
            "title": _TEXT[i % len(_TEXT)] + f" {i}", "n": [2**53, -(2**53), i][i % 3], "ratio": i / 7,
            "flag": bool(i % 2), "when": dt.datetime(1969, 7, 20, 20, 17, 40, 123456 if i % 2 else 0, tzinfo=zone)
            + dt.timedelta(days=41 * i), "batch": uuid.UUID(int=rng.getrandbits(128)), "raw": bytes([0, 255, i % 256]),
            "tags": ["a", _TEXT[(i + 1) % len(_TEXT)]], "counts": [2**53, -(2**53), i],
            "meta": {"a": _TEXT[(i + 3) % len(_TEXT)], "xs": [0.5, -1e300],
                     "deep": [{"d": [dt.datetime(2024, 2, 29, tzinfo=dt.timezone.utc)]}]}}
        for key in ("raw", "meta", "tags")[: i % 4]:
            del payload[key]
        document: dict[str, Any] = {"_id": DEFAULT_CODEC.encode(uuid.UUID(int=rng.getrandbits(128), version=4))}
        if i % 5 != 4:
            document["$vectors"] = {"text": vector_fields.dense([rng.uniform(-3, 3) for _ in range(DIMENSION)])}
        document["payload"] = DEFAULT_CODEC.encode(payload)
        documents.append(document)
    return documents


def weaviate(request: pytest.FixtureRequest) -> Case:
    source = request.getfixturevalue("weaviate_source")(page_size=20, partition_size=40)
    definition = weaviate_definition(source)
    unrepresentable = {**definition, "native": {**definition["native"], "vectorConfig": {"text": {
        **definition["native"]["vectorConfig"]["text"], "vectorIndexConfig": {"distance": "jaccard"}}}}}
    return Case(source, definition=definition, other_definition=weaviate_definition(source, "dot"),
                unrepresentable=unrepresentable, documents=weaviate_documents,
                query=lambda document: (document["$vectors"]["text"], "text"), listed_name=str.capitalize)


@pytest.mark.parametrize("settings", [{"mode": "sideways"}, {"streams": 0}], ids=["unknown-mode", "no-stream"])
def test_a_scan_with_settings_it_cannot_honour_is_refused(case: Case, settings: dict[str, Any]) -> None:
    filled(case, "settings", case.documents()[:5])
    with pytest.raises(ValueError, match="scan mode must be one of|streams must be at least 1"):
        scan = case.source.scan("settings", case.definition, **settings)
        list(scan.pages())
    if "mode" in settings:
        with pytest.raises(ValueError, match="scan mode must be one of"):
            case.source.partitions("settings", case.definition, **settings)
