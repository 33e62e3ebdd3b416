"""Selective restore (a payload filter), the plan of a same-engine restore, and refusals of a cross-engine one."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from airflow_provider_vectorbackup.jobs.restore import RestoreOptions, restore_snapshot
from airflow_provider_vectorbackup.snapshot import SnapshotWriter
from airflow_provider_vectorbackup.stores.local import LocalStore

SNAPSHOT = "20260702T000000Z"


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    rng = random.Random(5)
    with SnapshotWriter(tmp_path, source={"kind": "astra"}, snapshot_id=SNAPSHOT) as writer:
        with writer.collection("articles", {"vector": {"dimension": 4, "metric": "euclidean"}}) as collection:
            collection.write_many([{"_id": f"doc-{i:03d}", "tenant": ["acme", "globex"][i % 2], "rank": i,
                                    "$vector": [rng.choice([0.5, 0.25, -1.0, 2.0]) for _ in range(4)]}
                                   for i in range(60)])
    return LocalStore(tmp_path)


def test_a_payload_filter_restores_and_proves_only_the_chosen_documents(astra_stand_in, astra_connection,
                                                                        store) -> None:
    source = AstraDBHook().get_conn()
    report = restore_snapshot(store, SNAPSHOT, source, RestoreOptions(target_prefix="acme_",
                                                                      where={"tenant": "acme"}))
    result = report["collections"]["articles"]
    assert report["ok"] and result["documents_expected"] == result["documents_restored"] == 30
    definition = source.collection_definition("acme_articles")
    restored = [d for page in source.scan("acme_articles", definition).pages() for d in page]
    assert {d["tenant"] for d in restored} == {"acme"} and len(restored) == 30


def test_a_filter_nothing_matches_restores_an_empty_collection_and_says_so(astra_stand_in, astra_connection,
                                                                           store) -> None:
    report = restore_snapshot(store, SNAPSHOT, AstraDBHook().get_conn(),
                              RestoreOptions(target_prefix="none_", where={"tenant": "initech"}))
    assert report["collections"]["articles"]["documents_expected"] == 0


def test_a_plan_of_the_same_engine_is_all_exact_and_writes_nothing(astra_stand_in, astra_connection, store) -> None:
    source = AstraDBHook().get_conn()
    report = restore_snapshot(store, SNAPSHOT, source, RestoreOptions(target_prefix="p_", plan_only=True))
    assert report["written"] is False and report["ok"]
    assert report["collections"]["articles"]["translation"]["same_engine"] is True
    assert source.collection_definition("p_articles") is None


def test_an_unknown_lossy_kind_is_refused_before_anything_runs() -> None:
    with pytest.raises(ValueError, match="unknown lossy kind"):
        RestoreOptions(allow_lossy=("everything",))
