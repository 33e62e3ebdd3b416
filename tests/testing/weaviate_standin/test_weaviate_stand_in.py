"""The Weaviate stand-in as the real weaviate-client (v4) sees it: what it checks, refuses and answers, over REST and gRPC."""

from __future__ import annotations

import random
import uuid

import pytest
import weaviate
from weaviate.classes.config import Configure, DataType, Property, VectorDistances
from weaviate.classes.data import DataObject
from weaviate.classes.query import MetadataQuery
from weaviate.classes.tenants import Tenant
from weaviate.exceptions import UnexpectedStatusCodeError, WeaviateBaseError, WeaviateQueryError


@pytest.fixture
def client(weaviate_stand_in):
    opened = weaviate_stand_in.connect()
    yield opened
    opened.close()


def _things(client, distance=VectorDistances.COSINE, **options):
    return client.collections.create(
        "Thing", properties=[Property(name="n", data_type=DataType.INT), Property(name="ns", data_type=DataType.INT_ARRAY),
                             Property(name="title", data_type=DataType.TEXT)],
        vector_config=[Configure.Vectors.self_provided(
            name="v", vector_index_config=Configure.VectorIndex.hnsw(distance_metric=distance))], **options)


def test_without_the_api_key_nothing_is_answered(weaviate_stand_in) -> None:
    with pytest.raises(WeaviateBaseError):
        weaviate.connect_to_custom(http_host=weaviate_stand_in.host, http_port=weaviate_stand_in.http_port,
                                   http_secure=False, grpc_host=weaviate_stand_in.host,
                                   grpc_port=weaviate_stand_in.grpc_port, grpc_secure=False).collections.list_all()


def test_a_collection_made_with_the_typed_api_parses_back_with_its_settings(client) -> None:
    client.collections.create("Multi", vector_config=[
        Configure.MultiVectors.self_provided(name="tokens", vector_index_config=Configure.VectorIndex.hnsw(
            distance_metric=VectorDistances.DOT)),
        Configure.Vectors.self_provided(name="plain", vector_index_config=Configure.VectorIndex.flat(
            distance_metric=VectorDistances.HAMMING))], multi_tenancy_config=Configure.multi_tenancy(enabled=True))
    config = client.collections.get("Multi").config.get()
    assert config.multi_tenancy_config.enabled is True
    assert config.vector_config["tokens"].vector_index_config.distance_metric == VectorDistances.DOT
    assert config.vector_config["tokens"].vector_index_config.multi_vector is not None
    assert config.vector_config["plain"].vector_index_config.distance_metric == VectorDistances.HAMMING
    with pytest.raises(UnexpectedStatusCodeError, match="422"):
        client.collections.create_from_dict({"class": "Bad", "vectorConfig": {"v": {
            "vectorizer": {"none": {}}, "vectorIndexConfig": {"distance": "jaccard"}}}})


def test_values_are_typed_by_the_schema_and_integers_kept_as_doubles(client) -> None:
    things = _things(client)
    result = things.data.insert_many([
        DataObject(properties={"n": 3, "ns": [2**63 - 1, 2**53 + 1], "title": "ok"}, uuid=uuid.UUID(int=1)),
        DataObject(properties={"n": 3.5}, uuid=uuid.UUID(int=2)),
        DataObject(properties={"other": "x"}, uuid=uuid.UUID(int=3))])
    assert {i: e.message for i, e in result.errors.items()} == {
        1: "invalid integer property 'n' on class 'Thing': requires an integer, the given value is '3.5'",
        2: "no such prop with name 'other' found in class 'Thing' in the schema. Check your schema files for which "
           "properties in this class are available"}
    (kept,) = things.query.fetch_objects().objects
    assert kept.properties == {"n": 3, "ns": [-(2**63), 2**53], "title": "ok"}  # Go's int64(float64) on amd64


def test_the_cursor_walks_every_object_in_uuid_order(client) -> None:
    things = _things(client)
    ids = [uuid.UUID(int=random.Random(5).getrandbits(128) ^ i) for i in range(45)]
    things.data.insert_many([DataObject(properties={"n": i}, uuid=u, vector={"v": [1.0, float(i)]})
                             for i, u in enumerate(ids)])
    walked = [obj.uuid for obj in things.iterator(cache_size=10)]
    assert walked == sorted(ids, key=lambda u: u.bytes)


@pytest.mark.parametrize(("distance", "nearest"), [(VectorDistances.L2_SQUARED, 1), (VectorDistances.DOT, 3),
                                                   (VectorDistances.MANHATTAN, 1), (VectorDistances.COSINE, 3)])
def test_near_vector_is_exact_for_each_distance(client, distance, nearest: int) -> None:
    things = _things(client, distance)
    vectors = {1: [1.0, 0.9], 2: [-1.0, 1.0], 3: [4.0, 0.0]}
    things.data.insert_many([DataObject(properties={"n": n}, uuid=uuid.UUID(int=n), vector={"v": v})
                             for n, v in vectors.items()])
    found = things.query.near_vector([1.0, 0.0], target_vector="v", limit=3, return_metadata=MetadataQuery(distance=True))
    assert found.objects[0].properties["n"] == nearest
    assert [o.metadata.distance for o in found.objects] == sorted(o.metadata.distance for o in found.objects)


def test_an_inactive_tenant_refuses_reads_and_writes(client, weaviate_stand_in) -> None:
    things = _things(client, multi_tenancy_config=Configure.multi_tenancy(enabled=True))
    things.tenants.create([Tenant(name="acme"), Tenant(name="globex")])
    weaviate_stand_in.set_tenant_status("Thing", "globex", "COLD")
    assert {name: t.activity_status.value for name, t in things.tenants.get().items()} == {
        "acme": "ACTIVE", "globex": "INACTIVE"}
    with pytest.raises(WeaviateQueryError, match="tenant not active"):
        things.with_tenant("globex").query.fetch_objects()
    result = things.with_tenant("acme").data.insert_many([DataObject(properties={"n": 1})])
    assert not result.errors
    with pytest.raises(WeaviateBaseError, match="tenant not active"):
        things.with_tenant("globex").data.insert_many([DataObject(properties={"n": 1})])
    with pytest.raises(WeaviateQueryError, match="without tenant"):
        things.query.fetch_objects()
