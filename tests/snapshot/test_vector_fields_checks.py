"""The guard, the checker and recall on ``$vectors`` fields: every declared field is checked on its own."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_vectorbackup.check import verify
from airflow_provider_vectorbackup.jobs.recall import NearestNeighbours, comparisons, id_key
from airflow_provider_vectorbackup.snapshot import SnapshotWriter, VectorLossError, open_snapshot
from airflow_provider_vectorbackup.snapshot import vector_fields as vf
from tests.snapshot.tamper import rewrite_segment_consistently, segment_lines

DEFINITION = {"engine": "qdrant", "id": {"type": "int", "field": None}, "native": {}, "vectors": {
    "text": {"kind": "dense", "dtype": "float32", "dimension": 4, "metric": "cosine"},
    "keywords": {"kind": "sparse", "dtype": "float32", "dimension": None, "metric": "dot_product"},
    "tokens": {"kind": "multi", "dtype": "float32", "dimension": 2, "metric": "max_sim_dot_product"},
    "hash": {"kind": "bit", "dtype": None, "dimension": 12, "metric": "hamming"},
    "unindexed": {"kind": "dense", "dtype": "float16", "dimension": 3, "metric": None}}}


def documents(count: int = 60, seed: int = 3) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [{"_id": i, "payload": {"n": i}, "$vectors": {
        "text": vf.dense([rng.uniform(-1, 1) for _ in range(4)]),
        "keywords": vf.sparse(rng.sample(range(1000), 3), [rng.random() for _ in range(3)]),
        "tokens": vf.multi([[rng.uniform(-1, 1) for _ in range(2)] for _ in range(rng.randint(1, 3))]),
        "hash": vf.bits_from_string("".join(rng.choice("01") for _ in range(12))),
        "unindexed": vf.dense([rng.uniform(-1, 1) for _ in range(3)], "float16")}} for i in range(count)]


def write(tmp_path: Path, docs: list[dict[str, Any]], definition: dict[str, Any] = DEFINITION):
    """Write one collection; a guard failure fails the collection and is recorded, as the dump job does."""
    with SnapshotWriter(tmp_path / "store", source={"kind": "qdrant"}, segment_max_bytes=10_000) as writer:
        try:
            with writer.collection("points", definition) as collection:
                collection.write_many(docs)
        except VectorLossError:
            pass
    return writer.result


def test_every_field_is_counted_and_the_snapshot_verifies(tmp_path: Path) -> None:
    result = write(tmp_path, documents())
    entry = result.manifest.collection("points")
    assert result.status == "complete" and result.manifest.format_version == 3
    assert entry.vectors.documents_with_vector == 60
    assert entry.vectors.fields["text"].dimensions == {"4": 60}
    assert entry.vectors.fields["keywords"].encodings == {"sparse/float32": 60}
    assert entry.vectors.fields["hash"].encodings == {"bit": 60}
    assert verify(result.path, "records").ok
    reread = open_snapshot(result.path).manifest.collection("points").vectors
    assert reread == entry.vectors, "the per-field summary survives the manifest's JSON"


@pytest.mark.parametrize(("damage", "message"), [
    (lambda d: d["$vectors"].pop("text"), "1 of 60 document(s) (1.67%) have no value for vector field 'text'"),
    (lambda d: d["$vectors"].update(text=vf.dense([1.0, 2.0])), "declares 4 dimensions but the dump saw 1 document"),
    (lambda d: d["$vectors"].update(hash={"kind": "bit", "dimension": 12, "data": "!!"}), "'hash' are malformed"),
    (lambda d: d["$vectors"].update(text=vf.dense([1, 2, 3, 4], "float16")), "declared dense/float32 but the dump saw"),
])
def test_the_guard_fails_a_dump_that_lost_or_changed_any_one_field(tmp_path: Path, damage, message: str) -> None:
    docs = documents()
    damage(docs[7])
    result = write(tmp_path, docs)
    entry = result.manifest.collection("points")
    assert entry.status == "failed" and message in entry.error


def test_a_declared_field_that_no_document_carries_is_vector_loss(tmp_path: Path) -> None:
    docs = documents()
    for doc in docs:
        del doc["$vectors"]["tokens"]
    entry = write(tmp_path, docs).manifest.collection("points")
    assert entry.status == "failed" and "vector field 'tokens' is declared but none of the 60" in entry.error


def test_the_checker_reports_every_damaged_field(tmp_path: Path) -> None:
    result = write(tmp_path, documents())
    segment = result.manifest.collection("points").segments[0].path
    lines = segment_lines(result.path, segment)
    first, second = json.loads(lines[0]), json.loads(lines[1])
    first["$vectors"]["text"] = vf.dense([0.5, 0.5])
    second["$vectors"]["keywords"]["indices"] = [5, 3, 4]
    lines[:2] = [json.dumps(first).encode(), json.dumps(second).encode()]
    rewrite_segment_consistently(result.path, segment, lines)
    report = verify(result.path, "records")
    found = {(p.path, p.code) for p in report.problems}
    assert ("collections/points", "vector_dimension_mismatch") in found
    assert ("collections/points", "invalid_vector") in found
    assert ("collections/points", "vector_count_mismatch") in found  # 'keywords' lost one valid value
    assert "vector field 'keywords'" in report.summary() and "vector field 'text' declares dimension 4" in report.summary()


def test_recall_is_measured_per_field_by_its_own_metric_and_says_which_cannot_be() -> None:
    measured, skipped = comparisons(DEFINITION)
    assert [(c.field, c.metric) for c in measured] == [
        ("text", "cosine"), ("keywords", "dot_product"), ("tokens", "max_sim_dot_product"), ("hash", "hamming")]
    assert skipped == {"unindexed": "no metric declared for this dense field"}
    docs = documents(200)
    for comparison in measured:
        query = comparison.query(docs[5])
        exact = NearestNeighbours([query], comparison, k=10)
        for doc in docs:
            exact.add(doc)
        (eligible,) = exact.eligible()
        prepared = comparison.prepare(query)
        ranked = sorted(docs, key=lambda d: comparison.score(prepared, comparison.read(d)), reverse=True)
        tenth = comparison.score(prepared, comparison.read(ranked[9]))
        expected = {id_key(d["_id"]) for d in docs if comparison.score(prepared, comparison.read(d)) >= tenth - 1e-9}
        assert eligible == expected and len(eligible) >= 10, comparison.field
        if comparison.metric == "cosine":  # by cosine, a document is its own nearest neighbour
            assert id_key(5) in eligible


def test_scores_follow_each_metric() -> None:
    from airflow_provider_vectorbackup.jobs.recall import VectorComparison

    sparse = VectorComparison("s", "sparse", "dot_product")
    assert sparse.score(sparse.prepare(vf.sparse([1, 4], [2.0, 3.0])), sparse.prepare(vf.sparse([4, 9], [0.5, 7.0]))) == 1.5
    l1 = VectorComparison("s", "sparse", "manhattan")
    assert l1.score(l1.prepare(vf.sparse([1, 4], [2.0, 3.0])), l1.prepare(vf.sparse([4, 9], [0.5, 7.0]))) == -(2 + 2.5 + 7)
    multi = VectorComparison("m", "multi", "max_sim_dot_product")
    query, stored = multi.prepare(vf.multi([[1, 0], [0, 1]])), multi.prepare(vf.multi([[2, 0], [0, 3], [1, 1]]))
    assert multi.score(query, stored) == 2 + 3
    hamming = VectorComparison("h", "bit", "hamming")
    assert hamming.score(hamming.prepare(vf.bits_from_string("1100")), hamming.prepare(vf.bits_from_string("1010"))) == -2
    jaccard = VectorComparison("h", "bit", "jaccard")
    assert jaccard.score(jaccard.prepare(vf.bits_from_string("1100")), jaccard.prepare(vf.bits_from_string("1010"))) == 1 / 3


def test_missing_values_of_a_nullable_field_are_data_and_only_noted(tmp_path: Path) -> None:
    docs = documents()
    for doc in docs[:20]:
        del doc["$vectors"]["unindexed"]
    nullable = {**DEFINITION, "vectors": {**DEFINITION["vectors"], "unindexed": {
        **DEFINITION["vectors"]["unindexed"], "nullable": True}}}
    entry = write(tmp_path, docs, nullable).manifest.collection("points")
    assert entry.status == "complete"
    assert entry.warnings == ["20 of 60 document(s) have no value for nullable vector field 'unindexed' (NULL in the "
                              "source)"]
    failed = write(tmp_path / "strict", docs).manifest.collection("points")
    assert failed.status == "failed" and "'unindexed'" in failed.error
