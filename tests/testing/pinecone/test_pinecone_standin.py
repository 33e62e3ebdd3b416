"""The Pinecone stand-in on the wire: the real client's requests get Pinecone's answers, scores and refusals."""

from __future__ import annotations

import subprocess
import sys

import httpx
import numpy as np
import pytest
from pinecone import Pinecone, RetryConfig
from pinecone.errors.exceptions import ConflictError, ForbiddenError, NotFoundError, UnauthorizedError

from airflow_provider_vectorbackup.testing.pinecone import PineconeStandIn

SERVERLESS = {"deployment_type": "managed", "cloud": "aws", "region": "us-east-1"}


@pytest.fixture
def client(pinecone_stand_in: PineconeStandIn) -> Pinecone:
    return Pinecone(api_key=pinecone_stand_in.api_key, host=pinecone_stand_in.url)


def test_each_index_has_its_own_host_and_a_wrong_key_is_refused(client: Pinecone,
                                                               pinecone_stand_in: PineconeStandIn) -> None:
    first = client.indexes.create(name="first", dimension=3, metric="cosine", deployment=SERVERLESS)
    second = client.indexes.create(name="second", dimension=3, deployment=SERVERLESS)
    assert first.host != second.host and first.status.ready and first.deployment.region == "us-east-1"
    with pytest.raises(ConflictError):
        client.indexes.create(name="first", dimension=3, deployment=SERVERLESS)
    with pytest.raises(UnauthorizedError):
        list(Pinecone(api_key="wrong", host=pinecone_stand_in.url).indexes.list())
    with pytest.raises(UnauthorizedError):
        Pinecone(api_key="wrong").index(host=first.host).describe_index_stats()
    headers = {"Api-Key": pinecone_stand_in.api_key, "X-Pinecone-Api-Version": "2026-07"}
    bad_name = httpx.post(f"{pinecone_stand_in.url}/indexes", headers=headers, json={  # the client checks names first
        "name": "Bad_Name", "schema": {"fields": {"_values": {"type": "dense_vector", "dimension": 3}}}})
    assert bad_name.status_code == 400 and "'Bad_Name' is invalid" in bad_name.json()["error"]["message"]
    old = httpx.get(f"{pinecone_stand_in.url}/indexes", headers={**headers, "X-Pinecone-Api-Version": "2024-07"})
    assert old.status_code == 400 and old.json() == {"error": {"code": "INVALID_ARGUMENT", "message": old.json()[
        "error"]["message"]}, "status": 400}


def test_deletion_protection_holds_an_index_and_a_deleted_one_is_gone(client: Pinecone) -> None:
    client.indexes.create(name="guarded", dimension=3, deployment=SERVERLESS, deletion_protection="enabled")
    with pytest.raises(ForbiddenError, match="Deletion protection is enabled"):
        client.indexes.delete("guarded")
    client.indexes.create(name="doomed", dimension=3, deployment=SERVERLESS)
    client.indexes.delete("doomed")
    with pytest.raises(NotFoundError):
        client.indexes.describe("doomed")
    assert [index.name for index in client.indexes.list()] == ["guarded"]


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "dotproduct"])
def test_query_scores_every_record_exactly_by_the_metric(client: Pinecone, metric: str) -> None:
    client.indexes.create(name="scored", dimension=5, metric=metric, deployment=SERVERLESS)
    index = client.index(name="scored")
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(40, 5)).astype(np.float32)
    index.upsert(vectors=[{"id": f"v{i}", "values": v.tolist()} for i, v in enumerate(vectors)], namespace="n")
    query = rng.normal(size=5).astype(np.float32)
    wide, q = vectors.astype(np.float64), query.astype(np.float64)
    expected = {"cosine": wide @ q / (np.linalg.norm(wide, axis=1) * np.linalg.norm(q)),
                "euclidean": ((wide - q) ** 2).sum(axis=1), "dotproduct": wide @ q}[metric]
    order = np.argsort(expected if metric == "euclidean" else -expected)[:5]
    matches = index.query(vector=query.tolist(), top_k=5, namespace="n", include_values=True).matches
    assert [m.id for m in matches] == [f"v{i}" for i in order]
    assert [m.score for m in matches] == pytest.approx(expected[order].tolist(), rel=1e-12)
    assert np.array_equal(np.asarray(matches[0].values, dtype=np.float32), vectors[order[0]]), "float32 kept"


def test_list_pages_by_prefix_and_token_and_the_wire_limits_hold(client: Pinecone,
                                                                 pinecone_stand_in: PineconeStandIn) -> None:
    model = client.indexes.create(name="listed", dimension=2, deployment=SERVERLESS)
    index = client.index(name="listed")
    index.upsert(vectors=[{"id": f"{p}#{i}", "values": [1.0, i]} for p in "ab" for i in range(5)])
    pages = list(index.list(prefix="b#", limit=2))
    assert [[item.id for item in page.vectors] for page in pages] == [["b#0", "b#1"], ["b#2", "b#3"], ["b#4"]]
    assert pages[0].pagination.next and pages[-1].pagination is None
    headers = {"Api-Key": pinecone_stand_in.api_key, "X-Pinecone-Api-Version": "2026-07"}
    too_long = httpx.post(f"{model.host}/vectors/upsert", headers=headers,
                          json={"vectors": [{"id": "x" * 513, "values": [1.0, 2.0]}]})
    assert too_long.status_code == 400 and too_long.json()["code"] == 3 and "512" in too_long.json()["message"]
    limit = httpx.get(f"{model.host}/vectors/list", headers=headers, params={"limit": 101})
    assert limit.status_code == 400 and "between 1 and 100" in limit.json()["message"]


def test_namespaces_exist_until_deleted_and_the_default_one_always(client: Pinecone) -> None:
    client.indexes.create(name="spaces", dimension=2, deployment=SERVERLESS)
    index = client.index(name="spaces")
    index.create_namespace(name="empty")
    index.upsert(vectors=[{"id": "a", "values": [1.0, 0.0]}], namespace="full")
    index.delete(delete_all=True, namespace="full")
    assert sorted(d.name for page in index.list_namespaces() for d in page.namespaces) == ["empty", "full"]
    assert index.describe_namespace(name="__default__").record_count == 0
    with pytest.raises(ConflictError):
        index.create_namespace(name="empty")
    index.delete_namespace(name="empty")
    with pytest.raises(NotFoundError):
        index.describe_namespace(name="empty")


@pytest.mark.slow
def test_command_line_prints_the_control_plane_url_and_serves_indexes_with_faults() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_vectorbackup.testing.pinecone", "--port", "0", "--api-key", "k",
         "--server-error-every", "3"], stdout=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        client = Pinecone(api_key="k", host=url, retry_config=RetryConfig(max_retries=0))
        model = client.indexes.create(name="cli", dimension=2, deployment=SERVERLESS)  # requests 1 and 2 (describe)
        answer = httpx.post(f"{model.host}/describe_index_stats", json={},
                            headers={"Api-Key": "k", "X-Pinecone-Api-Version": "2026-07"})
        assert answer.status_code == 503 and set(answer.json()) == {"code", "message", "details"}, \
            "request 3: the fault flag took effect on the index's own host, in the data plane's error shape"
        index = client.index(host=model.host)
        index.upsert(vectors=[{"id": "a", "values": [1.0, 2.0]}])
        assert index.fetch(ids=["a"]).vectors["a"].values == [1.0, 2.0]
    finally:
        process.terminate()
        process.wait(timeout=10)
