"""Exact neighbours and recall@k, including ties from duplicate embeddings."""

from __future__ import annotations

import random
import struct

import pytest

from airflow_provider_vectorbackup.jobs.recall import (
    NearestNeighbours, VectorComparison, id_key, recall_at_k, similarity,
)
from airflow_provider_vectorbackup.snapshot.vectors import floats_to_binary


def exact_neighbours(stored, queries, metric, k=10):
    neighbours = NearestNeighbours(queries, VectorComparison(None, "dense", metric), k)
    for document in stored:
        neighbours.add(document)
    return neighbours.eligible()


def docs(vectors):
    return [{"_id": i, "$vector": v if i % 2 else {"$binary": floats_to_binary(v)}} for i, v in enumerate(vectors)]


@pytest.mark.parametrize("metric", ["cosine", "dot_product", "euclidean"])
def test_exact_neighbours_match_a_full_sort(metric: str) -> None:
    rng = random.Random(5)
    vectors = [[rng.uniform(-1, 1) for _ in range(8)] for _ in range(200)]
    stored = docs(vectors)
    stored_vectors = [list(struct.unpack(">8f", struct.pack(">8f", *v))) for v in vectors]  # as float32, stored
    query = stored_vectors[3]
    ranked = sorted(range(200), key=lambda i: similarity(metric, query, stored_vectors[i]), reverse=True)
    (eligible,) = exact_neighbours(stored, [query], metric, k=10)
    assert eligible == {id_key(i) for i in ranked[:10]}


def test_ties_count_as_hits() -> None:
    stored = docs([[1.0, 0.0]] * 20 + [[0.0, 1.0]] * 5)
    (eligible,) = exact_neighbours(stored, [[1.0, 0.0]], "cosine", k=10)
    assert len(eligible) == 20  # every duplicate is an exact nearest neighbour
    store_answer = [id_key(i) for i in range(10, 20)]  # an equally correct top 10
    assert recall_at_k([eligible], [store_answer]) == 1.0
    assert recall_at_k([eligible], [[id_key(i) for i in range(20, 25)] + store_answer[:5]]) == 0.5


def test_ties_at_the_kth_place_keep_every_tied_document_and_stay_linear(monkeypatch) -> None:
    # 3,000 identical vectors all tie with the 10th best: each is a correct answer, and pruning must not
    # rebuild the candidate list on every document (which made 20,000 such documents take minutes).
    from airflow_provider_vectorbackup.jobs import recall as module

    floors = []
    original = module._threshold
    monkeypatch.setattr(module, "_threshold", lambda top: floors.append(1) or original(top))
    neighbours = module.NearestNeighbours([[1.0, 0.0]], VectorComparison(None, "dense", "cosine"), k=10)
    for i in range(3000):
        neighbours.add({"_id": i, "$vector": [0.0, 1.0]})
    (eligible,) = neighbours.eligible()
    assert len(eligible) == 3000
    floors.clear()
    neighbours.add({"_id": "one more", "$vector": [0.0, 1.0]})
    (eligible,) = neighbours.eligible()
    assert len(eligible) == 3001
    assert len(floors) <= 3, "a few thresholds per document once the list is large: no rebuild on every add"


@pytest.mark.parametrize("metric", ["cosine", "dot_product", "euclidean", "manhattan"])
def test_batched_scoring_over_several_batches_matches_scoring_one_by_one(metric: str) -> None:
    from airflow_provider_vectorbackup.jobs import recall as module
    from airflow_provider_vectorbackup.snapshot import vector_fields as vf

    rng = random.Random(11)
    count = 3 * module.BATCH + 17  # full batches and a partial one
    vectors = [[rng.uniform(-1, 1) for _ in range(6)] for _ in range(count)]
    vectors[40] = vectors[41] = vectors[900] = [0.5] * 6  # ties across batches
    stored = [{"_id": i, "$vectors": {"text": vf.dense(v)}} for i, v in enumerate(vectors)]
    comparison = VectorComparison("text", vf.DENSE, metric)
    queries = [stored[40]["$vectors"]["text"], stored[7]["$vectors"]["text"]]
    batched = NearestNeighbours(queries, comparison, k=10)
    assert batched._batch is not None  # the numpy path is the one under test
    for document in stored:
        batched.add(document)
    one_by_one = []
    for query in queries:
        prepared = comparison.prepare(query)
        scores = sorted(((comparison.score(prepared, comparison.read(d)), id_key(d["_id"])) for d in stored),
                        reverse=True)
        floor = scores[9][0] - 1e-9 * max(1.0, abs(scores[9][0]))
        one_by_one.append({key for score, key in scores if score >= floor})
    assert batched.eligible() == one_by_one
    if metric != "dot_product":  # an unnormalised dot favours longer vectors over the query's own duplicates
        assert {id_key(40), id_key(41), id_key(900)} <= one_by_one[0]
