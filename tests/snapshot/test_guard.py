"""The vector-loss guard, as a pure function over what a dump saw."""

from __future__ import annotations

import pytest

from airflow_provider_vectorbackup.snapshot import VectorLossError, VectorLossPolicy, check_vector_loss
from airflow_provider_vectorbackup.snapshot.manifest import VectorSummary

EXPLICIT = {"vector": {"dimension": 768, "metric": "cosine"}}
VECTORIZE = {"vector": {"dimension": 768, "metric": "cosine", "service": {"provider": "openai", "modelName": "m"}}}


def seen(with_vector: int, dims: dict[str, int] | None = None, invalid: int = 0) -> VectorSummary:
    encodings = {"binary": with_vector - invalid} | ({"invalid": invalid} if invalid else {})
    return VectorSummary(documents_with_vector=with_vector, dimensions=dims if dims is not None else {"768": with_vector},
                         encodings=encodings)


def test_all_vectors_present_passes_silently() -> None:
    assert check_vector_loss("c", EXPLICIT, 100, seen(100)) == []


def test_a_vector_collection_that_yields_no_vectors_fails_loudly() -> None:
    with pytest.raises(VectorLossError) as caught:
        check_vector_loss("articles", EXPLICIT, 500, seen(0))
    error = caught.value
    assert error.collection == "articles" and error.facts["documents"] == 500
    assert "768-dimension" in str(error) and '{"*": true}' in str(error)


def test_a_vectorize_collection_without_vectors_warns_instead() -> None:
    warnings = check_vector_loss("c", VECTORIZE, 10, seen(0))
    assert len(warnings) == 1 and "$vectorize" in warnings[0]


def test_vectors_of_the_wrong_dimension_are_loss() -> None:
    with pytest.raises(VectorLossError, match="3 document\\(s\\) of dimension 384"):
        check_vector_loss("c", EXPLICIT, 100, seen(100, {"768": 97, "384": 3}))
    with pytest.raises(VectorLossError, match="dimension"):
        check_vector_loss("c", VECTORIZE, 100, seen(100, {"1024": 100}))


def test_unreadable_vectors_are_loss() -> None:
    with pytest.raises(VectorLossError, match="neither an array"):
        check_vector_loss("c", EXPLICIT, 10, seen(10, {"768": 9}, invalid=1))


def test_a_partial_loss_above_the_threshold_fails() -> None:
    with pytest.raises(VectorLossError, match="40 of 100 document\\(s\\) \\(40.00%\\) have no \\$vector"):
        check_vector_loss("c", EXPLICIT, 100, seen(60))
    with pytest.raises(VectorLossError, match="raise max_missing_vector_fraction"):
        check_vector_loss("c", EXPLICIT, 1000, seen(999))
    assert check_vector_loss("c", EXPLICIT, 100, seen(60), VectorLossPolicy(max_missing_fraction=0.5)) == []
    assert "regenerate" in check_vector_loss("c", VECTORIZE, 100, seen(60))[0]


def test_collections_without_declared_vectors_are_not_guarded() -> None:
    assert check_vector_loss("c", {}, 100, seen(0, {})) == []
    assert check_vector_loss("c", {"indexing": {"deny": ["x"]}}, 0, seen(0, {})) == []
    assert "declares no vector" in check_vector_loss("c", {}, 5, seen(5, {"3": 5}))[0]


def test_empty_vector_collections_pass() -> None:
    assert check_vector_loss("c", EXPLICIT, 0, seen(0, {})) == []


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_the_threshold_must_be_a_fraction(fraction: float) -> None:
    with pytest.raises(ValueError):
        VectorLossPolicy(max_missing_fraction=fraction)
